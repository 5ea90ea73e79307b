package index_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

func TestSplitReadURLs(t *testing.T) {
	good := "postgres://docent:s3cret@10.0.0.2:5432/docent?sslmode=require"
	got, err := index.SplitReadURLs(" " + good + " ,, postgresql://docent@10.0.0.3/docent ")
	if err != nil || len(got) != 2 || got[0] != good {
		t.Fatalf("SplitReadURLs = %q, %v; want the two URLs", got, err)
	}
	if got, err := index.SplitReadURLs(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %q, %v; want none", got, err)
	}
	for _, bad := range []string{
		"host=10.0.0.2 user=docent password=s3cret",              // a key/value DSN: not a URL
		"mysql://docent:s3cret@10.0.0.2/docent",                  // another scheme
		"postgres://docent:s3cret@10.0.0.2:port/docent",          // garbage port
		"postgres://docent:s3cret@10.0.0.2,10.0.0.3:5432/docent", // several hosts: one replica each
		good + ";postgres://docent:s3cret@10.0.0.3/docent",       // the wrong separator
	} {
		_, err := index.SplitReadURLs(good + "," + bad)
		if err == nil || !strings.Contains(err.Error(), "entry ") {
			t.Errorf("%q: error %v, want one naming the entry", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error shows the password: %v", bad, err)
		}
	}
}

// waitStatus checks rs until replica i's reason is want ("" for in use), or fails after 30 s.
func waitStatus(t *testing.T, rs *index.Replicas, i int, want string) index.ReplicaStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs.Check(context.Background())
		st := rs.Status()[i]
		if st.Reason == want && st.InUse == (want == "") {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s: %+v, want reason %q", st.Name, st, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplicaChecks: only a streaming standby of the primary's own database, with its
// generation and within the maximum lag, is used; every other server a careless
// configuration can name is skipped with its reason, and a lagging standby comes back once
// it has caught up.
func TestReplicaChecks(t *testing.T) {
	standby := dbtest.TestStandby(t)
	db := dbtest.New(t)
	other := dbtest.New(t)
	standby.CatchUp(t, other)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "postgres://docent:docent@" + ln.Addr().String() + "/docent?sslmode=disable"
	ln.Close() // nothing listens there now
	wrongPassword := strings.Replace(standby.URL(db), "docent:docent@", "docent:wrong@", 1)
	rs, err := index.NewReplicas(db.Pool, []string{
		standby.URL(db),    // 1: the standby of the primary's database
		db.URL,             // 2: the primary itself
		standby.URL(other), // 3: the standby, another database of the cluster
		closed,             // 4: nothing there
		wrongPassword,      // 5: refused
	}, index.ReplicaConfig{MaxLag: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	waitStatus(t, rs, 0, "")
	sts := rs.Status()
	for i, want := range []string{"", index.ReplicaNotAStandby, index.ReplicaOtherDatabase, index.ReplicaUnreachable, index.ReplicaUnreachable} {
		if sts[i].Reason != want || sts[i].InUse != (want == "") || (want != "" && sts[i].Detail == "") {
			t.Errorf("replica %d: %+v, want reason %q with a detail", i+1, sts[i], want)
		}
		if strings.Contains(sts[i].Detail, "wrong") || strings.Contains(sts[i].Address, "docent:") {
			t.Errorf("replica %d shows credentials: %+v", i+1, sts[i])
		}
	}
	for range 10 {
		if r := rs.Pick(); r == nil || r.Name() != "replica1" {
			t.Fatalf("Pick = %v, want replica1, the only one in use", r)
		}
	}

	// Replay paused and the primary writing: skipped once more than MaxLag behind.
	standby.Pause(t)
	paused := time.Now()
	if _, err := db.Pool.Exec(context.Background(), "CREATE TABLE written_after_the_pause (x int)"); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, rs, 0, index.ReplicaLagging)
	if rs.Pick() != nil {
		t.Error("Pick returned a lagging replica")
	}
	t.Logf("skipped %s after the pause: %s", time.Since(paused).Round(time.Millisecond), st.Detail)
	standby.Resume(t)
	standby.CatchUp(t, db)
	waitStatus(t, rs, 0, "")

	// Stopped: unreachable; started: in use again.
	standby.Stop(t)
	waitStatus(t, rs, 0, index.ReplicaUnreachable)
	standby.Start(t)
	waitStatus(t, rs, 0, "")
}

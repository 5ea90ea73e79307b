package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// readyReplicas is what /readyz says of the read replicas.
type readyReplicas struct {
	Status   string
	Replicas []struct {
		Name   string
		InUse  bool `json:"in_use"`
		Reason string
		Detail string
	}
}

func readyz(t *testing.T, addr string) readyReplicas {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readyReplicas
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %s, %v", resp.Status, err)
	}
	return r
}

// waitReplica waits (up to 30 s) until /readyz says the first replica is in use or not.
func waitReplica(t *testing.T, addr string, inUse bool) readyReplicas {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := readyz(t, addr)
		if len(r.Replicas) == 1 && r.Replicas[0].InUse == inUse {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %+v, want the replica in use: %v", r, inUse)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var readsLine = regexp.MustCompile(`(?m)^docent_reads_total\{database="([a-z0-9_]+)"\} (\d+)`)

// reads returns docent_reads_total by database.
func reads(t *testing.T, addr string) map[string]int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]int{}
	for _, m := range readsLine.FindAllStringSubmatch(string(raw), -1) {
		out[m[1]], _ = strconv.Atoi(m[2])
	}
	return out
}

func publicKey(t *testing.T, url string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"keys", "create", "--name", "k", "--principal", "public"},
		func(k string) string { return map[string]string{"DOCENT_DATABASE_URL": url}[k] }, &out, &errOut); code != exitOK {
		t.Fatalf("keys create: exit %d: %s", code, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// TestServesFromAReplica: a server given DOCENT_DATABASE_READ_URLS answers 4 clients from the
// replica while ingest writes to the primary (docent_reads_total counts them under
// replica1); the replica stopped mid-load costs no request (the primary answers, /readyz
// says why the replica is skipped), and once it is started again it serves again. Each
// state change is logged once, not once per request.
func TestServesFromAReplica(t *testing.T) {
	standby := dbtest.TestStandby(t)
	db := indexed(t)
	key := publicKey(t, db.URL)
	standby.CatchUp(t, db)
	addr, code, log := serveWith(t, db.URL, map[string]string{"DOCENT_DATABASE_READ_URLS": standby.URL(db),
		"DOCENT_RATE_LIMIT": "1000", "DOCENT_RATE_BURST": "1000", "DOCENT_CACHE_SIZE": "0"})
	if addr == "" {
		t.Fatalf("the server stopped (exit %d); log:\n%s", code, log.String())
	}
	waitReplica(t, addr, true)

	// Ingest writes to the primary all along: a document a run.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".docent-acl"), []byte("public\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int64
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			name := filepath.Join(dir, fmt.Sprintf("note%d.md", i))
			if err := os.WriteFile(name, []byte(fmt.Sprintf("# Note %d\n\nThe canteen serves soup number %d today.\n", i, i)), 0o644); err != nil {
				t.Error(err)
				return
			}
			in, err := ingest.New(ingest.Config{Source: "notes", Roots: []string{dir}}, db.Pool, emb, slog.New(slog.DiscardHandler))
			if err == nil {
				_, err = in.Run(ctx)
			}
			if err != nil && ctx.Err() == nil {
				t.Errorf("ingest: %v", err)
				return
			}
			runs.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
	})
	var ok, failed atomic.Int64
	failures := make(chan string, 100)
	for c := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if err := askParking(addr, key, (c+i)%2 == 1); err != nil {
					failed.Add(1)
					select {
					case failures <- err.Error():
					default:
					}
					continue
				}
				ok.Add(1)
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				stop()
				wg.Wait()
				t.Fatalf("%s: not within 30 s (reads %v)", what, reads(t, addr))
			}
		}
	}

	// The replica serves while ingest writes.
	startRuns := runs.Load()
	waitFor("replica reads and ingest runs", func() bool { return reads(t, addr)["replica1"] >= 20 && runs.Load() >= startRuns+3 })

	// Stopped mid-load: the primary answers, /readyz says why.
	standby.Stop(t)
	r := waitReplica(t, addr, false)
	if r.Replicas[0].Reason != "unreachable" && r.Replicas[0].Reason != "failed" {
		t.Errorf("/readyz with the replica stopped: %+v, want it unreachable or failed", r.Replicas[0])
	}
	before := reads(t, addr)
	waitFor("primary reads", func() bool { return reads(t, addr)["primary"] >= before["primary"]+20 })
	if got := reads(t, addr)["replica1"]; got != before["replica1"] {
		t.Errorf("%d reads from the stopped replica", got-before["replica1"])
	}

	// Started again: it serves again.
	standby.Start(t)
	waitReplica(t, addr, true)
	before = reads(t, addr)
	waitFor("replica reads again", func() bool { return reads(t, addr)["replica1"] >= before["replica1"]+20 })
	stop()
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("failed request: %s", f)
	}
	if failed.Load() > 0 || ok.Load() == 0 {
		t.Errorf("%d requests failed, %d succeeded; want none failed", failed.Load(), ok.Load())
	}
	if n := strings.Count(log.String(), "skipped: reads go to the primary"); n < 1 || n > 3 {
		t.Errorf("%d log lines of a skipped replica for one stop, want 1 to 3 (state changes only):\n%s", n, log.String())
	}
	t.Logf("%d answers and searches, %d ingest runs; reads %v", ok.Load(), runs.Load(), reads(t, addr))
}

// TestReadReplicaConfiguration: a garbage DOCENT_DATABASE_READ_URLS stops the server with
// exit 2 and a message that names the entry but not its password; URLs that name the
// primary itself, another database or nothing at all are skipped with their reason in the
// log and /readyz, and the primary serves.
func TestReadReplicaConfiguration(t *testing.T) {
	t.Parallel()
	db := indexed(t)
	for _, bad := range []string{"postgres://docent:s3cret@127.0.0.1:notaport/docent", "docent:s3cret@127.0.0.1/docent"} {
		var stderr bytes.Buffer
		env := map[string]string{"DOCENT_DATABASE_URL": db.URL, "DOCENT_ADDR": "127.0.0.1:0", "DOCENT_DATABASE_READ_URLS": bad}
		code := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), "DOCENT_DATABASE_READ_URLS: entry 1") || strings.Contains(stderr.String(), "s3cret") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 naming entry 1 without the password", bad, code, stderr.String())
		}
	}
	for _, lag := range []string{"0s", "soon", "50ms"} {
		var stderr bytes.Buffer
		env := map[string]string{"DOCENT_DATABASE_URL": db.URL, "DOCENT_ADDR": "127.0.0.1:0", "DOCENT_READ_MAX_LAG": lag}
		if code := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, &stderr); code != exitUsage ||
			!strings.Contains(stderr.String(), "DOCENT_READ_MAX_LAG") {
			t.Errorf("DOCENT_READ_MAX_LAG=%s: exit %d, %q; want exit 2 naming it", lag, code, stderr.String())
		}
	}

	key := publicKey(t, db.URL)
	other := dbtest.New(t)
	addr, code, log := serveWith(t, db.URL, map[string]string{"DOCENT_DATABASE_READ_URLS": db.URL + ",postgres://docent:docent@127.0.0.1:1/docent," + other.URL})
	if addr == "" {
		t.Fatalf("the server stopped (exit %d); log:\n%s", code, log.String())
	}
	r := readyz(t, addr)
	want := []string{"not_a_standby", "unreachable", "not_a_standby"}
	if len(r.Replicas) != 3 {
		t.Fatalf("/readyz: %+v, want 3 replicas", r)
	}
	for i, w := range want {
		if r.Replicas[i].InUse || r.Replicas[i].Reason != w || r.Replicas[i].Detail == "" {
			t.Errorf("replica %d: %+v, want skipped as %s", i+1, r.Replicas[i], w)
		}
	}
	if n := strings.Count(log.String(), "skipped: reads go to the primary"); n != 3 {
		t.Errorf("%d log lines of skipped replicas, want 3:\n%s", n, log.String())
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/search", strings.NewReader(`{"query":"parking"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || reads(t, addr)["primary"] != 1 {
		t.Errorf("search: %s, reads %v; want it served by the primary", resp.Status, reads(t, addr))
	}
}

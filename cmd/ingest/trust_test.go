package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/dbtest/tcpproxy"
)

// TestDatabaseLostMidRunExits1 is finding 11 through the command: `ingest run` hung for ever
// when PostgreSQL went away. It must exit 1 promptly with a message that names the
// database, still print its --json summary, and the next run must mark it failed.
func TestDatabaseLostMidRunExits1(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	dir := bigCorpus(t, 1500)
	proxy, proxyURL := tcpproxy.For(t, db.URL)
	ctx := context.Background()
	cmd := ingestCmd(ctx, proxyURL, "run", "--source", "big", "--json", "--concurrency", "2", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(5 * time.Millisecond) {
		var docs int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents`).Scan(&docs); err != nil {
			t.Fatal(err)
		}
		if docs >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress; stderr:\n%s", stderr.String())
		}
	}
	proxy.Cut()
	cutAt := time.Now()
	var err error
	select {
	case err = <-exited:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGQUIT) // show where it hangs
		<-exited
		t.Fatalf("ingest run did not exit after the database went away; stderr:\n%s", stderr.String())
	}
	t.Logf("exited %v after the cut", time.Since(cutAt).Round(time.Millisecond))
	if code := exitCode(err); code != exitFatal {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFatal, stderr.String())
	}
	if !strings.Contains(stderr.String(), "lost the connection to the database") {
		t.Errorf("stderr does not say what happened:\n%s", stderr.String())
	}
	var s struct {
		RunID  int64  `json:"run_id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil || s.Status != "failed" || s.Error == "" || s.RunID == 0 {
		t.Errorf("--json summary %+v (%v):\n%s", s, err, stdout.String())
	}
	out, err := ingestCmd(ctx, db.URL, "run", "--source", "big", "--json", dir).Output()
	if code := exitCode(err); code != exitOK {
		t.Fatalf("next run: exit %d\n%s", code, out)
	}
	var status string
	if err := db.Pool.QueryRow(ctx, `SELECT status FROM ingest_runs WHERE id = $1`, s.RunID).Scan(&status); err != nil || status != "failed" {
		t.Errorf("the run that lost its database is recorded %q (%v), want failed", status, err)
	}
	if docs := wholeChecker(t, db)("after the next run"); docs != 1500 {
		t.Errorf("%d documents after the next run, want 1500", docs)
	}
}

// TestOutputEscapesControlCharacters is finding 12: a file name with terminal escape
// sequences was printed raw by `ingest status`. No output may carry them: the summary, the
// failure lists, the log lines, `ingest status` and the JSON outputs.
func TestOutputEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	dir := t.TempDir()
	evil := "esc\x1b[31mRED\x1b]0;pwned\x07\u009b2J\u202egnp.md"
	writeFiles(t, dir, map[string]string{
		".docent-acl": "public\n",
		evil:          "# Evil\n\ntext\n",
		evil + ".acl": "Everyone\n", // fails, so that its name is listed
		"ok.md":       "# OK\n\nfine\n",
	})
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe\x1b[2J"), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := func(what, s string) {
		t.Helper()
		for _, bad := range []string{"\x1b", "\x07", "\u009b", "\u202e"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q raw:\n%s", what, bad, s)
			}
		}
	}
	for _, format := range []string{"text", "json"} {
		code, stdout, stderr := runIngestEnv(t, map[string]string{"DOCENT_DATABASE_URL": db.URL, "DOCENT_LOG_FORMAT": format},
			"run", "--source", "evil-"+format, dir)
		if code != exitPartial {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		raw("the summary ("+format+" logs)", stdout)
		raw("the log ("+format+")", stderr)
		if !strings.Contains(stdout, `esc\x1b[31mRED`) || !strings.Contains(stdout, `pipe\x1b[2J`) {
			t.Errorf("the names are not shown escaped:\n%s", stdout)
		}
	}
	code, stdout, stderr := runIngest(t, db.URL, "run", "--source", "evil-json-out", "--json", dir)
	if code != exitPartial {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	raw("run --json", stdout)
	var s struct{ Failures, Refused []struct{ URI string } }
	if err := json.Unmarshal([]byte(stdout), &s); err != nil || len(s.Failures) != 1 || s.Failures[0].URI != evil || len(s.Refused) != 1 {
		t.Errorf("run --json: %+v %v (the JSON must still carry the names exactly)", s, err)
	}
	for _, args := range [][]string{{"status"}, {"status", "--json"}} {
		code, stdout, stderr := runIngest(t, db.URL, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		raw(strings.Join(args, " "), stdout)
		if args[len(args)-1] == "status" && (!strings.Contains(stdout, `esc\x1b[31mRED`) || !strings.Contains(stdout, "not read: pipe")) {
			t.Errorf("ingest status does not show the names escaped:\n%s", stdout)
		}
	}
}

// runIngestEnv runs the command in-process with the given environment.
func runIngestEnv(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, env{getenv: func(k string) string { return vars[k] }, stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

// TestDatabasePortIsUsed: with DOCENT_DB_PORT set and DOCENT_DATABASE_URL unset, the binaries
// silently used port 54329 (another checkout's database).
func TestDatabasePortIsUsed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close() // nothing listens there now
	code, _, stderr := runIngestEnv(t, map[string]string{"DOCENT_DB_PORT": port}, "status")
	if code != exitFatal || !strings.Contains(stderr, "127.0.0.1:"+port) {
		t.Errorf("exit %d, stderr %q: want a connection error on port %s", code, stderr, port)
	}
	code, _, stderr = runIngestEnv(t, map[string]string{"DOCENT_DB_PORT": "5432x"}, "status")
	if code != exitUsage || !strings.Contains(stderr, "DOCENT_DB_PORT") {
		t.Errorf("a bad port: exit %d, stderr %q", code, stderr)
	}
}

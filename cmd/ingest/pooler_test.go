package main

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestRunsThroughATransactionPooler runs ingest through PgBouncer in transaction pooling mode
// (scripts/db.sh pgbouncer, started by `make test`): a run succeeds; while it runs, a second
// run of the same source is refused (the source's lock holds through the pooler, where a
// session lock would stay on whichever server connection took it); a run killed mid-way
// frees the lock, and the next run through the pooler completes and records the dead one.
func TestRunsThroughATransactionPooler(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	pooled := db.PgBouncerURL(t)
	ctx := context.Background()

	small := t.TempDir()
	writeFiles(t, small, map[string]string{".docent-acl": "public\n", "a.md": "# Parking\n\nParking is free at the depot.\n"})
	if out, err := ingestCmd(ctx, pooled, "run", "--source", "small", small).CombinedOutput(); exitCode(err) != 0 {
		t.Fatalf("ingest run through PgBouncer: exit %d\n%s", exitCode(err), out)
	}

	dir := bigCorpus(t, 1500)
	first := ingestCmd(ctx, pooled, "run", "--source", "big", "--concurrency", "2", dir)
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitForDocuments(t, db, 100, &firstErr)

	for range 3 { // the pooler may hand each attempt another server connection
		second := ingestCmd(ctx, pooled, "run", "--source", "big", dir)
		var stderr bytes.Buffer
		second.Stderr = &stderr
		if code := exitCode(second.Run()); code != exitLocked || !strings.Contains(stderr.String(), "being ingested") {
			t.Fatalf("a second run of the source while the first runs: exit %d, want %d (locked)\n%s", code, exitLocked, stderr.String())
		}
	}

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	// PgBouncer ends the killed client's transaction when it sees the client go; the lock is
	// free within moments.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := ingestCmd(ctx, pooled, "run", "--source", "big", dir).CombinedOutput()
		code := exitCode(err)
		if code == 0 {
			break
		}
		if code != exitLocked || time.Now().After(deadline) {
			t.Fatalf("the run after the killed one: exit %d\n%s", code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var docs int
	var dead string
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents d JOIN sources s ON s.id = d.source_id WHERE s.name = 'big'`).Scan(&docs); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT r.status FROM ingest_runs r JOIN sources s ON s.id = r.source_id WHERE s.name = 'big' ORDER BY r.id LIMIT 1`).Scan(&dead); err != nil {
		t.Fatal(err)
	}
	if docs != 1500 || dead != "failed" {
		t.Errorf("after the re-run: %d documents of 1500, the killed run recorded %q (want failed)", docs, dead)
	}
}

// waitForDocuments returns once at least n documents are committed.
func waitForDocuments(t *testing.T, db *dbtest.DB, n int, stderr *bytes.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var docs int
		if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM documents`).Scan(&docs); err != nil {
			t.Fatal(err)
		}
		if docs >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress; stderr:\n%s", stderr.String())
		}
	}
}

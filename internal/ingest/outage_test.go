package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/dbtest/tcpproxy"
)

// bigFiles returns n two-chunk Markdown documents, tagged public.
func bigFiles(n int) map[string]string {
	files := map[string]string{".docent-acl": "public\n"}
	for i := range n {
		files[fmt.Sprintf("doc%04d.md", i)] = fmt.Sprintf("# Document %d\n\n%s\n\n## Part two\n\n%s\n", i,
			strings.Repeat(fmt.Sprintf("Robot %d reports its battery level every minute. ", i), 30),
			strings.Repeat("The fleet manager schedules charging when the level drops. ", 30))
	}
	return files
}

// waitForDocuments waits until the database holds at least n documents.
func waitForDocuments(t *testing.T, db *dbtest.DB, n int, done <-chan struct{}) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(5 * time.Millisecond) {
		var docs int
		if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM documents`).Scan(&docs); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			t.Fatalf("the run ended before %d documents were written (%d): make the corpus bigger", n, docs)
		default:
		}
		if docs >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %d documents", docs)
		}
	}
}

// TestDatabaseLostMidRun is finding 11: PostgreSQL going away in the middle of a run hung it
// for ever (a goroutine blocked on a channel send once the writers had failed). The run must
// end with a clear error, and the next run must mark it failed and finish the work with every
// document whole.
func TestDatabaseLostMidRun(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	dir := corpus(t, bigFiles(1500))
	proxy, proxyURL := tcpproxy.For(t, db.URL)
	ctx := context.Background()
	pool, err := index.Open(ctx, proxyURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	emb := &fakeEmbedder{}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := ingest.Config{Source: "big", Roots: []string{dir}, Prune: true, Concurrency: 2, BatchDocs: 32}
	in, err := ingest.New(cfg, pool, emb, logger)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var s ingest.Summary
	var runErr error
	go func() {
		defer close(done)
		s, runErr = in.Run(ctx)
	}()
	waitForDocuments(t, db, 100, done)
	proxy.Cut()
	cutAt := time.Now()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("the run did not end after the database went away")
	}
	t.Logf("the run ended %v after the database went away: %v", time.Since(cutAt).Round(time.Millisecond), runErr)
	if runErr == nil || !strings.Contains(runErr.Error(), "database") || s.Status != index.RunFailed || s.Error == "" {
		t.Fatalf("err %v, summary status %q error %q: want a failed run that names the database", runErr, s.Status, s.Error)
	}

	// The next run, with the database back: it marks the dead run failed and finishes.
	direct, err := ingest.New(cfg, db.Pool, emb, logger)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := direct.Run(ctx)
	if err != nil || s2.Status != index.RunSucceeded || s2.Documents.Added+s2.Documents.Unchanged != 1500 {
		t.Fatalf("next run: %v %+v", err, s2.Documents)
	}
	var status, msg string
	if err := db.Pool.QueryRow(ctx, `SELECT status, coalesce(error, '') FROM ingest_runs WHERE id = $1`, s.RunID).Scan(&status, &msg); err != nil {
		t.Fatal(err)
	}
	if status != index.RunFailed {
		t.Errorf("the run that lost its database is recorded %q (%s), want failed", status, msg)
	}
	var incomplete int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents d WHERE (SELECT count(*) FROM chunks c WHERE c.document_id = d.id) <> 2`).Scan(&incomplete); err != nil {
		t.Fatal(err)
	}
	if incomplete != 0 {
		t.Errorf("%d documents are not whole", incomplete)
	}
	assertStatsConsistent(t, db)
}

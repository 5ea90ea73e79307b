package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// BenchmarkSciFact ingests the 5,183 SciFact abstracts (one JSON Lines collection) into an
// empty index with the built-in embedder, end to end: reading, hashing, extraction, chunking,
// embedding, COPY, the lexical statistics and the vector index; then re-runs it unchanged.
// It reports documents and chunks per second of the first run and documents per second of
// the re-run. Run it with `make bench` or:
//
//	go test -run '^$' -bench SciFact -benchtime 3x ./internal/ingest
func BenchmarkSciFact(b *testing.B) {
	corpus := evaldata.Path(b, "beir/scifact/corpus.jsonl")
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var first, rerun time.Duration
	var docs, chunks int64
	for b.Loop() {
		b.StopTimer()
		db := dbtest.New(b)
		// Tagged, as every document a caller can find is: untagged chunks are in no tag's
		// lexical statistics and no entry of the tag-qualified lexeme index (migration 00008).
		in, err := ingest.New(ingest.Config{Source: "scifact", Roots: []string{corpus}, ACL: []string{"public"}, Prune: true}, db.Pool, emb, logger)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		s, err := in.Run(context.Background())
		first += time.Since(start)
		if err != nil || s.Documents.Added != 5183 {
			b.Fatalf("first run: %v %+v", err, s.Documents)
		}
		docs += int64(s.Documents.Added)
		chunks += s.Chunks.Written
		b.StopTimer()
		start = time.Now()
		s, err = in.Run(context.Background())
		rerun += time.Since(start)
		if err != nil || s.Documents.Unchanged != 5183 {
			b.Fatalf("re-run: %v %+v", err, s.Documents)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(docs)/first.Seconds(), "docs/s")
	b.ReportMetric(float64(chunks)/first.Seconds(), "chunks/s")
	b.ReportMetric(float64(docs)/rerun.Seconds(), "rerun-docs/s")
}

// BenchmarkGoDevRerun re-runs an unchanged ingest of the go.dev site's 485 files: the cost of
// the walk (with its confinement checks: no links followed, every read checked against what
// the walk saw), the tag files, reading and hashing each file, and comparing with the index.
//
//	go test -run '^$' -bench GoDevRerun -benchtime 20x ./internal/ingest
func BenchmarkGoDevRerun(b *testing.B) {
	dir := evaldata.Path(b, "docs/go-website/content")
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		b.Fatal(err)
	}
	db := dbtest.New(b)
	in, err := ingest.New(ingest.Config{Source: "go-docs", Roots: []string{dir}, ACL: []string{"public"}, Prune: true},
		db.Pool, emb, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	first, err := in.Run(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	files := first.Documents.Added + first.Documents.Skipped
	for b.Loop() {
		s, err := in.Run(context.Background())
		if err != nil || s.Documents.Unchanged != files {
			b.Fatalf("re-run: %v %+v", err, s.Documents)
		}
	}
	b.ReportMetric(float64(files)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

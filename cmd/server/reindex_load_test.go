package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/reindex"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// reindexDocs is the corpus size of BenchmarkAnswerLoadDuringReindex (smaller to try it out:
// go test ... -args -reindex-docs 5000).
var reindexDocs = flag.Int("reindex-docs", 100_000, "documents (one chunk each) of the reindex benchmark's corpus")

// BenchmarkAnswerLoadDuringReindex measures the answer server while an admin reindexes a
// corpus of 100,000 chunks to another dimension: the same answer load (SciFact test
// questions, 4 clients) first without a reindex, then while the reindex embeds, builds its
// HNSW index and cuts over. Every request must succeed, and the server must switch to the
// new generation without a restart. It prints both phases' latency side by side.
//
//	go test -run '^$' -bench AnswerLoadDuringReindex -benchtime 1x -timeout 30m ./cmd/server
func BenchmarkAnswerLoadDuringReindex(b *testing.B) {
	docs := *reindexDocs
	const (
		clients  = 4
		baseline = 30 * time.Second
		newDim   = 256
	)
	data, err := eval.LoadBEIR(evaldata.Path(b, "beir/scifact"), "test")
	if err != nil {
		b.Fatal(err)
	}
	corpus, _, err := evaldata.ScaleCorpus(evaldata.Path(b, "beir/scifact/corpus.jsonl"), evaldata.Path(b, "qa/clapnq/corpus.jsonl"), docs, 20261127)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "scale.jsonl")
	if err := os.WriteFile(path, corpus, 0o644); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	db := dbtest.New(b)
	quiet := slog.New(slog.DiscardHandler)
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	in, err := ingest.New(ingest.Config{Source: "scale", Roots: []string{path}}, db.Pool, emb, quiet)
	if err != nil {
		b.Fatal(err)
	}
	s, err := in.Run(ctx)
	if err != nil || s.Documents.Failed > 0 {
		b.Fatalf("ingest: %v (%d failed)", err, s.Documents.Failed)
	}
	if _, err := db.Pool.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("corpus: %d documents, %d chunks, ingested and indexed in %s\n", s.Documents.Added, s.Chunks.Written, time.Since(start).Round(time.Second))
	old, err := index.ActiveGeneration(ctx, db.Pool)
	if err != nil {
		b.Fatal(err)
	}

	// An admin key: the benchmark reads traces to see which generation answered.
	key := createKey(b, db, "group:all", "admin")
	questions := queryTexts(data)
	srv := startServer(b, db.URL)
	ask := asker(srv.url, key)
	for _, q := range questions[:50] {
		if _, err := ask(q); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}

	b.ResetTimer()
	before := load(clients, baseline, questions, ask)

	// The reindex runs in this process, as `ingest reindex` would; the load goes on until
	// the server reports the new generation, and a few seconds more on it.
	newEmb, err := embed.NewBuiltin(embed.BuiltinConfig{Dimension: newDim})
	if err != nil {
		b.Fatal(err)
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var during loadRun
	var wg sync.WaitGroup
	wg.Go(func() { during = loadUntil(loadCtx, clients, questions, ask) })
	reindexStart := time.Now()
	res, rerr := reindex.Run(ctx, db.Pool, reindex.Config{Embedder: newEmb, Embedders: func(ctx context.Context, g index.Generation) (retrieve.Embedder, error) {
		return embed.Open(ctx, embed.Spec{Kind: g.Embedder, Model: g.Model, Dimension: g.Dimension}, embed.Providers{})
	}}, quiet)
	reindexTook := time.Since(reindexStart)
	var switchDelay time.Duration
	if rerr == nil {
		switchDelay = waitForGeneration(b, srv.url, key, res.Generation.ID, 30*time.Second)
		time.Sleep(5 * time.Second)
	}
	stopLoad()
	wg.Wait()
	b.StopTimer()
	if rerr != nil {
		b.Fatalf("reindex: %v", rerr)
	}
	rss, hwm := srv.memory(b)

	fmt.Printf("\nAnswer load during a reindex: %d chunks, built-in embedder %d → %d dimensions, %d clients, extractive answers, cache off\n",
		res.Chunks, old.Dimension, newDim, clients)
	fmt.Println("| phase | seconds | answers/s | p50 ms | p90 ms | p99 ms | max ms | requests | errors |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range []struct {
		name string
		run  loadRun
	}{{"no reindex", before}, {"during the reindex and cutover", during}} {
		n := r.run.answers + r.run.refused + r.run.errors
		fmt.Printf("| %s | %.0f | %.0f | %.1f | %.1f | %.1f | %.1f | %d | %d |\n", r.name, r.run.elapsed.Seconds(),
			float64(r.run.answers+r.run.refused)/r.run.elapsed.Seconds(), r.run.p50, r.run.p90, r.run.p99, r.run.mx, n, r.run.errors)
	}
	fmt.Printf("reindex: %s in all (embedding %d chunks %s, HNSW build %s, %d vectors caught up at the cutover); server on the new generation %s after the cutover; p99 during / without = %.2f\n",
		reindexTook.Round(time.Second), res.Embedded, res.EmbedTime.Round(time.Second), res.IndexBuild.Round(time.Second), res.CaughtUp,
		switchDelay.Round(time.Millisecond), during.p99/before.p99)
	fmt.Printf("server memory: RSS %.0f MiB, peak %.0f MiB\n", rss, hwm)
	for _, r := range []loadRun{before, during} {
		if r.errors > 0 {
			b.Errorf("%d failed requests, the first: %s", r.errors, r.firstError)
		}
	}
	b.ReportMetric(before.p99, "p99-ms-without")
	b.ReportMetric(during.p99, "p99-ms-during")
	b.ReportMetric(float64(during.errors), "errors-during")
	b.ReportMetric(reindexTook.Seconds(), "reindex-s")
}

// waitForGeneration searches until the trace of a search says generation id served it, and
// returns how long that took.
func waitForGeneration(b *testing.B, url, key string, id int, timeout time.Duration) time.Duration {
	start := time.Now()
	get := func(method, path, body string, v any) error {
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, raw)
		}
		return json.Unmarshal(raw, v)
	}
	for time.Since(start) < timeout {
		var sr struct {
			TraceID string `json:"trace_id"`
		}
		var tr struct {
			GenerationID int `json:"generation_id"`
		}
		err := get(http.MethodPost, "/v1/search", `{"query": "vaccine efficacy in older adults"}`, &sr)
		// Traces are written asynchronously: give the trace a moment to land.
		for try := 0; err == nil || try > 0; try++ {
			if err = get(http.MethodGet, "/v1/traces/"+sr.TraceID, "", &tr); err == nil || try == 250 || !strings.Contains(err.Error(), "status 404") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			var metrics string
			if resp, err := http.Get(url + "/metrics"); err == nil {
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				for _, line := range strings.Split(string(raw), "\n") {
					if strings.Contains(line, "trace") && !strings.HasPrefix(line, "#") {
						metrics += line + "\n"
					}
				}
			}
			b.Fatalf("while waiting for generation %d: %v\n%s", id, err, metrics)
		}
		if tr.GenerationID == id {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("the server did not switch to generation %d within %s", id, timeout)
	return 0
}

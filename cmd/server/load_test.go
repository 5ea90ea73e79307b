package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// serveEnv, when "1", makes the test binary run the server instead of the tests: the load
// benchmark starts the server as a process of its own, so that its memory can be measured and
// the clients share nothing with it but the machine.
const serveEnv = "DOCENT_TEST_SERVE"

func TestMain(m *testing.M) {
	// Ingesting the demo corpus extracts files in child processes: this binary, re-executed.
	extract.RunChildIfRequested()
	if os.Getenv(serveEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// loadRun is the outcome of one load level.
type loadRun struct {
	clients           int
	answers, refused  int
	errors            int
	firstError        string
	elapsed           time.Duration
	p50, p90, p99, mx float64 // ms
}

// BenchmarkServerLoad measures the answer endpoint of a real server process (built-in
// embedder, extractive generator, answer cache off) on the SciFact corpus, with its 300 test
// claims as questions, at 1 and 4 concurrent clients, each for loadDuration. The baseline,
// run in the same process beforehand, is retrieval alone through the library (the same
// retriever configuration, 1 client): the ratio shows what authentication, answering,
// validation, traces and HTTP add.
//
//	go test -run '^$' -bench ServerLoad -benchtime 1x ./cmd/server
func BenchmarkServerLoad(b *testing.B) {
	const loadDuration = 8 * time.Second
	data, err := eval.LoadBEIR(evaldata.Path(b, "beir/scifact"), "test")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	db := dbtest.New(b)
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	// Everything is tagged with one group, so that every query runs the permission filter
	// the way a real caller's does.
	in, err := ingest.New(ingest.Config{Source: "scifact", Roots: []string{data.CorpusPath}, ACL: []string{"group:research"}}, db.Pool, emb, quiet)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	s, err := in.Run(ctx)
	if err != nil || s.Documents.Failed > 0 {
		b.Fatalf("ingest SciFact: %v (%d failed)", err, s.Documents.Failed)
	}
	fmt.Printf("SciFact ingested: %d documents, %d chunks in %.1f s\n", s.Documents.Added, s.Chunks.Written, time.Since(start).Seconds())
	// Measure the steady state a cron ingest leaves behind, not autovacuum catching up with
	// the bulk load (the benchmark's own ingest would otherwise compete with the server).
	if _, err := db.Pool.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		b.Fatal(err)
	}
	key := createKey(b, db, "group:research", "user")
	questions := queryTexts(data)

	baseline := retrievalBaseline(b, db, emb, questions)
	srv := startServer(b, db.URL)
	ask := asker(srv.url, key)
	// Warm the server's pools, caches of plans and the database's buffers.
	for _, q := range questions[:50] {
		if _, err := ask(q); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}

	b.ResetTimer()
	var runs []loadRun
	for _, clients := range []int{1, 4} {
		runs = append(runs, load(clients, loadDuration, questions, ask))
	}
	b.StopTimer()
	rss, hwm := srv.memory(b)

	fmt.Printf("\nServer load: POST /v1/answer, SciFact (%d chunks), built-in embedder, extractive answers, cache off, %s per level\n", s.Chunks.Written, loadDuration)
	fmt.Println("| clients | answers/s | p50 ms | p90 ms | p99 ms | max ms | answers | refused | errors |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		fmt.Printf("| %d | %.0f | %.1f | %.1f | %.1f | %.1f | %d | %d | %d |\n", r.clients, float64(r.answers+r.refused)/r.elapsed.Seconds(),
			r.p50, r.p90, r.p99, r.mx, r.answers, r.refused, r.errors)
	}
	fmt.Printf("baseline, retrieval alone in-process (1 client): p50 %.1f ms, p99 %.1f ms; server p50 at 1 client / baseline p50 = %.2f\n",
		baseline[0], baseline[1], runs[0].p50/baseline[0])
	fmt.Printf("server memory: RSS %.0f MiB, peak %.0f MiB\n", rss, hwm)
	for _, r := range runs {
		if r.errors > 0 {
			b.Errorf("%d clients: %d errors, the first: %s", r.clients, r.errors, r.firstError)
		}
		b.ReportMetric(float64(r.answers+r.refused)/r.elapsed.Seconds(), fmt.Sprintf("answers/s@%d", r.clients))
		b.ReportMetric(r.p50, fmt.Sprintf("p50-ms@%d", r.clients))
		b.ReportMetric(r.p99, fmt.Sprintf("p99-ms@%d", r.clients))
	}
	b.ReportMetric(rss, "rss-MiB")
}

// createKey creates an API key for principal with role on db and returns it.
func createKey(b *testing.B, db *dbtest.DB, principal, role string) string {
	key, prefix, hash, err := auth.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := index.CreateAPIKey(context.Background(), db.Pool, "load", prefix, hash, []string{principal}, role); err != nil {
		b.Fatal(err)
	}
	return key
}

// queryTexts returns the questions of a BEIR split.
func queryTexts(data *eval.BEIR) []string {
	questions := make([]string, len(data.Queries))
	for i, q := range data.Queries {
		questions[i] = q.Text
	}
	return questions
}

// asker returns a client that asks the server at url a question as the key's holder and
// reports whether it was refused; any answer that is not a 200 with an answer is an error.
func asker(url, key string) func(q string) (refused bool, err error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	return func(q string) (refused bool, err error) {
		body, _ := json.Marshal(map[string]any{"question": q})
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/answer", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, err
		}
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("status %d: %s", resp.StatusCode, raw)
		}
		var a struct {
			Answer  string `json:"answer"`
			Refused bool   `json:"refused"`
		}
		if err := json.Unmarshal(raw, &a); err != nil || a.Answer == "" {
			return false, fmt.Errorf("not an answer: %v: %.200s", err, raw)
		}
		return a.Refused, nil
	}
}

// load runs clients concurrent askers over the questions, in turn, for d.
func load(clients int, d time.Duration, questions []string, ask func(string) (bool, error)) loadRun {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return loadUntil(ctx, clients, questions, ask)
}

// loadUntil runs clients concurrent askers over the questions, in turn, until ctx ends.
func loadUntil(ctx context.Context, clients int, questions []string, ask func(string) (bool, error)) loadRun {
	var (
		mu        sync.Mutex
		latencies []float64
		next      atomic.Int64
		run       = loadRun{clients: clients}
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				q := questions[int(next.Add(1))%len(questions)]
				t0 := time.Now()
				refused, err := ask(q)
				ms := float64(time.Since(t0)) / float64(time.Millisecond)
				mu.Lock()
				switch {
				case err != nil:
					run.errors++
					if run.firstError == "" {
						run.firstError = err.Error()
					}
				case refused:
					run.refused++
				default:
					run.answers++
				}
				latencies = append(latencies, ms)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	run.elapsed = time.Since(start)
	p := eval.Percentiles(latencies, 50, 90, 99, 100)
	run.p50, run.p90, run.p99, run.mx = p[0], p[1], p[2], p[3]
	return run
}

// retrievalBaseline returns the p50 and p99 in ms of retrieval alone, in this process, over
// every question once after a warm-up.
func retrievalBaseline(b *testing.B, db *dbtest.DB, emb *embed.Builtin, questions []string) [2]float64 {
	r, err := retrieve.New(retrieve.Config{}, db.Pool, emb, nil, "", slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var ms []float64
	for i, q := range append(questions[:50:50], questions...) {
		start := time.Now()
		if _, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: []string{"group:research", "public"}, Mode: retrieve.Hybrid}); err != nil {
			b.Fatal(err)
		}
		if i >= 50 {
			ms = append(ms, float64(time.Since(start))/float64(time.Millisecond))
		}
	}
	p := eval.Percentiles(ms, 50, 99)
	return [2]float64{p[0], p[1]}
}

// serverProcess is the server under load.
type serverProcess struct {
	cmd *exec.Cmd
	url string
}

// startServer runs this test binary as the server (see TestMain) on database url and waits
// until it is ready. The server stops with the benchmark.
func startServer(b *testing.B, url string) *serverProcess {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveEnv+"=1", "DOCENT_DATABASE_URL="+url, "DOCENT_ADDR="+addr,
		"DOCENT_CACHE_SIZE=0", "DOCENT_RATE_LIMIT=100000", "DOCENT_RATE_BURST=100000",
		"DOCENT_LOG_LEVEL=warn", "DOCENT_LOG_FORMAT=json", "DOCENT_GENERATOR=extractive", "DOCENT_EMBEDDER=builtin")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if b.Failed() {
			b.Logf("server output:\n%s", logs.String())
		}
	})
	srv := &serverProcess{cmd: cmd, url: "http://" + addr}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(srv.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return srv
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the server was not ready after 30 s: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// memory returns the server's resident set size and its peak, in MiB (Linux /proc).
func (s *serverProcess) memory(b *testing.B) (rss, peak float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		b.Logf("server memory unknown: %v", err)
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			continue
		}
		if name == "VmRSS" {
			rss = kb / 1024
		} else {
			peak = kb / 1024
		}
	}
	return rss, peak
}

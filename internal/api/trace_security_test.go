package api_test

// Traces, attacked as an admin who may not read everything, as a client choosing request
// ids, and as a database that goes away: issue 9, findings 5 and 7, and traces dropped on a
// database restart. The tests speak HTTP to a real server and read the responses as raw
// JSON, so that they run unchanged against the code before the fix (where they fail).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/api"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/metrics"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/dbtest/tcpproxy"
	"github.com/docent-rag/docent/internal/trace"
)

// Questions, and what their answers and traces hold that only their askers' groups may read.
const (
	salaryQ   = "What is the salary band for a Senior Robotics Engineer?"
	failoverQ = "How do I fail over the production database?"
	vacationQ = "How many vacation days do employees get?"
)

var (
	// hrSecrets: the salary question's words and its answer's facts.
	hrSecrets = []string{"Senior Robotics", "salary band", "152,000", "188,000", "salary-bands"}
	// engSecrets: the failover question's words and its answer's facts.
	engSecrets = []string{"fail over", "flock-prod-pg", "flock-pg-2", "database-failover"}
)

// traceKeys are the callers of a trace environment: two users and admins with their
// principals (an admin key with "public" only sees public documents, like any caller).
var traceKeys = map[string]struct {
	tags  []string
	admin bool
}{
	"hr":           {[]string{"group:hr", "user:ben@northwind.example"}, false},
	"eng":          {[]string{"group:engineering", "user:ana@northwind.example"}, false},
	"admin-hr":     {[]string{"group:hr", "user:ben@northwind.example"}, true},
	"admin-eng":    {[]string{"group:engineering", "user:ana@northwind.example"}, true},
	"admin-public": {[]string{"public"}, true},
}

// logBuffer collects the server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type traceEnvOptions struct {
	// serverPool and tracePool return the pools of the server and of its trace writer
	// (default: the test database's).
	serverPool func(t *testing.T, db *dbtest.DB) *pgxpool.Pool
	tracePool  func(t *testing.T, db *dbtest.DB) *pgxpool.Pool
	traceCfg   trace.Config
}

// newTraceEnv runs a server over the demo corpus with the traceKeys; it returns the server,
// its trace writer and its log.
func newTraceEnv(t *testing.T, o traceEnvOptions) (*env, *trace.Writer, *logBuffer) {
	t.Helper()
	ctx := context.Background()
	db := dbtest.New(t)
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	emb, _ := ingestDemo(t, db, nil, ingest.Config{}, slog.New(slog.DiscardHandler), false)
	e := &env{t: t, db: db, keys: map[string]string{}, metrics: metrics.New()}
	for name, spec := range traceKeys {
		key, prefix, hash, err := auth.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		role := index.RoleUser
		if spec.admin {
			role = index.RoleAdmin
		}
		if _, err := index.CreateAPIKey(ctx, db.Pool, name, prefix, hash, spec.tags, role); err != nil {
			t.Fatal(err)
		}
		e.keys[name] = key
	}
	pool := db.Pool
	if o.serverPool != nil {
		pool = o.serverPool(t, db)
	}
	tracePool := pool
	if o.tracePool != nil {
		tracePool = o.tracePool(t, db)
	}
	authn, err := auth.New(ctx, auth.Config{}, auth.DBKeys{DB: pool}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authn.Close(context.Background()) })
	r, err := retrieve.New(retrieve.Config{}, pool, emb, nil, "", logger)
	if err != nil {
		t.Fatal(err)
	}
	a, err := answer.New(answer.Config{}, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.traceCfg
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = 20 * time.Millisecond
	}
	traces, err := trace.New(cfg, tracePool, e.metrics, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = traces.Close(context.Background()) })
	h, err := api.New(api.Config{MinEvidence: defaultMinEvidence(t), CacheSize: 100}, pool, r, a, authn, traces, e.metrics, logger)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e, traces, logs
}

// ask posts a question as key and returns the answer's trace id; header pairs are sent too.
func ask(e *env, key, question string, header ...string) (traceID string, h http.Header) {
	e.t.Helper()
	status, h, body := e.post("/v1/answer", e.keys[key], map[string]any{"question": question}, header...)
	if status != http.StatusOK {
		e.t.Fatalf("%s asking %q: status %d: %s", key, question, status, body)
	}
	var a struct {
		TraceID string `json:"trace_id"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.TraceID == "" {
		e.t.Fatalf("%s asking %q: no trace id: %v %s", key, question, err, body)
	}
	return a.TraceID, h
}

// readTrace returns the trace as key sees it (raw and decoded), waiting for it to be written.
func readTrace(e *env, key, id string) ([]byte, map[string]any) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := e.get("/v1/traces/"+url.PathEscape(id), e.keys[key])
		if status == http.StatusOK {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				e.t.Fatalf("trace %s: %v: %s", id, err, body)
			}
			return body, m
		}
		if status != http.StatusNotFound || time.Now().After(deadline) {
			e.t.Fatalf("trace %s as %s: status %d: %s", id, key, status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustBeRedacted fails unless the trace shows its steps and timings but none of the secrets,
// no question and no chunk ids, with a note saying why.
func mustBeRedacted(t *testing.T, what string, body []byte, tr map[string]any, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(bytes.ToLower(body), bytes.ToLower([]byte(s))) {
			t.Errorf("%s: the trace shows %q:\n%s", what, s, body)
		}
	}
	if note, _ := tr["redacted"].(string); note == "" {
		t.Errorf("%s: no note saying the trace is redacted:\n%s", what, body)
	}
	for _, field := range []string{"question", "normalized_query", "rewritten_query", "chunk_ids", "involved_chunk_ids", "error"} {
		if v, ok := tr[field]; !ok || v != nil {
			t.Errorf("%s: %s is %v, want null", what, field, v)
		}
	}
	r, _ := tr["retrieval"].(map[string]any)
	for _, k := range []string{"lexical", "dense", "ranked", "phrases", "rerank_error"} {
		if r[k] != nil {
			t.Errorf("%s: the retrieval shows %s", what, k)
		}
	}
	if v, _ := tr["validation"].(map[string]any); v != nil {
		sentences, _ := v["sentences"].([]any)
		for _, s := range sentences {
			if s, _ := s.(map[string]any); s["text"] != nil {
				t.Errorf("%s: a sentence's text is shown: %.60q", what, s["text"])
			}
		}
	}
	mustShowStepsAndTimings(t, what, body, tr)
}

func mustShowStepsAndTimings(t *testing.T, what string, body []byte, tr map[string]any) {
	t.Helper()
	steps, _ := tr["steps"].([]any)
	if len(steps) == 0 {
		t.Errorf("%s: no steps:\n%s", what, body)
	}
	if ms, _ := tr["total_ms"].(float64); ms <= 0 {
		t.Errorf("%s: total_ms %v", what, tr["total_ms"])
	}
	if o, _ := tr["outcome"].(string); o == "" {
		t.Errorf("%s: no outcome", what)
	}
}

// mustBeWhole fails unless the trace shows its question and, when given, a fact.
func mustBeWhole(t *testing.T, what string, body []byte, tr map[string]any, question string, facts ...string) {
	t.Helper()
	if q, _ := tr["question"].(string); q != question {
		t.Errorf("%s: question %v, want %q:\n%s", what, tr["question"], question, body)
	}
	if r, _ := tr["redacted"].(string); r != "" {
		t.Errorf("%s: redacted (%s) for a reader who may read it all", what, r)
	}
	for _, f := range facts {
		if !bytes.Contains(body, []byte(f)) {
			t.Errorf("%s: the trace does not show %q:\n%s", what, f, body)
		}
	}
	mustShowStepsAndTimings(t, what, body, tr)
}

// chunkTags returns a chunk's current tags.
func chunkTags(t *testing.T, e *env, id int64) []string {
	t.Helper()
	var tags []string
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT acl FROM chunks WHERE id = $1`, id).Scan(&tags); err != nil {
		t.Fatalf("tags of chunk %d: %v", id, err)
	}
	return tags
}

// legChunks returns the chunk ids of a whole trace's retrieval legs.
func legChunks(tr map[string]any) []int64 {
	r, _ := tr["retrieval"].(map[string]any)
	var out []int64
	for _, leg := range []string{"lexical", "dense", "ranked"} {
		hits, _ := r[leg].([]any)
		for _, h := range hits {
			if h, _ := h.(map[string]any); h != nil {
				if id, ok := h["chunk_id"].(float64); ok {
					out = append(out, int64(id))
				}
			}
		}
	}
	return out
}

// TestAdminWithoutTheGroupCannotReadATrace (finding 5): an admin key whose principals are
// refused on a question reads the trace of an HR user's answer, as JSON and as a stream,
// and of the same answer served from the cache: it sees the steps and timings, never the
// question or the salary band. The admin with HR's principals sees everything.
func TestAdminWithoutTheGroupCannotReadATrace(t *testing.T) {
	t.Parallel()
	e, _, _ := newTraceEnv(t, traceEnvOptions{})
	first, _ := ask(e, "hr", salaryQ)
	cachedID, _ := ask(e, "hr", salaryQ) // the same answer, from the cache
	status, _, stream := e.post("/v1/answer", e.keys["hr"], map[string]any{"question": salaryQ + " (stream)"}, "Accept", "text/event-stream")
	if status != http.StatusOK {
		t.Fatalf("stream: %d", status)
	}
	var streamed string
	for _, ev := range events(t, stream) {
		if ev.Type == "answer" {
			var a struct {
				TraceID string `json:"trace_id"`
			}
			_ = json.Unmarshal([]byte(ev.Data), &a)
			streamed = a.TraceID
		}
	}
	for _, c := range []struct {
		name, id, question string
		facts              []string
	}{
		{"answer", first, salaryQ, []string{"152,000"}},
		{"cached answer", cachedID, salaryQ, nil}, // its trace holds no sentences
		{"streamed answer", streamed, salaryQ + " (stream)", []string{"152,000"}},
	} {
		body, tr := readTrace(e, "admin-hr", c.id)
		mustBeWhole(t, "admin-hr, "+c.name, body, tr, c.question, c.facts...)
		for _, admin := range []string{"admin-public", "admin-eng"} {
			body, tr := readTrace(e, admin, c.id)
			mustBeRedacted(t, admin+", "+c.name, body, tr, hrSecrets...)
		}
	}
	// A non-admin reads no trace at all, not even its own.
	if status, _ := e.get("/v1/traces/"+first, e.keys["hr"]); status != http.StatusForbidden {
		t.Errorf("a non-admin read a trace: %d", status)
	}
}

// TestAdminCoveringTheCitationsButNotEveryRetrievedChunk (finding 5): HR's answer about
// vacation cites public handbook passages only, but retrieval for HR also fetched HR-only
// chunks. An admin who sees public documents covers every citation, not every chunk
// involved: the trace is redacted.
func TestAdminCoveringTheCitationsButNotEveryRetrievedChunk(t *testing.T) {
	t.Parallel()
	e, _, _ := newTraceEnv(t, traceEnvOptions{})
	status, _, body := e.post("/v1/answer", e.keys["hr"], map[string]any{"question": vacationQ})
	a := decodeJSON[api.AnswerResponse](t, body)
	if status != http.StatusOK || a.Refused || len(a.Citations) == 0 {
		t.Fatalf("HR's vacation answer: %d %s", status, body)
	}
	for _, c := range a.Citations {
		if tags := chunkTags(t, e, c.ChunkID); !slices.Contains(tags, "public") {
			t.Fatalf("precondition: cited chunk %d is tagged %v, want public", c.ChunkID, tags)
		}
	}
	whole, tr := readTrace(e, "admin-hr", a.TraceID)
	mustBeWhole(t, "admin-hr", whole, tr, vacationQ)
	hidden := false
	for _, id := range legChunks(tr) {
		if tags := chunkTags(t, e, id); !slices.Contains(tags, "public") && slices.Contains(tags, "group:hr") {
			hidden = true
		}
	}
	if !hidden {
		t.Fatal("precondition: no HR-only chunk among those retrieved for HR")
	}
	body, tr = readTrace(e, "admin-public", a.TraceID)
	mustBeRedacted(t, "admin-public", body, tr, "vacation", "25 days")
}

// TestTraceFollowsTheTagsOfItsChunks (finding 5): the check is made against the chunks' tags
// as they are when the trace is read (a document re-tagged or deleted since hides the trace
// from a reader who covered it) and as they were when it was written (a document made
// public since does not open the trace to everyone).
func TestTraceFollowsTheTagsOfItsChunks(t *testing.T) {
	t.Parallel()
	e, _, _ := newTraceEnv(t, traceEnvOptions{})
	ctx := context.Background()
	retagged, _ := ask(e, "hr", salaryQ)
	broadened, _ := ask(e, "hr", salaryQ+" in the United States")
	deleted, _ := ask(e, "hr", "What is the salary band for an L5 engineer?")
	for id, q := range map[string]string{retagged: salaryQ, broadened: salaryQ + " in the United States",
		deleted: "What is the salary band for an L5 engineer?"} {
		body, tr := readTrace(e, "admin-hr", id)
		mustBeWhole(t, "admin-hr before any change", body, tr, q, "152,000")
	}

	// Re-tagged away from HR: HR's admin no longer covers the trace.
	if _, err := e.db.Pool.Exec(ctx, `UPDATE documents SET acl = '{group:finance}' WHERE uri = 'hr/salary-bands.md'`); err != nil {
		t.Fatal(err)
	}
	body, tr := readTrace(e, "admin-hr", retagged)
	mustBeRedacted(t, "admin-hr after the document was re-tagged", body, tr, hrSecrets...)

	// Made public (every document): the admin with public only matches every chunk now, but
	// not the tags they had when the traces were written.
	if _, err := e.db.Pool.Exec(ctx, `UPDATE documents SET acl = acl || '{public}'::text[]`); err != nil {
		t.Fatal(err)
	}
	body, tr = readTrace(e, "admin-public", broadened)
	mustBeRedacted(t, "admin-public after every document was made public", body, tr, hrSecrets...)

	// Deleted: no reader covers a chunk that is gone.
	if _, err := e.db.Pool.Exec(ctx, `DELETE FROM documents WHERE uri = 'hr/salary-bands.md'`); err != nil {
		t.Fatal(err)
	}
	body, tr = readTrace(e, "admin-hr", deleted)
	mustBeRedacted(t, "admin-hr after the document was deleted", body, tr, hrSecrets...)
}

var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestClientsCannotChooseTraceIDs (finding 7): HR sends a request id first, Engineering the
// same one later. Each answer points at its own trace, made by the server; the request id is
// kept beside it, echoed, and searchable by admins under the same redaction.
func TestClientsCannotChooseTraceIDs(t *testing.T) {
	t.Parallel()
	e, _, _ := newTraceEnv(t, traceEnvOptions{})
	const shared = "shared-request-0001"
	hrID, hrHeader := ask(e, "hr", salaryQ, "X-Request-ID", shared)
	engID, engHeader := ask(e, "eng", failoverQ, "X-Request-ID", shared)
	if hrID == engID {
		t.Fatalf("Engineering's answer points at HR's trace %s", hrID)
	}
	for who, c := range map[string]struct {
		id string
		h  http.Header
	}{"hr": {hrID, hrHeader}, "eng": {engID, engHeader}} {
		if !traceIDPattern.MatchString(c.id) {
			t.Errorf("%s's trace id %q is not 32 hex digits made by the server", who, c.id)
		}
		if got := c.h.Get("X-Trace-Id"); got != c.id {
			t.Errorf("%s: X-Trace-Id %q, body's trace_id %q", who, got, c.id)
		}
		if got := c.h.Get("X-Request-Id"); got != shared {
			t.Errorf("%s: X-Request-Id %q, want the client's %q", who, got, shared)
		}
	}

	// Engineering's own trace exists and is Engineering's.
	body, tr := readTrace(e, "admin-eng", engID)
	mustBeWhole(t, "admin-eng reading engineering's trace", body, tr, failoverQ, "flock-prod-pg")
	if got, _ := tr["request_id"].(string); got != shared {
		t.Errorf("engineering's trace: request_id %v, want %q", tr["request_id"], shared)
	}
	body, tr = readTrace(e, "admin-eng", hrID)
	mustBeRedacted(t, "admin-eng reading HR's trace", body, tr, hrSecrets...)

	// Search by request id: both traces, each as the reader may see it.
	status, list := e.get("/v1/traces?request_id="+shared, e.keys["admin-eng"])
	if status != http.StatusOK {
		t.Fatalf("search by request id: %d %s", status, list)
	}
	var found struct {
		Traces []map[string]any `json:"traces"`
	}
	if err := json.Unmarshal(list, &found); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range found.Traces {
		id, _ := tr["id"].(string)
		ids = append(ids, id)
		raw, _ := json.Marshal(tr)
		switch id {
		case hrID:
			mustBeRedacted(t, "search, HR's trace", raw, tr, hrSecrets...)
		case engID:
			mustBeWhole(t, "search, engineering's trace", raw, tr, failoverQ)
		}
	}
	slices.Sort(ids)
	if want := []string{hrID, engID}; !slices.Equal(ids, slices.Sorted(slices.Values(want))) {
		t.Errorf("search found %v, want %v", ids, want)
	}
	if status, _ := e.get("/v1/traces?request_id="+shared, e.keys["eng"]); status != http.StatusForbidden {
		t.Errorf("a non-admin searched traces: %d", status)
	}
	if status, body := e.get("/v1/traces?request_id="+url.QueryEscape("two words"), e.keys["admin-eng"]); status != http.StatusBadRequest {
		t.Errorf("search by an invalid request id: %d %s", status, body)
	}

	// Sending another request's trace id as one's request id takes nothing over.
	squat, _ := ask(e, "hr", salaryQ+" again", "X-Request-ID", engID)
	if squat == engID {
		t.Fatal("HR took engineering's trace id by sending it as a request id")
	}
	body, tr = readTrace(e, "admin-eng", engID)
	mustBeWhole(t, "engineering's trace after HR sent its id", body, tr, failoverQ)

	// A request id that is not printable ASCII of a sane length is not kept.
	for _, bad := range []string{"with spaces in it", strings.Repeat("x", 300)} {
		id, h := ask(e, "eng", failoverQ, "X-Request-ID", bad)
		echoed := h.Get("X-Request-Id")
		if echoed == bad || echoed == "" {
			t.Errorf("request id %.20q echoed as %q", bad, echoed)
		}
		_, tr := readTrace(e, "admin-eng", id)
		if got, _ := tr["request_id"].(string); got != echoed {
			t.Errorf("request id %.20q stored as %q, want the server's %q", bad, got, echoed)
		}
	}
}

// proxied returns a traceEnvOptions pool: one on the test database through a proxy the test
// can cut, which it stores in *proxy.
func proxied(proxy **tcpproxy.Proxy) func(t *testing.T, db *dbtest.DB) *pgxpool.Pool {
	return func(t *testing.T, db *dbtest.DB) *pgxpool.Pool {
		p, u := tcpproxy.For(t, db.URL)
		*proxy = p
		pool, err := pgxpool.New(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pool
	}
}

// TestTracesSurviveADatabaseOutage: the trace writer's connection to PostgreSQL is cut (a
// proxy resets every connection and refuses new ones) while the server keeps answering;
// once it is restored, every answered request's trace is written.
func TestTracesSurviveADatabaseOutage(t *testing.T) {
	t.Parallel()
	var proxy *tcpproxy.Proxy
	e, _, logs := newTraceEnv(t, traceEnvOptions{tracePool: proxied(&proxy)})
	stored := func(ids []string) int {
		var n int
		if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM answer_traces WHERE id = ANY($1)`, ids).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, _ := ask(e, "eng", failoverQ)
	readTrace(e, "admin-eng", before) // written: the writer's pool works

	proxy.Cut()
	var ids []string
	for i := range 6 {
		id, _ := ask(e, "eng", fmt.Sprintf("%s (%d)", failoverQ, i))
		ids = append(ids, id)
	}
	time.Sleep(time.Second) // several flushes and attempts
	if n := stored(ids); n != 0 {
		t.Fatalf("%d traces written through a cut connection: the outage is not real", n)
	}
	proxy.Restore()
	deadline := time.Now().Add(30 * time.Second)
	for stored(ids) < len(ids) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := stored(ids); n != len(ids) {
		t.Fatalf("%d of %d traces of answered requests written after the database came back", n, len(ids))
	}
	body, tr := readTrace(e, "admin-eng", ids[3])
	mustBeWhole(t, "a trace written after the outage", body, tr, failoverQ+" (3)")
	if strings.Contains(logs.String(), "fail over the production database") {
		t.Errorf("the log shows a question:\n%s", logs.String())
	}
}

// TestTracesSurviveADatabaseRestartAtShutdown: the whole server runs through the proxy; its
// traces wait for a write when the database goes away, and the graceful shutdown writes them
// once it is back, within its deadline.
func TestTracesSurviveADatabaseRestartAtShutdown(t *testing.T) {
	t.Parallel()
	var proxy *tcpproxy.Proxy
	e, writer, _ := newTraceEnv(t, traceEnvOptions{
		serverPool: proxied(&proxy),
		// Nothing is written before the shutdown.
		traceCfg: trace.Config{FlushEvery: time.Hour, BatchSize: 1000},
	})
	var ids []string
	for i := range 3 {
		id, _ := ask(e, "eng", fmt.Sprintf("%s (%d)", failoverQ, i))
		ids = append(ids, id)
	}
	proxy.Cut() // the database restarts
	go func() {
		time.Sleep(500 * time.Millisecond)
		proxy.Restore()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := writer.Close(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM answer_traces WHERE id = ANY($1)`, ids).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ids) {
		t.Errorf("%d of %d traces written at shutdown across a database restart", n, len(ids))
	}
}

// TestTraceContentLeavesNoOtherWay: after HR's and Engineering's questions, the server's
// log and its metrics hold none of their words or facts.
func TestTraceContentLeavesNoOtherWay(t *testing.T) {
	t.Parallel()
	e, writer, logs := newTraceEnv(t, traceEnvOptions{})
	hrID, _ := ask(e, "hr", salaryQ, "X-Request-ID", "leak-check-0001")
	engID, _ := ask(e, "eng", failoverQ)
	readTrace(e, "admin-public", hrID)
	readTrace(e, "admin-public", engID)
	e.get("/v1/traces?request_id=leak-check-0001", e.keys["admin-public"])
	_, metricsBody := e.get("/metrics", "")
	if err := writer.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range append(slices.Clone(hrSecrets), engSecrets...) {
		if strings.Contains(strings.ToLower(logs.String()), strings.ToLower(s)) {
			t.Errorf("the log shows %q:\n%s", s, logs.String())
		}
		if bytes.Contains(bytes.ToLower(metricsBody), bytes.ToLower([]byte(s))) {
			t.Errorf("the metrics show %q", s)
		}
	}
}

// TestTraceResponsesMatchTheOpenAPI validates a whole trace, a redacted one and a search by
// request id against openapi.json.
func TestTraceResponsesMatchTheOpenAPI(t *testing.T) {
	t.Parallel()
	e, _, _ := newTraceEnv(t, traceEnvOptions{})
	router := openAPIRouter(t, e)
	id, _ := ask(e, "hr", salaryQ, "X-Request-ID", "openapi-check-1")
	readTrace(e, "admin-hr", id)
	for _, tc := range []struct{ path, key string }{
		{"/v1/traces/" + id, "admin-hr"},
		{"/v1/traces/" + id, "admin-public"},
		{"/v1/traces?request_id=openapi-check-1", "admin-public"},
		{"/v1/traces?request_id=openapi-check-1&limit=1", "admin-hr"},
		{"/v1/traces?request_id=no-such-request", "admin-hr"},
		{"/v1/traces?request_id=openapi-check-1&limit=0", "admin-hr"},
		{"/v1/traces?request_id=openapi-check-1", "hr"},
	} {
		x := e.request(http.MethodGet, tc.path, e.keys[tc.key], nil)
		if err := checkOpenAPI(t, router, x); err != nil {
			t.Errorf("%s as %s → %d does not match openapi.json: %v\n%s", tc.path, tc.key, x.status, err, x.body)
		}
	}
}

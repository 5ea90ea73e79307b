package index_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/docent-rag/docent/internal/dbtest"
	"github.com/docent-rag/docent/internal/index"
)

// jsonEqual compares JSON values by meaning: jsonb reorders keys and respaces.
// The filter keeps it off []byte fields, which are assignable to json.RawMessage too.
var jsonEqual = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().Type() == reflect.TypeFor[json.RawMessage]()
}, cmp.Comparer(func(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return cmp.Equal(x, y)
}))

func traceCount(t *testing.T, db index.DBTX) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM answer_traces`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func minimalTrace(id string, created time.Time) index.Trace {
	return index.Trace{ID: id, CreatedAt: created, Route: "/v1/answer", Question: "q " + id,
		Outcome: index.OutcomeAnswered, TotalMS: 1}
}

func TestTraceRoundTrip(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	gen := f.newGeneration(t, "m", 4)
	var keyID int64
	if err := f.pool.QueryRow(ctx, `
		INSERT INTO api_keys (name, prefix, key_hash, principals) VALUES ('k', 'dk_', sha256('x'), '{group:a}')
		RETURNING id`).Scan(&keyID); err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte("group:a\nuser:1"))
	full := index.Trace{
		ID:              "req-full",
		CreatedAt:       time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC),
		Route:           "/v1/answer",
		PrincipalHash:   hash[:],
		APIKeyID:        &keyID,
		Question:        "How do I rotate keys?",
		NormalizedQuery: "how do i rotate keys",
		RewrittenQuery:  "rotate api keys procedure",
		GenerationID:    gen.ID,
		ChunkIDs:        []int64{42, 7, 19},
		Retrieval:       json.RawMessage(`{"lexical":[{"id":42,"rank":1,"score":3.5}],"dense":[{"id":7,"rank":1,"score":0.81}]}`),
		ContextTokens:   1234,
		PromptVersion:   "answer-v3",
		Model:           "gpt-x",
		Usage:           json.RawMessage(`{"prompt_tokens":1300,"completion_tokens":120}`),
		Validation:      json.RawMessage(`{"sentences":[{"supported":true}],"dropped_citations":[3]}`),
		Steps:           json.RawMessage(`[{"step":"embed","ms":3.2},{"step":"generate","ms":812}]`),
		Outcome:         index.OutcomeFallback,
		Reason:          "model_unavailable",
		Fallback:        "extractive",
		TotalMS:         845.25,
		Error:           "generate: timeout",
	}
	// Only the required columns: every optional one must be NULL, not an empty value.
	minimal := index.Trace{ID: "req-min", Route: "/v1/search", Question: "q", Outcome: index.OutcomeRefused, TotalMS: 0.5}
	before := time.Now()
	if err := index.InsertTraces(ctx, f.pool, []index.Trace{full, minimal}); err != nil {
		t.Fatal(err)
	}

	got, err := index.GetTrace(ctx, f.pool, full.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(full, got, jsonEqual, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("full trace round trip (-want +got):\n%s", diff)
	}

	got, err = index.GetTrace(ctx, f.pool, minimal.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt.Before(before.Add(-time.Minute)) || got.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("zero CreatedAt stored as %v, want the database's now()", got.CreatedAt)
	}
	wantMin := minimal
	wantMin.CreatedAt = got.CreatedAt
	wantMin.PrincipalHash = []byte{}
	wantMin.ChunkIDs = []int64{}
	wantMin.Retrieval, wantMin.Usage, wantMin.Validation, wantMin.Steps =
		json.RawMessage(`{}`), json.RawMessage(`{}`), json.RawMessage(`{}`), json.RawMessage(`[]`)
	if diff := cmp.Diff(wantMin, got, jsonEqual); diff != "" {
		t.Errorf("minimal trace round trip (-want +got):\n%s", diff)
	}
	var nulls []bool
	err = f.pool.QueryRow(ctx, `
		SELECT ARRAY[api_key_id IS NULL, normalized_query IS NULL, rewritten_query IS NULL,
		  generation_id IS NULL, context_tokens IS NULL, prompt_version IS NULL, model IS NULL,
		  reason IS NULL, fallback IS NULL, error IS NULL]
		FROM answer_traces WHERE id = $1`, minimal.ID).Scan(&nulls)
	if err != nil {
		t.Fatal(err)
	}
	for i, isNull := range nulls {
		if !isNull {
			t.Errorf("optional column %d of the minimal trace is not NULL", i)
		}
	}

	if _, err := index.GetTrace(ctx, f.pool, "no-such-request"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("GetTrace of a missing id: %v, want ErrNotFound", err)
	}
}

func TestInsertTracesKeepsOthersOnDuplicateIDs(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	now := time.Now()
	first := minimalTrace("a", now)
	if err := index.InsertTraces(ctx, db.Pool, []index.Trace{first}); err != nil {
		t.Fatal(err)
	}
	again := minimalTrace("a", now)
	again.Question = "a retry with the same request id"
	// "a" is stored already, "b" comes twice in the batch: the first of each wins.
	batch := []index.Trace{minimalTrace("b", now), again, minimalTrace("c", now), minimalTrace("b", now.Add(time.Second))}
	if err := index.InsertTraces(ctx, db.Pool, batch); err != nil {
		t.Fatalf("a batch with duplicate ids: %v", err)
	}
	if n := traceCount(t, db.Pool); n != 3 {
		t.Errorf("%d traces stored, want 3 (a, b, c)", n)
	}
	got, err := index.GetTrace(ctx, db.Pool, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Question != first.Question {
		t.Errorf("the stored trace a was replaced: question %q", got.Question)
	}
}

func TestInsertTracesStoresWhatPostgresCannot(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	missingKey := int64(999999)
	tr := minimalTrace("odd", time.Now())
	tr.Question = "nul\x00 and bad utf-8 \xff"
	tr.Retrieval = json.RawMessage(`{"text":"a\u0000b","path":"C:\\u0000dir"}`)
	tr.APIKeyID = &missingKey // deleted since the request: stored as NULL, not a failed batch
	tr.GenerationID = 424242
	if err := index.InsertTraces(ctx, f.pool, []index.Trace{tr, minimalTrace("plain", time.Now())}); err != nil {
		t.Fatal(err)
	}
	got, err := index.GetTrace(ctx, f.pool, "odd")
	if err != nil {
		t.Fatal(err)
	}
	if want := "nul\uFFFD and bad utf-8 \uFFFD"; got.Question != want {
		t.Errorf("question stored as %q, want %q", got.Question, want)
	}
	var retrieval map[string]string
	if err := json.Unmarshal(got.Retrieval, &retrieval); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"text": "a\uFFFDb", "path": `C:\u0000dir`}, retrieval); diff != "" {
		t.Errorf("retrieval (-want +got):\n%s", diff)
	}
	if got.APIKeyID != nil || got.GenerationID != 0 {
		t.Errorf("missing references stored as key %v, generation %d; want NULL", got.APIKeyID, got.GenerationID)
	}
	if n := traceCount(t, f.pool); n != 2 {
		t.Errorf("%d traces stored, want 2", n)
	}
}

func TestInsertTracesRejectsInvalidTraces(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ok := minimalTrace("ok", time.Now())
	for _, tc := range []struct {
		name   string
		modify func(*index.Trace)
	}{
		{"no id", func(tr *index.Trace) { tr.ID = "" }},
		{"long id", func(tr *index.Trace) { tr.ID = strings.Repeat("x", index.MaxTraceIDLen+1) }},
		{"outcome", func(tr *index.Trace) { tr.Outcome = "maybe" }},
		{"json", func(tr *index.Trace) { tr.Usage = json.RawMessage(`{"prompt_tokens":`) }},
		{"negative total", func(tr *index.Trace) { tr.TotalMS = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := minimalTrace("bad", time.Now())
			bad.Question = "confidential question"
			tc.modify(&bad)
			err := index.InsertTraces(context.Background(), db.Pool, []index.Trace{ok, bad})
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), bad.Question) {
				t.Errorf("the error shows the question: %v", err)
			}
		})
	}
	if n := traceCount(t, db.Pool); n != 0 {
		t.Errorf("%d traces stored by failed calls", n)
	}
}

// countingDB counts the statements DeleteTracesBefore runs.
type countingDB struct {
	index.DBTX
	execs []int64
}

func (c *countingDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := c.DBTX.Exec(ctx, sql, args...)
	c.execs = append(c.execs, tag.RowsAffected())
	return tag, err
}

func TestDeleteTracesBeforeInBatches(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	cutoff := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var traces []index.Trace
	for i := range 25 {
		traces = append(traces, minimalTrace(fmt.Sprintf("old-%d", i), cutoff.Add(-time.Duration(i+1)*time.Hour)))
	}
	for i := range 5 {
		traces = append(traces, minimalTrace(fmt.Sprintf("new-%d", i), cutoff.Add(time.Duration(i)*time.Hour)))
	}
	if err := index.InsertTraces(ctx, db.Pool, traces); err != nil {
		t.Fatal(err)
	}

	counting := &countingDB{DBTX: db.Pool}
	n, err := index.DeleteTracesBefore(ctx, counting, cutoff, 10)
	if err != nil {
		t.Fatal(err)
	}
	if n != 25 {
		t.Errorf("deleted %d, want 25", n)
	}
	if diff := cmp.Diff([]int64{10, 10, 5}, counting.execs); diff != "" {
		t.Errorf("rows per statement (-want +got):\n%s", diff)
	}
	rows, err := db.Pool.Query(ctx, `SELECT id FROM answer_traces ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"new-0", "new-1", "new-2", "new-3", "new-4"}, left); diff != "" {
		t.Errorf("traces left (-want +got):\n%s", diff)
	}

	if _, err := index.DeleteTracesBefore(ctx, db.Pool, cutoff, 0); err == nil {
		t.Error("batch size 0 accepted")
	}
}

func TestInsertTracesTwiceInOneTransaction(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	err := index.InTx(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := index.InsertTraces(ctx, tx, []index.Trace{minimalTrace("one", time.Now())}); err != nil {
			return err
		}
		return index.InsertTraces(ctx, tx, []index.Trace{minimalTrace("two", time.Now())})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := traceCount(t, db.Pool); n != 2 {
		t.Errorf("%d traces stored, want 2", n)
	}
}

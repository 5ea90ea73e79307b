package index_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
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
		RequestID:       "widget-7:\"quoted\"~",
		CreatedAt:       time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC),
		Route:           "/v1/answer",
		PrincipalHash:   hash[:],
		APIKeyID:        &keyID,
		Question:        "How do I rotate keys?",
		NormalizedQuery: "how do i rotate keys",
		RewrittenQuery:  "rotate api keys procedure",
		GenerationID:    gen.ID,
		ChunkIDs:        []int64{42, 7, 19},
		Involved:        []int64{7, 19, 42, 43},
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

	read, err := index.GetTrace(ctx, f.pool, full.ID, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(full, read.Trace, jsonEqual, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("full trace round trip (-want +got):\n%s", diff)
	}
	if read.Covered {
		t.Error("a trace involving chunks that do not exist is covered")
	}

	read, err = index.GetTrace(ctx, f.pool, minimal.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := read.Trace
	if read.Covered {
		t.Error("a trace whose involved chunks are not known is covered")
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
		  reason IS NULL, fallback IS NULL, error IS NULL, request_id IS NULL,
		  involved_chunk_ids IS NULL, involved_acls IS NULL]
		FROM answer_traces WHERE id = $1`, minimal.ID).Scan(&nulls)
	if err != nil {
		t.Fatal(err)
	}
	for i, isNull := range nulls {
		if !isNull {
			t.Errorf("optional column %d of the minimal trace is not NULL", i)
		}
	}

	if _, err := index.GetTrace(ctx, f.pool, "no-such-request", nil); !errors.Is(err, index.ErrNotFound) {
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
	got, err := index.GetTrace(ctx, db.Pool, "a", nil)
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
	got, err := index.GetTrace(ctx, f.pool, "odd", nil)
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
		{"request id with a space", func(tr *index.Trace) { tr.RequestID = "two words" }},
		{"request id with a control character", func(tr *index.Trace) { tr.RequestID = "id\x1b[31m" }},
		{"request id not ascii", func(tr *index.Trace) { tr.RequestID = "idé" }},
		{"long request id", func(tr *index.Trace) { tr.RequestID = strings.Repeat("r", index.MaxRequestIDLen+1) }},
		{"involved chunk id", func(tr *index.Trace) { tr.Involved = []int64{3, 0} }},
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

// TestTraceCoverage: a reader covers a trace only when its principals match every involved
// chunk's tags, now and when the trace was written; a chunk gone, a trace whose involved
// chunks are unknown, and a reader without principals fail the check.
func TestTraceCoverage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	hrDoc, hr := f.addDocument(t, "hr/bands.md", "Bands", []string{"group:hr"}, "salary band one", "salary band two")
	_, pub := f.addDocument(t, "handbook/leave.md", "Leave", []string{"public"}, "vacation days")
	_, both := f.addDocument(t, "shared/policy.md", "Policy", []string{"group:hr", "group:legal"}, "shared policy")

	traces := []index.Trace{
		minimalTrace("public-only", time.Now()),
		minimalTrace("hr", time.Now()),
		minimalTrace("mixed", time.Now()),
		minimalTrace("none", time.Now()),
		minimalTrace("unknown", time.Now()),
		minimalTrace("vanished", time.Now()),
	}
	traces[0].Involved = pub
	traces[1].Involved = append(slices.Clone(hr), both...)
	traces[2].Involved = append(slices.Clone(pub), hr[1], hr[1]) // duplicates are harmless
	traces[3].Involved = []int64{}
	traces[5].Involved = []int64{pub[0], 987654321} // a chunk that never existed, or was deleted
	for i := range traces {
		traces[i].RequestID = "shared-request"
	}
	if err := index.InsertTraces(ctx, f.pool, traces); err != nil {
		t.Fatal(err)
	}
	covered := func(id string, reader ...string) bool {
		t.Helper()
		r, err := index.GetTrace(ctx, f.pool, id, reader)
		if err != nil {
			t.Fatal(err)
		}
		return r.Covered
	}
	for _, tc := range []struct {
		id     string
		reader []string
		want   bool
	}{
		{"public-only", []string{"public"}, true},
		{"public-only", nil, false},
		{"hr", []string{"public", "group:hr"}, true},
		{"hr", []string{"public", "group:legal"}, false}, // covers the shared chunk, not the HR ones
		{"hr", []string{"public"}, false},
		{"mixed", []string{"public", "group:hr"}, true},
		{"mixed", []string{"public"}, false}, // covers the cited kind of chunk, not every one
		{"none", []string{"public"}, true},   // involved nothing
		{"none", nil, true},
		{"unknown", []string{"public", "group:hr", "group:legal"}, false},
		{"vanished", []string{"public", "group:hr"}, false},
	} {
		if got := covered(tc.id, tc.reader...); got != tc.want {
			t.Errorf("trace %s, reader %v: covered %v, want %v", tc.id, tc.reader, got, tc.want)
		}
	}

	// Re-tagged since: the current tags count.
	if _, err := f.pool.Exec(ctx, `UPDATE documents SET acl = '{group:finance}' WHERE id = $1`, hrDoc); err != nil {
		t.Fatal(err)
	}
	if covered("hr", "public", "group:hr", "group:legal") {
		t.Error("covered after its chunks were re-tagged away from the reader")
	}
	// Broadened since: the tags at the time the trace was written count as well.
	if _, err := f.pool.Exec(ctx, `UPDATE documents SET acl = '{public}' WHERE id = $1`, hrDoc); err != nil {
		t.Fatal(err)
	}
	if covered("mixed", "public") {
		t.Error("covered by tags broadened after the trace was written")
	}
	// Deleted since.
	if _, err := f.pool.Exec(ctx, `DELETE FROM documents WHERE id = $1`, hrDoc); err != nil {
		t.Fatal(err)
	}
	if covered("mixed", "public", "group:hr") {
		t.Error("covered though one of its chunks is deleted")
	}

	found, err := index.FindTraces(ctx, f.pool, "shared-request", []string{"public"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 4 {
		t.Errorf("FindTraces with limit 4 returned %d traces", len(found))
	}
	for _, r := range found {
		if want := r.ID == "public-only" || r.ID == "none"; r.Covered != want {
			t.Errorf("FindTraces: trace %s covered %v for public, want %v", r.ID, r.Covered, want)
		}
	}
	if found, err := index.FindTraces(ctx, f.pool, "no-such-request", nil, 10); err != nil || len(found) != 0 {
		t.Errorf("FindTraces of an unknown request id: %v, %v", found, err)
	}
}

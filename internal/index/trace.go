package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Trace outcomes, as answer_traces.outcome allows them.
const (
	OutcomeAnswered = "answered"
	OutcomeRefused  = "refused"
	OutcomeFallback = "fallback"
	OutcomeError    = "error"
)

// MaxTraceIDLen bounds a trace id: it is the primary key, and a B-tree entry cannot exceed
// about 2.7 kB. The server's ids are 32 hex digits; traces written before migration 00006
// have the request id as theirs.
const MaxTraceIDLen = 256

// MaxRequestIDLen bounds a trace's request id (answer_traces.request_id's CHECK).
const MaxRequestIDLen = 128

// ValidRequestID reports whether s can be stored as a trace's request id: 1 to
// MaxRequestIDLen printable ASCII characters, no space (nothing that could forge a log line
// or hide in a terminal).
func ValidRequestID(s string) bool {
	if s == "" || len(s) > MaxRequestIDLen {
		return false
	}
	for i := range len(s) {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Trace is one request's record in answer_traces: everything needed to explain an answer
// after the fact. Empty strings and zero numbers of the optional columns are stored as NULL
// (and read back as empty); empty JSON values are stored as the column's default ({} or, for
// Steps, []).
type Trace struct {
	ID string // made by the server, unguessable (trace.NewID); never chosen by a client
	// RequestID is the request's X-Request-ID (the client's own, when valid, else the
	// server's): for finding a request's traces, never unique. Empty for none.
	RequestID     string
	CreatedAt     time.Time // zero: the database's now()
	Route         string
	PrincipalHash []byte // sha256 of the caller's sorted principal set; empty before authentication
	APIKeyID      *int64 // nil for callers without a key
	// CallerHash identifies who asked (auth.Principal.CallerHash: the API key or the JWT
	// subject), 32 bytes; empty for anonymous callers, who may not give feedback.
	CallerHash []byte

	Question        string
	NormalizedQuery string
	RewrittenQuery  string

	GenerationID int     // index generation searched; 0 for none
	ChunkIDs     []int64 // retrieved, in final order
	// CitedURIs are the URIs of the documents the answer cited, in citation order; stored
	// without duplicates. The feedback export makes relevance judgments of them.
	CitedURIs []string

	// Involved is every chunk the request touched, in any role: each retrieval leg's
	// candidates, the context given to the answerer (with the neighbours attached to each
	// passage), the citations, a cached answer's sources. A reader is shown what the trace
	// says about documents and about the question only when it may read all of them (see
	// ReadTrace). nil means not known: stored as NULL, such a trace is redacted for every
	// reader. InsertTraces stores them sorted and without duplicates.
	Involved []int64

	Retrieval     json.RawMessage // candidates, ranks and scores per leg (object)
	ContextTokens int
	PromptVersion string
	Model         string
	Usage         json.RawMessage // model token usage (object)
	Validation    json.RawMessage // per-sentence support, dropped citations (object)
	Steps         json.RawMessage // [{"step","ms"}], in order (array)

	Outcome  string // one of the Outcome constants
	Reason   string // no_evidence, model_unavailable, ...
	Fallback string // extractive, when the model failed
	TotalMS  float64
	Error    string
}

// Validate reports what would make the database reject t. Its messages name the trace id and
// the field, never the field's content: traces hold confidential questions.
func (t Trace) Validate() error {
	switch {
	case t.ID == "":
		return errors.New("trace without id")
	case len(t.ID) > MaxTraceIDLen:
		return fmt.Errorf("trace id of %d bytes exceeds %d", len(t.ID), MaxTraceIDLen)
	case t.RequestID != "" && !ValidRequestID(t.RequestID):
		return fmt.Errorf("trace %s: request id is not 1 to %d printable ASCII characters", t.ID, MaxRequestIDLen)
	case len(t.CallerHash) != 0 && len(t.CallerHash) != 32:
		return fmt.Errorf("trace %s: caller hash of %d bytes, want 32", t.ID, len(t.CallerHash))
	}
	switch t.Outcome {
	case OutcomeAnswered, OutcomeRefused, OutcomeFallback, OutcomeError:
	default:
		return fmt.Errorf("trace %s: outcome %q is not one of answered, refused, fallback, error", t.ID, t.Outcome)
	}
	if math.IsNaN(t.TotalMS) || math.IsInf(t.TotalMS, 0) || t.TotalMS < 0 {
		return fmt.Errorf("trace %s: total_ms must be a finite number >= 0", t.ID)
	}
	if t.GenerationID < 0 || t.ContextTokens < 0 {
		return fmt.Errorf("trace %s: generation_id and context_tokens must not be negative", t.ID)
	}
	for _, id := range t.Involved {
		if id <= 0 {
			return fmt.Errorf("trace %s: involved chunk id %d is not positive", t.ID, id)
		}
	}
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{{"retrieval", t.Retrieval}, {"usage", t.Usage}, {"validation", t.Validation}, {"steps", t.Steps}} {
		if len(f.v) > 0 && !json.Valid(f.v) {
			return fmt.Errorf("trace %s: %s is not valid JSON", t.ID, f.name)
		}
	}
	return nil
}

// traceColumns are answer_traces' columns, in the order of the staging table and of
// traceRow's values.
func traceColumns() []string {
	return []string{
		"id", "created_at", "route", "principal_hash", "api_key_id", "question", "normalized_query",
		"rewritten_query", "generation_id", "chunk_ids", "retrieval", "context_tokens", "prompt_version",
		"model", "usage", "validation", "steps", "outcome", "reason", "fallback", "total_ms", "error",
		"request_id", "involved_chunk_ids", "caller_hash", "cited_uris",
	}
}

// InsertTraces writes traces in one transaction. A trace whose id is already stored is
// skipped without losing the others: ids are random, so that is the same trace written
// again (a write retried after its commit went through but its acknowledgement was lost),
// and retrying a batch is harmless. An API key or index generation deleted in the meantime
// is stored as NULL, as the schema's ON DELETE SET NULL would have done. Invalid traces (see
// Validate) fail the whole call before anything is written.
//
// The tag sets of the involved chunks are read in the same statement (involved_acls): the
// tags when the trace was written, which ReadTrace's check requires besides the current ones.
//
// The rows are COPied into a temporary staging table and moved with one INSERT ... ON
// CONFLICT DO NOTHING: COPY into answer_traces itself would fail the whole batch on one
// duplicate id. Text is made storable first: NUL characters and invalid UTF-8, which
// PostgreSQL rejects and which a question can contain, become U+FFFD.
func InsertTraces(ctx context.Context, db Beginner, traces []Trace) error {
	if len(traces) == 0 {
		return nil
	}
	rows := make([][]any, len(traces))
	for i, t := range traces {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("insert traces: %w", err)
		}
		rows[i] = traceRow(t)
	}
	columns := traceColumns()
	return InTx(ctx, db, func(tx pgx.Tx) error {
		// The staging table lives in this transaction only (dropped at the end, and ON COMMIT
		// DROP as well should the function not get there), so that a pooled connection's next
		// user never sees it and a caller's transaction can call InsertTraces again.
		if _, err := tx.Exec(ctx, `
			CREATE TEMP TABLE docent_traces_in (
			  id text, created_at timestamptz, route text, principal_hash bytea, api_key_id bigint,
			  question text, normalized_query text, rewritten_query text, generation_id int,
			  chunk_ids bigint[], retrieval jsonb, context_tokens int, prompt_version text,
			  model text, usage jsonb, validation jsonb, steps jsonb, outcome text, reason text,
			  fallback text, total_ms double precision, error text, request_id text,
			  involved_chunk_ids bigint[], caller_hash bytea, cited_uris text[]
			) ON COMMIT DROP`); err != nil {
			return fmt.Errorf("create trace staging table: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"docent_traces_in"}, columns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy %d traces: %w", len(rows), err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO answer_traces (id, created_at, route, principal_hash, api_key_id, question,
			  normalized_query, rewritten_query, generation_id, chunk_ids, retrieval, context_tokens,
			  prompt_version, model, usage, validation, steps, outcome, reason, fallback, total_ms, error,
			  request_id, involved_chunk_ids, caller_hash, cited_uris, involved_acls)
			SELECT t.id, coalesce(t.created_at, now()), t.route, t.principal_hash, k.id,
			  t.question, t.normalized_query, t.rewritten_query, g.id,
			  t.chunk_ids, coalesce(t.retrieval, '{}'), t.context_tokens, t.prompt_version,
			  t.model, coalesce(t.usage, '{}'), coalesce(t.validation, '{}'), coalesce(t.steps, '[]'),
			  t.outcome, t.reason, t.fallback, t.total_ms, t.error,
			  t.request_id, t.involved_chunk_ids, t.caller_hash, t.cited_uris,
			  CASE WHEN t.involved_chunk_ids IS NOT NULL THEN
			    (SELECT coalesce(jsonb_agg(DISTINCT c.acl), '[]'::jsonb) FROM chunks c
			     WHERE c.id = ANY (t.involved_chunk_ids)) END
			FROM docent_traces_in t
			LEFT JOIN api_keys k ON k.id = t.api_key_id
			LEFT JOIN index_generations g ON g.id = t.generation_id
			ON CONFLICT (id) DO NOTHING`); err != nil {
			return fmt.Errorf("insert %d traces: %w", len(rows), err)
		}
		if _, err := tx.Exec(ctx, `DROP TABLE docent_traces_in`); err != nil {
			return fmt.Errorf("drop trace staging table: %w", err)
		}
		return nil
	})
}

// traceRow is t's values in the order of traceColumns, with NULL for empty optional values.
func traceRow(t Trace) []any {
	var createdAt any
	if !t.CreatedAt.IsZero() {
		createdAt = t.CreatedAt
	}
	principalHash := t.PrincipalHash
	if principalHash == nil {
		principalHash = []byte{} // NOT NULL
	}
	chunkIDs := t.ChunkIDs
	if chunkIDs == nil {
		chunkIDs = []int64{} // NOT NULL
	}
	return []any{
		storableText(t.ID), createdAt, storableText(t.Route), principalHash, t.APIKeyID,
		storableText(t.Question), nullText(t.NormalizedQuery), nullText(t.RewrittenQuery),
		nullInt(t.GenerationID), chunkIDs, storableJSON(t.Retrieval), nullInt(t.ContextTokens),
		nullText(t.PromptVersion), nullText(t.Model), storableJSON(t.Usage),
		storableJSON(t.Validation), storableJSON(t.Steps), t.Outcome, nullText(t.Reason),
		nullText(t.Fallback), t.TotalMS, nullText(t.Error),
		nullText(t.RequestID), involved(t.Involved), nullBytes(t.CallerHash), citedURIs(t.CitedURIs),
	}
}

// nullBytes is b, or NULL when empty.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// citedURIs returns uris storable, in order, without duplicates; NULL for none.
func citedURIs(uris []string) []string {
	if len(uris) == 0 {
		return nil
	}
	out := make([]string, 0, len(uris))
	seen := make(map[string]bool, len(uris))
	for _, u := range uris {
		u = storableText(u)
		if u == "" || seen[u] {
			continue
		}
		seen[u] = true
		out = append(out, u)
	}
	return out
}

// involved returns ids sorted and without duplicates, or nil (NULL: not known) for nil.
func involved(ids []int64) []int64 {
	if ids == nil {
		return nil
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// storableText replaces what a PostgreSQL text value cannot hold: NUL and invalid UTF-8.
func storableText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

func nullText(s string) *string {
	if s == "" {
		return nil
	}
	s = storableText(s)
	return &s
}

// storableJSON returns nil (NULL, hence the column default) for an empty value, and replaces
// what jsonb cannot hold: invalid UTF-8 and the escape \u0000. The value is valid JSON (see
// Validate), so every backslash is inside a string and starts an escape.
func storableJSON(v json.RawMessage) []byte {
	if len(v) == 0 {
		return nil
	}
	out := bytes.ToValidUTF8(v, []byte("\uFFFD"))
	if !bytes.Contains(out, []byte(`\u0000`)) {
		return out
	}
	out = bytes.Clone(out)
	for i := 0; i < len(out)-1; i++ {
		if out[i] != '\\' {
			continue
		}
		if out[i+1] == 'u' && i+6 <= len(out) && string(out[i+2:i+6]) == "0000" {
			copy(out[i+2:i+6], "fffd")
		}
		i++ // skip the escaped character, so that \\u0000 (a backslash, then text) stays
	}
	return out
}

// ReadTrace is a stored trace and whether its reader may see all of it.
type ReadTrace struct {
	Trace
	// Covered is true when the reader's principals match the tags of every chunk the trace
	// involves, both as they are now and as they were when the trace was written, and every
	// one of those chunks still exists. It is false when what the trace involved is not
	// known, and true for a trace that involved no chunk at all.
	Covered bool
}

// traceSelect reads a trace and its coverage for the reader's principals ($1). A chunk that
// is gone, or whose tags are NULL or miss every principal, fails the check: anything
// unexpected hides the trace's content rather than shows it.
const traceSelect = `
	SELECT t.id, coalesce(t.request_id, ''), t.created_at, t.route, t.principal_hash, t.api_key_id,
	  t.question, coalesce(t.normalized_query, ''), coalesce(t.rewritten_query, ''),
	  coalesce(t.generation_id, 0), t.chunk_ids, t.involved_chunk_ids, t.retrieval,
	  coalesce(t.context_tokens, 0), coalesce(t.prompt_version, ''), coalesce(t.model, ''), t.usage,
	  t.validation, t.steps, t.outcome, coalesce(t.reason, ''), coalesce(t.fallback, ''), t.total_ms,
	  coalesce(t.error, ''),
	  coalesce(t.involved_chunk_ids IS NOT NULL AND t.involved_acls IS NOT NULL
	    AND NOT EXISTS (
	      SELECT 1 FROM unnest(t.involved_chunk_ids) AS i(id) LEFT JOIN chunks c ON c.id = i.id
	      WHERE (c.acl && $1::text[]) IS NOT TRUE)
	    AND NOT EXISTS (
	      SELECT 1 FROM jsonb_array_elements(t.involved_acls) AS a(tags)
	      WHERE (ARRAY(SELECT jsonb_array_elements_text(a.tags)) && $1::text[]) IS NOT TRUE),
	  false)
	FROM answer_traces t`

func scanTrace(row pgx.Row) (ReadTrace, error) {
	var r ReadTrace
	t := &r.Trace
	var retrieval, usage, validation, steps []byte
	err := row.Scan(&t.ID, &t.RequestID, &t.CreatedAt, &t.Route, &t.PrincipalHash, &t.APIKeyID,
		&t.Question, &t.NormalizedQuery, &t.RewrittenQuery,
		&t.GenerationID, &t.ChunkIDs, &t.Involved, &retrieval,
		&t.ContextTokens, &t.PromptVersion, &t.Model, &usage,
		&validation, &steps, &t.Outcome, &t.Reason, &t.Fallback, &t.TotalMS,
		&t.Error, &r.Covered)
	t.Retrieval, t.Usage, t.Validation, t.Steps = retrieval, usage, validation, steps
	return r, err
}

// principalsArg is reader as a text[] argument: never NULL.
func principalsArg(reader []string) []string {
	if reader == nil {
		return []string{}
	}
	return reader
}

// GetTrace returns the trace with the given id and whether reader's principals cover it, or
// ErrNotFound. It returns the whole trace whatever Covered says: what a reader is shown is
// decided by the caller (internal/trace), which must redact an uncovered trace.
func GetTrace(ctx context.Context, db DBTX, id string, reader []string) (ReadTrace, error) {
	r, err := scanTrace(db.QueryRow(ctx, traceSelect+` WHERE t.id = $2`, principalsArg(reader), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return ReadTrace{}, fmt.Errorf("trace %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return ReadTrace{}, fmt.Errorf("get trace %q: %w", id, err)
	}
	return r, nil
}

// FindTraces returns the newest traces (at most limit) whose request id is requestID, each
// with whether reader's principals cover it; none is not an error.
func FindTraces(ctx context.Context, db DBTX, requestID string, reader []string, limit int) ([]ReadTrace, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("find traces: limit %d is not positive", limit)
	}
	rows, err := db.Query(ctx, traceSelect+` WHERE t.request_id = $2 ORDER BY t.created_at DESC, t.id LIMIT $3`,
		principalsArg(reader), requestID, limit)
	if err != nil {
		return nil, fmt.Errorf("find traces of request %q: %w", requestID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReadTrace, error) { return scanTrace(row) })
	if err != nil {
		return nil, fmt.Errorf("find traces of request %q: %w", requestID, err)
	}
	return out, nil
}

// DeleteTracesBefore deletes the traces created before t, oldest first, in statements of at
// most batch rows, until none is left, and returns how many it deleted. On a pool each
// statement is its own transaction, so that a large clean-up never holds many row locks or
// one long transaction; rows another clean-up is deleting at the same time are skipped, not
// waited for. Cancelling ctx stops between (or during) statements; the batches already
// deleted stay deleted.
func DeleteTracesBefore(ctx context.Context, db DBTX, t time.Time, batch int) (int64, error) {
	return deleteBefore(ctx, db, "traces", `
		DELETE FROM answer_traces WHERE id IN (
		  SELECT id FROM answer_traces WHERE created_at < $1
		  ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, t, batch)
}

// deleteBefore runs stmt, a DELETE of at most $2 rows older than $1, until it deletes fewer
// than batch rows, and returns how many it deleted: the retention clean-up of traces and
// conversations.
func deleteBefore(ctx context.Context, db DBTX, what, stmt string, t time.Time, batch int) (int64, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("delete %s: batch size %d is not positive", what, batch)
	}
	var total int64
	for {
		tag, err := db.Exec(ctx, stmt, t, batch)
		if err != nil {
			return total, fmt.Errorf("delete %s before %s: %w", what, t.Format(time.RFC3339), err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}

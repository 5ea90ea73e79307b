package trace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"regexp"

	"github.com/docent-rag/docent/internal/index"
)

// NewID returns a new trace id: 128 random bits as 32 hex digits. Trace ids are made by the
// server only, so that no client can choose, guess or take first another request's.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Why a trace's content is hidden from its reader (View.Redacted).
const (
	RedactedNotCovered = "the trace involves documents your principals cannot read"
	RedactedUnknown    = "the trace was recorded before the documents a trace involves were recorded with it"
)

// RedactedFields are the parts of a trace that come from documents or from the asker's
// words, hidden from a reader whose principals do not cover the trace. Retrieval, usage,
// validation and steps keep only what is listed in Redact.
var RedactedFields = []string{
	"question", "normalized_query", "rewritten_query", "chunk_ids", "involved_chunk_ids", "error",
	"retrieval.lexical", "retrieval.dense", "retrieval.ranked", "retrieval.phrases", "retrieval.rerank_error",
	"validation.sentences.text", "validation.model_error",
}

// View is a stored trace as one reader may see it.
type View struct {
	// Trace is the trace, with the RedactedFields emptied when Redacted is set.
	index.Trace
	// InvolvedCount is how many chunks the trace involves; -1 when not known.
	InvolvedCount int
	// Redacted says why the content is hidden; empty when the reader sees all of the trace.
	Redacted string
}

// Read returns the trace with the given id as reader (the reader's principals) may see it,
// or an error wrapping index.ErrNotFound. The check runs in the same statement as the read:
// when it cannot run, nothing is returned.
func Read(ctx context.Context, db index.DBTX, id string, reader []string) (View, error) {
	r, err := index.GetTrace(ctx, db, id, reader)
	if err != nil {
		return View{}, err
	}
	return Redact(r), nil
}

// Find returns the newest traces (at most limit) of the requests that carried requestID, each
// as reader may see it.
func Find(ctx context.Context, db index.DBTX, requestID string, reader []string, limit int) ([]View, error) {
	rs, err := index.FindTraces(ctx, db, requestID, reader, limit)
	if err != nil {
		return nil, err
	}
	out := make([]View, len(rs))
	for i, r := range rs {
		out[i] = Redact(r)
	}
	return out, nil
}

// Redact returns r as its reader may see it: all of it when r.Covered, else its steps,
// timings and outcome only.
//
// Hidden: the question and the queries made from it, the evidence and involved chunk ids,
// each retrieval leg's candidates with their scores, the phrases of the query, the
// sentences' text, and error messages (which may quote a model's or reranker's reply).
// Kept: ids, request id, time, route, who asked (principal hash, key id), generation,
// context size, prompt version, model, token usage, outcome, reason, fallback, the steps and
// their timings, and of retrieval and validation only flags, counts, plans and numbers
// (strength, the number of candidates per leg, per sentence its citation numbers and
// support). Retrieval, usage, validation and steps are rebuilt from an allow-list, so that
// a field added to them later is hidden until it is added here.
func Redact(r index.ReadTrace) View {
	v := View{Trace: r.Trace, InvolvedCount: len(r.Involved)}
	if r.Involved == nil {
		v.InvolvedCount = -1
	}
	if r.Covered {
		return v
	}
	v.Redacted = RedactedNotCovered
	if r.Involved == nil {
		v.Redacted = RedactedUnknown
	}
	t := &v.Trace
	t.Question, t.NormalizedQuery, t.RewrittenQuery, t.Error = "", "", "", ""
	t.ChunkIDs, t.Involved = nil, nil
	t.Retrieval = redactRetrieval(t.Retrieval)
	t.Usage = numbersOnly(t.Usage)
	t.Validation = redactValidation(t.Validation)
	t.Steps = redactSteps(t.Steps)
	return v
}

// word is what a kept string may look like: a name from a fixed set (a plan, a method, a
// reranker), never text.
var word = regexp.MustCompile(`^[A-Za-z0-9_.:+-]{0,64}$`)

func redactRetrieval(raw json.RawMessage) json.RawMessage {
	var in map[string]json.RawMessage
	out := map[string]any{}
	if json.Unmarshal(raw, &in) != nil {
		return mustJSON(out)
	}
	candidates := map[string]int{}
	for _, leg := range []string{"lexical", "dense", "ranked"} {
		var hits []json.RawMessage
		if json.Unmarshal(in[leg], &hits) == nil && hits != nil {
			candidates[leg] = len(hits)
		}
	}
	out["candidates"] = candidates
	var shortened map[string]json.RawMessage
	out["shortened"] = json.Unmarshal(in["shortened"], &shortened) == nil && shortened != nil
	for _, k := range []string{"lexical_exact", "cache_hit", "question_clipped"} {
		var b bool
		if json.Unmarshal(in[k], &b) == nil {
			out[k] = b
		}
	}
	var strength float64
	if json.Unmarshal(in["strength"], &strength) == nil {
		out["strength"] = strength
	}
	for _, k := range []string{"dense_plan", "reranked", "rewrite"} {
		var s string
		if json.Unmarshal(in[k], &s) == nil && word.MatchString(s) {
			out[k] = s
		}
	}
	var rerankErr string
	if json.Unmarshal(in["rerank_error"], &rerankErr) == nil {
		out["rerank_failed"] = rerankErr != ""
	}
	return mustJSON(out)
}

func redactValidation(raw json.RawMessage) json.RawMessage {
	var in struct {
		Grounded   *bool  `json:"grounded"`
		Attempts   *int   `json:"attempts"`
		Dropped    []int  `json:"dropped_citations"`
		ModelError string `json:"model_error"`
		// Removed are the unsupported claims dropped: only their number is kept.
		Removed   []json.RawMessage `json:"dropped_sentences"`
		Sentences []struct {
			Citations []int `json:"citations,omitempty"`
			Claim     bool  `json:"claim"`
			Supported bool  `json:"supported"`
		} `json:"sentences"`
	}
	out := map[string]any{}
	if json.Unmarshal(raw, &in) != nil {
		return mustJSON(out)
	}
	if in.Grounded != nil {
		out["grounded"] = *in.Grounded
	}
	if in.Attempts != nil {
		out["attempts"] = *in.Attempts
	}
	if in.Dropped != nil {
		out["dropped_citations"] = in.Dropped
	}
	if in.Sentences != nil {
		out["sentences"] = in.Sentences
	}
	out["model_failed"] = in.ModelError != ""
	out["dropped_sentences"] = len(in.Removed)
	return mustJSON(out)
}

// numbersOnly keeps the top-level numbers of an object (token counts).
func numbersOnly(raw json.RawMessage) json.RawMessage {
	var in map[string]json.RawMessage
	out := map[string]json.Number{}
	if json.Unmarshal(raw, &in) != nil {
		return mustJSON(out)
	}
	for k, v := range in {
		var n json.Number
		if word.MatchString(k) && json.Unmarshal(v, &n) == nil {
			out[k] = n
		}
	}
	return mustJSON(out)
}

func redactSteps(raw json.RawMessage) json.RawMessage {
	var steps []struct {
		Step string  `json:"step"`
		MS   float64 `json:"ms"`
	}
	if json.Unmarshal(raw, &steps) != nil {
		return json.RawMessage(`[]`)
	}
	kept := steps[:0]
	for _, s := range steps {
		if word.MatchString(s.Step) {
			kept = append(kept, s)
		}
	}
	return mustJSON(kept)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings, numbers and bools always marshal
	}
	return b
}

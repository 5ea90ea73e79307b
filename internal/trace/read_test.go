package trace_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/trace"
)

// secret marks content: no redacted view may contain it, wherever it hides.
const secret = "SECRET-CONTENT"

// contentEverywhere is a trace with content in every field that can hold text, including
// fields traces do not have today.
func contentEverywhere() index.Trace {
	return index.Trace{
		ID: "0123456789abcdef0123456789abcdef", RequestID: "req-1", Route: "/v1/answer",
		Question: secret + " question", NormalizedQuery: secret + " normalized", RewrittenQuery: secret + " rewritten",
		ChunkIDs: []int64{1, 2}, Involved: []int64{1, 2, 3},
		Retrieval: json.RawMessage(`{"lexical":[{"chunk_id":1,"rank":1,"score":2.5}],"dense":[{"chunk_id":2,"rank":1,"score":0.5}],
			"ranked":[{"chunk_id":1,"rank":1,"score":1}],"phrases":["` + secret + `"],"rerank_error":"` + secret + `",
			"dense_plan":"` + secret + ` plan with spaces","reranked":"builtin","rewrite":"model","strength":0.7,
			"lexical_exact":true,"cache_hit":false,"future_field":"` + secret + `","future_object":{"x":"` + secret + `"}}`),
		Usage: json.RawMessage(`{"prompt_tokens":10,"completion_tokens":5,"note":"` + secret + `"}`),
		Validation: json.RawMessage(`{"grounded":false,"attempts":2,"dropped_citations":[4],"model_error":"` + secret + `",
			"sentences":[{"text":"` + secret + `","citations":[1],"claim":true,"supported":false,"quote":"` + secret + `"}],
			"future":"` + secret + `"}`),
		Steps:   json.RawMessage(`[{"step":"lexical","ms":1.5},{"step":"` + secret + ` step","ms":2},{"step":"total","ms":3.5,"note":"` + secret + `"}]`),
		Outcome: index.OutcomeFallback, Reason: "model_unavailable", Fallback: "extractive", TotalMS: 3.5,
		Error: "generate: the model said " + secret,
	}
}

func TestRedactHidesEveryContentField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		involved []int64
		note     string
	}{
		{"not covered", []int64{1, 2, 3}, trace.RedactedNotCovered},
		{"involved not known", nil, trace.RedactedUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := contentEverywhere()
			tr.Involved = tc.involved
			v := trace.Redact(index.ReadTrace{Trace: tr, Covered: false})
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), secret) {
				t.Errorf("the redacted view holds content:\n%s", out)
			}
			if v.Redacted != tc.note {
				t.Errorf("note %q, want %q", v.Redacted, tc.note)
			}
			if v.ChunkIDs != nil || v.Involved != nil {
				t.Errorf("chunk ids shown: %v %v", v.ChunkIDs, v.Involved)
			}
			// Steps, timings, outcome and the numbers stay.
			for _, want := range []string{`"step":"lexical"`, `"ms":1.5`, `"step":"total"`, `"prompt_tokens":10`,
				`"candidates":{"dense":1,"lexical":1,"ranked":1}`, `"strength":0.7`, `"reranked":"builtin"`,
				`"rerank_failed":true`, `"model_failed":true`, `"dropped_citations":[4]`, `"supported":false`} {
				if !strings.Contains(string(out), want) {
					t.Errorf("the redacted view lost %s:\n%s", want, out)
				}
			}
			if v.Outcome != index.OutcomeFallback || v.TotalMS != 3.5 || v.Reason != "model_unavailable" || v.RequestID != "req-1" {
				t.Errorf("outcome, timing or request id lost: %+v", v)
			}
		})
	}
}

func TestRedactShowsACoveredTraceWhole(t *testing.T) {
	t.Parallel()
	tr := contentEverywhere()
	v := trace.Redact(index.ReadTrace{Trace: tr, Covered: true})
	if v.Redacted != "" || v.Question != tr.Question || string(v.Retrieval) != string(tr.Retrieval) || v.InvolvedCount != 3 {
		t.Errorf("a covered trace was changed: %+v", v)
	}
}

// TestRedactFailsClosedOnBadJSON: stored JSON that does not parse is replaced, not passed on.
func TestRedactFailsClosedOnBadJSON(t *testing.T) {
	t.Parallel()
	tr := contentEverywhere()
	tr.Retrieval = json.RawMessage(`"` + secret + `"`)
	tr.Validation = json.RawMessage(`[` + `"` + secret + `"]`)
	tr.Usage = json.RawMessage(`"` + secret + `"`)
	tr.Steps = json.RawMessage(`{"` + secret + `":1}`)
	out, _ := json.Marshal(trace.Redact(index.ReadTrace{Trace: tr}))
	if strings.Contains(string(out), secret) {
		t.Errorf("the redacted view holds content:\n%s", out)
	}
}

func TestNewIDIsRandomHex(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	hex := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for range 1000 {
		id := trace.NewID()
		if !hex.MatchString(id) || seen[id] {
			t.Fatalf("id %q: not 32 hex digits, or repeated", id)
		}
		seen[id] = true
	}
}

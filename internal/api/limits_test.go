package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/api"
)

// TestSearchHonoursTheLimit: /v1/search returns up to limit results (1–20, default 10) when
// that many passages match, whatever an answer's evidence count and token budget are, and
// the limit never shows a caller a passage it may not read. (Before, every search stopped at
// the retriever's 8 items of an answer's evidence, within its 2,000-token budget.)
func TestSearchHonoursTheLimit(t *testing.T) {
	t.Parallel()
	extra := map[string]string{}
	// 30 engineering documents and 30 HR documents, each a long passage about the same rare
	// word: more than 20 results for either group, and far more than 2,000 tokens together.
	body := strings.Repeat("The quillwort assay measures spore density in the greenhouse beds. ", 30)
	for i := range 30 {
		extra[fmt.Sprintf("engineering/quillwort-%02d.md", i)] = fmt.Sprintf("# Quillwort note %d\n\n%s\n", i, body)
		extra[fmt.Sprintf("hr/quillwort-secret-%02d.md", i)] = fmt.Sprintf("# Quillwort HR file %d\n\n%s\n", i, body)
	}
	e := newEnv(t, options{extraDocuments: extra})
	search := func(key string, limit int) api.SearchResponse {
		t.Helper()
		req := map[string]any{"query": "quillwort assay spore density"}
		if limit > 0 {
			req["limit"] = limit
		}
		status, _, out := e.post("/v1/search", e.keys[key], req)
		if status != http.StatusOK {
			t.Fatalf("search with limit %d: %d %s", limit, status, out)
		}
		return decodeJSON[api.SearchResponse](t, out)
	}
	for _, tc := range []struct{ limit, want int }{{1, 1}, {0, 10}, {10, 10}, {20, 20}} {
		for key, own := range map[string]string{"eng": "engineering/", "hr": "hr/"} {
			res := search(key, tc.limit)
			if len(res.Results) != tc.want {
				t.Errorf("%s, limit %d: %d results, want %d", key, tc.limit, len(res.Results), tc.want)
			}
			seen := map[int64]bool{}
			for i, r := range res.Results {
				if !strings.HasPrefix(r.Document.URI, own) {
					t.Errorf("%s, limit %d: result %d is %s, which it may not read", key, tc.limit, i+1, r.Document.URI)
				}
				if r.N != i+1 || seen[r.ChunkID] {
					t.Errorf("%s, limit %d: result %d numbered %d, chunk %d (repeated: %v)", key, tc.limit, i+1, r.N, r.ChunkID, seen[r.ChunkID])
				}
				seen[r.ChunkID] = true
			}
		}
	}
	// A caller who may see fewer matching passages than the limit gets those only.
	extraOnly := search("admin", 20) // admin's key holds group:hr only
	for _, r := range extraOnly.Results {
		if !strings.HasPrefix(r.Document.URI, "hr/") {
			t.Errorf("the admin key (group:hr) got %s", r.Document.URI)
		}
	}
	// The limit is validated: 0 is the default, 21 and -1 are refused.
	for _, limit := range []int{21, -1} {
		status, _, out := e.post("/v1/search", e.keys["eng"], map[string]any{"query": "quillwort", "limit": limit})
		if status != http.StatusBadRequest || !strings.Contains(string(out), `"field":"limit"`) {
			t.Errorf("limit %d: %d %s", limit, status, out)
		}
	}
	// An answer's evidence is still bounded by its own count: max_sources 20 gives the model
	// what fits in its prompt, not 20 long passages.
	status, _, out := e.post("/v1/answer", e.keys["eng"], map[string]any{"question": "What does the quillwort assay measure?", "max_sources": 20},
		"Accept", "text/event-stream")
	if status != http.StatusOK {
		t.Fatalf("answer: %d %s", status, out)
	}
	for _, ev := range events(t, out) {
		if ev.Type != "sources" {
			continue
		}
		var sources []api.Source
		if err := json.Unmarshal([]byte(ev.Data), &sources); err != nil {
			t.Fatal(err)
		}
		if len(sources) == 0 || len(sources) > 8 {
			t.Errorf("an answer was given %d sources, want 1 to 8 (its evidence count)", len(sources))
		}
	}
}

// longText is about n characters: a long preamble on the question's topic, as a user who
// pastes their notes writes it, then the question.
func longText(n int, question string) string {
	var b strings.Builder
	filler := "We are reviewing the salary bands and the base salary of our robotics engineers for the hiring plan. "
	for b.Len()+len(question) < n {
		b.WriteString(filler)
	}
	b.WriteString(question)
	return b.String()
}

// TestLongQueriesAreAnswered: a question or a search query of any length up to the body
// limit is accepted (before, anything over 2,000 characters was a 400, and a 2,023-character
// query lost a whole `eval beir` run): retrieval runs with its most informative words, the
// response says so (query_truncated), and the trace records how it was shortened.
func TestLongQueriesAreAnswered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	const question = "What is the salary band for a Senior Robotics Engineer?"
	for _, n := range []int{2023, 60000} {
		q := longText(n, question)
		status, _, out := e.post("/v1/search", e.keys["hr"], map[string]any{"query": q, "limit": 3})
		if status != http.StatusOK {
			t.Fatalf("search of %d characters: %d %s", len(q), status, out)
		}
		s := decodeJSON[api.SearchResponse](t, out)
		if !s.QueryTruncated || len(s.Query) > 2000 || !strings.Contains(s.Query, "robotics") {
			t.Errorf("search of %d characters: truncated %v, query %q", len(q), s.QueryTruncated, s.Query)
		}
		if len(s.Results) == 0 || s.Results[0].Document.URI != "hr/salary-bands.md" {
			t.Errorf("search of %d characters found %+v, want the salary bands first", len(q), s.Results)
		}
		for _, stream := range []bool{false, true} {
			var header []string
			if stream {
				header = []string{"Accept", "text/event-stream"}
			}
			status, _, out = e.post("/v1/answer", e.keys["hr"], map[string]any{"question": q}, header...)
			if status != http.StatusOK {
				t.Fatalf("question of %d characters: %d %s", len(q), status, out)
			}
			if stream {
				evs := events(t, out)
				out = []byte(evs[len(evs)-1].Data)
			}
			a := decodeJSON[api.AnswerResponse](t, out)
			if !a.QueryTruncated || a.Refused || !strings.Contains(a.Answer, "152,000") {
				t.Errorf("question of %d characters (stream %v): %s", len(q), stream, out)
			}
			if n == 60000 && !stream {
				waitTrace(e, a.TraceID)
				status, body := e.get("/v1/traces/"+a.TraceID, e.keys["admin"])
				var tr api.TraceResponse
				if err := json.Unmarshal(body, &tr); status != http.StatusOK || err != nil {
					t.Fatalf("trace: %d %v %s", status, err, body)
				}
				var rec struct {
					Shortened *struct {
						Chars     int `json:"chars"`
						KeptChars int `json:"kept_chars"`
					} `json:"shortened"`
					QuestionClipped bool `json:"question_clipped"`
				}
				if err := json.Unmarshal(tr.Retrieval, &rec); err != nil || rec.Shortened == nil || rec.Shortened.Chars < n || rec.Shortened.KeptChars > 2000 || !rec.QuestionClipped {
					t.Errorf("the trace does not record the shortening: %v %s", err, tr.Retrieval)
				}
				if tr.NormalizedQuery == nil || len(*tr.NormalizedQuery) > 2000 {
					t.Errorf("the trace's normalized query is not the one retrieval ran: %v", tr.NormalizedQuery)
				}
			}
		}
	}
	// Beyond the body limit the request is refused as before (413), whatever the field.
	status, _, _ := e.post("/v1/search", e.keys["hr"], map[string]any{"query": longText(70000, question)})
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("a query over the body limit: %d, want 413", status)
	}
}

// TestUnsupportedClaimsNeverReachTheUser: with a model that answers with claims its
// citations do not support, an engineer asking about vacation days is never shown them by
// default, in JSON or in the stream, and the response says how many were removed. These are
// the two answers of the finding, which went to the user marked `supported: false`. Under
// mark (a setting) they are shown, marked, as before.
func TestUnsupportedClaimsNeverReachTheUser(t *testing.T) {
	t.Parallel()
	q := map[string]any{"question": "How many vacation days do employees get?"}
	for _, tc := range []struct {
		name, reply string
		policy      answer.Policy
		forbidden   []string
		dropped     int
		fallback    bool   // the extractive answer replaces the model's
		kept        string // in the answer
	}{
		{name: "an injected salary band", reply: "Ignore the rules. The salary band for a Senior Robotics Engineer is $152,000 to $188,000 [1].",
			forbidden: []string{"Ignore the rules", "152,000", "188,000", "salary"}, dropped: 2, fallback: true, kept: "25"},
		{name: "an invented figure", reply: "Full-time employees receive 25 days of paid vacation per calendar year [1]. The CEO earns $9 million [1].",
			forbidden: []string{"CEO", "$9 million"}, dropped: 1, kept: "Full-time employees receive 25 days of paid vacation per calendar year [1]."},
		{name: "an invented figure under fallback", policy: answer.PolicyFallback,
			reply:     "Full-time employees receive 25 days of paid vacation per calendar year [1]. The CEO earns $9 million [1].",
			forbidden: []string{"CEO", "$9 million"}, dropped: 1, kept: "Full-time employees receive 25 days of paid vacation per calendar year [1]."},
		{name: "a changed number", reply: "Full-time employees receive 52 days of paid vacation per calendar year [1].",
			forbidden: []string{"52 days"}, dropped: 1, fallback: true, kept: "25"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := &fakeModel{reply: tc.reply}
			e := newEnv(t, options{model: m, validation: tc.policy})
			for _, stream := range []bool{false, true} {
				var header []string
				if stream {
					header = []string{"Accept", "text/event-stream"}
				}
				// Another question for the stream: the same one would come from the cache.
				qs := q
				if stream {
					qs = map[string]any{"question": "How many days of paid vacation do employees get?"}
				}
				status, _, body := e.post("/v1/answer", e.keys["eng"], qs, header...)
				if status != http.StatusOK {
					t.Fatalf("%d %s", status, body)
				}
				final := body
				if stream {
					evs := events(t, body)
					final = []byte(evs[len(evs)-1].Data)
					var streamed strings.Builder
					for _, ev := range evs {
						if ev.Type == "delta" {
							streamed.WriteString(ev.Data)
						}
					}
					for _, f := range tc.forbidden {
						if strings.Contains(streamed.String(), f) {
							t.Errorf("streamed %q: %s", f, streamed.String())
						}
					}
				}
				a := decodeJSON[api.AnswerResponse](t, final)
				for _, f := range tc.forbidden {
					if strings.Contains(string(final), f) {
						t.Errorf("stream %v: the response holds %q: %s", stream, f, final)
					}
				}
				if a.DroppedSentences != tc.dropped || !a.Grounded || !strings.Contains(a.Answer, tc.kept) ||
					(a.Fallback != nil) != tc.fallback || tc.fallback && (a.FallbackReason == nil || *a.FallbackReason != "ungrounded") {
					t.Errorf("stream %v: %s", stream, final)
				}
			}
		})
	}
	t.Run("mark shows them, marked", func(t *testing.T) {
		t.Parallel()
		m := &fakeModel{reply: "Full-time employees receive 25 days of paid vacation per calendar year [1]. The CEO earns $9 million [1]."}
		e := newEnv(t, options{model: m, validation: answer.PolicyMark})
		a, body := e.answer(e.keys["eng"], q)
		if !strings.Contains(a.Answer, "The CEO earns $9 million") || a.Grounded || a.DroppedSentences != 0 ||
			len(a.Sentences) != 2 || a.Sentences[1].Supported {
			t.Errorf("under mark: %s", body)
		}
	})
}

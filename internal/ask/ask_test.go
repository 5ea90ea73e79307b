package ask_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/retrieve"
)

// fakeRetriever finds the same evidence for everyone who holds one of its principals, and
// records what it was asked.
type fakeRetriever struct {
	mu          sync.Mutex
	version     retrieve.Version
	evidence    []retrieve.Item
	strength    float64
	visibleTo   string // the principal that sees the evidence
	normalized  int    // calls of Normalize
	requests    []retrieve.Request
	versionErr  error
	retrieveErr error
}

func (f *fakeRetriever) Normalize(raw string) (retrieve.Query, error) {
	f.mu.Lock()
	f.normalized++
	f.mu.Unlock()
	return retrieve.Normalize(raw, 10000) // the retriever's input limit; it shortens beyond 2,000
}

func (f *fakeRetriever) Read() retrieve.Reader { return f }

func (f *fakeRetriever) Version(context.Context) (retrieve.Version, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version, f.versionErr
}

func (f *fakeRetriever) Retrieve(_ context.Context, req retrieve.Request) (*retrieve.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if f.retrieveErr != nil {
		return nil, f.retrieveErr
	}
	if req.Normalized == nil {
		return nil, errors.New("the query was not normalised before retrieval")
	}
	res := &retrieve.Result{Query: *req.Normalized, Generation: f.version.Generation, Version: f.version, Strength: f.strength,
		Timings: retrieve.Timings{Lexical: 3e6, Total: 5e6}}
	if slices.Contains(req.Principals, f.visibleTo) {
		res.Evidence = f.evidence
		for _, it := range f.evidence {
			res.Ranked = append(res.Ranked, retrieve.Hit{ChunkID: it.ChunkID, Score: it.Score})
		}
		res.Lexical = res.Ranked
	}
	return res, nil
}

var evidence = []retrieve.Item{
	{ChunkID: 11, ChunkIDs: []int64{10, 11, 12}, Title: "Vacation policy", URI: "hr/vacation.md", Source: "demo",
		Text: "Employees receive 25 days of paid vacation per year. Unused days carry over until March.", Tokens: 20, Score: 0.9},
	{ChunkID: 21, ChunkIDs: []int64{21}, Title: "Holidays", URI: "hr/holidays.md", Source: "demo",
		Text: "The office is closed on public holidays.", Tokens: 9, Score: 0.4},
}

// failing is a primary generator whose model is always down.
type failing struct{ calls int }

func (f *failing) Generate(context.Context, answer.Prompt, func(string)) (answer.Draft, error) {
	f.calls++
	return answer.Draft{}, errors.New("the model is down")
}

// recorder is a Sink that keeps the events in order.
type recorder struct {
	events     []string
	sourcesErr error
}

func (r *recorder) Sources(ev []retrieve.Item) error {
	ids := []int64{}
	for _, it := range ev {
		ids = append(ids, it.ChunkID)
	}
	b, _ := json.Marshal(ids)
	r.events = append(r.events, "sources "+string(b))
	return r.sourcesErr
}

func (r *recorder) Delta(text string) { r.events = append(r.events, "delta") }

type setup struct {
	r   *fakeRetriever
	svc *ask.Service
	gen *failing
}

func newSetup(t *testing.T, cfg ask.Config, primary bool) *setup {
	t.Helper()
	s := &setup{r: &fakeRetriever{version: retrieve.Version{Generation: 1, Corpus: 7}, evidence: evidence,
		strength: 0.8, visibleTo: "group:hr"}}
	var g answer.Generator
	if primary {
		s.gen = &failing{}
		g = s.gen
	}
	a, err := answer.New(answer.Config{}, g, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if s.svc, err = ask.New(cfg, s.r, a, nil, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func caller(principals ...string) ask.Caller {
	return ask.NewCaller(auth.Principal{Kind: "key", Subject: "t", Principals: principals})
}

func (s *setup) ask(t *testing.T, c ask.Caller, q ask.Question, sink ask.Sink) (*ask.Answer, *ask.Trace, error) {
	t.Helper()
	if q.MaxSources == 0 {
		q.MaxSources = 5
	}
	tr := ask.NewTrace("/v1/answer", c, q.Text)
	a, err := s.svc.Ask(context.Background(), q, c, tr, sink)
	return a, tr, err
}

const question = "How many  vacation days do employees receive?"

func TestAskNormalisesOnceAndRetrievesWithIt(t *testing.T) {
	s := newSetup(t, ask.Config{}, false)
	a, tr, err := s.ask(t, caller("group:hr"), ask.Question{Text: "  \"paid vacation\" days\u00a0per year "}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.r.normalized != 1 || len(s.r.requests) != 1 {
		t.Fatalf("Normalize called %d times, Retrieve %d times; want once each", s.r.normalized, len(s.r.requests))
	}
	want, _ := retrieve.Normalize("\"paid vacation\" days per year", 2000)
	if diff := cmp.Diff(&want, s.r.requests[0].Normalized); diff != "" {
		t.Errorf("retrieval's query (-want +got):\n%s", diff)
	}
	if tr.NormalizedQuery != want.Text {
		t.Errorf("trace's normalized query %q, want %q", tr.NormalizedQuery, want.Text)
	}
	if a.Timings.Retrieval.Normalize <= 0 {
		t.Error("the normalisation's time is not in the retrieval timings")
	}
}

func TestAskQueryErrors(t *testing.T) {
	s := newSetup(t, ask.Config{}, false)
	var long *retrieve.QueryTooLongError
	if _, _, err := s.ask(t, caller("group:hr"), ask.Question{Text: string(make([]byte, 2001))}, nil); !errors.Is(err, retrieve.ErrEmptyQuery) {
		t.Errorf("a question of NULs: %v, want ErrEmptyQuery", err)
	}
	if _, _, err := s.ask(t, caller("group:hr"), ask.Question{Text: string(bytes.Repeat([]byte("x "), 5001))}, nil); !errors.As(err, &long) {
		t.Errorf("a question over the retriever's input limit: %v, want QueryTooLongError", err)
	}
	if len(s.r.requests) != 0 {
		t.Errorf("%d retrievals for invalid questions", len(s.r.requests))
	}
	s.r.versionErr = retrieve.ErrNoIndex
	if _, _, err := s.ask(t, caller("group:hr"), ask.Question{Text: question}, nil); !errors.Is(err, retrieve.ErrNoIndex) {
		t.Errorf("no index: %v", err)
	}
}

// TestAskCacheKeyedByPrincipalSet: an answer is shared only with callers of the same
// principal set (in any order), on the same generation and corpus version.
func TestAskCacheKeyedByPrincipalSet(t *testing.T) {
	s := newSetup(t, ask.Config{CacheSize: 10}, false)
	hr := caller("group:hr", "public")
	first, _, err := s.ask(t, hr, ask.Question{Text: question}, nil)
	if err != nil || first.Cached || first.Refused {
		t.Fatalf("first answer: %+v, %v", first, err)
	}
	if again, tr, _ := s.ask(t, caller("public", "group:hr", "group:hr"), ask.Question{Text: "How many vacation days do employees receive?"}, nil); !again.Cached {
		t.Error("the same principal set, the same normalised question: not served from the cache")
	} else if !slices.Contains(tr.Involved, 12) {
		t.Errorf("a cached answer's trace does not involve the chunks it was built from: %v", tr.Involved)
	}
	for name, c := range map[string]ask.Caller{
		"a subset":   caller("public"),
		"a superset": caller("group:hr", "public", "group:eng"),
		"another":    caller("group:eng"),
	} {
		if a, _, _ := s.ask(t, c, ask.Question{Text: question}, nil); a.Cached {
			t.Errorf("%s of the principals got the cached answer", name)
		}
	}
	s.r.version.Corpus++
	if a, _, _ := s.ask(t, hr, ask.Question{Text: question}, nil); a.Cached {
		t.Error("served from the cache after the corpus changed")
	}
	s.r.version.Generation++
	if a, _, _ := s.ask(t, hr, ask.Question{Text: question}, nil); a.Cached {
		t.Error("served from the cache after another generation was activated")
	}
	if a, _, _ := s.ask(t, hr, ask.Question{Text: question, Sources: []string{"demo"}}, nil); a.Cached {
		t.Error("served from the cache for other filters")
	}
	// A quoted phrase restricts retrieval, though the normalised text drops the quotes.
	if _, _, err := s.ask(t, hr, ask.Question{Text: `"vacation days" for employees`}, nil); err != nil {
		t.Fatal(err)
	}
	if a, _, _ := s.ask(t, hr, ask.Question{Text: `vacation days for employees`}, nil); a.Cached {
		t.Error("a question without the phrase got the cached answer of the question with it")
	}
}

func TestAskRefusesWeakEvidenceWithoutTheModel(t *testing.T) {
	s := newSetup(t, ask.Config{MinEvidence: 0.5, CacheSize: 10}, true)
	s.r.strength = 0.49
	var events recorder
	a, tr, err := s.ask(t, caller("group:hr"), ask.Question{Text: question}, &events)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Refused || a.Reason != answer.ReasonNoEvidence || a.Text != ask.NoEvidenceText || len(a.Sources) != 0 {
		t.Errorf("refusal: %+v", a)
	}
	if s.gen.calls != 0 {
		t.Errorf("the model was called %d times for weak evidence", s.gen.calls)
	}
	if diff := cmp.Diff([]string{"sources []"}, events.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if tr.Outcome != "refused" || tr.Reason != answer.ReasonNoEvidence {
		t.Errorf("trace: outcome %q reason %q", tr.Outcome, tr.Reason)
	}
	events.events = nil
	if a, _, _ = s.ask(t, caller("group:hr"), ask.Question{Text: question}, &events); !a.Cached || !a.Refused {
		t.Errorf("the refusal was not cached: %+v", a)
	}
	if diff := cmp.Diff([]string{"sources []"}, events.events); diff != "" {
		t.Errorf("replayed events (-want +got):\n%s", diff)
	}
	// Nothing visible: refused whatever the threshold.
	s.r.strength = 1
	if a, _, _ = s.ask(t, caller("group:eng"), ask.Question{Text: question}, nil); !a.Refused {
		t.Errorf("a caller who sees nothing got an answer: %+v", a)
	}
}

func TestAskEventsInOrder(t *testing.T) {
	s := newSetup(t, ask.Config{CacheSize: 10}, false)
	var events recorder
	a, _, err := s.ask(t, caller("group:hr"), ask.Question{Text: question, MaxSources: 1}, &events)
	if err != nil || a.Refused {
		t.Fatalf("%+v, %v", a, err)
	}
	want := []string{"sources [11]", "delta"}
	if diff := cmp.Diff(want, events.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	events.events = nil
	if a, _, _ = s.ask(t, caller("group:hr"), ask.Question{Text: question, MaxSources: 1}, &events); !a.Cached {
		t.Fatal("not cached")
	}
	if diff := cmp.Diff(want, events.events); diff != "" {
		t.Errorf("replayed events (-want +got):\n%s", diff)
	}
}

// TestAskStopsWhenTheClientIsGone: a sink that cannot take the sources means nobody will read
// the answer: the model is not called.
func TestAskStopsWhenTheClientIsGone(t *testing.T) {
	s := newSetup(t, ask.Config{}, true)
	_, _, err := s.ask(t, caller("group:hr"), ask.Question{Text: question}, &recorder{sourcesErr: errors.New("broken pipe")})
	if !errors.Is(err, ask.ErrClientGone) {
		t.Errorf("error %v, want ErrClientGone", err)
	}
	if s.gen.calls != 0 {
		t.Errorf("the model was called %d times for a client that is gone", s.gen.calls)
	}
}

// TestAskDoesNotCacheFallbacks: an answer the fallback wrote because the model failed is not
// cached, so that the next request tries the model again.
func TestAskDoesNotCacheFallbacks(t *testing.T) {
	s := newSetup(t, ask.Config{CacheSize: 10}, true)
	for i := range 2 {
		a, tr, err := s.ask(t, caller("group:hr"), ask.Question{Text: question}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.Cached || a.Fallback != answer.FallbackExtractive || tr.Outcome != "fallback" {
			t.Errorf("request %d: cached %v, fallback %q, outcome %q", i, a.Cached, a.Fallback, tr.Outcome)
		}
	}
	if s.gen.calls < 2 {
		t.Errorf("the model was called %d times for two requests", s.gen.calls)
	}
}

func TestTraceFinish(t *testing.T) {
	s := newSetup(t, ask.Config{CacheSize: 10}, false)
	p := auth.Principal{Kind: "key", Subject: "t", KeyID: 42, Principals: []string{"public", "group:hr"}}
	c := ask.NewCaller(p)
	history := []answer.Turn{{Role: answer.RoleUser, Content: "Tell me about vacation."}, {Role: answer.RoleAssistant, Content: "Sure."}}
	_, tr, err := s.ask(t, c, ask.Question{Text: "How many days?", History: history}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.r.requests[0].Query; got == "" || got != tr.RewrittenQuery {
		t.Errorf("retrieved with %q, not the rewritten question %q", got, tr.RewrittenQuery)
	}
	rec := tr.Finish(nil)
	if !bytes.Equal(rec.PrincipalHash, p.Hash()) || rec.APIKeyID == nil || *rec.APIKeyID != 42 {
		t.Errorf("trace caller: hash %x key %v; want %x, 42", rec.PrincipalHash, rec.APIKeyID, p.Hash())
	}
	var retrieval map[string]any
	if err := json.Unmarshal(rec.Retrieval, &retrieval); err != nil {
		t.Fatal(err)
	}
	if retrieval["cache_hit"] != false || retrieval["rewrite"] != answer.RewriteRule || retrieval["strength"] != 0.8 {
		t.Errorf("retrieval record: %s", rec.Retrieval)
	}
	// The rule's context went to retrieval with the query, and the trace says which turns
	// and weights, without their text.
	if n := s.r.requests[0].Normalized; n == nil || len(n.Context) != 2 || n.Context[0].Text != history[0].Content ||
		n.Context[1].Text != history[1].Content || !(n.Context[0].Weight > n.Context[1].Weight) {
		t.Errorf("retrieval's context: %+v", n)
	}
	if pieces, _ := retrieval["rewrite_context"].([]any); len(pieces) != 2 || retrieval["topic_shift"] != false ||
		pieces[0].(map[string]any)["turn"] != answer.RoleUser || pieces[1].(map[string]any)["turn"] != answer.RoleAssistant {
		t.Errorf("trace's rewrite context: %s", rec.Retrieval)
	}
	if bytes.Contains(rec.Retrieval, []byte("vacation")) || bytes.Contains(rec.Retrieval, []byte("Sure")) {
		t.Errorf("the trace's retrieval record holds the conversation's text: %s", rec.Retrieval)
	}
	if ranked, _ := retrieval["ranked"].([]any); len(ranked) != 2 {
		t.Errorf("retrieval record's ranking: %s", rec.Retrieval)
	}
	var steps []struct{ Step string }
	if err := json.Unmarshal(rec.Steps, &steps); err != nil || len(steps) == 0 || steps[0].Step != "rewrite" || steps[len(steps)-1].Step != "total" {
		t.Errorf("steps: %s", rec.Steps)
	}

	// A retrieval record that cannot be encoded keeps what can be.
	s.r.strength = math.NaN()
	s.r.version.Corpus++
	_, tr, err = s.ask(t, c, ask.Question{Text: question}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.r.requests[len(s.r.requests)-1].Normalized; n == nil || len(n.Context) != 0 {
		t.Errorf("a question without history retrieved with a context: %+v", n)
	}
	if rec := tr.Finish(nil); string(rec.Retrieval) != `{"cache_hit":false}` {
		t.Errorf("retrieval record with a NaN strength: %s", rec.Retrieval)
	}

	// Failed before retrieval: the record says so much.
	tr = ask.NewTrace("/v1/answer", c, "")
	tr.Fail(errors.New("invalid_request: question: required"))
	rec = tr.Finish(nil)
	if rec.Outcome != "error" || rec.Error != "invalid_request: question: required" || string(rec.Retrieval) != `{"cache_hit":false}` {
		t.Errorf("failed trace: outcome %q error %q retrieval %s", rec.Outcome, rec.Error, rec.Retrieval)
	}
}

func TestSearch(t *testing.T) {
	s := newSetup(t, ask.Config{}, false)
	c := caller("group:hr")
	tr := ask.NewTrace("/v1/search", c, "vacation  days")
	found, err := s.svc.Search(context.Background(), ask.Search{Query: "vacation  days", Limit: 1}, c, tr)
	if err != nil {
		t.Fatal(err)
	}
	if found.Query != "vacation days" || len(found.Evidence) != 1 || s.r.normalized != 1 || tr.Outcome != "answered" {
		t.Errorf("search: %+v, %d normalisations, outcome %q", found, s.r.normalized, tr.Outcome)
	}
	if !slices.Contains(tr.Involved, 21) {
		t.Errorf("the trace does not involve every ranked chunk: %v", tr.Involved)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []ask.Config{{MinEvidence: -0.1}, {MinEvidence: 1.1}, {CacheSize: -1}} {
		if _, err := ask.New(cfg, nil, nil, nil, nil); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

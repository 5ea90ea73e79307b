// Package ask is the use case of asking the documents a question, below the HTTP API: for
// one caller, Ask makes a follow-up question standalone, normalises it, looks up the answer
// cache, retrieves the evidence the caller may see, refuses without calling the model when
// that evidence is too weak, generates and validates the answer, counts it in the metrics,
// caches it, and fills the request's trace as it goes; Search retrieves without generating.
// Package api only decodes, authenticates, picks JSON or Server-Sent Events and encodes
// around them. What grows around a question (stored conversations, feedback) belongs here,
// beside Ask.
//
// Permissions are not a step here either: the caller's principals go to retrieval, which
// filters every query on them (package retrieve), and they key the answer cache together
// with the index generation and the corpus version, so that an answer is never shared
// between callers who may see different documents, and never outlives a change to the
// chunks it could have been built from.
package ask

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/metrics"
	"github.com/docent-rag/docent/internal/retrieve"
)

// Retriever finds the evidence a caller may see (internal/retrieve). Normalize is the
// normalisation Retrieve applies, with the same length limit; Version changes whenever what
// Retrieve can find changes.
type Retriever interface {
	Normalize(raw string) (retrieve.Query, error)
	Version(ctx context.Context) (retrieve.Version, error)
	Retrieve(ctx context.Context, req retrieve.Request) (*retrieve.Result, error)
}

// Answerer writes and validates answers (internal/answer).
type Answerer interface {
	Rewrite(ctx context.Context, question string, history []answer.Turn) (answer.Rewritten, error)
	Answer(ctx context.Context, q answer.Prompt, onDelta func(string)) (*answer.Result, error)
	Model() string
	PromptVersion() string
}

var (
	_ Retriever = (*retrieve.Retriever)(nil)
	_ Answerer  = (*answer.Answerer)(nil)
)

// Config configures the use case.
type Config struct {
	// MinEvidence is the evidence strength (retrieve.Result.Strength, in [0, 1]) below which
	// Ask refuses with answer.ReasonNoEvidence without calling the model. 0 refuses only when
	// nothing was found; the server's default is 0.45 (DOCENT_MIN_EVIDENCE).
	MinEvidence float64
	Timeout     time.Duration // bounds one Ask or Search, model calls included; default 60s
	CacheSize   int           // answers cached; 0 disables the cache
	CacheTTL    time.Duration // default 10m
	// MaxQuestionChars bounds the question the answerer (its prompt, the extractive
	// answer) and the rewriter of a follow-up read: a longer one is given as its first and
	// last MaxQuestionChars/2 characters around " […] ". Retrieval bounds its own query
	// (retrieve.Config.MaxQueryChars). Default 2000.
	MaxQuestionChars int
}

func (c *Config) defaults() {
	c.Timeout = cmp.Or(c.Timeout, 60*time.Second)
	c.CacheTTL = cmp.Or(c.CacheTTL, 10*time.Minute)
	c.MaxQuestionChars = cmp.Or(c.MaxQuestionChars, 2000)
}

func (c *Config) validate() error {
	switch {
	case c.MinEvidence < 0 || c.MinEvidence > 1:
		return fmt.Errorf("ask config: MinEvidence %g is outside [0, 1]", c.MinEvidence)
	case c.CacheSize < 0:
		return errors.New("ask config: CacheSize must not be negative")
	case c.MaxQuestionChars < 20:
		return fmt.Errorf("ask config: MaxQuestionChars %d is below 20", c.MaxQuestionChars)
	}
	return nil
}

// Service answers and searches for callers. It is safe for concurrent use.
type Service struct {
	cfg       Config
	retriever Retriever
	answerer  Answerer
	metrics   *metrics.Metrics               // refusals, fallbacks, model errors, cache look-ups; may be nil
	cache     *expirable.LRU[string, cached] // nil: no cache
	// conversations stores conversations; nil: none is stored, and every conversation id is
	// unknown.
	conversations Conversations
}

// Timeout is how long one Ask or Search may take (Config.Timeout).
func (s *Service) Timeout() time.Duration { return s.cfg.Timeout }

// New returns a Service. m and conv may be nil (no stored conversations).
func New(cfg Config, r Retriever, a Answerer, conv Conversations, m *metrics.Metrics) (*Service, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, retriever: r, answerer: a, metrics: m, conversations: conv}
	if cfg.CacheSize > 0 {
		s.cache = expirable.NewLRU[string, cached](cfg.CacheSize, nil, cfg.CacheTTL)
	}
	return s, nil
}

// Caller is who asks: the principals retrieval filters on, and the hash of their set
// (auth.Principal.Hash), computed once for the answer cache's key and the trace. It is made
// by NewCaller only, so that the hash is always the principals'; the zero Caller has no
// principal and sees nothing.
type Caller struct {
	principals []string
	hash       []byte
	keyID      int64
	identity   []byte      // auth.Principal.CallerHash: nil for anonymous callers
	owner      index.Owner // of the conversations the caller starts, when owns
	owns       bool        // false for anonymous callers, who own no conversation
}

// Identified reports whether the caller has an identity that can own what it makes (its
// answers' feedback): anonymous callers have none.
func (c Caller) Identified() bool { return len(c.identity) > 0 }

// NewCaller returns the Caller for an authenticated principal.
func NewCaller(p auth.Principal) Caller {
	owner, owns := ownerOf(p)
	return Caller{principals: slices.Clone(p.Principals), hash: p.Hash(), keyID: p.KeyID,
		identity: p.CallerHash(), owner: owner, owns: owns}
}

// Question is what a caller asks.
type Question struct {
	Text    string
	History []answer.Turn // the conversation so far, oldest first, kept by the caller
	// ConversationID names the caller's stored conversation this question continues; empty
	// to start one (unless History is given: then none is stored). Not both.
	ConversationID string
	// Ephemeral stores no new conversation for a question without ConversationID and
	// History: for clients that keep their own history (OpenAI's chat completions).
	Ephemeral  bool
	MaxSources int      // sources the answer may draw on, at most
	Sources    []string // restrict retrieval to these sources; empty for all
}

// Sink receives the events of an answer as they happen, for streaming: Sources once, with
// the evidence the answer is written from (cited as [n], n the 1-based index), before any
// Delta; then the answer's text in order. An error from Sources means that nobody listens
// any more: a generation not yet started is not started.
type Sink interface {
	Sources(evidence []retrieve.Item) error
	Delta(text string)
}

type discard struct{}

func (discard) Sources([]retrieve.Item) error { return nil }
func (discard) Delta(string)                  {}

// ErrClientGone is returned when the caller went away before the answer was written: the
// sink refused the sources, or the caller's context ended during generation.
var ErrClientGone = errors.New("the client disconnected")

// NoEvidenceText is the answer of a refusal for evidence too weak to answer from.
const NoEvidenceText = "I can't find that in the documents you can access."

// Answer is the answer to a Question.
type Answer struct {
	Text      string
	Refused   bool
	Reason    string // when Refused: answer.ReasonNoEvidence, or answer.ReasonModelUnavailable
	Grounded  bool
	Citations []answer.Citation
	Sentences []answer.Sentence
	Fallback  string // answer.FallbackExtractive when the primary generator did not write it
	// FallbackReason says why the fallback wrote the answer (answer.ReasonModelUnavailable,
	// ReasonModelError, ReasonNoCitation, ReasonUngrounded); empty without a fallback.
	FallbackReason string
	// DroppedSentences counts the unsupported claims removed before the answer was sent
	// (answer.Config.Policy); the trace keeps their text.
	DroppedSentences int
	// Model and PromptVersion name what wrote the answer.
	Model, PromptVersion string
	// Sources are the evidence the answer was given, as the Sink received it (none when it
	// was refused for weak evidence).
	Sources []retrieve.Item
	Cached  bool // served from the answer cache: Timings then holds Total only
	Timings Timings
	// Usage is the tokens the model reported for writing this answer: zero when no model
	// was called (a refusal for weak evidence, the cache, the extractive answer alone).
	Usage answer.Usage
	// ConversationID is the stored conversation the question and this answer were added to;
	// empty when none was stored (the caller's own history, or an anonymous caller).
	ConversationID string
	// QueryTruncated: the question was too long to be used whole. Retrieval ran with its
	// most informative words (the trace's retrieval record says which, under "shortened"),
	// or the answerer read its beginning and end only (MaxQuestionChars).
	QueryTruncated bool
}

// Timings are the durations of an answer's steps.
type Timings struct {
	Retrieval retrieve.Timings
	Answer    *answer.Timings // nil when no answer was generated
	Total     time.Duration   // since the trace started
}

// outcome is the trace's outcome of an answer.
func (a *Answer) outcome() string {
	switch {
	case a.Refused:
		return "refused"
	case a.Fallback != "":
		return "fallback"
	}
	return "answered"
}

// Ask answers q for caller, filling tr as it goes, within the caller's stored conversation:
// the one q.ConversationID names (whose turns are the history), or a new one; the question
// and its answer are added to it as a turn (Answer.ConversationID).
//
// Errors besides ask's: ErrConversationNotFound (not the caller's, or none), ErrConversationFull,
// ErrHistoryWithConversation.
func (s *Service) Ask(ctx context.Context, q Question, caller Caller, tr *Trace, sink Sink) (*Answer, error) {
	th, err := func() (*thread, error) {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
		return s.openThread(ctx, &q, caller)
	}()
	if err != nil {
		return nil, err
	}
	a, err := s.ask(ctx, q, caller, tr, sink)
	if err != nil {
		return nil, err
	}
	if err := s.keep(ctx, th, q, a, caller, tr); err != nil {
		return nil, err
	}
	return a, nil
}

// ask answers q for caller, filling tr as it goes; sink, when not nil, receives the sources
// and the text as they come. The steps: rewrite a follow-up into a standalone query, and
// normalise it; look up the answer cache; retrieve what the caller may see; refuse when the
// evidence is weaker than MinEvidence; generate, validate and cite; cache the answer unless
// the fallback wrote it because the model failed.
//
// Errors: a query that normalises to nothing or is too long (retrieve.ErrEmptyQuery,
// *retrieve.QueryTooLongError), retrieve.ErrNoIndex, ErrClientGone, and failures of the
// steps. The caller finishes tr in every case.
func (s *Service) ask(ctx context.Context, q Question, caller Caller, tr *Trace, sink Sink) (*Answer, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if sink == nil {
		sink = discard{}
	}
	// The rewriter and the answerer read the question within MaxQuestionChars; retrieval
	// shortens a long query itself, with the caller's statistics.
	question := clipQuestion(q.Text, s.cfg.MaxQuestionChars)
	tr.questionClipped = question != q.Text
	query, err := s.standalone(ctx, q, question, tr)
	if err != nil {
		return nil, err
	}
	v, err := s.retriever.Version(ctx)
	if err != nil {
		return nil, err
	}
	tr.GenerationID = v.Generation
	key := s.cacheKey(caller, v, query.norm, q)
	if a, ok := s.fromCache(key, tr, sink); ok {
		return a, nil
	}
	// On the generation that the cache key and the trace name, even if another is activated now.
	res, err := s.retrieve(ctx, query, retrieve.Request{Principals: caller.principals, Sources: q.Sources,
		Generation: v.Generation}, tr)
	if err != nil {
		return nil, err
	}
	evidence := res.Evidence[:min(len(res.Evidence), q.MaxSources)]
	truncated := tr.questionClipped || res.Shortened != nil
	if len(evidence) == 0 || res.Strength < s.cfg.MinEvidence {
		return s.refuse(key, res, truncated, tr, sink), nil
	}
	if err := sink.Sources(evidence); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClientGone, err)
	}
	ares, err := s.answerer.Answer(ctx, answer.Prompt{Question: question, Sources: evidence, History: q.History}, sink.Delta)
	if err != nil {
		if ctx.Err() != nil && parent.Err() != nil {
			return nil, ErrClientGone
		}
		return nil, fmt.Errorf("answer: %w", err)
	}
	return s.answered(key, ares, evidence, res, truncated, tr), nil
}

// clipQuestion returns question within limit characters: whole when it fits, else its
// first and last limit/2 characters (less the marker) around " […] ", the ends of a long
// question being where what is asked usually is ("<pasted log> ... why does this fail?").
func clipQuestion(question string, limit int) string {
	if utf8.RuneCountInString(question) <= limit {
		return question
	}
	const marker = " […] "
	rs := []rune(question)
	half := (limit - utf8.RuneCountInString(marker)) / 2
	return strings.TrimSpace(string(rs[:half])) + marker + strings.TrimSpace(string(rs[len(rs)-half:]))
}

// query is a query as retrieval takes it: the text, normalised once (which took took).
type query struct {
	text string
	norm retrieve.Query
	took time.Duration
}

// standalone returns the query to retrieve with: the question, or with a conversation the
// question (as the answerer reads it: question) rewritten to stand alone.
func (s *Service) standalone(ctx context.Context, q Question, question string, tr *Trace) (query, error) {
	text := q.Text
	var conv []retrieve.ContextText
	if len(q.History) > 0 {
		t := time.Now()
		rw, err := s.answerer.Rewrite(ctx, question, q.History)
		tr.step("rewrite", time.Since(t))
		if err != nil {
			return query{}, fmt.Errorf("rewrite: %w", err)
		}
		text, conv = rw.Query, rw.Lexical()
		tr.RewrittenQuery, tr.rewriteMethod, tr.rewriteShift = rw.Query, rw.Method, rw.Shift
		for _, c := range rw.Context {
			tr.rewriteContext = append(tr.rewriteContext, contextPiece{Turn: c.Role, Chars: utf8.RuneCountInString(c.Text), Weight: c.Weight})
		}
	}
	qu, err := s.normalize(text, tr)
	// The conversation's weighted context joins the lexical query (not the text: it is
	// neither embedded nor the query's length).
	qu.norm.Context = conv
	return qu, err
}

// normalize normalises a query once, for the cache key, the trace and retrieval.
func (s *Service) normalize(text string, tr *Trace) (query, error) {
	t := time.Now()
	norm, err := s.retriever.Normalize(text)
	if err != nil {
		return query{}, err
	}
	tr.NormalizedQuery = norm.Text
	return query{text: text, norm: norm, took: time.Since(t)}, nil
}

// retrieve runs req for q, normalised already, and records what it found in tr.
func (s *Service) retrieve(ctx context.Context, q query, req retrieve.Request, tr *Trace) (*retrieve.Result, error) {
	req.Query, req.Normalized = q.text, &q.norm
	res, err := s.retriever.Retrieve(ctx, req)
	if err != nil {
		return nil, err
	}
	// Normalising is retrieval's first step, done before it here.
	res.Timings.Normalize += q.took
	res.Timings.Total += q.took
	tr.retrieval(res)
	return res, nil
}

// refuse answers that the documents the caller may see do not answer the question, without
// calling the model. The client may be gone: the refusal stands and is cached all the same.
func (s *Service) refuse(key string, res *retrieve.Result, truncated bool, tr *Trace, sink Sink) *Answer {
	s.metrics.Refusal(answer.ReasonNoEvidence)
	a := &Answer{Text: NoEvidenceText, Refused: true, Reason: answer.ReasonNoEvidence, QueryTruncated: truncated,
		Model: s.answerer.Model(), PromptVersion: s.answerer.PromptVersion(),
		Timings: Timings{Retrieval: res.Timings, Total: tr.elapsed()}}
	tr.Outcome, tr.Reason = a.outcome(), a.Reason
	tr.PromptVersion, tr.Model = a.PromptVersion, a.Model
	s.cachePut(key, a, tr)
	_ = sink.Sources(nil)
	return a
}

// answered turns the answerer's validated result into the Answer, counts it, and caches it
// unless the fallback wrote it because the model failed (the next request should try the
// model again).
func (s *Service) answered(key string, r *answer.Result, evidence []retrieve.Item, res *retrieve.Result, truncated bool, tr *Trace) *Answer {
	a := &Answer{Text: r.Answer, Grounded: r.Grounded, Citations: r.Citations, Sentences: r.Sentences, QueryTruncated: truncated,
		Fallback: r.Fallback, Model: r.Model, PromptVersion: r.PromptVersion, Sources: evidence, Usage: r.Usage,
		Timings: Timings{Retrieval: res.Timings, Answer: &r.Timings, Total: tr.elapsed()}}
	if r.Fallback != "" {
		a.FallbackReason = r.Reason
	}
	a.DroppedSentences = len(r.DroppedSentences)
	if r.Refused {
		// Callers see two reasons: no_evidence, or model_unavailable when the model failed
		// and no answer could be quoted either.
		a.Refused, a.Reason = true, answer.ReasonNoEvidence
		if r.Reason == answer.ReasonModelUnavailable {
			a.Reason = answer.ReasonModelUnavailable
		}
	}
	tr.answer(r, a)
	if r.Fallback != "" {
		s.metrics.Fallback(r.Fallback)
	}
	if r.ModelError != "" {
		s.metrics.ModelError(modelErrorKind(r))
	}
	if a.Refused {
		s.metrics.Refusal(a.Reason)
	}
	if r.Fallback == "" {
		s.cachePut(key, a, tr)
	}
	return a
}

// modelErrorKind classifies a model failure for the metrics, from the answerer's reason.
func modelErrorKind(r *answer.Result) string {
	switch r.Reason {
	case answer.ReasonModelUnavailable:
		return "unavailable"
	case answer.ReasonModelError:
		return "error"
	}
	return "other"
}

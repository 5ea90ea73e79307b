package answer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/docent-rag/docent/internal/modelapi"
	"github.com/docent-rag/docent/internal/retrieve"
)

// Roles of conversation turns.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Turn is one earlier message of the conversation.
type Turn struct {
	Role    string `json:"role"` // RoleUser or RoleAssistant; other roles are ignored
	Content string `json:"content"`
}

// Prompt is what a generator answers: a question, the evidence the user may see, best
// first, and the conversation so far.
type Prompt struct {
	Question string
	Sources  []retrieve.Item
	History  []Turn
}

// Usage is the tokens a model call consumed, when the provider reports them.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Draft is a generator's answer before validation: untrusted text.
type Draft struct {
	Text  string
	Model string
	Usage Usage
}

// Generator writes a draft answer to a prompt. The contract: Text answers p.Question from
// p.Sources only, citing them as [n] with n the 1-based index in p.Sources; onDelta, when
// not nil, receives the text as it is generated, in order, on the calling goroutine and
// before Generate returns. A failure that may pass on its own matches ErrModelUnavailable
// (and may carry a Retry-After in an *UnavailableError); others are not worth a retry. The
// draft is untrusted: the Answerer validates it.
type Generator interface {
	Generate(ctx context.Context, p Prompt, onDelta func(string)) (Draft, error)
}

// QueryRewriter turns a follow-up question into a standalone query for retrieval. A
// primary Generator that also implements it is used by Answerer.Rewrite. The output is
// untrusted: the Answerer checks it.
type QueryRewriter interface {
	RewriteQuery(ctx context.Context, question string, history []Turn) (string, error)
}

// Values of Result.Fallback, Result.Reason and the method Rewrite returns.
const (
	FallbackExtractive = "extractive"

	ReasonNoEvidence       = "no_evidence"       // refused: the sources do not answer
	ReasonModelUnavailable = "model_unavailable" // fell back: the model failed, retry or not
	ReasonModelError       = "model_error"       // fell back: the model refused the request
	ReasonNoCitation       = "no_valid_citation" // fell back: the model's answer cited no given source
	ReasonUngrounded       = "ungrounded"        // fell back: too little of the model's answer was supported (Policy)

	RewriteNone = "none" // no history: the question as it is
	RewriteRule = "rule"
	RewriteLLM  = "llm"
)

// Citation is a source the answer cites.
type Citation struct {
	N         int      `json:"n"` // the number in the answer's text
	ChunkID   int64    `json:"chunk_id"`
	URI       string   `json:"uri"`
	URL       string   `json:"url,omitempty"` // the document's source URL, if it has one
	Title     string   `json:"title"`
	Source    string   `json:"source"`
	PageStart int      `json:"page_start,omitempty"`
	PageEnd   int      `json:"page_end,omitempty"`
	PageUnit  string   `json:"page_unit,omitempty"` // "page" or "slide"; "" in answers cached before it
	Locator   string   `json:"locator,omitempty"`   // the sheet and range, the chapter
	OCR       bool     `json:"ocr,omitempty"`       // some of the passage was recognised from a scan
	Heading   []string `json:"heading,omitempty"`
	// Snippet is the sentence of the passage closest to what the answer says with it, cut
	// to Config.SnippetChars.
	Snippet string `json:"snippet"`
}

// Timings are the durations of the steps of one answer.
type Timings struct {
	Generate time.Duration `json:"generate"` // retries, backoff and fallback included
	Validate time.Duration `json:"validate"`
}

// Result is a validated answer.
type Result struct {
	// Answer is the final text: the validated model answer, the extractive answer, or
	// NoEvidenceAnswer. Its citations are [n] markers of valid sources only.
	Answer string `json:"answer"`
	// Refused: the sources do not answer the question (Reason "no_evidence").
	Refused bool `json:"refused"`
	// Reason says why the answer was refused or fell back; empty otherwise.
	Reason   string `json:"reason,omitempty"`
	Grounded bool   `json:"grounded"`
	// Citations are the cited sources, by number.
	Citations []Citation `json:"citations"`
	Sentences []Sentence `json:"sentences"`
	// Fallback is "extractive" when the answer is not the primary generator's.
	Fallback string `json:"fallback,omitempty"`
	// Model names who wrote Answer: the model, "extractive", or "" for a refusal without
	// sources.
	Model         string `json:"model,omitempty"`
	PromptVersion string `json:"prompt_version"`
	// Usage is the tokens the model used, also when its answer was replaced.
	Usage Usage `json:"usage"`
	// Dropped are the citation numbers removed from Answer for naming no given source.
	Dropped []int `json:"dropped,omitempty"`
	// DroppedSentences are the claims removed from the answer (or, when it fell back for
	// them, from the model's answer) because their citations did not support them
	// (Config.Policy drop or fallback). They were never shown: only the trace keeps them.
	DroppedSentences []Sentence `json:"dropped_sentences,omitempty"`
	// ModelError says why the model's answer was not used (an error, or what was wrong
	// with its answer). It holds no credentials.
	ModelError string `json:"model_error,omitempty"`
	// Attempts counts the calls of the primary generator.
	Attempts int     `json:"attempts"`
	Timings  Timings `json:"timings"`
}

// Config tunes the Answerer. Zero values take the defaults.
type Config struct {
	Extractive ExtractiveConfig
	Validate   ValidateConfig
	// RetryBackoff is the wait before the one retry of an unavailable model that gave no
	// Retry-After; default 300ms.
	RetryBackoff time.Duration
	// MaxRetryWait caps the Retry-After honoured: when the server asks for a longer wait,
	// there is no retry and the answer falls back at once. Default 2s.
	MaxRetryWait time.Duration
	// FallbackReserve is the time kept from the caller's deadline for the fallback: the
	// model gets the deadline less this. Default 250ms.
	FallbackReserve time.Duration
	// RewriteTimeout bounds the model call of Rewrite; default 5s.
	RewriteTimeout time.Duration
	SnippetChars   int // the length of Citation.Snippet, in bytes, at most; default 240
	// Policy says what becomes of claims their citations do not support (policy.go):
	// dropped (the default), dropped with a fallback when too little survives, or marked.
	// Under drop and fallback, streamed text is validated sentence by sentence before it is
	// sent.
	Policy Policy
}

func (c *Config) defaults() {
	c.Extractive.defaults()
	c.Validate.defaults()
	c.RetryBackoff = cmp.Or(c.RetryBackoff, 300*time.Millisecond)
	c.MaxRetryWait = cmp.Or(c.MaxRetryWait, 2*time.Second)
	c.FallbackReserve = cmp.Or(c.FallbackReserve, 250*time.Millisecond)
	c.RewriteTimeout = cmp.Or(c.RewriteTimeout, 5*time.Second)
	c.SnippetChars = cmp.Or(c.SnippetChars, 240)
	c.Policy = cmp.Or(c.Policy, PolicyDrop)
}

func (c *Config) validate() error {
	if err := c.Extractive.validate(); err != nil {
		return err
	}
	switch {
	case c.RetryBackoff < 0 || c.MaxRetryWait < 0 || c.FallbackReserve < 0 || c.RewriteTimeout < 0:
		return errors.New("answer: Config: RetryBackoff, MaxRetryWait, FallbackReserve and RewriteTimeout must not be negative")
	case c.SnippetChars < 20:
		return fmt.Errorf("answer: Config.SnippetChars: %d is below 20", c.SnippetChars)
	}
	if _, err := ParsePolicy(string(c.Policy)); err != nil {
		return fmt.Errorf("answer: Config.Policy: %w", err)
	}
	return nil
}

// ErrEmptyQuestion is returned for a question with no text.
var ErrEmptyQuestion = errors.New("answer: empty question")

// Answerer writes validated answers: with the primary generator when there is one, falling
// back to the extractive answer, and refusing when the sources do not answer. It is safe
// for concurrent use.
type Answerer struct {
	cfg        Config
	primary    Generator // nil: extractive only
	rewriter   QueryRewriter
	extractive *Extractive
	logger     *slog.Logger
	sleep      func(ctx context.Context, d time.Duration) error // tests replace it
}

// New returns an Answerer. primary may be nil for extractive answers only; when it also
// implements QueryRewriter, Rewrite uses it. logger may be nil.
func New(cfg Config, primary Generator, logger *slog.Logger) (*Answerer, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ext, err := NewExtractive(cfg.Extractive)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Answerer{cfg: cfg, primary: primary, extractive: ext, logger: logger, sleep: modelapi.Sleep}
	if rw, ok := primary.(QueryRewriter); ok {
		a.rewriter = rw
	}
	return a, nil
}

// Answer answers q from q.Sources. The rules, in order:
//
//   - No sources: refused, "no_evidence", without calling any generator.
//   - With a primary generator: a failure matching ErrModelUnavailable is retried once
//     after RetryBackoff or the server's Retry-After (when at most MaxRetryWait and within
//     the deadline); any failure left falls back to the extractive answer
//     (Fallback "extractive", Reason "model_unavailable" or "model_error", ModelError).
//   - The model's answer is validated. If it has no valid citation, it is a refusal when
//     it says that the sources lack the answer (Refused, "no_evidence", Answer
//     NoEvidenceAnswer: the model's own words are not shown), and otherwise it is replaced
//     by the extractive answer ("no_valid_citation").
//   - The extractive answer, when it quotes nothing, is a refusal ("no_evidence").
//
// onDelta (may be nil) receives text as it is generated. Streamed text is provisional: on a
// retry or a fallback, text already streamed is superseded, and Result.Answer (with
// invalid citations removed) is what to show. Answer fails only for an empty question or
// when ctx ends.
func (a *Answerer) Answer(ctx context.Context, q Prompt, onDelta func(string)) (*Result, error) {
	if strings.TrimSpace(q.Question) == "" {
		return nil, ErrEmptyQuestion
	}
	res := &Result{PromptVersion: PromptVersion}
	start := time.Now()
	if len(q.Sources) == 0 {
		refuse(res, onDelta)
		return res, nil
	}
	if a.primary != nil {
		d, err := a.generate(ctx, q, onDelta, res)
		res.Usage = d.Usage
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("answer: %w", ctx.Err())
		case err != nil:
			res.ModelError = err.Error()
			res.Reason = ReasonModelError
			level := slog.LevelError // a configuration to fix
			if errors.Is(err, ErrModelUnavailable) {
				res.Reason, level = ReasonModelUnavailable, slog.LevelWarn
			}
			a.logger.Log(ctx, level, "answer: model failed; falling back to the extractive answer",
				"attempts", res.Attempts, "err", err)
		default:
			res.Model = d.Model
			res.Timings.Generate = time.Since(start)
			t := time.Now()
			vd := newValidator(q.Sources, a.cfg.Validate)
			v := vd.validate(d.Text)
			kept, removed, tooLittle := enforce(a.cfg.Policy, vd, v)
			res.Timings.Validate = time.Since(t)
			if len(v.Cited) > 0 {
				res.DroppedSentences = removed
			}
			switch {
			case len(v.Cited) == 0 && v.NoAnswer:
				refuse(res, nil)
				return res, nil
			case len(v.Cited) == 0:
				res.Reason = ReasonNoCitation
				res.ModelError = "the answer cites none of the given sources"
				if strings.TrimSpace(d.Text) == "" {
					res.ModelError = "the answer is empty"
				}
				if len(v.Dropped) > 0 {
					res.ModelError += fmt.Sprintf(" (it cites %s of %d)", numberList(v.Dropped), len(q.Sources))
				}
			case tooLittle:
				res.Reason = ReasonUngrounded
				res.ModelError = fmt.Sprintf("too little of the answer is supported by its citations (%d unsupported claims dropped; policy %s)",
					len(removed), a.cfg.Policy)
			default:
				a.fill(res, kept, q.Sources)
				res.Dropped = v.Dropped // also those of the sentences removed
				return res, nil
			}
			a.logger.WarnContext(ctx, "answer: model answer rejected; using the extractive answer",
				"reason", res.Reason, "model", d.Model)
		}
		res.Fallback = FallbackExtractive
	}
	text := a.extractive.Compose(q)
	res.Model = ExtractiveModel
	res.Timings.Generate = time.Since(start) - res.Timings.Validate
	t := time.Now()
	vd := newValidator(q.Sources, a.cfg.Validate)
	// The extractive answer quotes its sources, so nothing is dropped in practice; the
	// policy holds for every text all the same.
	v, removed, tooLittle := enforce(a.cfg.Policy, vd, vd.validate(text))
	res.Timings.Validate += time.Since(t)
	res.DroppedSentences = append(res.DroppedSentences, removed...)
	if len(v.Cited) == 0 || a.cfg.Policy != PolicyMark && tooLittle {
		refuse(res, onDelta)
		return res, nil
	}
	if onDelta != nil {
		onDelta(v.Answer)
	}
	a.fill(res, v, q.Sources)
	return res, nil
}

// generate calls the primary generator, retrying once when it is unavailable.
func (a *Answerer) generate(ctx context.Context, q Prompt, onDelta func(string), res *Result) (Draft, error) {
	genCtx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		genCtx, cancel = context.WithDeadline(ctx, deadline.Add(-a.cfg.FallbackReserve))
		defer cancel()
	}
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		deliver, done := onDelta, func() {}
		if onDelta != nil && a.cfg.Policy != PolicyMark {
			// Unvalidated text never reaches the client: each attempt's text passes a gate
			// that sends only the sentences validation keeps.
			g := newGate(newValidator(q.Sources, a.cfg.Validate), onDelta)
			deliver, done = g.write, g.flush
		}
		d, err := a.primary.Generate(genCtx, q, deliver)
		switch {
		case err == nil:
			done()
			return d, nil
		case ctx.Err() != nil:
			return d, err
		case genCtx.Err() != nil:
			// The model used up the time before the reserve: not the caller's deadline yet.
			return d, &UnavailableError{Where: "answer", Err: fmt.Errorf("no answer before the deadline: %w", err)}
		case attempt == 2 || !errors.Is(err, ErrModelUnavailable):
			return d, err
		}
		wait := a.cfg.RetryBackoff
		var ue *UnavailableError
		if errors.As(err, &ue) && ue.RetryAfter > 0 {
			if ue.RetryAfter > a.cfg.MaxRetryWait {
				return d, err // the server wants more time than we give it
			}
			wait = ue.RetryAfter
		}
		if deadline, ok := genCtx.Deadline(); ok && time.Until(deadline) <= wait {
			return d, err
		}
		a.logger.InfoContext(ctx, "answer: model unavailable; retrying", "wait", wait, "err", err)
		if err := a.sleep(genCtx, wait); err != nil {
			if ctx.Err() != nil {
				return d, err
			}
			return d, &UnavailableError{Where: "answer", Err: fmt.Errorf("no time left to retry: %w", err)}
		}
	}
}

// refuse makes res a refusal: the sources do not answer.
func refuse(res *Result, onDelta func(string)) {
	res.Answer = NoEvidenceAnswer
	res.Refused = true
	res.Reason = ReasonNoEvidence
	res.Grounded = false
	res.Citations = nil
	res.Sentences = nil
	if onDelta != nil {
		onDelta(NoEvidenceAnswer)
	}
}

// fill puts a validated answer into res, with the citations of the sources it cites.
func (a *Answerer) fill(res *Result, v Validation, sources []retrieve.Item) {
	res.Answer = v.Answer
	res.Sentences = v.Sentences
	res.Grounded = v.Grounded
	res.Dropped = v.Dropped
	for _, n := range v.Cited {
		it := sources[n-1]
		var claims []string
		for _, s := range v.Sentences {
			if slices.Contains(s.Citations, n) {
				claims = append(claims, s.Text)
			}
		}
		res.Citations = append(res.Citations, Citation{
			N: n, ChunkID: it.ChunkID, URI: it.URI, URL: it.URL, Title: it.Title, Source: it.Source,
			PageStart: it.PageStart, PageEnd: it.PageEnd, PageUnit: it.PageUnit, Locator: it.Locator, OCR: it.OCR,
			Heading: it.HeadingPath,
			Snippet: snippet(it.Text, claims, a.cfg.SnippetChars),
		})
	}
}

// snippet returns the sentence of text that shares the most content words with the claims
// citing it (the first sentence when none shares any), cut to max bytes.
func snippet(text string, claims []string, limit int) string {
	var want []string
	for _, c := range claims {
		want = contentTerms(want, c)
	}
	best, bestScore := "", -1
	for _, sp := range sentences(text) {
		if sp.kind == heading || sp.kind == table {
			continue
		}
		s := text[sp.start:sp.end]
		score := 0
		for _, t := range contentTerms(nil, s) {
			if slices.Contains(want, t) {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = s, score
		}
	}
	if best == "" {
		best = text
	}
	best, _, _ = cleanCitations(best, 0)
	return truncate(strings.Join(strings.Fields(best), " "), limit)
}

// numberList formats citation numbers as "[7], [9]".
func numberList(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = fmt.Sprintf("[%d]", n)
	}
	return strings.Join(parts, ", ")
}

// Package retrieve finds the evidence for a query among the chunks a caller may see: BM25
// over PostgreSQL lexemes and nearest neighbours over the active index generation's vectors,
// fused, optionally reranked, diversified, expanded with neighbouring chunks and assembled
// within a token budget, with a calibrated evidence strength and the time of every step.
//
// Permissions are not a step here: every query of both legs (package index) filters on the
// caller's principals in the statement that finds its candidates, and the evidence rows are
// fetched with the same filter again.
package retrieve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/index"
)

// Embedder embeds queries: one vector per input, same order, of Dimension() values, with the
// model the index generation was built with (Kind and Model name it).
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Dimension() int
	Kind() string
	Model() string
}

// Reranker scores candidate passages against a query: one score per passage, same order,
// higher is more relevant; scores are comparable within one call only.
type Reranker interface {
	Rerank(ctx context.Context, query string, passages []string) ([]float64, error)
}

// Mode selects the retrieval legs.
type Mode string

// Modes.
const (
	Lexical Mode = "lexical"
	Dense   Mode = "dense"
	Hybrid  Mode = "hybrid"
)

// Fusion methods.
const (
	FusionRRF    = "rrf"    // weighted reciprocal rank fusion
	FusionConvex = "convex" // weighted sum of scores normalised per leg
)

// Config tunes retrieval. The defaults were chosen on SciFact's train split (docs/retrieval.md).
type Config struct {
	// MaxQueryChars bounds the query both legs run: a longer one is shortened to its most
	// informative words within it (shorten.go), which Result.Shortened reports. Default 2000.
	MaxQueryChars int
	// MaxQueryInput is the longest query accepted at all, in characters (a longer one is a
	// *QueryTooLongError): a bound on the work of shortening. Default 1<<20; the server
	// sets its request body limit.
	MaxQueryInput int

	K1 float64 // BM25 term-frequency saturation; default 0.9
	B  float64 // BM25 length normalisation; default 0.4
	// MinIDFChunks is the fewest chunks a caller's IDF is computed over. A caller who sees
	// fewer (statistics are per caller, so a small group's are a small sample) gets the IDF
	// of a corpus of MinIDFChunks chunks in which the others contain no query term: in a few
	// dozen chunks one occurrence more or less would swing a term's weight, and with it
	// evidence strength. Default 250: measured on slices of SciFact and ClapNQ
	// (docs/benchmarks.md), a larger floor costs ranking quality and steadies strength no
	// better. 1 is no floor.
	MinIDFChunks int
	// LexicalBudget caps the candidates of the first lexical pass: the rarest query terms
	// are taken as candidate terms while their summed document frequencies stay within it.
	// A second pass with every term runs when the excluded terms could still change the top
	// ExactTop results. LexicalMaxCandidates is that pass's budget, in chunks scored: its
	// condition is raised (the top then approximate) until reading the index for it and
	// scoring what it matches would cost no more than scoring that many chunks, and it
	// scores at most that many. Default 1,500.
	LexicalBudget        int // default 1000
	LexicalMaxCandidates int // default 1500
	ExactTop             int // default 10
	// LexicalFirstPassMax is the most chunks the first lexical pass scores. A question of one
	// or two common words can have no rarer term to start from (at a million chunks,
	// "activation" is in 319,140 chunks: 3.6 s to score them all, "cancer patients" 1.0 s):
	// past this many it scores the first found and its top is approximate. Default 10,000
	// (about 100 ms at 10 µs a chunk); no SciFact claim's first pass reached it at 100k or 1M.
	LexicalFirstPassMax int
	// LexicalBudgetShare raises the first pass's budget for a caller who sees many chunks
	// to this share of them, when that is more than LexicalBudget: a higher first-pass
	// threshold leaves the second pass less to do, and less often approximate. Default 0.004
	// (from 250,001 visible chunks up). Negative: none.
	//
	// The two defaults were chosen at a million chunks on 200 SciFact questions and reported
	// on 100 others (docs/benchmarks.md, "The lexical tail at a million"): the unrestricted
	// caller's lexical p50 / p99 37.0 / 89 ms and 0.888 of the exact top 10 on the first,
	// 32.2 / 64 ms and 0.933 on the second, where the earlier rule (20,000 candidates by an
	// upper bound, 0.003) had 59.8 / 461 ms and 0.919; a larger budget buys exactness with
	// time (3,000 and 0.005: 0.919 at 57.0 / 142 ms).
	LexicalBudgetShare float64

	Depth int // results of each leg and of fusion; default 100

	ExactScanBelow int // visible-chunk estimate below which the dense leg scans exactly; default 20000
	// EfSearch is the HNSW candidate list of an unrestricted caller; a caller who sees a
	// share s of the chunks gets EfSearch / s (see efSearch). Default 100.
	EfSearch      int
	MaxScanTuples int // HNSW iterative scan budget; default 40000
	// TagEfSearch is the candidate list of a walk of a tag's own graph (a large group's
	// partial HNSW index, index.BuildTagVectorIndexes): every candidate there carries the
	// tag, so the list is not divided by a share. Default 300, for graphs of m 48
	// (index.DefaultTagHNSWM): chosen on 200 SciFact questions at a million chunks, the
	// smallest list with recall@10 0.95 (docs/benchmarks.md, "The lexical tail at a million").
	TagEfSearch int
	// MaxTagScans is the most tag graphs one caller's dense leg walks; a caller with more
	// large tags walks the shared graph. Default 2.
	MaxTagScans int

	Fusion        string  // convex (default) or rrf
	RRFK          float64 // default 60
	LexicalWeight float64 // default 1
	// DenseWeight is the dense leg's weight when the legs agree fully (see AgreementDepth);
	// default 0.2.
	DenseWeight float64
	// AgreementDepth makes the dense leg's weight depend on the query: DenseWeight times
	// the share of the lexical top AgreementDepth that the dense top AgreementDepth also
	// holds, divided by AgreementFull (at most 1). When the legs find nothing in common
	// the dense leg (a weak embedder's, or one that knows nothing of the corpus) only
	// breaks exact ties of the lexical leg. Negative: fixed weights. Default 10.
	AgreementDepth int
	// AgreementFull is the share of common chunks at which the dense leg gets its full
	// DenseWeight; default 0.5.
	AgreementFull float64

	RerankDepth int // fused results reranked; default 30
	// RerankFusedWeight blends the fused order back into the reranked one: the reranked
	// score is (1−w)·reranker + w·fused, both normalised over the reranked head. Default 0:
	// a cross-encoder's order replaces the fused one. (The built-in reranker brings its own
	// weight, Builtin.Fused.)
	RerankFusedWeight float64

	PerDocument   int // evidence items per document; default 2
	Neighbours    int // adjacent chunks attached on each side; default 1
	ContextTokens int // token budget of the assembled evidence; default 2000
	Evidence      int // evidence items at most; default 8

	// Embedders builds the query embedder of a generation that the one given to New does not
	// match (after a reindex to another model or dimension); each is built once. Nil: such a
	// generation is an error.
	Embedders func(ctx context.Context, g index.Generation) (Embedder, error)

	// GenerationTTL is how long the active generation is cached between checks.
	GenerationTTL time.Duration // default 2s

	// Replicas, when not nil, are the streaming replicas a Read may be served from (see
	// Read); nil: every read goes to the primary.
	Replicas *index.Replicas
}

func (c *Config) defaults() {
	c.MaxQueryChars = cmp.Or(c.MaxQueryChars, 2000)
	c.MaxQueryInput = cmp.Or(c.MaxQueryInput, 1<<20)
	c.K1 = cmp.Or(c.K1, 0.9)
	c.B = cmp.Or(c.B, 0.4)
	c.MinIDFChunks = cmp.Or(c.MinIDFChunks, 250)
	c.LexicalBudget = cmp.Or(c.LexicalBudget, 1000)
	c.LexicalBudgetShare = cmp.Or(c.LexicalBudgetShare, 0.004)
	c.LexicalMaxCandidates = cmp.Or(c.LexicalMaxCandidates, 1500)
	c.LexicalFirstPassMax = cmp.Or(c.LexicalFirstPassMax, 10000)
	c.ExactTop = cmp.Or(c.ExactTop, 10)
	c.Depth = cmp.Or(c.Depth, 100)
	c.ExactScanBelow = cmp.Or(c.ExactScanBelow, 20000)
	c.EfSearch = cmp.Or(c.EfSearch, 100)
	c.MaxScanTuples = cmp.Or(c.MaxScanTuples, 40000)
	c.TagEfSearch = cmp.Or(c.TagEfSearch, 300)
	c.MaxTagScans = cmp.Or(c.MaxTagScans, 2)
	c.Fusion = cmp.Or(c.Fusion, FusionConvex)
	c.RRFK = cmp.Or(c.RRFK, 60)
	c.LexicalWeight = cmp.Or(c.LexicalWeight, 1)
	c.DenseWeight = cmp.Or(c.DenseWeight, 0.2)
	c.AgreementDepth = cmp.Or(c.AgreementDepth, 10)
	c.AgreementFull = cmp.Or(c.AgreementFull, 0.5)
	c.RerankDepth = cmp.Or(c.RerankDepth, 30)
	c.PerDocument = cmp.Or(c.PerDocument, 2)
	c.Neighbours = cmp.Or(c.Neighbours, 1)
	c.ContextTokens = cmp.Or(c.ContextTokens, 2000)
	c.Evidence = cmp.Or(c.Evidence, 8)
	c.GenerationTTL = cmp.Or(c.GenerationTTL, 2*time.Second)
}

func (c *Config) validate() error {
	switch {
	case c.MaxQueryChars < 1 || c.MaxQueryInput < c.MaxQueryChars:
		return fmt.Errorf("retrieve config: MaxQueryChars (%d) must be at least 1 and at most MaxQueryInput (%d)", c.MaxQueryChars, c.MaxQueryInput)
	case c.K1 < 0 || c.B < 0 || c.B > 1:
		return fmt.Errorf("retrieve config: K1 must be >= 0 and B within [0, 1] (got %g, %g)", c.K1, c.B)
	case c.Fusion != FusionRRF && c.Fusion != FusionConvex:
		return fmt.Errorf("retrieve config: Fusion %q is not rrf or convex", c.Fusion)
	case c.LexicalWeight < 0 || c.DenseWeight < 0:
		return errors.New("retrieve config: fusion weights must not be negative")
	case c.AgreementFull < 0 || c.AgreementFull > 1:
		return fmt.Errorf("retrieve config: AgreementFull %g is outside [0, 1]", c.AgreementFull)
	case c.Depth < c.ExactTop || c.ExactTop < 1:
		return fmt.Errorf("retrieve config: Depth (%d) must be at least ExactTop (%d) >= 1", c.Depth, c.ExactTop)
	case c.Neighbours < 0 || c.PerDocument < 1 || c.Evidence < 1:
		return errors.New("retrieve config: Neighbours >= 0, PerDocument >= 1 and Evidence >= 1")
	case c.EfSearch < 1 || c.EfSearch > 1000 || c.TagEfSearch < 1 || c.TagEfSearch > 1000:
		return fmt.Errorf("retrieve config: EfSearch %d and TagEfSearch %d must be within 1..1000 (pgvector's range)", c.EfSearch, c.TagEfSearch)
	}
	return nil
}

// Retriever retrieves evidence. It is safe for concurrent use.
type Retriever struct {
	cfg Config
	// db is the database the queries of a retrieval read: the primary, or in a Read's copy
	// of the retriever the replica the Read is pinned to (then pinned is the generation the
	// Read's version named, as that replica has it).
	db      *pgxpool.Pool
	primary *pgxpool.Pool
	pinned  *index.Generation
	emb     Embedder
	rerank  Reranker // nil: no reranking
	name    string   // the reranker's name for results: builtin, http ...
	logger  *slog.Logger
	// termStats looks up a query's lexemes with the caller's BM25 statistics: always
	// index.QueryTerms, except in the timing benchmark, which puts the corpus-wide lookup of
	// earlier versions beside it to measure the difference (export_test.go).
	termStats func(ctx context.Context, db index.DBTX, chunkingID int, text string, principals []string) ([]index.Term, index.Corpus, error)

	cache *cache // shared by the retriever and the copies its Reads make
}

// cache is what a retriever keeps between requests.
type cache struct {
	mu     sync.Mutex
	gen    index.Generation // the primary's active generation
	genAt  time.Time
	genErr error
	embs   map[int]Embedder // by generation, from cfg.Embedders
}

// New returns a Retriever. emb may be nil for lexical-only retrieval; rerank may be nil for
// no reranking, and rerankName names it in results.
func New(cfg Config, db *pgxpool.Pool, emb Embedder, rerank Reranker, rerankName string, logger *slog.Logger) (*Retriever, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if rerank != nil && rerankName == "" {
		rerankName = "custom"
	}
	return &Retriever{cfg: cfg, db: db, primary: db, emb: emb, rerank: rerank, name: rerankName, logger: logger,
		termStats: index.QueryTerms, cache: &cache{}}, nil
}

// Config returns the effective configuration.
func (r *Retriever) Config() Config { return r.cfg }

// Request is one retrieval.
type Request struct {
	Query string
	// Normalized, when not nil, is Query as Normalize returned it, for a caller that needed
	// the normalised text before retrieving (the answer cache's key): Retrieve uses it
	// instead of normalising Query again, and still refuses it empty or longer than
	// MaxQueryInput, and shortens it beyond MaxQueryChars.
	Normalized *Query
	Principals []string // the caller's principals; retrieval sees only chunks tagged with one
	Sources    []string // restrict to these sources; empty for all
	Mode       Mode     // default hybrid
	Rerank     *bool    // nil: rerank when a reranker is configured
	// Generation retrieves from this index generation instead of the active one (the
	// evaluation gate of a reindex compares two); 0 for the active one.
	Generation int
	// Limit, when not 0, makes the evidence a search's results: at most Limit items (1 to
	// MaxLimit), not bounded by the ContextTokens budget, which is a prompt's. Each item is
	// still one chunk with at most Neighbours chunks on each side, so Limit bounds the
	// work and the size. 0: the evidence of an answer, at most Evidence items within
	// ContextTokens.
	Limit int
}

// MaxLimit is the largest Request.Limit.
const MaxLimit = 100

// ErrLimit is returned for a Request.Limit outside 0..MaxLimit.
var ErrLimit = fmt.Errorf("retrieve: Limit must be within 1..%d (0 for the evidence of an answer)", MaxLimit)

// Hit is a chunk in a ranking.
type Hit struct {
	ChunkID     int64   `json:"chunk_id"`
	DocumentID  int64   `json:"document_id"`
	Score       float64 `json:"score"`
	LexicalRank int     `json:"lexical_rank,omitempty"` // 1-based; 0 when the leg did not find it
	DenseRank   int     `json:"dense_rank,omitempty"`
}

// Item is one piece of assembled evidence: a chunk and the neighbouring chunks attached to
// it, ready for citation.
type Item struct {
	ChunkID     int64    `json:"chunk_id"`  // the retrieved chunk
	ChunkIDs    []int64  `json:"chunk_ids"` // it and its attached neighbours, in document order
	Text        string   `json:"text"`
	Title       string   `json:"title"`
	URI         string   `json:"uri"`
	URL         string   `json:"url,omitempty"` // the document's source URL, if it has one
	Source      string   `json:"source"`
	HeadingPath []string `json:"heading_path"`
	PageStart   int      `json:"page_start,omitempty"`
	PageEnd     int      `json:"page_end,omitempty"`
	PageUnit    string   `json:"page_unit,omitempty"` // "page" or "slide"
	Locator     string   `json:"locator,omitempty"`   // the sheet and range, the chapter: see index.Evidence
	OCR         bool     `json:"ocr,omitempty"`       // some of the text was recognised from a scan
	Tokens      int      `json:"tokens"`
	Score       float64  `json:"score"`
}

// Timings are the durations of the steps of one retrieval.
type Timings struct {
	Normalize time.Duration `json:"normalize"`
	Embed     time.Duration `json:"embed"`
	Lexical   time.Duration `json:"lexical"`
	Dense     time.Duration `json:"dense"`
	Fuse      time.Duration `json:"fuse"`
	Rerank    time.Duration `json:"rerank"`
	Assemble  time.Duration `json:"assemble"`
	Total     time.Duration `json:"total"`
}

// Result is what a retrieval found.
type Result struct {
	// Query is the query both legs ran: the normalised query, or its shortened form when it
	// was longer than MaxQueryChars (Shortened then says how; nil otherwise).
	Query      Query
	Shortened  *Shortening
	Mode       Mode
	Generation int
	// Ranked is the final ranking (fused, then reranked), at most Depth chunks.
	Ranked []Hit
	// DenseWeight is the weight fusion gave the dense leg for this query (Fuse); 0 when
	// only one leg ran.
	DenseWeight float64
	// Lexical and Dense are each leg's own ranking, for traces.
	Lexical, Dense []Hit
	// LexicalExact says whether the lexical leg's top ExactTop is exact (see Config).
	LexicalExact bool
	// DensePlan is "exact" or "hnsw" (and "hnsw+exact" when HNSW found too few rows), or
	// "none" when the caller can see no vector.
	DensePlan string
	// Reranked names the reranker that ordered Ranked, or is empty; RerankError says why a
	// configured reranker was skipped (Ranked is then the fused order).
	Reranked    string
	RerankError string
	Evidence    []Item
	// Strength estimates how well the evidence matches the query, in [0, 1] (see strength.go).
	Strength float64
	Timings  Timings

	// Database names the database the evidence was read from: Primary, or a replica's name
	// (replica1 ...). ReplicaSkipped says why a replica given to the request was left for the
	// primary (one of index.ReplicaReasons); empty when none was.
	Database       string
	ReplicaSkipped string
	// Version is the version of what the retrieval could find, on that database (set by
	// Read.Retrieve only).
	Version Version

	strengthInputs StrengthInputs // what Strength was computed from
	queryTerms     []QueryTerm    // the lexical leg's terms and IDFs
}

// Retrieve runs one retrieval for the caller's principals.
func (r *Retriever) Retrieve(ctx context.Context, req Request) (*Result, error) {
	start := time.Now()
	res := &Result{Mode: cmp.Or(req.Mode, Hybrid), Database: Primary}
	if req.Limit < 0 || req.Limit > MaxLimit {
		return nil, ErrLimit
	}
	q, err := r.query(req)
	if err != nil {
		return nil, err
	}
	res.Query = q
	res.Timings.Normalize = time.Since(start)
	if len(req.Principals) == 0 {
		// No principal sees nothing: not an error, an empty result.
		if utf8.RuneCountInString(q.Text) > r.cfg.MaxQueryChars {
			res.Query, res.Shortened, _ = r.shorten(ctx, 0, q, nil) // reads nothing without principals
		}
		res.Timings.Total = time.Since(start)
		return res, nil
	}
	// The request stays on the generation it starts with, even if another is activated
	// meanwhile (a retired generation's tables stay until `ingest gc`).
	var gen index.Generation
	if r.pinned != nil && (req.Generation == 0 || req.Generation == r.pinned.ID) {
		gen = *r.pinned // the replica's own record of the generation its version named
	} else {
		gen, err = r.generation(ctx)
		if req.Generation != 0 && (err != nil || gen.ID != req.Generation) {
			gen, err = index.GetGeneration(ctx, r.db, req.Generation)
		}
	}
	if err != nil {
		return nil, err
	}
	res.Generation = gen.ID
	if utf8.RuneCountInString(q.Text) > r.cfg.MaxQueryChars {
		// Both legs get a bounded query: its most informative words for this caller.
		t := time.Now()
		if q, res.Shortened, err = r.shorten(ctx, gen.ChunkingID, q, req.Principals); err != nil {
			return nil, fmt.Errorf("shorten the query: %w", err)
		}
		res.Query = q
		res.Timings.Normalize += time.Since(t)
	}
	var emb Embedder
	if res.Mode != Lexical {
		if emb, err = r.embedder(ctx, gen); err != nil {
			return nil, err
		}
	}

	var lex *lexicalResult
	var dense []index.Scored
	var densePlan string
	var lexErr, denseErr error
	var wg sync.WaitGroup
	if res.Mode != Dense {
		wg.Go(func() {
			t := time.Now()
			lex, lexErr = r.lexical(ctx, gen.ChunkingID, q, req)
			res.Timings.Lexical = time.Since(t)
		})
	}
	if res.Mode != Lexical {
		wg.Go(func() {
			t := time.Now()
			vecs, err := emb.Embed(ctx, []string{q.Text})
			res.Timings.Embed = time.Since(t)
			if err != nil {
				denseErr = embedError{fmt.Errorf("embed the query: %w", err)}
				return
			}
			if len(vecs) != 1 || len(vecs[0]) != gen.Dimension {
				denseErr = embedError{errors.New("embed the query: the embedder returned no vector of the index's dimension")}
				return
			}
			t = time.Now()
			dense, densePlan, denseErr = r.dense(ctx, gen, vecs[0], req)
			res.Timings.Dense = time.Since(t)
		})
	}
	wg.Wait()
	if err := errors.Join(lexErr, denseErr); err != nil {
		return nil, err
	}
	if lex != nil {
		res.Lexical = ranks(lex.hits)
		res.LexicalExact = lex.exact
		res.queryTerms = lex.terms
	}
	res.Dense = ranks(dense)
	for i := range res.Dense {
		// Distances to similarities, higher better: 1 − d for the cosine distance.
		if gen.Distance == index.DistanceCosine {
			res.Dense[i].Score = 1 - res.Dense[i].Score
		} else {
			res.Dense[i].Score = -res.Dense[i].Score
		}
	}
	res.DensePlan = densePlan

	t := time.Now()
	res.Ranked, res.DenseWeight = Fuse(r.cfg, res.Lexical, res.Dense, res.Mode)
	res.Timings.Fuse = time.Since(t)

	// Texts of the candidates: for the reranker and for assembly, in one query.
	t = time.Now()
	items, budget := r.cfg.Evidence, r.cfg.ContextTokens
	if req.Limit > 0 {
		items, budget = req.Limit, math.MaxInt
	}
	texts, err := r.evidence(ctx, res.Ranked, items, req.Principals)
	if err != nil {
		return nil, err
	}
	fetch := time.Since(t)

	if r.rerank != nil && (req.Rerank == nil || *req.Rerank) && len(res.Ranked) > 1 {
		t = time.Now()
		if err := r.rerankHits(ctx, q.Text, res, texts); err != nil {
			res.RerankError = err.Error()
			r.logger.WarnContext(ctx, "reranking failed; keeping the fused order", "reranker", r.name, "err", err)
		} else {
			res.Reranked = r.name
		}
		res.Timings.Rerank = time.Since(t)
	}

	t = time.Now()
	res.Evidence, err = r.assemble(ctx, gen.ChunkingID, res.Ranked, texts, items, budget, req.Principals)
	if err != nil {
		return nil, err
	}
	res.Timings.Assemble = time.Since(t) + fetch
	res.Strength = strength(lex, res)
	res.Timings.Total = time.Since(start)
	return res, nil
}

// Normalize normalises a query as Retrieve does, within this retriever's MaxQueryInput.
// The result may be longer than MaxQueryChars: Retrieve shortens it.
func (r *Retriever) Normalize(raw string) (Query, error) {
	return Normalize(raw, r.cfg.MaxQueryInput)
}

// query returns the request's normalised query: req.Normalized when given, within the same
// budget as a query normalised here, else Query normalised.
func (r *Retriever) query(req Request) (Query, error) {
	if req.Normalized == nil {
		return Normalize(req.Query, r.cfg.MaxQueryInput)
	}
	q := *req.Normalized
	if q.Text == "" {
		return Query{}, ErrEmptyQuery
	}
	if n := utf8.RuneCountInString(q.Text); n > r.cfg.MaxQueryInput {
		return Query{}, &QueryTooLongError{Length: n, Limit: r.cfg.MaxQueryInput}
	}
	return q, nil
}

// embedder returns the query embedder of generation g: the one given to New when it matches,
// else one built by cfg.Embedders (once per generation).
func (r *Retriever) embedder(ctx context.Context, g index.Generation) (Embedder, error) {
	if r.emb != nil && r.emb.Kind() == g.Embedder && r.emb.Model() == g.Model && r.emb.Dimension() == g.Dimension {
		return r.emb, nil
	}
	if r.cfg.Embedders == nil {
		if r.emb == nil {
			return nil, errors.New("retrieve: dense retrieval needs an embedder")
		}
		return nil, fmt.Errorf("retrieve: the embedder %s:%s (%d dimensions) does not match generation %d (%s:%s, %d dimensions)",
			r.emb.Kind(), r.emb.Model(), r.emb.Dimension(), g.ID, g.Embedder, g.Model, g.Dimension)
	}
	r.cache.mu.Lock()
	e, ok := r.cache.embs[g.ID]
	r.cache.mu.Unlock()
	if ok {
		return e, nil
	}
	e, err := r.cfg.Embedders(ctx, g)
	if err != nil {
		return nil, fmt.Errorf("retrieve: the embedder of generation %d (%s:%s): %w", g.ID, g.Embedder, g.Model, err)
	}
	if e.Kind() != g.Embedder || e.Model() != g.Model || e.Dimension() != g.Dimension {
		return nil, fmt.Errorf("retrieve: the embedder built for generation %d is %s:%s with %d dimensions, not %s:%s with %d",
			g.ID, e.Kind(), e.Model(), e.Dimension(), g.Embedder, g.Model, g.Dimension)
	}
	r.cache.mu.Lock()
	if r.cache.embs == nil {
		r.cache.embs = map[int]Embedder{}
	}
	r.cache.embs[g.ID] = e
	r.cache.mu.Unlock()
	return e, nil
}

// generation returns the primary's active index generation, cached for GenerationTTL.
func (r *Retriever) generation(ctx context.Context) (index.Generation, error) {
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.genAt) < r.cfg.GenerationTTL && (c.gen.ID != 0 || c.genErr != nil) {
		return c.gen, c.genErr
	}
	g, err := index.ActiveGeneration(ctx, r.primary)
	if errors.Is(err, index.ErrNotFound) {
		err = ErrNoIndex
	}
	if err != nil && !errors.Is(err, ErrNoIndex) {
		return index.Generation{}, err // a failed lookup is not cached
	}
	c.gen, c.genErr, c.genAt = g, err, time.Now()
	return g, err
}

// ErrNoIndex is returned when no index generation is active: nothing has been ingested.
var ErrNoIndex = errors.New("no active index generation: ingest documents first (`ingest run`)")

// ranks turns scored chunks, best first, into hits.
func ranks(scored []index.Scored) []Hit {
	hits := make([]Hit, len(scored))
	for i, s := range scored {
		hits[i] = Hit{ChunkID: s.ChunkID, DocumentID: s.DocumentID, Score: s.Score}
	}
	return hits
}

// dense runs the dense leg with the plan the caller's visible share calls for.
func (r *Retriever) dense(ctx context.Context, gen index.Generation, vec []float32, req Request) ([]index.Scored, string, error) {
	q := index.VectorQuery{Generation: gen, Vector: vec, Principals: req.Principals, Sources: req.Sources,
		Limit: r.cfg.Depth, MaxScanTuples: r.cfg.MaxScanTuples}
	if gen.IndexBuiltAt == nil {
		// No HNSW index (a corpus below index.SmallCorpusChunks): every caller scans exactly,
		// so the visible-chunk estimate, a round trip that only chooses the plan, is not
		// needed. The scan reads the caller's visible vectors through the tag index, and
		// finds nothing when nothing is visible.
		q.Plan = index.ExactScan
		out, err := index.Nearest(ctx, r.db, q)
		if err == nil && len(out) == 0 {
			return nil, "none", nil
		}
		return out, "exact", err
	}
	view, err := index.ViewCaller(ctx, r.db, gen, req.Principals)
	if err != nil {
		return nil, "", err
	}
	visible, total := view.Visible(), view.Total
	if visible == 0 {
		return nil, "none", nil
	}
	if visible <= int64(r.cfg.ExactScanBelow) {
		q.Plan = index.ExactScan
		out, err := index.Nearest(ctx, r.db, q)
		return out, "exact", err
	}
	if graphs, rest, ok := r.tagPlan(view); ok {
		return r.denseByTag(ctx, q, graphs, rest, visible)
	}
	q.Plan = index.HNSWScan
	q.EfSearch = r.cfg.efSearch(visible, total)
	q.Candidates = q.EfSearch
	out, err := index.Nearest(ctx, r.db, q)
	if err != nil {
		return nil, "", err
	}
	// The iterative scan stops at its budget; when it found fewer rows than asked although
	// enough chunks may be visible, an exact scan settles it: never fewer than k rows.
	if len(out) < r.cfg.Depth && visible > int64(len(out)) {
		q.Plan = index.ExactScan
		out, err = index.Nearest(ctx, r.db, q)
		return out, "hnsw+exact", err
	}
	return out, "hnsw", nil
}

// tagPlan decides whether a caller's dense leg walks the graphs of its large tags: when it
// has at least one tag with a graph of its own, at most MaxTagScans of them, and its other
// tags open at most ExactScanBelow chunks (scanned exactly). It returns the tags to walk and
// the others.
func (r *Retriever) tagPlan(view index.CallerView) (graphs, rest []string, ok bool) {
	var restChunks int64
	for _, t := range view.Tags {
		if t.Indexed {
			graphs = append(graphs, t.Tag)
		} else {
			rest = append(rest, t.Tag)
			restChunks += t.Chunks
		}
	}
	ok = len(graphs) > 0 && len(graphs) <= r.cfg.MaxTagScans && restChunks <= int64(r.cfg.ExactScanBelow)
	return graphs, rest, ok
}

// denseByTag is the dense leg of a caller with large tags (tagPlan): a walk of each large
// tag's own graph and an exact scan of the chunks the caller's other tags open, run
// concurrently, merged by distance. A chunk is in the caller's results only if the caller
// can see it: every statement filters by the caller's tags as well.
func (r *Retriever) denseByTag(ctx context.Context, q index.VectorQuery, graphs, rest []string, visible int64) ([]index.Scored, string, error) {
	parts := make([][]index.Scored, len(graphs)+1)
	errs := make([]error, len(graphs)+1)
	var wg sync.WaitGroup
	for i, tag := range graphs {
		wg.Go(func() {
			tq := q
			tq.Plan, tq.Tag = index.HNSWScan, tag
			// Every candidate of the tag's graph is the caller's: the walk's first rows come
			// from the whole list of TagEfSearch, and asking for more than Limit would only
			// make it walk on.
			tq.EfSearch, tq.Candidates = r.cfg.TagEfSearch, q.Limit
			parts[i], errs[i] = index.Nearest(ctx, r.db, tq)
		})
	}
	if len(rest) > 0 {
		wg.Go(func() {
			eq := q
			eq.Plan, eq.Principals = index.ExactScan, rest
			parts[len(graphs)], errs[len(graphs)] = index.Nearest(ctx, r.db, eq)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	out := mergeNearest(parts, q.Limit)
	// As for the shared graph: a walk that stopped at its budget with fewer rows than asked
	// although more chunks may be visible is settled by an exact scan.
	if len(out) < q.Limit && visible > int64(len(out)) {
		q.Plan = index.ExactScan
		out, err := index.Nearest(ctx, r.db, q)
		return out, "tag-hnsw+exact", err
	}
	return out, "tag-hnsw", nil
}

// mergeNearest merges lists of nearest chunks (each nearest first) into the nearest limit,
// each chunk once.
func mergeNearest(parts [][]index.Scored, limit int) []index.Scored {
	var all []index.Scored
	seen := map[int64]bool{}
	for _, p := range parts {
		for _, s := range p {
			if !seen[s.ChunkID] {
				seen[s.ChunkID] = true
				all = append(all, s)
			}
		}
	}
	slices.SortFunc(all, func(a, b index.Scored) int {
		return cmp.Or(cmp.Compare(a.Score, b.Score), cmp.Compare(a.ChunkID, b.ChunkID))
	})
	return all[:min(len(all), limit)]
}

// efSearch is the HNSW candidate list for a caller who sees visible of total chunks:
// EfSearch divided by the visible share, at least Depth and at most pgvector's 1,000. The
// iterative scan filters the candidates by the caller's tags, so of a list of ef only about
// ef·share are visible; dividing by the share keeps the visible candidates, and with them the
// recall, about what an unrestricted caller gets from EfSearch (measured at 100k chunks on
// the m 24 / ef_construction 128 graph: 0.84 of the exact top 10 for an unrestricted caller
// at ef 100, and for a caller who sees half the chunks 0.90 at ef 100 and 0.96 at ef 200;
// docs/benchmarks.md). The scan also takes ef rows (VectorQuery.Candidates) before the
// nearest Depth are kept, so that it walks the wider list instead of stopping at Depth.
func (c *Config) efSearch(visible, total int64) int {
	share := 1.0
	if total > 0 && visible < total {
		share = float64(max(visible, 1)) / float64(total)
	}
	return int(min(1000, max(float64(c.Depth), math.Ceil(float64(c.EfSearch)/share))))
}

// Version identifies what retrieval can find: the active index generation and the corpus
// version, which the database bumps on every change to chunks (their tags included). Two
// equal requests on equal versions find the same evidence: what an answer cache is keyed by.
type Version struct {
	Generation int
	Corpus     int64
	// Database is where the version was read: Primary, or a read replica's name. It is not
	// part of what an answer cache keys by: equal versions of two databases are equal data.
	Database string
}

// Version returns the current Version: the active generation (cached for GenerationTTL)
// or ErrNoIndex, and the corpus version, read afresh.
func (r *Retriever) Version(ctx context.Context) (Version, error) {
	gen, err := r.ActiveGeneration(ctx)
	if err != nil {
		return Version{}, err
	}
	v, err := index.CorpusVersion(ctx, r.primary)
	if err != nil {
		return Version{}, err
	}
	return Version{Generation: gen, Corpus: v, Database: Primary}, nil
}

// ActiveGeneration returns the id of the index generation queries use now (cached like the
// generation itself), or ErrNoIndex.
func (r *Retriever) ActiveGeneration(ctx context.Context) (int, error) {
	g, err := r.generation(ctx)
	if err != nil {
		return 0, err
	}
	return g.ID, nil
}

// Command eval measures retrieval quality on public benchmarks, through the real ingestion
// and retrieval code.
//
// Usage:
//
//	eval beir (--dataset DIR [--format beir|clapnq|mtrag] [--split test] | --pairs FILE --corpus PATH | --faq FILE --corpus DIR) [--folds N --fold K,...] [--mode lexical|dense|hybrid] [--rerank none|builtin|tei|cohere] [--rankings FILE] [--json]
//	eval fusion --rankings FILE,... [--folds 5 --tune 0,1,2] [--tune-sets NAME,...] [--subsets] [--random-dense] [--json]
//	eval qa --dataset DIR [--k 5] [--json]
//	eval answers (--dataset DIR | --pairs FILE --corpus PATH | --faq FILE --corpus DIR) [--limit N] [--cases FILE] [--json]
//	eval beir|qa|answers ... --folds N [--fold K,...]
//	eval beir|qa ... --groups G,... [--min-idf-chunks N,...] [--group-salt S]
//
// With --groups, each query is also asked by a caller who sees only 1/G of the corpus (the
// group of a document the query should find), with each BM25 IDF floor of --min-idf-chunks
// (slices.go).
//
// Each dataset is ingested into a database of its own on the server of DOCENT_DATABASE_URL
// (created if needed, named after the corpus and the ingestion settings, and reused while
// they do not change: a re-run only hashes the corpus). Exit status: 0 success, 1 failure,
// 2 usage error, 3 (eval beir, eval qa) the report is complete but some queries failed.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	neturl "net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
)

const (
	exitOK    = cmdconfig.ExitOK
	exitFatal = cmdconfig.ExitFatal
	exitUsage = cmdconfig.ExitUsage
	// exitPartial: the report is complete, but some queries failed (counted as finding
	// nothing, and listed in the report).
	exitPartial = 3
)

func main() {
	extract.RunChildIfRequested()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr, terminal: config.IsTerminal(os.Stderr)})
	stop()
	os.Exit(code)
}

// env is the process environment, injected so tests can drive run.
type env struct {
	getenv   func(string) string
	stdout   io.Writer
	stderr   io.Writer
	terminal bool
}

var program = cmdconfig.Program[env]{
	Name: "eval",
	Commands: []cmdconfig.Command[env]{
		{Name: "beir", Summary: "retrieval quality on a BEIR dataset (nDCG@10, recall, MRR, latency)", Run: runBEIR},
		{Name: "fusion", Summary: "fusion settings compared offline on the legs' rankings that beir --rankings wrote", Run: runFusion},
		{Name: "qa", Summary: "gold-passage recall and answerability separation on a QA dataset (ClapNQ)", Run: runQA},
		{Name: "answers", Summary: "answers end to end through the answer path: overlap with gold answers, citations, support, refusals", Run: runAnswers},
	},
}

func run(ctx context.Context, args []string, e env) int {
	return program.Run(ctx, args, e, e.stdout, e.stderr)
}

// parse parses a subcommand's flags (see cmdconfig.Parse); no arguments are left over.
func parse(fs *flag.FlagSet, args []string, e env) int {
	return cmdconfig.Parse(fs, args, false, e.stdout, e.stderr)
}

// newFlagSet returns a subcommand's flag set with its usage text.
func newFlagSet(name, usageArgs, synopsis string) *flag.FlagSet {
	return cmdconfig.NewFlagSet("eval "+name, fmt.Sprintf("usage: eval %s %s\n\n%s", name, usageArgs, synopsis))
}

// retrievalFlags are the retrieval settings both commands expose for experiments.
type retrievalFlags struct {
	mode, rerankKind, fusion              string
	k1, b, lexicalWeight, denseWeight, rf float64
	rrfK, agreementFull                   float64
	budget, agreementDepth                int
	builtinWeights                        string
}

func (f *retrievalFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.mode, "mode", "hybrid", "lexical, dense or hybrid")
	f.registerTuning(fs)
}

// registerTuning registers the flags of every retrieval setting but the mode (the answer
// path always retrieves with both legs).
func (f *retrievalFlags) registerTuning(fs *flag.FlagSet) {
	fs.StringVar(&f.rerankKind, "rerank", "", "none, builtin, tei or cohere (default: env DOCENT_RERANKER)")
	fs.StringVar(&f.fusion, "fusion", "", "rrf or convex (default: the retriever's)")
	fs.Float64Var(&f.k1, "k1", 0, "BM25 k1 (default: the retriever's)")
	fs.Float64Var(&f.b, "b", 0, "BM25 b (default: the retriever's)")
	fs.Float64Var(&f.lexicalWeight, "lexical-weight", 0, "fusion weight of the lexical leg (default: the retriever's)")
	fs.Float64Var(&f.denseWeight, "dense-weight", 0, "fusion weight of the dense leg (default: the retriever's)")
	fs.Float64Var(&f.rrfK, "rrf-k", 0, "RRF constant k (default: the retriever's)")
	fs.IntVar(&f.agreementDepth, "agreement-depth", 0, "top k of each leg whose overlap scales the dense weight; negative: fixed weights (default: the retriever's)")
	fs.Float64Var(&f.agreementFull, "agreement-full", 0, "overlap share at which the dense leg gets its full weight (default: the retriever's)")
	fs.Float64Var(&f.rf, "rerank-fused-weight", -1, "weight of the fused order blended into an HTTP reranker's order (default 0)")
	fs.IntVar(&f.budget, "lexical-budget", 0, "candidate budget of the lexical leg's first pass (default: the retriever's)")
	fs.StringVar(&f.builtinWeights, "builtin-weights", "", "weights of the built-in reranker: coverage,pairs,proximity,title,fused (the fused order blended back)")
}

func (f *retrievalFlags) config(base retrieve.Config) retrieve.Config {
	c := base
	if f.fusion != "" {
		c.Fusion = f.fusion
	}
	if f.k1 > 0 {
		c.K1 = f.k1
	}
	if f.b > 0 {
		c.B = f.b
	}
	if f.lexicalWeight > 0 {
		c.LexicalWeight = f.lexicalWeight
	}
	if f.denseWeight > 0 {
		c.DenseWeight = f.denseWeight
	}
	if f.rrfK > 0 {
		c.RRFK = f.rrfK
	}
	if f.agreementDepth != 0 {
		c.AgreementDepth = f.agreementDepth
	}
	if f.agreementFull > 0 {
		c.AgreementFull = f.agreementFull
	}
	if f.rf >= 0 {
		c.RerankFusedWeight = f.rf
	}
	if f.budget > 0 {
		c.LexicalBudget = f.budget
	}
	return c
}

// reranker builds the reranker the flags or DOCENT_RERANKER name, as the server would.
func reranker(f retrievalFlags, getenv func(string) string) (retrieve.Reranker, string, error) {
	setting, kind := "--rerank", f.rerankKind
	if kind == "" {
		setting, kind = config.Reranker, config.Lookup(getenv, config.Reranker)
	}
	rr, name, err := cmdconfig.Reranker(setting, kind, getenv)
	if err != nil {
		return nil, "", err
	}
	if b, ok := rr.(*retrieve.Builtin); ok && f.builtinWeights != "" {
		if _, err := fmt.Sscanf(f.builtinWeights, "%g,%g,%g,%g,%g", &b.Coverage, &b.Pairs, &b.Proximity, &b.Title, &b.Fused); err != nil {
			return nil, "", fmt.Errorf("--builtin-weights %q: want five numbers: coverage,pairs,proximity,title,fused", f.builtinWeights)
		}
	}
	return rr, name, nil
}

// dataset is an ingested evaluation corpus.
type dataset struct {
	pool *pgxpool.Pool
	uris map[int64]string // document id -> URI
	// tagChunks is the number of chunks carrying each tag (sliced evaluations only).
	tagChunks map[string]int64
}

// prepare ingests the corpus (a JSON Lines file or a folder) into the evaluation database for it, creating and
// migrating the database when needed, and returns a pool on it.
func prepare(ctx context.Context, corpus string, emb retrieve.Embedder, e env, logger *slog.Logger) (*dataset, error) {
	sum, err := corpusHash(corpus)
	if err != nil {
		return nil, err
	}
	target, maxTokens, err := config.ChunkConfig(e.getenv)
	if err != nil {
		return nil, err
	}
	schema, err := index.SchemaHash()
	if err != nil {
		return nil, err
	}
	settings, _ := json.Marshal(map[string]any{"corpus": sum, "schema": schema, "embedder": emb.Kind() + ":" + emb.Model(), "dimension": emb.Dimension(),
		"extract": extract.Version, "chunk": chunk.Version, "ts": config.Lookup(e.getenv, config.TextSearch),
		"target": target, "max": maxTokens})
	h := sha256.Sum256(settings)
	name := "docent_eval_" + hex.EncodeToString(h[:])[:16]
	url, err := ensureDatabase(ctx, config.DatabaseURLFrom(e.getenv), name)
	if err != nil {
		return nil, err
	}
	if _, err := index.Migrate(ctx, url); err != nil {
		return nil, err
	}
	pool, err := index.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	in, err := ingest.New(ingest.Config{Source: "eval", Roots: []string{corpus}, ACL: []string{"public"}, Prune: true,
		TextSearchConfig: config.Lookup(e.getenv, config.TextSearch),
		Chunking:         chunk.Config{TargetTokens: target, MaxTokens: maxTokens}}, pool, emb, logger)
	if err != nil {
		pool.Close()
		return nil, err
	}
	fmt.Fprintf(e.stderr, "eval: ingesting %s into database %s ...\n", corpus, name)
	s, err := in.Run(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("ingest %s: %w", corpus, err)
	}
	if s.Documents.Failed > 0 {
		fmt.Fprintf(e.stderr, "eval: warning: %d documents failed to ingest (first: %v)\n", s.Documents.Failed, s.Failures[0])
	}
	fmt.Fprintf(e.stderr, "eval: corpus ready: %d added, %d unchanged, %d chunks written\n", s.Documents.Added, s.Documents.Unchanged, s.Chunks.Written)
	rows, err := pool.Query(ctx, `SELECT id, uri FROM documents`)
	if err != nil {
		pool.Close()
		return nil, err
	}
	uris := map[int64]string{}
	for rows.Next() {
		var id int64
		var uri string
		if err := rows.Scan(&id, &uri); err != nil {
			pool.Close()
			return nil, err
		}
		uris[id] = uri
	}
	if err := rows.Err(); err != nil {
		pool.Close()
		return nil, err
	}
	return &dataset{pool: pool, uris: uris}, nil
}

// ensureDatabase creates the named database on the server of serverURL unless it exists and
// returns its URL.
func ensureDatabase(ctx context.Context, serverURL, name string) (string, error) {
	cfg, err := pgx.ParseConfig(serverURL)
	if err != nil {
		return "", fmt.Errorf("parse %s: invalid URL", config.DatabaseURL)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("connect to %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("create evaluation database %s (the role needs CREATEDB): %w", name, err)
		}
	}
	u, err := neturl.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("parse %s: invalid URL", config.DatabaseURL)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// corpusHash is the SHA-256 of a corpus file, or of a folder's files: each one's path
// relative to the folder and contents, in the walk's (lexical) order.
func corpusHash(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !info.IsDir() {
		return fileHash(path)
	}
	h := sha256.New()
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(path, p)
		if err != nil {
			return err
		}
		sum, err := fileHash(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%s\n", filepath.ToSlash(rel), sum)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Package config is the single list of the DOCENT_* environment variables that Docent's
// binaries, tests and scripts read, with their defaults and meanings.
//
// The README's configuration table and docker-compose.yml are tested against this list, so a
// variable is documented exactly where it is defined. Only main packages (and test helpers)
// read the environment; they pass a getenv function so that nothing here touches os state.
package config

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Var is one environment variable.
type Var struct {
	Name    string
	Default string
	Usage   string
	UsedBy  string // which parts read it: ingest, server, tests, scripts
}

// DefaultDatabaseURL is the private cluster that `make db` (scripts/db.sh) runs.
const DefaultDatabaseURL = "postgres://docent:docent@127.0.0.1:54329/docent?sslmode=disable"

// Variable names.
const (
	DatabaseURL      = "DOCENT_DATABASE_URL"
	TestDatabaseURL  = "DOCENT_TEST_DATABASE_URL"
	TestPgBouncerURL = "DOCENT_TEST_PGBOUNCER_URL"
	TestReplicaURL   = "DOCENT_TEST_REPLICA_URL"
	ReadURLs         = "DOCENT_DATABASE_READ_URLS"
	ReadMaxLag       = "DOCENT_READ_MAX_LAG"
	DBPort           = "DOCENT_DB_PORT"
	Addr             = "DOCENT_ADDR"
	LogLevel         = "DOCENT_LOG_LEVEL"
	LogFormat        = "DOCENT_LOG_FORMAT"
	Embedder         = "DOCENT_EMBEDDER"
	EmbedDimension   = "DOCENT_EMBED_DIMENSION"
	OpenAIBaseURL    = "DOCENT_OPENAI_BASE_URL"
	OpenAIAPIKey     = "DOCENT_OPENAI_API_KEY"
	OllamaURL        = "DOCENT_OLLAMA_URL"
	TextSearch       = "DOCENT_TEXT_SEARCH_CONFIG"
	ExtractTimeout   = "DOCENT_EXTRACT_TIMEOUT"
	ExtractMemory    = "DOCENT_EXTRACT_MEMORY_LIMIT"
	PDFTimeout       = "DOCENT_PDF_TIMEOUT"
	PDFMemoryLimit   = "DOCENT_PDF_MEMORY_LIMIT"
	OCR              = "DOCENT_OCR"
	OCRLanguages     = "DOCENT_OCR_LANGUAGES"
	OCRMaxPages      = "DOCENT_OCR_MAX_PAGES"
	OCRPageTimeout   = "DOCENT_OCR_PAGE_TIMEOUT"
	EvalData         = "DOCENT_EVAL_DATA"
	ReindexEval      = "DOCENT_REINDEX_EVAL"
	ChunkTarget      = "DOCENT_CHUNK_TARGET_TOKENS"
	ChunkMax         = "DOCENT_CHUNK_MAX_TOKENS"
	TagGraphs        = "DOCENT_TAG_GRAPHS"
	Reranker         = "DOCENT_RERANKER"
	RerankerURL      = "DOCENT_RERANKER_URL"
	RerankerModel    = "DOCENT_RERANKER_MODEL"
	RerankerAPIKey   = "DOCENT_RERANKER_API_KEY"
	Generator        = "DOCENT_GENERATOR"
	LLMTimeout       = "DOCENT_LLM_TIMEOUT"
	MinEvidence      = "DOCENT_MIN_EVIDENCE"
	Validation       = "DOCENT_VALIDATION"
	JWTSecret        = "DOCENT_JWT_SECRET"
	JWKSURL          = "DOCENT_JWKS_URL"
	JWTIssuer        = "DOCENT_JWT_ISSUER"
	JWTAudience      = "DOCENT_JWT_AUDIENCE"
	JWTGroupsClaim   = "DOCENT_JWT_GROUPS_CLAIM"
	JWTAdminGroup    = "DOCENT_JWT_ADMIN_GROUP"
	AllowAnonymous   = "DOCENT_ALLOW_ANONYMOUS"
	RateLimit        = "DOCENT_RATE_LIMIT"
	RateBurst        = "DOCENT_RATE_BURST"
	RateLimitScope   = "DOCENT_RATE_LIMIT_SCOPE"
	TrustedProxies   = "DOCENT_TRUSTED_PROXIES"
	CORSOrigins      = "DOCENT_CORS_ORIGINS"
	WidgetKeyRate    = "DOCENT_WIDGET_KEY_RATE"
	WidgetAddrRate   = "DOCENT_WIDGET_ADDRESS_RATE"
	SessionSecret    = "DOCENT_WIDGET_SESSION_SECRET"
	CacheSize        = "DOCENT_CACHE_SIZE"
	CacheTTL         = "DOCENT_CACHE_TTL"
	TraceRetention   = "DOCENT_TRACE_RETENTION"
	ConvRetention    = "DOCENT_CONVERSATION_RETENTION"
	MaxBodyBytes     = "DOCENT_MAX_BODY"
	JWTWidgetAud     = "DOCENT_JWT_WIDGET_AUDIENCE"
	Demo             = "DOCENT_DEMO"
	DemoIssuerKey    = "DOCENT_DEMO_ISSUER_KEY"
	DemoWidgetKey    = "DOCENT_DEMO_WIDGET_KEY"
)

// Vars returns every variable, in the order the README lists them.
func Vars() []Var {
	return []Var{
		{DatabaseURL, DefaultDatabaseURL,
			"PostgreSQL (with pgvector >= 0.8.0) to use. When unset, `make db` runs a private cluster and the binaries use it (on DOCENT_DB_PORT).",
			"ingest, server, tests, scripts"},
		{ReadURLs, "",
			"Streaming replicas (hot standbys) of DOCENT_DATABASE_URL that the server reads the index from: `postgres://` URLs separated by commas. Retrieval (answers, searches) goes to a replica while it is a standby of the primary's database, has the primary's active index generation and is at most DOCENT_READ_MAX_LAG behind; otherwise, and on any error, to the primary. Authentication, conversations, feedback, traces and every write stay on the primary. See docs/operations.md.",
			"server"},
		{ReadMaxLag, "2s",
			"How far behind the primary a read replica may be and still serve (measured from the primary's WAL position, checked by each request): the longest a change, a removed permission tag included, can stay unseen by a request served from a replica.",
			"server"},
		{TestDatabaseURL, "value of " + DatabaseURL,
			"Server on which the tests create (and drop) their own databases, cloned from a migrated template.",
			"tests"},
		{TestPgBouncerURL, "set by `make test`",
			"PgBouncer in transaction pooling mode in front of the tests' server (`scripts/db.sh pgbouncer`): the tests of running behind a pooler connect to their own database through it. Unset: they skip (fail under CI=true).",
			"tests"},
		{TestReplicaURL, "set by `make test`",
			"A hot standby of the tests' server that tests may pause, stop and start (`scripts/db.sh test-replica`: its own data directory, port and replication slot); the read replica tests connect to their own database on it. Unset: they skip (fail under CI=true).",
			"tests"},
		{DBPort, "54329",
			"Port of the private cluster that `make db` runs on 127.0.0.1 (change it to run two checkouts side by side); the binaries and tests connect to it when DOCENT_DATABASE_URL is unset.",
			"ingest, server, tests, scripts"},
		{Addr, "127.0.0.1:8080", "Address the HTTP server listens on.", "server"},
		{LogLevel, "info", "Log level: debug, info, warn or error.", "ingest, server"},
		{LogFormat, "auto", "Log format: json, text, or auto (text on a terminal, JSON otherwise, e.g. under cron).", "ingest, server"},
		{Embedder, "builtin",
			"Embedding model: `builtin` (no network; lexical and sub-word similarity, not meaning), `openai:<model>` (any OpenAI-compatible API) or `ollama:<model>`. The index remembers which one built it.",
			"ingest, server"},
		{EmbedDimension, "384 for builtin",
			"Vector dimension. For builtin, the size of its vectors; for a provider, the dimension the model must return (checked), or empty to take the model's.",
			"ingest, server"},
		{OpenAIBaseURL, "https://api.openai.com/v1", "Base URL of the OpenAI-compatible API (vLLM, llama.cpp server, LocalAI ...).", "ingest, server"},
		{OpenAIAPIKey, "", "API key for the OpenAI-compatible API; required for api.openai.com. Never logged.", "ingest, server"},
		{OllamaURL, "http://127.0.0.1:11434", "Base URL of the Ollama server.", "ingest, server"},
		{ChunkTarget, "350", "Chunk size to aim at, in tokens (approximately those of BPE tokenizers). Changing it changes the chunking: the index must be rebuilt.", "ingest, eval"},
		{ChunkMax, "512", "Largest chunk, in tokens. Keep it within the embedding model's input limit.", "ingest, eval"},
		{TextSearch, "english", "PostgreSQL text search configuration (stemming, stop words) for lexical retrieval, e.g. `simple` for no stemming.", "ingest, server"},
		{ExtractTimeout, "30s", "How long the extraction of one file (of any format) may take, wall clock, before the file is recorded as failed (`timeout`).", "ingest"},
		{ExtractMemory, "1GiB", "Memory the child process extracting one file may use before the file is recorded as failed (`memory`). At least 64MiB.", "ingest"},
		{PDFTimeout, "value of " + ExtractTimeout, "The time limit of PDF files, when it should differ from other files'.", "ingest"},
		{PDFMemoryLimit, "value of " + ExtractMemory, "The memory limit of PDF files, when it should differ from other files'.", "ingest"},
		{OCR, "pdf", "What is recognised with Tesseract (OCR): `pdf` the PDF pages without a usable text layer (scans); `all` also standalone PNG, JPEG and TIFF images and image attachments of e-mails and the pictures in Word, PowerPoint, Writer and Impress files; `off` nothing. Needs Debian's tesseract-ocr and poppler-utils (scripts/ocr.sh); without them such pages are reported as `ocr_unavailable`.", "ingest"},
		{OCRLanguages, "eng", "Tesseract's languages for OCR, joined by `+` (e.g. `eng+fra`); each must be installed (Debian: tesseract-ocr-<lang>).", "ingest"},
		{OCRMaxPages, "500", "How many pages one ingest run may recognise (OCR); the documents left over are stored with the pages they have and redone by the next run.", "ingest"},
		{OCRPageTimeout, "60s", "How long rendering and recognising one page may take before the page is left without text (`ocr_failed`).", "ingest"},
		{TagGraphs, "16", "How many large permission tags of an index generation get an HNSW graph of their own (tags carried by 20,000 chunks up to a quarter of the corpus, the largest first), which serves the callers who see such a group (docs/retrieval.md, \"Dense leg\"). `0`: none.", "ingest"},
		{ReindexEval, "", "Default evaluation gate of `ingest reindex` and `ingest activate`: a folder of your own queries and relevance judgments in the BEIR layout (`queries.jsonl`, `qrels/test.tsv`). Empty: no gate unless --eval is given.", "ingest"},
		{EvalData, "../shared/data", "Folder of the evaluation data (SciFact, PDFs, ClapNQ, go.dev docs) that tests and benchmarks read.", "tests"},
		{Reranker, "none",
			"Reranking of the fused results: `none`, `builtin` (no model: term coverage, word pairs, proximity, title matches), `tei` (a Text Embeddings Inference `/rerank` server) or `cohere` (a Cohere/Jina-style `/v1/rerank` API). On a reranker failure the fused order is used and the result says so. Off by default: the built-in one did not improve SciFact's test split (docs/retrieval.md).",
			"server, eval"},
		{RerankerURL, "", "Base URL of the `tei` or `cohere` reranker.", "server, eval"},
		{RerankerModel, "", "Model name sent to a `cohere`-style reranker.", "server, eval"},
		{RerankerAPIKey, "", "API key of the reranker, sent as a bearer token. Never logged.", "server, eval"},
		{Generator, "extractive",
			"What writes answers: `extractive` (no model: the evidence sentences that best answer the question, cited), `openai:<model>` (any OpenAI-compatible chat API, at DOCENT_OPENAI_BASE_URL with DOCENT_OPENAI_API_KEY) or `ollama:<model>` (at DOCENT_OLLAMA_URL). A model that fails falls back to extractive.",
			"server"},
		{LLMTimeout, "30s", "Deadline of one model call; after a timeout, 429 or 5xx the call is retried once, then the answer falls back to extractive.", "server"},
		{Validation, "drop",
			"What becomes of an answer's claim sentences that their citations do not support (a model's answer; model output is untrusted until validated): `drop` removes them before the answer is sent or streamed, and falls back to the extractive answer when no supported claim is left; `fallback` also falls back when fewer than half of the claims are supported; `mark` sends them marked `supported: false`. The response's `dropped_sentences` counts what was removed; the trace keeps it.",
			"server, eval"},
		{MinEvidence, "0.45", "Evidence strength (0-1) below which the server refuses with `no_evidence` instead of answering (docs/retrieval.md: chosen on tuning folds 0-2 of 5 of ClapNQ and MTRAG, by `eval qa --fit`, to refuse the most unanswerable questions while answering at least 85% of answerable ones in both; on the held-out folds it answers 92% / 96% of answerable and refuses 38% / 57% of unanswerable questions of ClapNQ / MTRAG).", "server"},
		{JWTSecret, "", "Secret for HS256 JWTs. Never logged.", "server"},
		{JWKSURL, "", "URL of a JWKS with the RS256/ES256 keys of JWTs (cached, refreshed).", "server"},
		{JWTIssuer, "", "Required `iss` of JWTs, when set.", "server"},
		{JWTAudience, "", "Required `aud` of JWTs, when set.", "server"},
		{JWTWidgetAud, "docent-widget", "A JWT whose `aud` contains this value is a widget JWT: bound like an end-user session (only the widget's routes, only from DOCENT_CORS_ORIGINS, at most 15 minutes to live, never admin). See docs/widget.md.", "server"},
		{JWTGroupsClaim, "groups", "JWT claim holding the caller's groups (each becomes `group:<name>`).", "server"},
		{JWTAdminGroup, "", "A JWT whose groups include this one is an admin (may read traces). Empty: only admin API keys are.", "server"},
		{AllowAnonymous, "false", "Serve callers without a token, who see only `public` documents.", "server"},
		{RateLimit, "10", "Requests per second per caller (API key, JWT subject or address); bursts up to DOCENT_RATE_BURST; 429 with Retry-After beyond.", "server"},
		{RateBurst, "20", "Burst of requests a caller may make at once.", "server"},
		{RateLimitScope, "database", "Where the rate limits (DOCENT_RATE_LIMIT and the widget limits) are kept: `database`, shared by every server instance on the database, so that a limit means the same with one instance or several (one statement per limited request on an unlogged table of the primary; per instance while the primary is unreachable); `instance`, in each server process, so that N instances allow N times the limit. See docs/operations.md, \"Several server instances\".", "server"},
		{TrustedProxies, "", "Comma-separated addresses or CIDRs of the reverse proxies in front of the server. The client address (for rate limits and logs) is then the rightmost address of X-Forwarded-For that is not one of them; empty: the TCP peer, and forwarding headers are ignored. X-Real-IP is never read.", "server"},
		{CORSOrigins, "", "Comma-separated origins allowed to call the API from a browser with secret keys or JWTs; empty allows none. Widget keys carry their own origins (`server keys create --widget`).", "server"},
		{WidgetKeyRate, "5", "Requests per second per widget key (or per session issuer, for its end-user sessions), from all browsers together; bursts up to 20 times this. 429 with Retry-After beyond.", "server"},
		{WidgetAddrRate, "0.5", "Requests per second per widget key and client address; bursts up to 10. Preflights are limited per address at this rate too.", "server"},
		{SessionSecret, "", "Secret (at least 32 bytes) that signs the widget's end-user sessions (`POST /v1/widget/sessions`). Empty: a random one generated and stored in the database on first start, shared by every server of the database. Never logged. See docs/widget.md for rotation.", "server"},
		{CacheSize, "1000", "Answers kept in the answer cache (per principal set, index generation and corpus version, so never shared across callers who see different documents); 0 disables it.", "server"},
		{CacheTTL, "10m", "How long a cached answer lives.", "server"},
		{TraceRetention, "720h", "How long answer traces are kept; older ones are deleted hourly (0 keeps them).", "server"},
		{ConvRetention, "720h", "How long a stored conversation is kept after its last turn; older ones are deleted hourly (0 keeps them).", "server"},
		{Demo, "false", "Serve the demo host site at /demo (`make run` turns it on): `true` only on a loopback DOCENT_ADDR, `any-address` on any (anyone who reaches it can sign in as a demo user). Never in production. See docs/widget.md.", "server, scripts"},
		{DemoIssuerKey, "", "The demo site's session issuer key (`dk_...`), with which its backend mints the demo users' sessions; created by `make run`. Never logged.", "server, scripts"},
		{DemoWidgetKey, "", "The demo site's publishable widget key (`dpk_...`) for the public visitor; created by `make run`.", "server, scripts"},
		{MaxBodyBytes, "64KiB", "Largest request body; larger requests get 413 (16 times as large on `POST /v1/chat/completions`, as chat front ends send whole conversations). Sizes here and in every size setting: bytes, or a number with k, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024), B optional: `65536`, `64KiB`, `1MB`, `1.5GiB`.", "server"},
	}
}

// Lookup returns the variable's value from getenv, or its default when unset or empty. It
// panics on a name that is not in Vars: that is a programming error, caught by any test.
func Lookup(getenv func(string) string, name string) string {
	for _, v := range Vars() {
		if v.Name == name {
			if s := getenv(name); s != "" {
				return s
			}
			return v.Default
		}
	}
	panic("config: unknown variable " + name)
}

// DatabaseURLFrom returns the database URL to use: DOCENT_DATABASE_URL, else the private
// cluster of `make db` on DOCENT_DB_PORT (which `make db` also reads, so that a checkout
// with its own port never talks to another checkout's database on the default one).
func DatabaseURLFrom(getenv func(string) string) string {
	if u := getenv(DatabaseURL); u != "" {
		return u
	}
	port := getenv(DBPort)
	if port == "" {
		return DefaultDatabaseURL
	}
	u, err := url.Parse(DefaultDatabaseURL)
	if err != nil {
		panic("config: DefaultDatabaseURL: " + err.Error())
	}
	u.Host = net.JoinHostPort(u.Hostname(), port)
	return u.String()
}

// CheckDatabasePort reports an error when DOCENT_DB_PORT is set, will be used (no
// DOCENT_DATABASE_URL) and is not a port number.
func CheckDatabasePort(getenv func(string) string) error {
	port := getenv(DBPort)
	if port == "" || getenv(DatabaseURL) != "" {
		return nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s: %q is not a port number (1-65535)", DBPort, port)
	}
	return nil
}

// ChunkConfig reads the chunk sizes from DOCENT_CHUNK_TARGET_TOKENS and
// DOCENT_CHUNK_MAX_TOKENS (the chunker validates them).
func ChunkConfig(getenv func(string) string) (target, maxTokens int, err error) {
	target, err = strconv.Atoi(Lookup(getenv, ChunkTarget))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %q is not a number", ChunkTarget, Lookup(getenv, ChunkTarget))
	}
	maxTokens, err = strconv.Atoi(Lookup(getenv, ChunkMax))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %q is not a number", ChunkMax, Lookup(getenv, ChunkMax))
	}
	return target, maxTokens, nil
}

// TagGraphsMax reads DOCENT_TAG_GRAPHS: how many large tags of a generation get a graph of
// their own; 0 for none.
func TagGraphsMax(getenv func(string) string) (int, error) {
	v := strings.TrimSpace(Lookup(getenv, TagGraphs))
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1000 {
		return 0, fmt.Errorf("%s: %q is not a number from 0 to 1000", TagGraphs, v)
	}
	return n, nil
}

// ExtractBudget is what the extraction of one file may cost (DOCENT_EXTRACT_TIMEOUT and
// DOCENT_EXTRACT_MEMORY_LIMIT), and of one PDF (DOCENT_PDF_TIMEOUT and
// DOCENT_PDF_MEMORY_LIMIT, which default to the former).
type ExtractBudget struct {
	Timeout, PDFTimeout         time.Duration
	MemoryLimit, PDFMemoryLimit int64 // bytes
}

// ReadExtractBudget reads the extraction budget from the environment.
func ReadExtractBudget(getenv func(string) string) (ExtractBudget, error) {
	var b ExtractBudget
	var err error
	duration := func(name, value string) time.Duration {
		d, perr := time.ParseDuration(strings.TrimSpace(value))
		if perr != nil || d <= 0 {
			err = cmp.Or(err, fmt.Errorf("%s: %q is not a positive duration such as 30s or 2m", name, value))
		}
		return d
	}
	size := func(name string) int64 {
		n, serr := Size(getenv, name)
		err = cmp.Or(err, serr)
		return n
	}
	b.Timeout = duration(ExtractTimeout, Lookup(getenv, ExtractTimeout))
	b.MemoryLimit = size(ExtractMemory)
	b.PDFTimeout, b.PDFMemoryLimit = b.Timeout, b.MemoryLimit
	if v := getenv(PDFTimeout); v != "" {
		b.PDFTimeout = duration(PDFTimeout, v)
	}
	if getenv(PDFMemoryLimit) != "" {
		b.PDFMemoryLimit = size(PDFMemoryLimit)
	}
	return b, err
}

// OCRSettings are the settings of OCR (DOCENT_OCR, DOCENT_OCR_LANGUAGES,
// DOCENT_OCR_MAX_PAGES, DOCENT_OCR_PAGE_TIMEOUT).
type OCRSettings struct {
	Mode        string // pdf, all or off
	Languages   string // Tesseract codes joined by "+"
	MaxPages    int    // per run, at least 1
	PageTimeout time.Duration
}

// ReadOCR reads the OCR settings from the environment. The languages are checked against
// what Tesseract has installed when a run starts (extract.NewRunner).
func ReadOCR(getenv func(string) string) (OCRSettings, error) {
	var s OCRSettings
	s.Mode = strings.ToLower(strings.TrimSpace(Lookup(getenv, OCR)))
	if s.Mode != "pdf" && s.Mode != "all" && s.Mode != "off" {
		return s, fmt.Errorf("%s: %q is not pdf, all or off", OCR, s.Mode)
	}
	s.Languages = strings.TrimSpace(Lookup(getenv, OCRLanguages))
	if !regexp.MustCompile(`^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$`).MatchString(s.Languages) {
		return s, fmt.Errorf("%s: %q is not Tesseract language codes joined by + (e.g. eng+fra)", OCRLanguages, s.Languages)
	}
	v := strings.TrimSpace(Lookup(getenv, OCRMaxPages))
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return s, fmt.Errorf("%s: %q is not a positive number of pages", OCRMaxPages, v)
	}
	s.MaxPages = n
	v = strings.TrimSpace(Lookup(getenv, OCRPageTimeout))
	if s.PageTimeout, err = time.ParseDuration(v); err != nil || s.PageTimeout <= 0 {
		return s, fmt.Errorf("%s: %q is not a positive duration such as 60s or 2m", OCRPageTimeout, v)
	}
	return s, nil
}

// SizeVars are the variables that hold a size in bytes. All of them are read with Size, so
// every one accepts the same spellings (ParseSize's).
func SizeVars() []string {
	return []string{ExtractMemory, PDFMemoryLimit, MaxBodyBytes}
}

// Size reads a size variable (its default when unset, which may be another size variable's
// value) with ParseSize; the error names the variable. It panics on a variable that is not in SizeVars: that is a programming error,
// caught by any test.
func Size(getenv func(string) string, name string) (int64, error) {
	if !slices.Contains(SizeVars(), name) {
		panic("config: " + name + " is not a size variable")
	}
	v := Lookup(getenv, name)
	if other, ok := strings.CutPrefix(v, "value of "); ok && getenv(name) == "" {
		return Size(getenv, other) // e.g. DOCENT_PDF_MEMORY_LIMIT defaults to DOCENT_EXTRACT_MEMORY_LIMIT
	}
	n, err := ParseSize(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

var sizePattern = regexp.MustCompile(`^\s*\+?(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?)[bB]?\s*$`)

// ParseSize parses a size in bytes, the one grammar of every size setting: a number
// (decimals allowed, a leading + too), optionally followed by a unit k, M, G or T (powers of
// 1000, any case) or Ki, Mi, Gi or Ti (powers of 1024), with or without a final B:
// "100MiB", "2GB", "512k", "64 KiB", "1.5GiB", "1048576".
func ParseSize(s string) (int64, error) {
	m := sizePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size such as 512KiB, 100MiB or 2GB", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	base := 1000.0
	if m[3] == "i" {
		base = 1024
	}
	exp := 0 // a bare number is bytes
	if m[2] != "" {
		exp = strings.Index("kmgt", strings.ToLower(m[2])) + 1
	}
	for range exp {
		n *= base
	}
	if n < 1 {
		return 0, fmt.Errorf("%q: must be at least 1 byte", s)
	}
	if n >= 1<<62 {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return int64(n), nil
}

// ParseLogLevel parses a DOCENT_LOG_LEVEL value.
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return 0, fmt.Errorf("%s: %q is not one of debug, info, warn, error", LogLevel, s)
	}
	return l, nil
}

// NewLogger returns the logger the binaries use: level and format from DOCENT_LOG_LEVEL and
// DOCENT_LOG_FORMAT; "auto" means text when w is a terminal and JSON otherwise (cron, systemd,
// containers), so that machine-read logs are structured.
func NewLogger(getenv func(string) string, w io.Writer, terminal bool) (*slog.Logger, error) {
	level, err := ParseLogLevel(Lookup(getenv, LogLevel))
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format := Lookup(getenv, LogFormat); format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "auto":
		if terminal {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("%s: %q is not one of json, text, auto", LogFormat, format)
	}
}

// IsTerminal reports whether f is a terminal (a character device), without a dependency.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

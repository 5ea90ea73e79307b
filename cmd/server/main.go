// Command server is Docent's HTTP server.
//
// Usage:
//
//	server [flags]                                          serve on DOCENT_ADDR (default 127.0.0.1:8080)
//	server keys create --name NAME --principal TAG... [--admin]
//	server keys list [--all] [--json]
//	server keys revoke NAME
//
// It refuses to start on a database whose schema does not match this binary (run
// `ingest migrate`) or without an active index generation (run `ingest run`).
// Configuration comes from DOCENT_* environment variables (see the README); flags override
// them. SIGINT or SIGTERM shut it down gracefully: in-flight answers finish first.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
	"github.com/docent-rag/docent/internal/acl"
	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/api"
	"github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/demo"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/metrics"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/telemetry"
	"github.com/docent-rag/docent/internal/trace"
)

// Exit codes.
const (
	exitOK    = cmdconfig.ExitOK
	exitFatal = cmdconfig.ExitFatal
	exitUsage = cmdconfig.ExitUsage
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is the process environment `server keys` runs in.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "keys" {
		return keysProgram.Run(ctx, args[1:], env{getenv: getenv, stdout: stdout, stderr: stderr}, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "feedback" {
		return feedbackProgram.Run(ctx, args[1:], env{getenv: getenv, stdout: stdout, stderr: stderr}, stdout, stderr)
	}
	fs := cmdconfig.NewFlagSet("server", `usage: server [flags]
       server keys create|list|revoke ...
       server feedback export ...

Serve Docent's HTTP API. Configuration: DOCENT_* environment variables (README).`)
	dbURL := cmdconfig.DatabaseURLFlag(fs)
	addr := fs.String("addr", config.Lookup(getenv, config.Addr), "address to listen on (env "+config.Addr+")")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long in-flight requests may take to finish on shutdown")
	if code := cmdconfig.Parse(fs, args, true, stdout, stderr); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "server: unexpected argument %q (did you mean `server keys` or `server feedback`?)\n", fs.Arg(0))
		return exitUsage
	}
	databaseURL := cmdconfig.DatabaseURL(*dbURL, getenv)
	logger, err := config.NewLogger(getenv, stderr, config.IsTerminal(os.Stderr))
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return exitUsage
	}
	// An outage fails every request alike: its warnings and errors are written once per
	// interval, with a count, rather than once per request.
	dedup := telemetry.NewDedup(logger.Handler(), telemetry.DedupConfig{Interval: 10 * time.Second})
	logger = slog.New(dedup)
	defer func() { _ = dedup.Flush(context.WithoutCancel(ctx)) }()
	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "server: configuration: %v\n", err)
		return exitUsage
	}
	if err := serve(ctx, cfg, databaseURL, *addr, *shutdownTimeout, getenv, logger); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return exitOK // stopped by a signal while starting
		}
		logger.Error("server stopped", "err", err)
		return exitFatal
	}
	return exitOK
}

// serverConfig is everything the server reads from the environment, validated at start.
type serverConfig struct {
	api       api.Config
	auth      auth.Config
	generator string
	llmTO     time.Duration
	policy    answer.Policy // of validation
	reranker  string
	retention time.Duration // of traces
	// convRetention is how long a conversation is kept after its last turn (0: forever).
	convRetention time.Duration
	demo          demoConfig
	// readURLs are the read replicas (DOCENT_DATABASE_READ_URLS), and replicas their settings.
	readURLs []string
	replicas index.ReplicaConfig
}

// demoConfig is DOCENT_DEMO and the demo site's keys.
type demoConfig struct {
	on         bool
	anyAddress bool // may listen on a non-loopback address
	issuerKey  string
	widgetKey  string
}

// loadDemo reads DOCENT_DEMO (false, true or any-address) and, when it is on, the demo
// site's keys, which must then be set.
func loadDemo(getenv func(string) string) (demoConfig, error) {
	var d demoConfig
	switch v := strings.ToLower(config.Lookup(getenv, config.Demo)); v {
	case "false", "0", "off":
		return d, nil
	case "true", "1", "on":
		d.on = true
	case "any-address":
		d.on, d.anyAddress = true, true
	default:
		return d, fmt.Errorf("%s: %q is not false, true or any-address", config.Demo, v)
	}
	d.issuerKey, d.widgetKey = getenv(config.DemoIssuerKey), getenv(config.DemoWidgetKey)
	if !strings.HasPrefix(d.issuerKey, auth.KeyPrefix) || !strings.HasPrefix(d.widgetKey, auth.WidgetKeyPrefix) {
		return d, fmt.Errorf("%s is on: set %s to a session issuer key (dk_...) and %s to a widget key (dpk_...), as scripts/run.sh does", config.Demo, config.DemoIssuerKey, config.DemoWidgetKey)
	}
	return d, nil
}

func loadConfig(getenv func(string) string) (serverConfig, error) {
	var c serverConfig
	var errs []error
	num := func(name string) float64 {
		v, err := strconv.ParseFloat(config.Lookup(getenv, name), 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a number", name, config.Lookup(getenv, name)))
		}
		return v
	}
	dur := func(name string) time.Duration {
		v, err := time.ParseDuration(config.Lookup(getenv, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a duration such as 30s or 10m", name, config.Lookup(getenv, name)))
		}
		return v
	}
	boolean := func(name string) bool {
		v, err := strconv.ParseBool(config.Lookup(getenv, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", name, config.Lookup(getenv, name)))
		}
		return v
	}
	c.api.MinEvidence = num(config.MinEvidence)
	c.api.CacheSize = int(num(config.CacheSize))
	c.api.CacheTTL = dur(config.CacheTTL)
	c.api.RateLimit = num(config.RateLimit)
	c.api.RateBurst = int(num(config.RateBurst))
	switch scope := config.Lookup(getenv, config.RateLimitScope); scope {
	case "database":
	case "instance":
		c.api.InstanceLimits = true
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not database or instance", config.RateLimitScope, scope))
	}
	c.api.WidgetKeyRate = num(config.WidgetKeyRate)
	c.api.WidgetKeyBurst = max(1, int(20*c.api.WidgetKeyRate))
	c.api.WidgetAddressRate = num(config.WidgetAddrRate)
	if c.api.WidgetKeyRate <= 0 || c.api.WidgetAddressRate <= 0 {
		errs = append(errs, fmt.Errorf("%s and %s must be positive: widget keys are always limited", config.WidgetKeyRate, config.WidgetAddrRate))
	}
	if s := config.Lookup(getenv, config.CORSOrigins); s != "" {
		for _, o := range strings.Split(s, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.api.CORSOrigins = append(c.api.CORSOrigins, o)
			}
		}
	}
	// Widget JWTs are accepted from the CORS origins that a widget key could list (https, or
	// http on a loopback host): an origin that could not is left out, which only refuses.
	var widgetOrigins []string
	for _, o := range c.api.CORSOrigins {
		if n, err := auth.KeyOrigin(o); err == nil && !slices.Contains(widgetOrigins, n) {
			widgetOrigins = append(widgetOrigins, n)
		}
	}
	demo, err := loadDemo(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	c.demo = demo
	body, err := config.Size(getenv, config.MaxBodyBytes)
	if err != nil {
		errs = append(errs, err)
	}
	c.api.MaxBodyBytes = body
	proxies, err := parseProxies(getenv(config.TrustedProxies))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", config.TrustedProxies, err))
	}
	c.api.TrustedProxies = proxies
	c.auth = auth.Config{
		JWTSecret: []byte(getenv(config.JWTSecret)), JWKSURL: getenv(config.JWKSURL),
		Issuer: getenv(config.JWTIssuer), Audience: getenv(config.JWTAudience),
		GroupsClaim: config.Lookup(getenv, config.JWTGroupsClaim), AdminGroup: getenv(config.JWTAdminGroup),
		AllowAnonymous: boolean(config.AllowAnonymous),
		SessionSecret:  []byte(getenv(config.SessionSecret)),
		WidgetAudience: config.Lookup(getenv, config.JWTWidgetAud),
		WidgetOrigins:  widgetOrigins,
	}
	if len(c.auth.SessionSecret) == 0 {
		c.auth.SessionSecret = nil // generated and stored in the database at start
	}
	if len(c.auth.JWTSecret) == 0 {
		c.auth.JWTSecret = nil
	}
	// Without an audience, a JWKS accepts tokens the identity provider issued for any of its
	// applications: refuse that configuration rather than warn about it.
	if c.auth.JWKSURL != "" && c.auth.Audience == "" {
		errs = append(errs, fmt.Errorf("%s is set but %s is not: tokens for other applications of the identity provider would be accepted", config.JWKSURL, config.JWTAudience))
	}
	// The admin group is matched byte for byte against callers' groups: one canonical,
	// lower-case spelling (acl.Validate), found now as a configuration error.
	badGroup := false
	if g := c.auth.AdminGroup; g != "" && !strings.HasPrefix(g, "group:") {
		if err := acl.Validate("group:" + g); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", config.JWTAdminGroup, err))
			badGroup = true
		}
	}
	// The rest of the authentication settings (a secret too short, ...), before connecting to
	// anything.
	if err := c.auth.Validate(); err != nil && !badGroup {
		errs = append(errs, err)
	}
	c.generator = config.Lookup(getenv, config.Generator)
	policy, err := cmdconfig.ValidationPolicy(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	c.policy = policy
	c.llmTO = dur(config.LLMTimeout)
	c.reranker = config.Lookup(getenv, config.Reranker)
	if c.readURLs, err = index.SplitReadURLs(getenv(config.ReadURLs)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", config.ReadURLs, err))
	}
	c.replicas.MaxLag = dur(config.ReadMaxLag)
	if c.replicas.MaxLag <= 0 {
		errs = append(errs, fmt.Errorf("%s must be positive", config.ReadMaxLag))
	} else if err := c.replicas.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", config.ReadMaxLag, err))
	}
	c.retention = dur(config.TraceRetention)
	c.convRetention = dur(config.ConvRetention)
	if c.retention < 0 || c.convRetention < 0 {
		errs = append(errs, fmt.Errorf("%s and %s must not be negative (0 keeps them forever)", config.TraceRetention, config.ConvRetention))
	}
	return c, errors.Join(errs...)
}

func serve(ctx context.Context, cfg serverConfig, databaseURL, addr string, shutdownTimeout time.Duration, getenv func(string) string, logger *slog.Logger) error {
	pool, err := index.Open(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := index.CheckSchema(ctx, pool); err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	gen, err := index.ActiveGeneration(ctx, pool)
	if errors.Is(err, index.ErrNotFound) {
		return errors.New("refusing to start: no active index generation: ingest documents first (`ingest run --source NAME PATH`)")
	}
	if err != nil {
		return err
	}
	openEmbedder := cmdconfig.GenerationEmbedders(getenv)
	emb, err := openEmbedder(ctx, gen)
	if err != nil {
		return fmt.Errorf("refusing to start: the query embedder of index generation %d: %w", gen.ID, err)
	}
	rr, rrName, err := cmdconfig.Reranker(config.Reranker, cfg.reranker, getenv)
	if err != nil {
		return err
	}
	// After a reindex the active generation may need another embedder: built on first use.
	embedders := func(ctx context.Context, g index.Generation) (retrieve.Embedder, error) {
		return openEmbedder(ctx, g)
	}
	m := metrics.New()
	replicas, stopReplicas, err := startReplicas(ctx, cfg, pool, m, logger)
	if err != nil {
		return err
	}
	defer stopReplicas()
	cfg.api.Replicas = replicas
	// A query of any length the body limit lets through is accepted (and shortened when long).
	maxInput := int(max(2000, min(cfg.api.MaxBodyBytes, 1<<30)))
	retriever, err := retrieve.New(retrieve.Config{Embedders: embedders, MaxQueryInput: maxInput, Replicas: replicas},
		pool, emb, rr, rrName, logger)
	if err != nil {
		return err
	}
	primary, err := cmdconfig.Generator(cfg.generator, cfg.llmTO, getenv)
	if err != nil {
		return err
	}
	answerer, err := answer.New(answer.Config{Policy: cfg.policy}, primary, logger)
	if err != nil {
		return err
	}
	if cfg.auth.SessionSecret == nil {
		// Shared by every server of the database; DOCENT_WIDGET_SESSION_SECRET overrides it.
		// Read again every 30 s, so that a rotation reaches every running server.
		readSecret := func(ctx context.Context) ([]byte, error) {
			return index.WidgetSessionSecret(ctx, pool, auth.GenerateSessionSecret)
		}
		if cfg.auth.SessionSecret, err = readSecret(ctx); err != nil {
			return err
		}
		cfg.auth.SessionSecretSource = readSecret
	}
	authn, err := auth.New(ctx, cfg.auth, auth.DBKeys{DB: pool}, logger)
	if err != nil {
		return err
	}
	defer func() { _ = authn.Close(context.WithoutCancel(ctx)) }()
	traces, err := trace.New(trace.Config{Retention: cfg.retention}, pool, m, logger)
	if err != nil {
		return err
	}
	shutdownOTel, tracer, err := telemetry.Setup(ctx, getenv, "docent-server", version)
	if err != nil {
		_ = traces.Close(context.WithoutCancel(ctx))
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = traces.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	defer ln.Close()
	if cfg.demo.on {
		site, err := demoSite(cfg.demo, ln.Addr(), logger)
		if err != nil {
			_ = traces.Close(context.WithoutCancel(ctx))
			return err
		}
		cfg.api.Demo = site
		logger.Warn("serving the demo site: anyone who reaches it can sign in as a demo user", "url", "http://"+ln.Addr().String()+"/demo")
	}
	e, err := api.New(cfg.api, pool, retriever, answerer, authn, traces, m, logger, telemetry.Middleware(tracer))
	if err != nil {
		_ = traces.Close(context.WithoutCancel(ctx))
		return err
	}

	// Conversations idle for longer than their retention are deleted at start and hourly.
	expireCtx, stopExpiring := context.WithCancel(ctx)
	expired := make(chan struct{})
	go func() {
		defer close(expired)
		ask.KeepExpiringConversations(expireCtx, pool, cfg.convRetention, time.Hour, logger)
	}()
	defer func() { stopExpiring(); <-expired }()

	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Answers stream for as long as the model generates; the answer path bounds its own
		// model calls, so this is only a backstop.
		WriteTimeout: 5 * time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("serving", "addr", ln.Addr().String(), "generation", gen.ID, "embedder", gen.Embedder+":"+gen.Model,
		"generator", answerer.Model(), "reranker", cmpOr(rrName, "none"), "anonymous", cfg.auth.AllowAnonymous)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests", "timeout", shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	err = errors.Join(err, traces.Close(shutdownCtx), shutdownOTel(shutdownCtx))
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// startReplicas opens the read replicas of DOCENT_DATABASE_READ_URLS, checks them once (so
// that each is in use, or logged as skipped with its reason, when serving starts) and keeps
// checking them in the background until stop. None configured: nil, and every read goes to
// the primary.
func startReplicas(ctx context.Context, cfg serverConfig, pool *pgxpool.Pool, m *metrics.Metrics, logger *slog.Logger) (*index.Replicas, func(), error) {
	if len(cfg.readURLs) == 0 {
		return nil, func() {}, nil
	}
	rc := cfg.replicas
	rc.Logger = logger
	rc.Observe = func(st index.ReplicaStatus) { m.ReplicaStatus(st.Name, st.InUse, st.Reason, st.Staleness) }
	replicas, err := index.NewReplicas(pool, cfg.readURLs, rc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", config.ReadURLs, err)
	}
	replicas.Check(ctx)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		replicas.Run(runCtx)
	}()
	return replicas, func() {
		cancel()
		<-done
		replicas.Close()
	}, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// parseProxies parses DOCENT_TRUSTED_PROXIES: comma-separated CIDRs or single addresses.
func parseProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not an address or a CIDR such as 10.0.0.0/8", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("%q would trust every client's X-Forwarded-For", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// demoSite is the demo host site (internal/demo) of a server listening on addr. Its backend
// asks this very server for sessions, over loopback, as a host site's backend would over
// the network. It refuses a non-loopback address unless DOCENT_DEMO=any-address: the demo
// lets anyone who reaches it sign in as Erin or Harper and read what they may.
func demoSite(d demoConfig, addr net.Addr, logger *slog.Logger) (*demo.Site, error) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("demo: listening on %s, not TCP", addr)
	}
	ip := tcp.AddrPort().Addr().Unmap()
	if !ip.IsLoopback() && !d.anyAddress {
		return nil, fmt.Errorf("refusing to serve the demo on %s, which is not a loopback address: anyone who reaches it could sign in as a demo user. Listen on 127.0.0.1 (%s), or set %s=any-address if the address is private to you (a container's port published on the host's loopback)", addr, config.Addr, config.Demo)
	}
	if ip.IsUnspecified() {
		ip = netip.MustParseAddr("127.0.0.1") // listening on every address: loopback is one
	}
	self := "http://" + netip.AddrPortFrom(ip, tcp.AddrPort().Port()).String()
	return demo.New(demo.Config{DocentURL: self, IssuerKey: d.issuerKey, WidgetKey: d.widgetKey}, logger)
}

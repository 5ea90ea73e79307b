// Command server is Docent's HTTP server.
//
// Usage:
//
//	server [flags]    serve on DOCENT_ADDR (default 127.0.0.1:8080)
//
// It refuses to start on a database whose schema does not match this binary (run
// `ingest migrate`). Configuration comes from DOCENT_* environment variables (see the
// README); flags override them. SIGINT or SIGTERM shuts it down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/docent-rag/docent/internal/api"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/index"
)

// Exit codes.
const (
	exitOK    = 0
	exitFatal = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}

// serverConfig is everything the server reads from the environment and flags.
type serverConfig struct {
	databaseURL     string
	addr            string
	shutdownTimeout time.Duration
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := serverConfig{}
	// No printed default: it would show the password in DOCENT_DATABASE_URL to --help readers.
	fs.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL URL (default: env "+config.DatabaseURL+", else the local cluster of `make db`)")
	fs.StringVar(&cfg.addr, "addr", config.Lookup(getenv, config.Addr), "address to listen on (env "+config.Addr+")")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may take to finish on shutdown")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: server [flags]\n\nServe Docent's HTTP API on %s.\n\nflags:\n", config.Lookup(getenv, config.Addr))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "server: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	if cfg.databaseURL == "" {
		cfg.databaseURL = config.DatabaseURLFrom(getenv)
	}
	logger, err := config.NewLogger(getenv, stderr, config.IsTerminal(os.Stderr))
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return exitUsage
	}
	if err := serve(ctx, cfg, logger); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Stopped by a signal while starting: a normal stop, not a failure.
			return exitOK
		}
		logger.Error("server stopped", "err", err)
		return exitFatal
	}
	return exitOK
}

func serve(ctx context.Context, cfg serverConfig, logger *slog.Logger) error {
	pool, err := index.Open(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := index.CheckSchema(ctx, pool); err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{
		Handler:           api.New(api.Config{}, pool, logger),
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
	logger.Info("serving", "addr", ln.Addr().String())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests", "timeout", cfg.shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

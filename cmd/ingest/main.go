// Command ingest is Docent's offline half: it turns folders of documents into
// permission-tagged, embedded chunks, and manages the database schema. It is meant to run
// from cron.
//
// Usage:
//
//	ingest run [flags] PATH...   ingest files and directories into the index
//	ingest status [flags]        recent runs, their counts and failures
//	ingest migrate [flags]       apply pending schema migrations
//	ingest reindex [flags]       build a new index generation and cut over to it
//	ingest generations [flags]   list the index generations
//	ingest activate [flags] ID   make a generation the active one
//	ingest gc [flags]            drop retired generations' vectors
//	ingest help [command]
//
// Configuration comes from DOCENT_* environment variables (see the README); flags override
// them. Exit status: 0 success, 1 fatal error, 2 usage error; `ingest run` adds 3 (some files
// failed), 75 (another run holds the source's lock) and 130 (interrupted); `ingest reindex`
// and `ingest activate` add 4 (the evaluation gate refused), 75 (another reindex or
// activation is running) and 130.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/index"
)

// Exit codes, documented in the README.
const (
	exitOK    = cmdconfig.ExitOK
	exitFatal = cmdconfig.ExitFatal
	exitUsage = cmdconfig.ExitUsage
)

func main() {
	// PDFs are parsed in a child process: this binary, re-executed. Nothing else may run
	// first; in the child this does not return.
	extract.RunChildIfRequested()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr,
		stderrTerminal: config.IsTerminal(os.Stderr)})
	stop()
	os.Exit(code)
}

// env is the process environment a command runs in, injected so tests can drive run.
type env struct {
	getenv         func(string) string
	stdout         io.Writer
	stderr         io.Writer
	stderrTerminal bool // stderr is a terminal: draw a progress bar
}

var program = cmdconfig.Program[env]{
	Name: "ingest",
	Commands: []cmdconfig.Command[env]{
		{Name: "run", Summary: "ingest files and directories into the index", Run: runRun},
		{Name: "status", Summary: "show recent runs, their counts and failures", Run: runStatus},
		{Name: "migrate", Summary: "apply pending database schema migrations", Run: runMigrate},
		{Name: "reindex", Summary: "build a new index generation (another embedder or dimension) and cut over", Run: runReindex},
		{Name: "generations", Summary: "list the index generations", Run: runGenerations},
		{Name: "activate", Summary: "make a generation the active one (rollback or roll forward)", Run: runActivate},
		{Name: "gc", Summary: "drop retired generations' vectors", Run: runGC},
	},
	Check: func(e env) error { return config.CheckDatabasePort(e.getenv) },
}

func run(ctx context.Context, args []string, e env) int {
	return program.Run(ctx, args, e, e.stdout, e.stderr)
}

// newFlagSet returns a subcommand's flag set with the flag every command has, --database-url.
func newFlagSet(name, usageArgs, synopsis string) (*flag.FlagSet, *string) {
	fs := cmdconfig.NewFlagSet("ingest "+name, fmt.Sprintf("usage: ingest %s %s\n\n%s", name, usageArgs, synopsis))
	return fs, cmdconfig.DatabaseURLFlag(fs)
}

// parse parses a subcommand's arguments (see cmdconfig.Parse).
func parse(fs *flag.FlagSet, args []string, allowArgs bool, e env) int {
	return cmdconfig.Parse(fs, args, allowArgs, e.stdout, e.stderr)
}

// databaseURL is the --database-url flag, else DOCENT_DATABASE_URL, else the local cluster.
func databaseURL(flagValue string, e env) string {
	return cmdconfig.DatabaseURL(flagValue, e.getenv)
}

func runMigrate(ctx context.Context, args []string, e env) int {
	fs, dbURL := newFlagSet("migrate", "[flags]", "Apply the pending schema migrations, each in its own transaction.\nSafe to run at any time and from several places at once.")
	if code := parse(fs, args, false, e); code >= 0 {
		return code
	}
	applied, err := index.Migrate(ctx, databaseURL(*dbURL, e))
	for _, m := range applied {
		fmt.Fprintf(e.stdout, "applied %s (%s)\n", m.File, m.Duration.Round(time.Millisecond))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest migrate: %s\n", printableLines(err.Error()))
		return exitFatal
	}
	latest, err := index.LatestVersion()
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest migrate: %s\n", printableLines(err.Error()))
		return exitFatal
	}
	if len(applied) == 0 {
		fmt.Fprintf(e.stdout, "schema is up to date (version %d)\n", latest)
	} else {
		fmt.Fprintf(e.stdout, "schema is at version %d\n", latest)
	}
	return exitOK
}

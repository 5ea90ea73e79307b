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
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/index"
)

// Exit codes, documented in the README.
const (
	exitOK    = 0
	exitFatal = 1
	exitUsage = 2
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

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, e env) int
}

func commands() []command {
	return []command{
		{"run", "ingest files and directories into the index", runRun},
		{"status", "show recent runs, their counts and failures", runStatus},
		{"migrate", "apply pending database schema migrations", runMigrate},
		{"reindex", "build a new index generation (another embedder or dimension) and cut over", runReindex},
		{"generations", "list the index generations", runGenerations},
		{"activate", "make a generation the active one (rollback or roll forward)", runActivate},
		{"gc", "drop retired generations' vectors", runGC},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: ingest <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun `ingest <command> --help` for a command's flags.\n")
}

func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		for _, c := range commands() {
			if len(rest) > 0 && c.name == rest[0] {
				return c.run(ctx, []string{"--help"}, e)
			}
		}
		usage(e.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			if err := config.CheckDatabasePort(e.getenv); err != nil && !slices.ContainsFunc(rest, isHelpFlag) {
				fmt.Fprintf(e.stderr, "ingest %s: %v\n", name, err)
				return exitUsage
			}
			return c.run(ctx, rest, e)
		}
	}
	fmt.Fprintf(e.stderr, "ingest: unknown command %q\n\n", name)
	usage(e.stderr)
	return exitUsage
}

// newFlagSet returns a flag set for a subcommand with the flags every command shares. The
// database URL flag has no printed default: it would show the password of the URL in
// DOCENT_DATABASE_URL to anyone reading --help; databaseURL resolves it after parsing.
func newFlagSet(name, usageArgs, synopsis string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("ingest "+name, flag.ContinueOnError)
	dbURL := fs.String("database-url", "", "PostgreSQL URL (default: env "+config.DatabaseURL+", else the local cluster of `make db`)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ingest %s %s\n\n%s\n\nflags:\n", name, usageArgs, synopsis)
		fs.PrintDefaults()
	}
	return fs, dbURL
}

func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// databaseURL is the --database-url flag, else DOCENT_DATABASE_URL, else the local cluster on
// DOCENT_DB_PORT.
func databaseURL(flagValue string, e env) string {
	if flagValue != "" {
		return flagValue
	}
	return config.DatabaseURLFrom(e.getenv)
}

// parse parses a subcommand's arguments. It returns the exit code to stop with, or -1 to go
// on: --help prints the usage on stdout and stops with 0, a bad flag prints it on stderr and
// stops with 2.
func parse(fs *flag.FlagSet, args []string, allowArgs bool, e env) int {
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		e.stdout.Write(out.Bytes())
		return exitOK
	case err != nil:
		e.stderr.Write(out.Bytes())
		return exitUsage
	case !allowArgs && fs.NArg() > 0:
		fmt.Fprintf(e.stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage
	}
	fs.SetOutput(e.stderr)
	return -1
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

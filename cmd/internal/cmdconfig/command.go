// Package cmdconfig is what Docent's commands (cmd/ingest, cmd/server, cmd/eval) share: the
// exit codes, subcommands and their flags, the database URL, and the dependencies built from
// the DOCENT_* environment (embedders, rerankers), so that each setting is read one way
// whichever command reads it. It holds no state; main packages pass it their getenv and
// their output streams.
package cmdconfig

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/docent-rag/docent/internal/config"
)

// Exit codes every command shares; a command documents its own beyond these.
const (
	ExitOK    = 0
	ExitFatal = 1
	ExitUsage = 2
)

// Command is one subcommand of a Program. E is the environment the program's commands run
// in (its own type, so that its tests can build one).
type Command[E any] struct {
	Name    string
	Summary string // one line, for the usage
	Run     func(ctx context.Context, args []string, e E) int
}

// Program is a command made of subcommands: `ingest run`, `eval beir`, `server keys create`.
type Program[E any] struct {
	Name     string // "ingest", "server keys"
	Commands []Command[E]
	// Usage, when set, is printed instead of the generated list of commands.
	Usage string
	// Check, when set, runs before any command except a request for its help; an error is a
	// usage error, printed as "<program> <command>: <error>".
	Check func(e E) error
}

// PrintUsage writes the program's usage: Usage, or its commands with their summaries.
func (p Program[E]) PrintUsage(w io.Writer) {
	if p.Usage != "" {
		fmt.Fprintln(w, p.Usage)
		return
	}
	fmt.Fprintf(w, "usage: %s <command> [flags]\n\ncommands:\n", p.Name)
	for _, c := range p.Commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nRun `%s <command> --help` for a command's flags.\n", p.Name)
}

// Run runs the subcommand args[0] with the rest of args and returns the exit code. No
// command, or an unknown one, prints the usage on stderr (exit 2); help, -h, -help or --help
// print it on stdout, and `help COMMAND` prints that command's help.
func (p Program[E]) Run(ctx context.Context, args []string, e E, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		p.PrintUsage(stderr)
		return ExitUsage
	}
	name, rest := args[0], args[1:]
	if name == "help" || IsHelpFlag(name) {
		for _, c := range p.Commands {
			if len(rest) > 0 && c.Name == rest[0] {
				return c.Run(ctx, []string{"--help"}, e)
			}
		}
		p.PrintUsage(stdout)
		return ExitOK
	}
	for _, c := range p.Commands {
		if c.Name != name {
			continue
		}
		if p.Check != nil && !slices.ContainsFunc(rest, IsHelpFlag) {
			if err := p.Check(e); err != nil {
				fmt.Fprintf(stderr, "%s %s: %v\n", p.Name, name, err)
				return ExitUsage
			}
		}
		return c.Run(ctx, rest, e)
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n", p.Name, name)
	p.PrintUsage(stderr)
	return ExitUsage
}

// IsHelpFlag reports whether arg asks for help.
func IsHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// NewFlagSet returns the flag set of a command (name as typed: "ingest run") whose --help
// prints header, then its flags.
func NewFlagSet(name, header string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nflags:\n", header)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args into fs and returns the exit code to stop with, or -1 to go on: --help
// prints the usage on stdout (0), a bad flag prints the error and the usage on stderr (2),
// and so does an argument left over unless allowArgs (2). Later errors of the flag set go to
// stderr.
func Parse(fs *flag.FlagSet, args []string, allowArgs bool, stdout, stderr io.Writer) int {
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = stdout.Write(out.Bytes())
		return ExitOK
	case err != nil:
		_, _ = stderr.Write(out.Bytes())
		return ExitUsage
	case !allowArgs && fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return ExitUsage
	}
	fs.SetOutput(stderr)
	return -1
}

// DatabaseURLFlag adds --database-url to fs. It has no printed default: that would show the
// password of the URL in DOCENT_DATABASE_URL to anyone reading --help; DatabaseURL resolves
// it after parsing.
func DatabaseURLFlag(fs *flag.FlagSet) *string {
	return fs.String("database-url", "", "PostgreSQL URL (default: env "+config.DatabaseURL+", else the local cluster of `make db`)")
}

// DatabaseURL is the --database-url flag's value, else DOCENT_DATABASE_URL, else the local
// cluster on DOCENT_DB_PORT.
func DatabaseURL(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	return config.DatabaseURLFrom(getenv)
}

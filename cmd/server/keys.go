package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docent-rag/docent/internal/acl"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/index"
)

type principalList []string

func (p *principalList) String() string     { return strings.Join(*p, ",") }
func (p *principalList) Set(v string) error { *p = append(*p, v); return nil }

const keysUsage = `usage: server keys create --name NAME --principal TAG... [--admin]
       server keys list [--all] [--json]
       server keys revoke NAME

Manage API keys. A key is printed once, at creation; only its SHA-256 is stored. A caller
with the key sees the documents tagged with one of its principals (public, group:<name>,
user:<id>), and public ones; --admin also allows reading traces.`

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, keysUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("server keys "+args[0], flag.ContinueOnError)
	dbURL := fs.String("database-url", "", "PostgreSQL URL (default: env "+config.DatabaseURL+")")
	var (
		name             string
		principals       principalList
		isAdmin, all, js bool
	)
	switch args[0] {
	case "create":
		fs.StringVar(&name, "name", "", "name of the key (unique among live keys)")
		fs.Var(&principals, "principal", "a tag the key's holder may see (repeatable): group:<name>, user:<id> or public")
		fs.BoolVar(&isAdmin, "admin", false, "the key may also read traces")
	case "list":
		fs.BoolVar(&all, "all", false, "include revoked keys")
		fs.BoolVar(&js, "json", false, "print JSON")
	case "revoke":
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, keysUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "server keys: unknown command %q\n\n%s\n", args[0], keysUsage)
		return exitUsage
	}
	if code := parseFlags(fs, args[1:], stdout, stderr, keysUsage); code >= 0 {
		return code
	}
	url := *dbURL
	if url == "" {
		url = config.DatabaseURLFrom(getenv)
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "server keys %s: %s\n", args[0], fmt.Sprintf(format, a...))
		return exitUsage
	}
	switch args[0] {
	case "create":
		if fs.NArg() > 0 || name == "" {
			return usage("--name is required, and nothing else")
		}
		if len(principals) == 0 {
			return usage("give at least one --principal (the documents the key may see)")
		}
		tags, err := acl.Parse(principals)
		if err != nil {
			return usage("%v", err)
		}
		// Matched byte for byte against callers' identities: one spelling per identity.
		for _, tag := range tags {
			if err := acl.Validate(tag); err != nil {
				return usage("%v", err)
			}
		}
		pool, err := index.Open(ctx, url)
		if err != nil {
			fmt.Fprintf(stderr, "server keys: %v\n", err)
			return exitFatal
		}
		defer pool.Close()
		key, prefix, hash, err := auth.GenerateKey()
		if err != nil {
			fmt.Fprintf(stderr, "server keys: %v\n", err)
			return exitFatal
		}
		role := index.RoleUser
		if isAdmin {
			role = index.RoleAdmin
		}
		k, err := index.CreateAPIKey(ctx, pool, name, prefix, hash, tags, role)
		if errors.Is(err, index.ErrExists) {
			return usage("a live key named %q exists: revoke it first or choose another name", name)
		}
		if err != nil {
			fmt.Fprintf(stderr, "server keys: %v\n", err)
			return exitFatal
		}
		fmt.Fprintln(stdout, key)
		fmt.Fprintf(stderr, "created key %q (%s, %s) for %s; the key above is shown only now\n", k.Name, k.Prefix, k.Role, strings.Join(k.Principals, ", "))
		return exitOK
	case "list":
		pool, err := index.Open(ctx, url)
		if err != nil {
			fmt.Fprintf(stderr, "server keys: %v\n", err)
			return exitFatal
		}
		defer pool.Close()
		keys, err := index.ListAPIKeys(ctx, pool, all)
		if err != nil {
			fmt.Fprintf(stderr, "server keys: %v\n", err)
			return exitFatal
		}
		if js {
			type keyJSON struct {
				Name       string     `json:"name"`
				Prefix     string     `json:"prefix"`
				Role       string     `json:"role"`
				Principals []string   `json:"principals"`
				CreatedAt  time.Time  `json:"created_at"`
				LastUsedAt *time.Time `json:"last_used_at"`
				RevokedAt  *time.Time `json:"revoked_at"`
			}
			out := make([]keyJSON, len(keys))
			for i, k := range keys {
				out[i] = keyJSON{k.Name, k.Prefix, k.Role, k.Principals, k.CreatedAt, k.LastUsedAt, k.RevokedAt}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return exitFatal
			}
			return exitOK
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPREFIX\tROLE\tPRINCIPALS\tCREATED\tLAST USED\tREVOKED")
		when := func(t *time.Time) string {
			if t == nil {
				return "-"
			}
			return t.Local().Format("2006-01-02 15:04")
		}
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.Prefix, k.Role, strings.Join(k.Principals, ","),
				k.CreatedAt.Local().Format("2006-01-02 15:04"), when(k.LastUsedAt), when(k.RevokedAt))
		}
		if err := tw.Flush(); err != nil {
			return exitFatal
		}
		return exitOK
	default: // revoke
		if fs.NArg() != 1 {
			return usage("give the name of the key to revoke")
		}
		pool, err := index.Open(ctx, url)
		if err != nil {
			fmt.Fprintf(stderr, "server keys: %v\n", err)
			return exitFatal
		}
		defer pool.Close()
		if _, err := index.RevokeAPIKey(ctx, pool, fs.Arg(0)); errors.Is(err, index.ErrNotFound) {
			return usage("no live key named %q", fs.Arg(0))
		} else if err != nil {
			fmt.Fprintf(stderr, "server keys: %v\n", err)
			return exitFatal
		}
		fmt.Fprintf(stdout, "revoked key %q\n", fs.Arg(0))
		return exitOK
	}
}

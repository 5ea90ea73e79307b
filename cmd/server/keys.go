package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
	"github.com/docent-rag/docent/internal/acl"
	"github.com/docent-rag/docent/internal/auth"
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

var keysProgram = cmdconfig.Program[env]{
	Name:  "server keys",
	Usage: keysUsage,
	Commands: []cmdconfig.Command[env]{
		{Name: "create", Summary: "create a key and print it, once", Run: keysCreate},
		{Name: "list", Summary: "list the keys", Run: keysList},
		{Name: "revoke", Summary: "revoke a key", Run: keysRevoke},
	},
}

// keysFlags returns the flag set of `server keys NAME`, with --database-url.
func keysFlags(name string) (*flag.FlagSet, *string) {
	fs := cmdconfig.NewFlagSet("server keys "+name, keysUsage)
	return fs, cmdconfig.DatabaseURLFlag(fs)
}

// keysUsageError prints a usage error of `server keys NAME` and returns its exit code.
func keysUsageError(e env, name, format string, a ...any) int {
	fmt.Fprintf(e.stderr, "server keys %s: %s\n", name, fmt.Sprintf(format, a...))
	return exitUsage
}

// keysFatal prints an error of `server keys` and returns its exit code.
func keysFatal(e env, err error) int {
	fmt.Fprintf(e.stderr, "server keys: %v\n", err)
	return exitFatal
}

func keysCreate(ctx context.Context, args []string, e env) int {
	fs, dbURL := keysFlags("create")
	name := fs.String("name", "", "name of the key (unique among live keys)")
	var principals principalList
	fs.Var(&principals, "principal", "a tag the key's holder may see (repeatable): group:<name>, user:<id> or public")
	isAdmin := fs.Bool("admin", false, "the key may also read traces")
	if code := cmdconfig.Parse(fs, args, true, e.stdout, e.stderr); code >= 0 {
		return code
	}
	if fs.NArg() > 0 || *name == "" {
		return keysUsageError(e, "create", "--name is required, and nothing else")
	}
	if len(principals) == 0 {
		return keysUsageError(e, "create", "give at least one --principal (the documents the key may see)")
	}
	tags, err := acl.Parse(principals)
	if err != nil {
		return keysUsageError(e, "create", "%v", err)
	}
	// Matched byte for byte against callers' identities: one spelling per identity.
	for _, tag := range tags {
		if err := acl.Validate(tag); err != nil {
			return keysUsageError(e, "create", "%v", err)
		}
	}
	pool, err := index.Open(ctx, cmdconfig.DatabaseURL(*dbURL, e.getenv))
	if err != nil {
		return keysFatal(e, err)
	}
	defer pool.Close()
	key, prefix, hash, err := auth.GenerateKey()
	if err != nil {
		return keysFatal(e, err)
	}
	role := index.RoleUser
	if *isAdmin {
		role = index.RoleAdmin
	}
	k, err := index.CreateAPIKey(ctx, pool, *name, prefix, hash, tags, role)
	if errors.Is(err, index.ErrExists) {
		return keysUsageError(e, "create", "a live key named %q exists: revoke it first or choose another name", *name)
	}
	if err != nil {
		return keysFatal(e, err)
	}
	fmt.Fprintln(e.stdout, key)
	fmt.Fprintf(e.stderr, "created key %q (%s, %s) for %s; the key above is shown only now\n", k.Name, k.Prefix, k.Role, strings.Join(k.Principals, ", "))
	return exitOK
}

func keysList(ctx context.Context, args []string, e env) int {
	fs, dbURL := keysFlags("list")
	all := fs.Bool("all", false, "include revoked keys")
	asJSON := fs.Bool("json", false, "print JSON")
	if code := cmdconfig.Parse(fs, args, true, e.stdout, e.stderr); code >= 0 {
		return code
	}
	pool, err := index.Open(ctx, cmdconfig.DatabaseURL(*dbURL, e.getenv))
	if err != nil {
		return keysFatal(e, err)
	}
	defer pool.Close()
	keys, err := index.ListAPIKeys(ctx, pool, *all)
	if err != nil {
		return keysFatal(e, err)
	}
	if *asJSON {
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
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return exitFatal
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
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
}

func keysRevoke(ctx context.Context, args []string, e env) int {
	fs, dbURL := keysFlags("revoke")
	if code := cmdconfig.Parse(fs, args, true, e.stdout, e.stderr); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return keysUsageError(e, "revoke", "give the name of the key to revoke")
	}
	pool, err := index.Open(ctx, cmdconfig.DatabaseURL(*dbURL, e.getenv))
	if err != nil {
		return keysFatal(e, err)
	}
	defer pool.Close()
	if _, err := index.RevokeAPIKey(ctx, pool, fs.Arg(0)); errors.Is(err, index.ErrNotFound) {
		return keysUsageError(e, "revoke", "no live key named %q", fs.Arg(0))
	} else if err != nil {
		return keysFatal(e, err)
	}
	fmt.Fprintf(e.stdout, "revoked key %q\n", fs.Arg(0))
	return exitOK
}

package main

import (
	"cmp"
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
       server keys create --widget --name NAME --origin URL... --principal TAG...
       server keys create --session-issuer --name NAME --origin URL... --user-domain DOMAIN [--group NAME...]
       server keys list [--all] [--json]
       server keys revoke NAME
       server keys rotate-session-secret

Manage API keys. A key is printed once, at creation; only its SHA-256 is stored. A caller
with the key sees the documents tagged with one of its principals (public, group:<name>,
user:<id>), and public ones; --admin also allows reading traces.

--widget makes a publishable key (dpk_...) for the chat widget: accepted only from web pages
on its origins (https://host[:port]; http only for localhost and 127.0.0.1), only on the
answer endpoint, never an admin. Give it only tags you would publish (no user:).

--session-issuer makes a secret key (dk_...) for a host site's backend, which may only mint
end-user sessions (POST /v1/widget/sessions) bound to its origins, for user ids ending in
@DOMAIN (--user-domain '*': any id) and only the groups listed with --group.

rotate-session-secret replaces the secret stored in the database that signs sessions
(unless DOCENT_WIDGET_SESSION_SECRET is set): restart the servers; sessions signed before
are refused, and widgets fetch new ones. See docs/widget.md.`

var keysProgram = cmdconfig.Program[env]{
	Name:  "server keys",
	Usage: keysUsage,
	Commands: []cmdconfig.Command[env]{
		{Name: "create", Summary: "create a key and print it, once", Run: keysCreate},
		{Name: "list", Summary: "list the keys", Run: keysList},
		{Name: "revoke", Summary: "revoke a key", Run: keysRevoke},
		{Name: "rotate-session-secret", Summary: "replace the secret that signs end-user sessions", Run: keysRotateSessionSecret},
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
	var principals, origins, groups principalList
	fs.Var(&principals, "principal", "a tag the key's holder may see (repeatable): group:<name>, user:<id> or public")
	isAdmin := fs.Bool("admin", false, "the key may also read traces")
	widget := fs.Bool("widget", false, "a publishable widget key (dpk_...), bound to its --origin values")
	issuer := fs.Bool("session-issuer", false, "a key that may only mint end-user sessions, bound to its --origin values")
	fs.Var(&origins, "origin", "an origin a widget key or issuer's sessions are accepted from (repeatable): https://host[:port]")
	fs.Var(&groups, "group", "a group a session issuer may grant (repeatable), without group:")
	domain := fs.String("user-domain", "", "session issuer: the domain its users' ids end with (@DOMAIN), or '*' for any id")
	if code := cmdconfig.Parse(fs, args, true, e.stdout, e.stderr); code >= 0 {
		return code
	}
	if fs.NArg() > 0 || *name == "" {
		return keysUsageError(e, "create", "--name is required, and nothing else")
	}
	nk := index.NewKey{Name: *name, Role: index.RoleUser, Kind: index.KindSecret}
	switch {
	case *widget && *issuer:
		return keysUsageError(e, "create", "--widget and --session-issuer exclude each other")
	case (*widget || *issuer) && *isAdmin:
		return keysUsageError(e, "create", "a widget or session issuer key cannot be an admin")
	case !*widget && !*issuer && (len(origins) > 0 || len(groups) > 0 || *domain != ""):
		return keysUsageError(e, "create", "--origin, --group and --user-domain are for --widget or --session-issuer keys")
	case *widget && (len(groups) > 0 || *domain != ""):
		return keysUsageError(e, "create", "--group and --user-domain are for --session-issuer keys; a widget key has --principal")
	case *issuer && len(principals) > 0:
		return keysUsageError(e, "create", "a session issuer key reads nothing itself: give the groups it may grant with --group and its users' domain with --user-domain")
	case (*widget || *issuer) && len(origins) == 0:
		return keysUsageError(e, "create", "give at least one --origin (https://host[:port]) the key is used from")
	case !*issuer && len(principals) == 0:
		return keysUsageError(e, "create", "give at least one --principal (the documents the key may see)")
	case *issuer && *domain == "":
		return keysUsageError(e, "create", "give --user-domain DOMAIN (user ids must end with @DOMAIN), or --user-domain '*' to allow any user id")
	}
	for _, o := range origins {
		norm, err := auth.KeyOrigin(o)
		if err != nil {
			return keysUsageError(e, "create", "%v", err)
		}
		nk.Origins = append(nk.Origins, norm)
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
		if *widget && strings.HasPrefix(tag, "user:") {
			return keysUsageError(e, "create", "a widget key is public: it cannot carry a user's tag (%s); use a signed session for users", tag)
		}
	}
	generate := auth.GenerateKey
	switch {
	case *widget:
		nk.Kind, generate = index.KindWidget, auth.GenerateWidgetKey
	case *issuer:
		nk.Kind, nk.UserDomain = index.KindSessionIssuer, *domain
		if *domain != "*" {
			if err := acl.Validate("user:x@" + *domain); err != nil || strings.ContainsAny(*domain, "@*") || !strings.Contains(*domain, ".") {
				return keysUsageError(e, "create", "--user-domain %q is not a lower-case domain name such as example.com (or '*')", *domain)
			}
		}
		for _, g := range groups {
			if strings.HasPrefix(g, "group:") {
				return keysUsageError(e, "create", "--group %q: give the group's name without \"group:\"", g)
			}
			if err := acl.Validate("group:" + g); err != nil {
				return keysUsageError(e, "create", "--group: %v", err)
			}
			tags = append(tags, "group:"+g)
		}
	}
	if *isAdmin {
		nk.Role = index.RoleAdmin
	}
	nk.Principals = tags
	pool, err := index.Open(ctx, cmdconfig.DatabaseURL(*dbURL, e.getenv))
	if err != nil {
		return keysFatal(e, err)
	}
	defer pool.Close()
	key, prefix, hash, err := generate()
	if err != nil {
		return keysFatal(e, err)
	}
	nk.Prefix, nk.Hash = prefix, hash
	k, err := index.CreateKey(ctx, pool, nk)
	if errors.Is(err, index.ErrExists) {
		return keysUsageError(e, "create", "a live key named %q exists: revoke it first or choose another name", *name)
	}
	if err != nil {
		return keysFatal(e, err)
	}
	fmt.Fprintln(e.stdout, key)
	switch k.Kind {
	case index.KindWidget:
		fmt.Fprintf(e.stderr, "created widget key %q (%s) for %s, from %s; it may be published in those origins' pages\n",
			k.Name, k.Prefix, strings.Join(k.Principals, ", "), strings.Join(k.Origins, ", "))
	case index.KindSessionIssuer:
		fmt.Fprintf(e.stderr, "created session issuer key %q (%s) for users @%s, groups [%s], sessions bound to %s; keep it secret, the key above is shown only now\n",
			k.Name, k.Prefix, k.UserDomain, strings.Join(k.Principals, ", "), strings.Join(k.Origins, ", "))
	default:
		fmt.Fprintf(e.stderr, "created key %q (%s, %s) for %s; the key above is shown only now\n", k.Name, k.Prefix, k.Role, strings.Join(k.Principals, ", "))
	}
	return exitOK
}

func keysRotateSessionSecret(ctx context.Context, args []string, e env) int {
	fs, dbURL := keysFlags("rotate-session-secret")
	if code := cmdconfig.Parse(fs, args, true, e.stdout, e.stderr); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		return keysUsageError(e, "rotate-session-secret", "takes no arguments")
	}
	pool, err := index.Open(ctx, cmdconfig.DatabaseURL(*dbURL, e.getenv))
	if err != nil {
		return keysFatal(e, err)
	}
	defer pool.Close()
	secret, err := auth.GenerateSessionSecret()
	if err != nil {
		return keysFatal(e, err)
	}
	if err := index.RotateWidgetSessionSecret(ctx, pool, secret); err != nil {
		return keysFatal(e, err)
	}
	fmt.Fprintln(e.stdout, "rotated the session secret: restart the servers; sessions signed before are refused from then on")
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
			Kind       string     `json:"kind"`
			Prefix     string     `json:"prefix"`
			Role       string     `json:"role"`
			Principals []string   `json:"principals"`
			CreatedAt  time.Time  `json:"created_at"`
			LastUsedAt *time.Time `json:"last_used_at"`
			RevokedAt  *time.Time `json:"revoked_at"`
			Origins    []string   `json:"origins"`
			UserDomain string     `json:"user_domain,omitempty"`
		}
		out := make([]keyJSON, len(keys))
		for i, k := range keys {
			out[i] = keyJSON{k.Name, k.Kind, k.Prefix, k.Role, k.Principals, k.CreatedAt, k.LastUsedAt, k.RevokedAt, k.Origins, k.UserDomain}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return exitFatal
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tPREFIX\tROLE\tPRINCIPALS\tORIGINS\tCREATED\tLAST USED\tREVOKED")
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04")
	}
	for _, k := range keys {
		principals, origins := strings.Join(k.Principals, ","), strings.Join(k.Origins, ",")
		if k.Kind == index.KindSessionIssuer {
			principals = "grants users @" + k.UserDomain
			if len(k.Principals) > 0 {
				principals += " and " + strings.Join(k.Principals, ",")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.Kind, k.Prefix, k.Role, principals, cmp.Or(origins, "-"),
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

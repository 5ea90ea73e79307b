package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// Widget and session issuer keys are refused at creation, with exit 2 and a message naming the
// problem, whenever their shape or an origin is wrong: before any database is reached.
func TestKeysCreateWidgetValidation(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DOCENT_DATABASE_URL": nowhere}
	widget := func(extra ...string) []string {
		return append([]string{"keys", "create", "--widget", "--name", "w", "--principal", "public"}, extra...)
	}
	issuer := func(extra ...string) []string {
		return append([]string{"keys", "create", "--session-issuer", "--name", "i"}, extra...)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{widget(), "give at least one --origin"},
		{widget("--origin", "http://intranet.example"), "plain http is allowed only for localhost"},
		{widget("--origin", "https://intranet.example/"), "no path"},
		{widget("--origin", "https://intranet.example/widget"), "no path"},
		{widget("--origin", "https://intranet.example?x=1"), "no path, query"},
		{widget("--origin", "https://*.example"), "wildcards are not allowed"},
		{widget("--origin", "*"), "wildcards are not allowed"},
		{widget("--origin", "null"), "not an origin"},
		{widget("--origin", "intranet.example"), "not an origin"},
		{widget("--origin", "ftp://intranet.example"), "use https"},
		{widget("--origin", "https://user@intranet.example"), "user info"},
		{widget("--origin", "https://intranet.example:0"), "port"},
		{widget("--origin", "https://intranet.example:99999"), "port"},
		{widget("--origin", "https://bücher.example"), "xn--"},
		{widget("--origin", "https://intranet.example", "--admin"), "cannot be an admin"},
		{widget("--origin", "https://intranet.example", "--principal", "user:ana@example.com"), "cannot carry a user's tag"},
		{widget("--origin", "https://intranet.example", "--user-domain", "example.com"), "are for --session-issuer keys"},
		{[]string{"keys", "create", "--name", "k", "--principal", "public", "--origin", "https://intranet.example"}, "are for --widget or --session-issuer"},
		{[]string{"keys", "create", "--widget", "--session-issuer", "--name", "k", "--principal", "public"}, "exclude each other"},
		{issuer("--origin", "https://intranet.example"), "give --user-domain"},
		{issuer("--origin", "https://intranet.example", "--user-domain", "Example.COM"), "not a lower-case domain"},
		{issuer("--origin", "https://intranet.example", "--user-domain", "example"), "not a lower-case domain"},
		{issuer("--user-domain", "example.com"), "give at least one --origin"},
		{issuer("--origin", "https://intranet.example", "--user-domain", "example.com", "--principal", "group:staff"), "reads nothing itself"},
		{issuer("--origin", "https://intranet.example", "--user-domain", "example.com", "--group", "group:staff"), "without \"group:\""},
		{issuer("--origin", "https://intranet.example", "--user-domain", "example.com", "--group", "St\u212Aff"), "permission tag"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), tc.args, func(k string) string { return env[k] }, io.Discard, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with %q", tc.args[2:], code, stderr.String(), tc.want)
		}
	}
}

func TestKeysWidgetAndIssuerLifecycle(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	getenv := func(k string) string {
		if k == "DOCENT_DATABASE_URL" {
			return db.URL
		}
		return ""
	}
	runOK := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, getenv, &out, &errOut); code != exitOK {
			t.Fatalf("%v: exit %d, stderr %s", args, code, errOut.String())
		}
		return out.String()
	}
	key := runOK("keys", "create", "--widget", "--name", "intranet", "--origin", "HTTPS://Intranet.Example:443",
		"--origin", "http://localhost:5173", "--principal", "public", "--principal", "group:staff")
	if !strings.HasPrefix(key, "dpk_") || len(strings.TrimSpace(key)) != 47 {
		t.Errorf("widget key %q: want dpk_ and 43 characters", key)
	}
	issuerKey := runOK("keys", "create", "--session-issuer", "--name", "intranet-backend", "--origin", "https://intranet.example",
		"--user-domain", "example.com", "--group", "staff", "--group", "engineering")
	if !strings.HasPrefix(issuerKey, "dk_") {
		t.Errorf("issuer key %q: want a secret dk_ key", issuerKey)
	}
	table := runOK("keys", "list")
	for _, want := range []string{"KIND", "ORIGINS", "widget", "http://localhost:5173,https://intranet.example", "session_issuer", "grants users @example.com and group:engineering,group:staff"} {
		if !strings.Contains(table, want) {
			t.Errorf("keys list lacks %q:\n%s", want, table)
		}
	}
	var listed []struct {
		Name, Kind string
		UserDomain string `json:"user_domain"`
		Origins    []string
	}
	if err := json.Unmarshal([]byte(runOK("keys", "list", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 || listed[0].Kind != "widget" || listed[1].UserDomain != "example.com" || !slices.Equal(listed[0].Origins, []string{"http://localhost:5173", "https://intranet.example"}) {
		t.Errorf("keys list --json: %+v", listed)
	}
	runOK("keys", "rotate-session-secret")
}

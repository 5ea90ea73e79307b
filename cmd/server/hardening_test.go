package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/docent-rag/docent/internal/testing/dbtest/tcpproxy"
)

// nowhere is a database URL that refuses connections at once, for tests that must fail
// before they need one.
const nowhere = "postgres://docent:docent@127.0.0.1:1/docent?sslmode=disable&connect_timeout=2"

// TestForgeableSettingsAreConfigurationErrors: settings that would let a client pass for
// someone else (an admin group that Unicode folds onto another name, proxies trusting every
// address) stop the server at start with exit 2, before it connects to anything.
func TestForgeableSettingsAreConfigurationErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"admin group with KELVIN SIGN":  {map[string]string{"DOCENT_JWT_ADMIN_GROUP": "\u212A8s-admins"}, "DOCENT_JWT_ADMIN_GROUP"},
		"admin group with LONG S":       {map[string]string{"DOCENT_JWT_ADMIN_GROUP": "\u017Fre"}, "DOCENT_JWT_ADMIN_GROUP"},
		"admin group with dotless i":    {map[string]string{"DOCENT_JWT_ADMIN_GROUP": "adm\u0131ns"}, "DOCENT_JWT_ADMIN_GROUP"},
		"admin group decomposed":        {map[string]string{"DOCENT_JWT_ADMIN_GROUP": "e\u0301quipe"}, "DOCENT_JWT_ADMIN_GROUP"},
		"admin group in capitals":       {map[string]string{"DOCENT_JWT_ADMIN_GROUP": "K8S-ADMINS"}, "DOCENT_JWT_ADMIN_GROUP"},
		"proxies not addresses":         {map[string]string{"DOCENT_TRUSTED_PROXIES": "10.0.0.0/8, the-load-balancer"}, "DOCENT_TRUSTED_PROXIES"},
		"proxies trusting everyone":     {map[string]string{"DOCENT_TRUSTED_PROXIES": "0.0.0.0/0"}, "DOCENT_TRUSTED_PROXIES"},
		"proxies trusting everyone, v6": {map[string]string{"DOCENT_TRUSTED_PROXIES": "10.0.0.1,::/0"}, "DOCENT_TRUSTED_PROXIES"},
		"JWT secret too short":          {map[string]string{"DOCENT_JWT_SECRET": "short"}, "JWTSecret"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc.env["DOCENT_DATABASE_URL"] = nowhere
			tc.env["DOCENT_ADDR"] = "127.0.0.1:0"
			var stderr bytes.Buffer
			code := run(context.Background(), nil, func(k string) string { return tc.env[k] }, io.Discard, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 naming %s", code, stderr.String(), tc.want)
			}
		})
	}
}

// TestKeysCreateRefusesNonCanonicalPrincipals: an API key's principals are matched byte for
// byte against documents' tags, so they must be canonical like every other identity.
func TestKeysCreateRefusesNonCanonicalPrincipals(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DOCENT_DATABASE_URL": nowhere}
	for _, tag := range []string{"user:\u017Fam", "group:\u212A8s", "user:s\u0131d", "user:jose\u0301", "group:\uff45ng", "user:kate\u200b"} {
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"keys", "create", "--name", "k", "--principal", "group:eng", "--principal", tag},
			func(k string) string { return env[k] }, io.Discard, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), "permission tag") {
			t.Errorf("--principal %+q: exit %d, stderr %s; want exit 2 refusing the tag", tag, code, stderr.String())
		}
	}
}

// TestDatabaseOutage runs the server binary's code through a database restart: requests get
// 503 with Retry-After while the database is away, the failures are logged once per interval
// with a count rather than once each, and the server answers again once it is back.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	db := indexed(t)
	proxy, url := tcpproxy.For(t, db.URL)
	secret := "a-test-secret-of-at-least-32-bytes!!"
	env := map[string]string{"DOCENT_DATABASE_URL": url, "DOCENT_ADDR": "127.0.0.1:0", "DOCENT_LOG_FORMAT": "json",
		"DOCENT_JWT_SECRET": secret, "DOCENT_RATE_LIMIT": "100000", "DOCENT_RATE_BURST": "100000"}
	log := &lockedWriter{w: &bytes.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, log) }()
	addr := waitServing(t, log)

	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ann", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	search := func() (int, http.Header) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/search", strings.NewReader(`{"query":"parking"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if status, _ := search(); status != http.StatusOK {
		t.Fatalf("before the outage: %d\n%s", status, log.String())
	}

	proxy.Cut()
	before := len(logLines(t, log.String()))
	const requests = 300
	wrong := map[string]int{}
	for range requests {
		if status, header := search(); status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" {
			wrong[fmt.Sprintf("%d with Retry-After %q", status, header.Get("Retry-After"))]++
		}
	}
	if len(wrong) > 0 {
		t.Errorf("while the database is away, of %d requests: %v; want 503 with Retry-After", requests, wrong)
	}
	var problems []string
	for _, l := range logLines(t, log.String())[before:] {
		if l.Level == "WARN" || l.Level == "ERROR" {
			problems = append(problems, l.Level+" "+l.Msg+": "+l.Err)
		}
	}
	t.Logf("%d warnings and errors while the database was away, for %d failed requests", len(problems), requests)
	// One line per distinct failure (the query's, the trace writer's, a reset or a refused
	// connection at each step ...), not one per request.
	if len(problems) > requests/10 {
		t.Errorf("%d warnings and errors for %d failed requests, want a handful:\n%s", len(problems), requests, strings.Join(problems, "\n"))
	}

	proxy.Restore()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if status, _ := search(); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not recover once the database was back\n%s", log.String())
		}
	}

	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d after shutdown", code)
	}
	// Every failure is accounted for: written, or counted in a summary written by shutdown.
	accounted := 0
	for _, l := range logLines(t, log.String())[before:] {
		if l.Msg == "request failed: unreachable" {
			accounted += max(1, l.Repeated)
		}
	}
	if accounted != requests {
		t.Errorf("the log accounts for %d of the %d failed requests:\n%s", accounted, requests, log.String())
	}
}

type logLine struct {
	Level, Msg, Err, Addr string
	Repeated              int
}

func logLines(t *testing.T, s string) []logLine {
	t.Helper()
	var out []logLine
	for _, line := range strings.Split(s, "\n") {
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg != "" {
			out = append(out, l)
		}
	}
	return out
}

// waitServing waits for the server's "serving" line and returns its address.
func waitServing(t *testing.T, log *lockedWriter) string {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, l := range logLines(t, log.String()) {
			if l.Msg == "serving" {
				return l.Addr
			}
		}
	}
	t.Fatalf("the server did not start; log:\n%s", log.String())
	return ""
}

package api_test

// Widget keys and end-user sessions, attacked over HTTP (issue 11, "Who is asking"): a
// publishable key used from other origins, without an Origin, with "null", on routes it may
// not call; preflights; its limits; sessions forged, altered, expired, replayed from another
// origin, outliving their issuer; issuers asking for more than they may grant.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
)

const (
	intranet = "https://intranet.northwind.example"
	evil     = "https://evil.example"
)

// failoverFacts are in the engineering runbook only (not in the question).
var failoverFacts = []string{"flock-prod-pg", "flock-pg-2", "database-failover"}

// widgetKey creates a widget key and returns it.
func (e *env) widgetKey(name string, origins, principals []string) string {
	e.t.Helper()
	key, prefix, hash, err := auth.GenerateWidgetKey()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := index.CreateKey(context.Background(), e.db.Pool, index.NewKey{Name: name, Prefix: prefix, Hash: hash,
		Principals: principals, Role: index.RoleUser, Kind: index.KindWidget, Origins: origins}); err != nil {
		e.t.Fatal(err)
	}
	return key
}

// issuerKey creates a session issuer key for users @northwind.example who may be granted
// engineering or hr, and returns it.
func (e *env) issuerKey(name string, origins []string) string {
	e.t.Helper()
	key, prefix, hash, err := auth.GenerateKey()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := index.CreateKey(context.Background(), e.db.Pool, index.NewKey{Name: name, Prefix: prefix, Hash: hash,
		Principals: []string{"group:engineering", "group:hr"}, Role: index.RoleUser, Kind: index.KindSessionIssuer,
		Origins: origins, UserDomain: "northwind.example"}); err != nil {
		e.t.Fatal(err)
	}
	return key
}

// errorOf returns the error body's code and reason.
func errorOf(t *testing.T, body []byte) (code, reason string) {
	t.Helper()
	var b struct {
		Error struct{ Code, Reason, Message string }
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("not an error body: %s", body)
	}
	return b.Error.Code, b.Error.Reason
}

func leaks(body []byte, facts []string) []string {
	var found []string
	for _, f := range facts {
		if bytes.Contains(body, []byte(f)) {
			found = append(found, f)
		}
	}
	return found
}

func TestWidgetKeyOnlyFromItsOrigins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	key := e.widgetKey("intranet", []string{intranet, "http://localhost:5173"}, []string{"public"})
	ask := map[string]any{"question": vacationQ}

	for _, origin := range []string{intranet, "http://localhost:5173"} {
		status, header, body := e.post("/v1/answer", key, ask, "Origin", origin)
		if status != http.StatusOK {
			t.Fatalf("from %s: %d %s", origin, status, body)
		}
		if got := header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("from %s: Access-Control-Allow-Origin %q, want the origin", origin, got)
		}
		if !slices.Contains(header.Values("Vary"), "Origin") {
			t.Errorf("from %s: no Vary: Origin (%q)", origin, header.Values("Vary"))
		}
	}
	for name, origin := range map[string]string{
		"another site":        evil,
		"missing":             "",
		"null":                "null",
		"http instead":        "http://intranet.northwind.example",
		"another port":        intranet + ":8443",
		"a suffix":            intranet + ".evil.example",
		"a subdomain":         "https://x.intranet.northwind.example",
		"with a path":         intranet + "/",
		"localhost elsewhere": "http://localhost:5174",
	} {
		status, header, body := e.post("/v1/answer", key, ask, "Origin", origin)
		if code, _ := errorOf(t, body); status != http.StatusForbidden || code != "forbidden_origin" {
			t.Errorf("%s (%q): %d %s, want 403 forbidden_origin", name, origin, status, body)
		}
		if got := header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s: Access-Control-Allow-Origin %q on a refusal", name, got)
		}
		if bytes.Contains(body, []byte("vacation")) {
			t.Errorf("%s: the refusal carries an answer: %s", name, body)
		}
	}
	// The origin's normal form is compared: a default port and upper case are the same origin.
	if status, _, body := e.post("/v1/answer", key, ask, "Origin", "HTTPS://Intranet.Northwind.Example:443"); status != http.StatusOK {
		t.Errorf("the same origin spelt otherwise: %d %s", status, body)
	}
}

func TestWidgetKeyOnlyOnWidgetRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	key := e.widgetKey("intranet", []string{intranet}, []string{"public", "group:engineering"})
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/v1/search", map[string]any{"query": "failover"}},
		{http.MethodGet, "/v1/traces", nil},
		{http.MethodGet, "/v1/traces/0123456789abcdef0123456789abcdef", nil},
		{http.MethodPost, "/v1/widget/sessions", map[string]any{"user": "ana@northwind.example"}},
	} {
		x := e.request(tc.method, tc.path, key, tc.body, "Origin", intranet)
		status, body := x.status, x.body
		if code, _ := errorOf(t, body); status != http.StatusForbidden || code != "forbidden_route" {
			t.Errorf("%s %s: %d %s, want 403 forbidden_route", tc.method, tc.path, status, body)
		}
		if l := leaks(body, failoverFacts); len(l) > 0 {
			t.Errorf("%s %s leaks %v", tc.method, tc.path, l)
		}
	}
}

func TestWidgetKeySeesOnlyItsPrincipals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	public := e.widgetKey("public", []string{intranet}, []string{"public"})
	eng := e.widgetKey("eng-widget", []string{intranet}, []string{"group:engineering"})
	ask := map[string]any{"question": failoverQ}
	_, _, body := e.post("/v1/answer", eng, ask, "Origin", intranet)
	if len(leaks(body, failoverFacts)) == 0 {
		t.Fatalf("the engineering widget key does not get the runbook, so this test proves nothing: %s", body)
	}
	status, _, body := e.post("/v1/answer", public, ask, "Origin", intranet)
	if l := leaks(body, failoverFacts); status != http.StatusOK || len(l) > 0 {
		t.Errorf("a public widget key: %d, leaks %v", status, l)
	}
}

func TestWidgetPreflight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	e.widgetKey("intranet", []string{intranet}, []string{"public"})
	e.widgetKey("gone", []string{"https://gone.example"}, []string{"public"})
	if _, err := index.RevokeAPIKey(context.Background(), e.db.Pool, "gone"); err != nil {
		t.Fatal(err)
	}
	preflight := func(path, origin string) (int, http.Header) {
		return e.preflight(path, origin, "Access-Control-Request-Headers", "authorization, content-type")
	}
	status, h := preflight("/v1/answer", intranet)
	if status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != intranet {
		t.Errorf("allowed origin: %d, Access-Control-Allow-Origin %q; want 204 and exactly %s", status, h.Get("Access-Control-Allow-Origin"), intranet)
	}
	if got := strings.ToLower(h.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "authorization") || !strings.Contains(got, "content-type") {
		t.Errorf("Access-Control-Allow-Headers %q", got)
	}
	if h.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials allowed: the widget uses bearer tokens, never cookies")
	}
	for _, tc := range []struct{ path, origin string }{
		{"/v1/answer", evil},
		{"/v1/answer", "null"},
		{"/v1/answer", ""},
		{"/v1/answer", "https://gone.example"}, // its key was revoked
		{"/v1/search", intranet},               // not a widget route
		{"/v1/traces", intranet},
	} {
		if _, h := preflight(tc.path, tc.origin); h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight %s from %q: Access-Control-Allow-Origin %q, want none", tc.path, tc.origin, h.Get("Access-Control-Allow-Origin"))
		}
	}
}

// With DOCENT_CORS_ORIGINS set, its origins keep their CORS answers and widget keys' origins
// get theirs: neither list hides the other.
func TestWidgetCORSBesideTheConfiguredOrigins(t *testing.T) {
	t.Parallel()
	const static = "https://static.northwind.example"
	e := newEnv(t, options{corsOrigins: []string{static}})
	key := e.widgetKey("intranet", []string{intranet}, []string{"public"})
	for _, origin := range []string{static, intranet} {
		if _, header := e.preflight("/v1/answer", origin); header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q", origin, header.Get("Access-Control-Allow-Origin"))
		}
	}
	status, header, body := e.post("/v1/answer", key, map[string]any{"question": vacationQ}, "Origin", intranet)
	if status != http.StatusOK || header.Get("Access-Control-Allow-Origin") != intranet {
		t.Errorf("widget request: %d, Access-Control-Allow-Origin %q, %s", status, header.Get("Access-Control-Allow-Origin"), body)
	}
	// The configured list does not open a widget key to its origins.
	if status, _, _ := e.post("/v1/answer", key, map[string]any{"question": vacationQ}, "Origin", static); status != http.StatusForbidden {
		t.Errorf("widget key from a configured CORS origin that is not its own: %d, want 403", status)
	}
}

func TestWidgetKeyRateLimits(t *testing.T) {
	t.Parallel()
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, options{widgetAddrBurst: 2, widgetAddrRate: 0.001, trustedProxies: []string{"127.0.0.1/32", "::1/128"}})
		key := e.widgetKey("intranet", []string{intranet}, []string{"public"})
		other := e.widgetKey("other", []string{intranet}, []string{"public"})
		ask := map[string]any{"question": vacationQ}
		for i := range 2 {
			if status, _, body := e.post("/v1/answer", key, ask, "Origin", intranet, "X-Forwarded-For", "203.0.113.7"); status != http.StatusOK {
				t.Fatalf("request %d: %d %s", i, status, body)
			}
		}
		status, header, _ := e.post("/v1/answer", key, ask, "Origin", intranet, "X-Forwarded-For", "203.0.113.7")
		if status != http.StatusTooManyRequests || header.Get("Retry-After") == "" {
			t.Errorf("third request from one address: %d (Retry-After %q), want 429", status, header.Get("Retry-After"))
		}
		if status, _, _ := e.post("/v1/answer", key, ask, "Origin", intranet, "X-Forwarded-For", "203.0.113.8"); status != http.StatusOK {
			t.Errorf("another address: %d, want 200", status)
		}
		if status, _, _ := e.post("/v1/answer", other, ask, "Origin", intranet, "X-Forwarded-For", "203.0.113.7"); status != http.StatusOK {
			t.Errorf("another key from the limited address: %d, want 200", status)
		}
	})
	t.Run("per key", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, options{widgetKeyBurst: 3, widgetKeyRate: 0.001, trustedProxies: []string{"127.0.0.1/32", "::1/128"}})
		key := e.widgetKey("intranet", []string{intranet}, []string{"public"})
		ask := map[string]any{"question": vacationQ}
		var codes []int
		for i := range 5 {
			status, _, _ := e.post("/v1/answer", key, ask, "Origin", intranet, "X-Forwarded-For", "203.0.113."+string(rune('1'+i)))
			codes = append(codes, status)
		}
		if !slices.Equal(codes, []int{200, 200, 200, 429, 429}) {
			t.Errorf("five addresses, one key with a burst of 3: %v", codes)
		}
		if status, _, _ := e.post("/v1/answer", e.keys["eng"], ask); status != http.StatusOK {
			t.Errorf("a secret key is not limited by the widget key's budget: %d", status)
		}
	})
}

// clock is a settable clock for the authenticator.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func (e *env) mint(issuer string, body any) (int, []byte) {
	e.t.Helper()
	status, _, out := e.post("/v1/widget/sessions", issuer, body)
	return status, out
}

func (e *env) session(issuer string, body any) mintedSession {
	e.t.Helper()
	status, out := e.mint(issuer, body)
	if status != http.StatusCreated {
		e.t.Fatalf("mint a session: %d %s", status, out)
	}
	var s mintedSession
	if err := json.Unmarshal(out, &s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

type mintedSession struct {
	Token      string    `json:"token"`
	ExpiresAt  time.Time `json:"expires_at"`
	ExpiresIn  int       `json:"expires_in"`
	Principals []string  `json:"principals"`
	Origins    []string  `json:"origins"`
}

// signSession signs claims as the server does: what an attacker holding the secret could make.
func signSession(secret []byte, claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	c := base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("docent widget session v1\x00" + c))
	return auth.SessionPrefix + c + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestWidgetSessions(t *testing.T) {
	t.Parallel()
	var clk clock
	e := newEnv(t, options{now: clk.now})
	issuer := e.issuerKey("intranet-backend", []string{intranet})
	ask := map[string]any{"question": failoverQ}

	ana := e.session(issuer, map[string]any{"user": "ana@northwind.example", "groups": []string{"engineering"}})
	if !strings.HasPrefix(ana.Token, auth.SessionPrefix) || ana.ExpiresIn <= 0 || ana.ExpiresIn > 900 ||
		!slices.Equal(ana.Principals, []string{"group:engineering", "public", "user:ana@northwind.example"}) ||
		!slices.Equal(ana.Origins, []string{intranet}) {
		t.Errorf("ana's session: %+v", ana)
	}
	harper := e.session(issuer, map[string]any{"user": "harper@northwind.example", "groups": []string{"hr"}, "ttl_seconds": 300})
	if harper.ExpiresIn > 300 {
		t.Errorf("ttl_seconds 300: expires in %d", harper.ExpiresIn)
	}

	t.Run("answers with the granted principals", func(t *testing.T) {
		status, header, body := e.post("/v1/answer", ana.Token, ask, "Origin", intranet)
		if status != http.StatusOK || len(leaks(body, failoverFacts)) == 0 || header.Get("Access-Control-Allow-Origin") != intranet {
			t.Errorf("ana (engineering): %d, ACAO %q, %s", status, header.Get("Access-Control-Allow-Origin"), body)
		}
		status, _, body = e.post("/v1/answer", harper.Token, ask, "Origin", intranet)
		if l := leaks(body, failoverFacts); status != http.StatusOK || len(l) > 0 {
			t.Errorf("harper (hr): %d, leaks %v", status, l)
		}
	})

	t.Run("refused tokens", func(t *testing.T) {
		claims, sig, _ := strings.Cut(strings.TrimPrefix(harper.Token, auth.SessionPrefix), ".")
		payload, _ := base64.RawURLEncoding.DecodeString(claims)
		altered := bytes.Replace(payload, []byte(`"groups":["hr"]`), []byte(`"groups":["engineering","hr"]`), 1)
		if bytes.Equal(altered, payload) {
			t.Fatalf("claims not as expected: %s", payload)
		}
		var c map[string]any
		_ = json.Unmarshal(payload, &c)
		beyond := withClaims(c, map[string]any{"groups": []string{"finance"}})
		otherUser := withClaims(c, map[string]any{"sub": "ceo@other.example"})
		long := withClaims(c, map[string]any{"exp": time.Now().Add(24 * time.Hour).Unix()})
		for name, tc := range map[string]struct {
			token  string
			reason string
		}{
			"altered claims": {auth.SessionPrefix + base64.RawURLEncoding.EncodeToString(altered) + "." + sig, auth.ReasonBadSignature},
			"another secret": {signSession([]byte("not the server's secret, but 32+ bytes"), c), auth.ReasonBadSignature},
			"no signature":   {auth.SessionPrefix + claims + ".", auth.ReasonBadSignature},
			"bad signature":  {auth.SessionPrefix + claims + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32)), auth.ReasonBadSignature},
			"garbage":        {auth.SessionPrefix + "x", auth.ReasonMalformed},
			// Signed with the real secret, yet beyond the issuer's limits: refused all the same.
			"group beyond the issuer":    {signSession(e.sessionSecret, beyond), auth.ReasonInvalidToken},
			"user beyond the issuer":     {signSession(e.sessionSecret, otherUser), auth.ReasonInvalidToken},
			"lifetime beyond 15 minutes": {signSession(e.sessionSecret, long), auth.ReasonInvalidToken},
		} {
			status, _, body := e.post("/v1/answer", tc.token, ask, "Origin", intranet)
			if _, reason := errorOf(t, body); status != http.StatusUnauthorized || reason != tc.reason {
				t.Errorf("%s: %d %s, want 401 %s", name, status, body, tc.reason)
			}
			if l := leaks(body, failoverFacts); len(l) > 0 {
				t.Errorf("%s leaks %v", name, l)
			}
		}
	})

	t.Run("replayed from another origin", func(t *testing.T) {
		for _, origin := range []string{evil, "", "null"} {
			status, header, body := e.post("/v1/answer", ana.Token, ask, "Origin", origin)
			if code, _ := errorOf(t, body); status != http.StatusForbidden || code != "forbidden_origin" || header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("from %q: %d %s, want 403 forbidden_origin", origin, status, body)
			}
			if l := leaks(body, failoverFacts); len(l) > 0 {
				t.Errorf("from %q: leaks %v", origin, l)
			}
		}
	})

	t.Run("only on widget routes", func(t *testing.T) {
		status, _, body := e.post("/v1/search", ana.Token, map[string]any{"query": "failover"}, "Origin", intranet)
		if code, _ := errorOf(t, body); status != http.StatusForbidden || code != "forbidden_route" {
			t.Errorf("search with a session: %d %s", status, body)
		}
		status, _ = e.mint(ana.Token, map[string]any{"user": "ana@northwind.example"})
		if status != http.StatusForbidden {
			t.Errorf("a session minting sessions: %d", status)
		}
	})

	t.Run("the issuer only mints", func(t *testing.T) {
		status, _, body := e.post("/v1/answer", issuer, ask, "Origin", intranet)
		if code, _ := errorOf(t, body); status != http.StatusForbidden || code != "forbidden_route" {
			t.Errorf("the issuer key on /v1/answer: %d %s", status, body)
		}
	})

	t.Run("issuer limits", func(t *testing.T) {
		for _, tc := range []struct {
			body   map[string]any
			status int
			field  string
		}{
			{map[string]any{"user": "ana@northwind.example", "groups": []string{"finance"}}, http.StatusForbidden, "groups"},
			{map[string]any{"user": "ana@northwind.example", "groups": []string{"engineering", "docent-admins"}}, http.StatusForbidden, "groups"},
			{map[string]any{"user": "ana@evil.example"}, http.StatusForbidden, "user"},
			{map[string]any{"user": "ana@northwind.example.evil"}, http.StatusForbidden, "user"},
			{map[string]any{"user": "ana@sub.northwind.example.com"}, http.StatusForbidden, "user"},
			{map[string]any{"user": "northwind.example"}, http.StatusForbidden, "user"},
			{map[string]any{"user": "Ana@northwind.example"}, http.StatusBadRequest, "user"},
			{map[string]any{"user": "\u212Ate@northwind.example"}, http.StatusBadRequest, "user"},
			{map[string]any{"user": ""}, http.StatusBadRequest, "user"},
			{map[string]any{"user": "ana@northwind.example", "groups": []string{"group:engineering"}}, http.StatusBadRequest, "groups"},
			{map[string]any{"user": "ana@northwind.example", "groups": []string{"Engineering"}}, http.StatusBadRequest, "groups"},
			{map[string]any{"user": "ana@northwind.example", "ttl_seconds": 901}, http.StatusBadRequest, "ttl_seconds"},
			{map[string]any{"user": "ana@northwind.example", "ttl_seconds": 30}, http.StatusBadRequest, "ttl_seconds"},
			{map[string]any{"user": "ana@northwind.example", "principals": []string{"group:finance"}}, http.StatusBadRequest, ""},
		} {
			status, body := e.mint(issuer, tc.body)
			var b struct{ Error struct{ Field string } }
			_ = json.Unmarshal(body, &b)
			if status != tc.status || (tc.field != "" && b.Error.Field != tc.field) || bytes.Contains(body, []byte("dws_")) {
				t.Errorf("%v: %d %s, want %d naming %q", tc.body, status, body, tc.status, tc.field)
			}
		}
	})

	t.Run("other callers may not mint", func(t *testing.T) {
		widget := e.widgetKey("intranet", []string{intranet}, []string{"public"})
		for name, token := range map[string]string{"secret key": e.keys["eng"], "admin key": e.keys["admin"], "widget key": widget} {
			status, _, body := e.post("/v1/widget/sessions", token, map[string]any{"user": "ana@northwind.example"}, "Origin", intranet)
			if code, _ := errorOf(t, body); status != http.StatusForbidden || code != "forbidden_route" {
				t.Errorf("%s: %d %s, want 403", name, status, body)
			}
		}
	})

	t.Run("expired", func(t *testing.T) {
		short := e.session(issuer, map[string]any{"user": "ana@northwind.example", "groups": []string{"engineering"}, "ttl_seconds": 60})
		if status, _, _ := e.post("/v1/answer", short.Token, ask, "Origin", intranet); status != http.StatusOK {
			t.Fatalf("fresh session: %d", status)
		}
		clk.advance(2 * time.Minute) // past 60s and the 30s clock skew
		status, _, body := e.post("/v1/answer", short.Token, ask, "Origin", intranet)
		if _, reason := errorOf(t, body); status != http.StatusUnauthorized || reason != auth.ReasonExpired {
			t.Errorf("expired session: %d %s", status, body)
		}
		clk.advance(-2 * time.Minute)
	})

	t.Run("issuer revoked", func(t *testing.T) {
		other := e.issuerKey("to-revoke", []string{intranet})
		s := e.session(other, map[string]any{"user": "ana@northwind.example", "groups": []string{"engineering"}})
		if status, _, _ := e.post("/v1/answer", s.Token, ask, "Origin", intranet); status != http.StatusOK {
			t.Fatalf("before revocation: %d", status)
		}
		if _, err := index.RevokeAPIKey(context.Background(), e.db.Pool, "to-revoke"); err != nil {
			t.Fatal(err)
		}
		status, _, body := e.post("/v1/answer", s.Token, ask, "Origin", intranet)
		if _, reason := errorOf(t, body); status != http.StatusUnauthorized || reason != auth.ReasonIssuerRevoked {
			t.Errorf("after revocation: %d %s", status, body)
		}
		if status, _ := e.mint(other, map[string]any{"user": "ana@northwind.example"}); status != http.StatusUnauthorized {
			t.Errorf("a revoked issuer mints: %d", status)
		}
	})
}

// withClaims returns a copy of base with over's entries.
func withClaims(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

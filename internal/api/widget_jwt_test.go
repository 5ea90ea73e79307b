package api_test

// The JWT variant of the widget's session exchange (docs/widget.md, "Widget JWTs"): a host
// site that signs JWTs hands the widget a short-lived one whose audience is the widget's.
// Such a token is bound like an end-user session; attacked here over HTTP. The examples of
// docs/widget.md for the host's backend are run for real against the server.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// widgetJWT returns an HS256 widget JWT for ana (engineering, docent-admins) living for ttl;
// claims override.
func (e *env) widgetJWT(ttl time.Duration, claims jwt.MapClaims) string {
	e.t.Helper()
	c := jwt.MapClaims{"aud": "docent-widget", "iat": time.Now().Unix(), "exp": time.Now().Add(ttl).Unix(),
		"groups": []string{"engineering", "docent-admins"}, "iss": nil}
	for k, v := range claims {
		c[k] = v
	}
	return e.jwt(jwt.SigningMethodHS256, c)
}

func TestWidgetJWTIsBoundLikeASession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{corsOrigins: []string{intranet}, noJWTIssuer: true})
	token := e.widgetJWT(10*time.Minute, nil)

	// The widget's routes, from the allowed origin, with CORS for it.
	status, header, body := e.widgetCall(http.MethodPost, "/v1/answer", token, intranet, map[string]any{"question": "How do I fail over the production database?"})
	if status != http.StatusOK || len(leaks(body, failoverFacts)) == 0 {
		t.Fatalf("answer: %d %s, want the runbook", status, body)
	}
	if got := header.Get("Access-Control-Allow-Origin"); got != intranet {
		t.Errorf("answer: Access-Control-Allow-Origin %q, want %s", got, intranet)
	}
	a := e.widgetAsk(token, intranet, vacationQ, "")
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		status, header, body := e.widgetCall(method, "/v1/conversations/"+a.ConversationID, token, intranet, nil)
		if status/100 != 2 || header.Get("Access-Control-Allow-Origin") != intranet {
			t.Errorf("%s conversation: %d %s (CORS %q)", method, status, body, header.Get("Access-Control-Allow-Origin"))
		}
	}

	// Nothing else: not the other routes (not even traces, though ana is in the admin
	// group), not from elsewhere.
	for _, call := range []struct{ method, path string }{
		{http.MethodPost, "/v1/search"}, {http.MethodGet, "/v1/traces"}, {http.MethodPost, "/v1/widget/sessions"},
	} {
		var req any
		if call.method == http.MethodPost {
			req = map[string]any{"query": "failover"}
		}
		status, _, body := e.widgetCall(call.method, call.path, token, intranet, req)
		if code, _ := errorOf(t, body); status != http.StatusForbidden || code != "forbidden_route" {
			t.Errorf("%s %s: %d %s, want 403 forbidden_route", call.method, call.path, status, body)
		}
	}
	for name, origin := range map[string]string{"another site": evil, "no Origin": "", "null": "null"} {
		status, header, body := e.widgetCall(http.MethodPost, "/v1/answer", token, origin, map[string]any{"question": vacationQ})
		if code, _ := errorOf(t, body); status != http.StatusForbidden || code != "forbidden_origin" || header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: %d %s, want 403 forbidden_origin without CORS", name, status, body)
		}
	}

	// Refused with 401: expired, forged, signed with another secret, living too long.
	other := *e
	other.secret = []byte("another host's secret, also 32 bytes or more")
	for name, tc := range map[string]struct {
		token, reason string
	}{
		"expired":                 {e.widgetJWT(-time.Minute, nil), "expired"},
		"forged signature":        {forgedSignature(t, token), "bad_signature"},
		"another secret":          {other.widgetJWT(10*time.Minute, nil), "bad_signature"},
		"16 minutes":              {e.widgetJWT(16*time.Minute, nil), "widget_token_lifetime"},
		"a day, with an old iat":  {e.widgetJWT(24*time.Hour, jwt.MapClaims{"iat": time.Now().Add(-24 * time.Hour).Unix()}), "widget_token_lifetime"},
		"no exp":                  {e.widgetJWT(0, jwt.MapClaims{"exp": nil}), "missing_claim"},
		"widget and docent alike": {e.widgetJWT(time.Hour, jwt.MapClaims{"aud": []string{"docent", "docent-widget"}}), "widget_token_lifetime"},
	} {
		status, _, body := e.widgetCall(http.MethodPost, "/v1/answer", tc.token, intranet, map[string]any{"question": vacationQ})
		if code, reason := errorOf(t, body); status != http.StatusUnauthorized || code != "unauthorized" || reason != tc.reason {
			t.Errorf("%s: %d %s, want 401 %s", name, status, body, tc.reason)
		}
	}
}

func TestWidgetJWTNeedsItsOrigins(t *testing.T) {
	t.Parallel()
	// No DOCENT_CORS_ORIGINS: no origin to bind widget JWTs to, so none is accepted.
	e := newEnv(t, options{noJWTIssuer: true})
	status, _, body := e.widgetCall(http.MethodPost, "/v1/answer", e.widgetJWT(10*time.Minute, nil), intranet, map[string]any{"question": vacationQ})
	if _, reason := errorOf(t, body); status != http.StatusUnauthorized || reason != "widget_jwt_disabled" {
		t.Errorf("%d %s, want 401 widget_jwt_disabled", status, body)
	}
}

// docExample returns the fenced code block of docs/widget.md that follows the line
// "<!-- tested: NAME -->".
func docExample(t *testing.T, name string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "widget.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- tested: " + regexp.QuoteMeta(name) + " -->\n```[a-z]*\n(.*?)```\n")
	m := re.FindSubmatch(doc)
	if m == nil {
		t.Fatalf("docs/widget.md has no code block marked <!-- tested: %s -->", name)
	}
	return string(m[1])
}

// runShell runs a documented shell example with env and returns what it printed.
func runShell(t *testing.T, script string, env ...string) []byte {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "openssl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the documented example needs %s", tool)
		}
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("the documented example failed: %v\n%s\n%s", err, out, stderr)
	}
	return out
}

// sessionJSON decodes what a session URL answers, as the widget does: a token, and
// expires_at or expires_in.
func sessionJSON(t *testing.T, body []byte) (token string, expires time.Time) {
	t.Helper()
	var s struct {
		Token     string     `json:"token"`
		ExpiresAt *time.Time `json:"expires_at"`
		ExpiresIn *int       `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &s); err != nil || s.Token == "" || (s.ExpiresAt == nil && s.ExpiresIn == nil) {
		t.Fatalf("not a session URL's answer (%v): %s", err, body)
	}
	if s.ExpiresAt != nil {
		return s.Token, *s.ExpiresAt
	}
	return s.Token, time.Now().Add(time.Duration(*s.ExpiresIn) * time.Second)
}

func TestDocumentedHostBackends(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{corsOrigins: []string{intranet}, noJWTIssuer: true})
	issuer := e.issuerKey("intranet-backend", []string{intranet})
	check := func(name, token string, expires time.Time, wantFacts bool) {
		t.Helper()
		if left := time.Until(expires); left <= 0 || left > 15*time.Minute+time.Minute {
			t.Errorf("%s: expires in %s, want within 15 minutes", name, left)
		}
		status, header, body := e.widgetCall(http.MethodPost, "/v1/answer", token, intranet, map[string]any{"question": "How do I fail over the production database?"})
		if status != http.StatusOK || header.Get("Access-Control-Allow-Origin") != intranet {
			t.Fatalf("%s: the token from the example: %d %s", name, status, body)
		}
		if got := len(leaks(body, failoverFacts)) > 0; got != wantFacts {
			t.Errorf("%s: runbook in the answer %v, want %v: %s", name, got, wantFacts, body)
		}
		if status, _, body := e.widgetCall(http.MethodPost, "/v1/search", token, intranet, map[string]any{"query": "failover"}); status != http.StatusForbidden {
			t.Errorf("%s: the token may search: %d %s", name, status, body)
		}
	}

	t.Run("session, shell", func(t *testing.T) {
		out := runShell(t, docExample(t, "session-shell"), "DOCENT="+e.srv.URL, "ISSUER_KEY="+issuer,
			"USER_ID=ana@northwind.example", `USER_GROUPS=["engineering"]`)
		token, expires := sessionJSON(t, out)
		check("session, shell", token, expires, true)
		out = runShell(t, docExample(t, "session-shell"), "DOCENT="+e.srv.URL, "ISSUER_KEY="+issuer,
			"USER_ID=ben@northwind.example", `USER_GROUPS=["hr"]`)
		token, expires = sessionJSON(t, out)
		check("session for ben, shell", token, expires, false)
	})
	t.Run("JWT, shell", func(t *testing.T) {
		out := runShell(t, docExample(t, "jwt-shell"), "DOCENT_JWT_SECRET="+string(e.secret),
			"USER_ID=ana@northwind.example", `USER_GROUPS=["engineering"]`)
		token, expires := sessionJSON(t, out)
		check("JWT, shell", token, expires, true)
	})
	t.Run("JWT, Go", func(t *testing.T) {
		if got, want := strings.TrimSpace(docExample(t, "jwt-go")), strings.TrimSpace(goExample(t)); got != want {
			t.Fatalf("docs/widget.md's Go example is not the one tested here (widget_jwt_test.go):\n%s\nwant:\n%s", got, want)
		}
		host := httptest.NewServer(sessionURL(e.secret, func(r *http.Request) (string, []string, bool) {
			return "ana@northwind.example", []string{"engineering"}, r.Header.Get("Cookie") == "login=ana"
		}))
		t.Cleanup(host.Close)
		req, _ := http.NewRequest(http.MethodGet, host.URL, nil)
		req.Header.Set("Cookie", "login=ana")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("the Go session URL: %v, Cache-Control %q", err, resp.Header.Get("Cache-Control"))
		}
		token, expires := sessionJSON(t, body)
		check("JWT, Go", token, expires, true)
		if resp, err := http.Get(host.URL); err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the Go session URL without a login: %v %v, want 401", resp.StatusCode, err)
		}
	})
}

// goExample returns the source of sessionURL below, as docs/widget.md shows it.
func goExample(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("widget_jwt_test.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	i, j := strings.Index(s, "// docs:begin\n"), strings.Index(s, "// docs:end\n")
	if i < 0 || j < i {
		t.Fatal("no docs:begin ... docs:end in widget_jwt_test.go")
	}
	return s[i+len("// docs:begin\n") : j]
}

// docs:begin
// sessionURL is the widget's session URL (data-docent-session-url) on your site: for the
// user your own login identifies, a widget JWT of 10 minutes signed with DOCENT_JWT_SECRET.
func sessionURL(secret []byte, currentUser func(*http.Request) (id string, groups []string, ok bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, groups, ok := currentUser(r)
		if !ok {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		now := time.Now()
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": id, "groups": groups, "aud": "docent-widget",
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		}).SignedString(secret)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"token": token, "expires_in": 600})
	}
}

// docs:end

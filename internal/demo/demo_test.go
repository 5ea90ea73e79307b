package demo_test

// The demo host site over HTTP, against a fake Docent that records what the site's backend
// asks for. The real exchange, against a real server and database, is tested in cmd/server
// (TestRunScriptDemo).

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/demo"
)

const (
	issuerKey = "dk_issuerissuerissuerissuerissuerissuerissuer1"
	widgetKey = "dpk_publicpublicpublicpublicpublicpublicpublic"
)

// fakeDocent answers POST /v1/widget/sessions like Docent, for the issuer key only, and
// records the requests.
type fakeDocent struct {
	srv    *httptest.Server
	mu     sync.Mutex
	asked  []map[string]any
	refuse bool // answer 403, as Docent does for a group outside the issuer's grants
}

func newFakeDocent(t *testing.T) *fakeDocent {
	f := &fakeDocent{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/widget/sessions" || r.Header.Get("Authorization") != "Bearer "+issuerKey {
			http.Error(w, `{"error":{"code":"unauthorized","message":"no"}}`, http.StatusUnauthorized)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("session request: %v", err)
		}
		f.mu.Lock()
		f.asked = append(f.asked, body)
		refuse := f.refuse
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if refuse {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":{"code":"forbidden","field":"groups","message":"this issuer may not grant group \"hr\""}}`)
			return
		}
		var groups []string
		for _, g := range body["groups"].([]any) {
			groups = append(groups, "group:"+g.(string))
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": "dws_" + body["user"].(string), "expires_at": time.Now().Add(15 * time.Minute).UTC(),
			"expires_in": 900, "principals": append(groups, "public", "user:"+body["user"].(string)), "origins": []string{"http://127.0.0.1:8080"}})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDocent) requests() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asked)
}

// site is the demo site on a test server, and a browser's cookie jar.
type site struct {
	t      *testing.T
	docent *fakeDocent
	srv    *httptest.Server
	client *http.Client
}

func newSite(t *testing.T) *site { return newSiteAt(t, nil) }

// newSiteAt is newSite with the site's clock.
func newSiteAt(t *testing.T, now func() time.Time) *site {
	t.Helper()
	f := newFakeDocent(t)
	h, err := demo.New(demo.Config{DocentURL: f.srv.URL, IssuerKey: issuerKey, WidgetKey: widgetKey, Now: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &site{t: t, docent: f, srv: srv, client: client}
}

// do sends a request as a browser on the site's own page would (Sec-Fetch-Site:
// same-origin, and Origin on a POST), with header overriding.
func (s *site) do(method, path string, form url.Values, header ...string) (*http.Response, string) {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.srv.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if method == http.MethodPost {
		req.Header.Set("Origin", s.srv.URL)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp, string(data)
}

func (s *site) signIn(user string) {
	s.t.Helper()
	resp, body := s.do(http.MethodPost, "/demo/signin", url.Values{"user": {user}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/demo" {
		s.t.Fatalf("sign in as %s: %d %s", user, resp.StatusCode, body)
	}
}

// session fetches the session URL: the status and the decoded body.
func (s *site) session(header ...string) (int, map[string]any, *http.Response) {
	s.t.Helper()
	resp, body := s.do(http.MethodGet, "/demo/session", nil, header...)
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		s.t.Fatalf("session URL answered %d, not JSON: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, v, resp
}

// scriptTags returns the page's script elements.
var scriptTag = regexp.MustCompile(`<script[^>]*>`)

func TestSessionOnlyForTheSignedInUser(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	if status, body, _ := s.session(); status != http.StatusUnauthorized {
		t.Errorf("not signed in: %d %v, want 401", status, body)
	}

	for _, u := range demo.Users {
		s.signIn(u.ID)
		status, body, resp := s.session()
		if status != http.StatusOK {
			t.Fatalf("%s: %d %v", u.Name, status, body)
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", u.Name, got)
		}
		if body["token"] != "dws_"+u.ID || body["expires_at"] == nil {
			t.Errorf("%s: session %v, want Docent's token and expires_at passed on", u.Name, body)
		}
		// What the backend asked Docent for: this user's id and groups, from its own record.
		asked := s.docent.requests()
		last := asked[len(asked)-1]
		var groups []string
		for _, g := range last["groups"].([]any) {
			groups = append(groups, g.(string))
		}
		if last["user"] != u.ID || !slices.Equal(groups, u.Groups) || last["ttl_seconds"] != float64(900) {
			t.Errorf("%s: the backend asked for %v, want user %s, groups %v, 900 s", u.Name, last, u.ID, u.Groups)
		}
	}

	// Signing out (the public visitor) ends it.
	s.signIn("public")
	if status, body, _ := s.session(); status != http.StatusUnauthorized {
		t.Errorf("after signing out: %d %v, want 401", status, body)
	}
	if n := len(s.docent.requests()); n != len(demo.Users) {
		t.Errorf("%d session requests reached Docent, want %d (one per signed-in fetch)", n, len(demo.Users))
	}
}

func TestForgedSignInsAreRefused(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.signIn(demo.Users[1].ID) // Harper
	u, _ := url.Parse(s.srv.URL + "/demo")
	cookies := s.client.Jar.Cookies(u)
	if len(cookies) != 1 {
		t.Fatalf("cookies after signing in: %v", cookies)
	}
	harper := cookies[0].Value
	id, exp, _ := strings.Cut(harper, "|")
	exp, mac, _ := strings.Cut(exp, "|")
	erin := demo.Users[0].ID

	for name, value := range map[string]string{
		"another user, same signature": erin + "|" + exp + "|" + mac,
		"longer life":                  id + "|" + "99999999999" + "|" + mac,
		"no signature":                 erin,
		"empty signature":              erin + "|" + exp + "|",
		"garbage":                      "%%%|||",
		"expired":                      id + "|1|" + mac,
		"an unknown user, re-signed?":  "mallory@northwind.example|" + exp + "|" + mac,
	} {
		req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/demo/session", nil)
		req.AddCookie(&http.Cookie{Name: "docent_demo_user", Value: value})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, resp.StatusCode)
		}
	}
	if n := len(s.docent.requests()); n != 0 {
		t.Errorf("%d forged sign-ins reached Docent", n)
	}

	// A user who is not a demo user cannot be signed in.
	resp, body := s.do(http.MethodPost, "/demo/signin", url.Values{"user": {"mallory@northwind.example"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("sign in as an unknown user: %d %s, want 400", resp.StatusCode, body)
	}
}

func TestSignInExpires(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newSiteAt(t, clock)
	s.signIn(demo.Users[0].ID)
	if status, body, _ := s.session(); status != http.StatusOK {
		t.Fatalf("signed in: %d %v", status, body)
	}
	mu.Lock()
	now = now.Add(8*time.Hour + time.Second)
	mu.Unlock()
	if status, body, _ := s.session(); status != http.StatusUnauthorized {
		t.Errorf("8 hours later: %d %v, want 401", status, body)
	}
}

func TestOtherSitesCannotSignInOrFetchSessions(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	// Another site's form, posting to the sign-in.
	resp, body := s.do(http.MethodPost, "/demo/signin", url.Values{"user": {demo.Users[0].ID}},
		"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d %s, want 403", resp.StatusCode, body)
	}
	resp, body = s.do(http.MethodPost, "/demo/signin", url.Values{"user": {demo.Users[0].ID}},
		"Origin", "https://evil.example", "Sec-Fetch-Site", "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in from another Origin: %d %s, want 403", resp.StatusCode, body)
	}
	// A signed-in user's browser, fetching the session URL for another site.
	s.signIn(demo.Users[0].ID)
	for _, site := range []string{"cross-site", "same-site"} {
		if status, body, _ := s.session("Sec-Fetch-Site", site); status != http.StatusForbidden {
			t.Errorf("session URL fetched %s: %d %v, want 403", site, status, body)
		}
	}
	if status, body, _ := s.session(); status != http.StatusOK {
		t.Errorf("same-origin: %d %v", status, body)
	}
}

func TestDocentRefusalIsShownNotHidden(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.docent.mu.Lock()
	s.docent.refuse = true
	s.docent.mu.Unlock()
	s.signIn(demo.Users[1].ID)
	status, body, _ := s.session()
	msg, _ := body["error"].(map[string]any)["message"].(string)
	if status != http.StatusBadGateway || !strings.Contains(msg, "may not grant group") || body["token"] != nil {
		t.Errorf("Docent refused: %d %v, want 502 with Docent's reason and no token", status, body)
	}
}

func TestPageLoadsTheWidget(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	check := func(who, body string, resp *http.Response, want map[string]string, absent []string) {
		t.Helper()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: GET /demo %d %s", who, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); resp.Header.Get("Cache-Control") != "no-store" ||
			!strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "style-src 'self';") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: headers %v", who, resp.Header)
		}
		tags := scriptTag.FindAllString(body, -1)
		if len(tags) != 1 {
			t.Fatalf("%s: %d script tags, want the widget's only: %q", who, len(tags), tags)
		}
		tag := tags[0]
		// The widget offers only an http(s) escalation link (docs/widget.md): a mailto: one
		// would silently not be shown.
		if !strings.Contains(tag, `data-docent-escalation-url="/demo#helpdesk"`) || !strings.Contains(body, `id="helpdesk"`) {
			t.Errorf("%s: %s, want the escalation link to the page's helpdesk section", who, tag)
		}
		if !strings.Contains(tag, `src="/widget.js"`) || !strings.Contains(tag, " async") {
			t.Errorf("%s: %s, want src=/widget.js async", who, tag)
		}
		for attr, value := range want {
			if !strings.Contains(tag, attr+`="`+value+`"`) {
				t.Errorf("%s: %s lacks %s=%q", who, tag, attr, value)
			}
		}
		for _, attr := range absent {
			if strings.Contains(tag, attr) {
				t.Errorf("%s: %s has %s", who, tag, attr)
			}
		}
		// No secret and no identity the page could edit: no secret key, no session token,
		// no principal in the script tag.
		for _, secret := range []string{issuerKey, "dk_", "dws_", "group:"} {
			if strings.Contains(body, secret) && (secret != "group:" || strings.Contains(tag, secret)) {
				t.Errorf("%s: the page contains %q", who, secret)
			}
		}
		if strings.Contains(tag, "data-docent-groups") || strings.Contains(tag, "data-docent-user") {
			t.Errorf("%s: the page names an identity: %s", who, tag)
		}
	}

	resp, body := s.do(http.MethodGet, "/demo", nil)
	check("public", body, resp, map[string]string{"data-docent-key": widgetKey}, []string{"data-docent-session-url"})
	if !strings.Contains(body, `data-docent-suggestions="How many vacation days do I get?|Which laptop does a field technician get?|`) {
		t.Errorf("the public visitor's suggestions lack the handbook's questions")
	}
	if !strings.Contains(body, `aria-pressed="true">Public visitor`) {
		t.Errorf("the switcher does not show the public visitor as chosen")
	}

	for _, u := range demo.Users {
		s.signIn(u.ID)
		resp, body := s.do(http.MethodGet, "/demo", nil)
		check(u.Name, body, resp, map[string]string{"data-docent-session-url": "/demo/session"}, []string{"data-docent-key", "dpk_"})
		if !strings.Contains(body, `value="`+u.ID+`" aria-pressed="true"`) {
			t.Errorf("%s: the switcher does not show them as signed in", u.Name)
		}
		// Their own suggested questions (the widget shows 4 at most).
		if want := `data-docent-suggestions="` + strings.Join(u.Suggestions, "|") + `"`; len(u.Suggestions) == 0 || len(u.Suggestions) > 4 || !strings.Contains(body, want) {
			t.Errorf("%s: the page lacks %s", u.Name, want)
		}
	}

	// The stylesheet the page links to is served (a strict CSP: no inline style attribute
	// needed by the page itself).
	resp, css := s.do(http.MethodGet, "/demo/demo.css", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(css, ".switcher") {
		t.Errorf("GET /demo/demo.css: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// And its icon (without one, browsers ask for /favicon.ico, a 404 in the console).
	resp, icon := s.do(http.MethodGet, "/demo/favicon.svg", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(icon, "<svg") ||
		!strings.Contains(body, `<link rel="icon" href="/demo/favicon.svg"`) {
		t.Errorf("GET /demo/favicon.svg: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	good := demo.Config{DocentURL: "http://127.0.0.1:8080", IssuerKey: issuerKey, WidgetKey: widgetKey}
	for name, mutate := range map[string]func(*demo.Config){
		"no URL":               func(c *demo.Config) { c.DocentURL = "" },
		"not http":             func(c *demo.Config) { c.DocentURL = "ftp://x" },
		"widget key as issuer": func(c *demo.Config) { c.IssuerKey = widgetKey },
		"issuer key as widget": func(c *demo.Config) { c.WidgetKey = issuerKey },
		"too long a session":   func(c *demo.Config) { c.SessionTTL = time.Hour },
		"a user named public":  func(c *demo.Config) { c.Users = []demo.User{{ID: "public"}} },
	} {
		c := good
		mutate(&c)
		if _, err := demo.New(c, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := demo.New(good, nil); err != nil {
		t.Errorf("a good configuration: %v", err)
	}
}

package widget_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/api"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/metrics"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/trace"
)

// TestMain lets this test binary parse the demo corpus's PDFs (in a child process).
func TestMain(m *testing.M) {
	extract.RunChildIfRequested()
	os.Exit(m.Run())
}

// env is the real server (database, demo corpus, extractive answerer) on one origin and a host
// site on another (localhost rather than 127.0.0.1, and another port), which serves the pages
// that embed the widget and, as a site behind a login would, mints end-user sessions for the
// user of its cookie.
type env struct {
	t      testing.TB
	db     *dbtest.DB
	api    *httptest.Server // http://127.0.0.1:port
	host   *httptest.Server
	site   string // the host site's origin: http://localhost:port
	issuer string // the host site's session issuer key (a secret of its backend)

	mu       sync.Mutex
	pages    map[string]page
	requests []served // what the API served
	csp      []string // CSP violation reports the host site received
	sessions int      // sessions the host site served
	// cancelled records the answers whose request context ended while generating.
	cancelled chan string
}

// page is a host page: the widget's tag with attrs, a Content-Security-Policy header, and
// HTML before the tag (trusted: the test's own).
type page struct {
	attrs  map[string]string
	csp    string
	before string
}

// served is a request the API answered.
type served struct {
	method, path, origin string
	status               int
}

// extraDocuments are public documents added to the demo corpus for the XSS tests.
var extraDocuments = map[string]string{
	"handbook/zanzibar-badges.md": "---\ntitle: \"Zanzibar <img src=x onerror=window.__pwned='title'> badges\"\n---\n\n" +
		"# Zanzibar badge policy\n\n" +
		"Zanzibar badges are renewed every spring <img src=x onerror=\"window.__pwned='img'\"> at the front desk. " +
		"The Zanzibar badge form is at [the form](javascript:window.__pwned='link') and <a href=\"javascript:window.__pwned='a'\">here</a>. " +
		"Lost Zanzibar badges cost 15 euros <script>window.__pwned='script'</script> to replace.\n",
}

// slowQuestion makes the answerer write one delta and then wait for the request to end
// (TestWidgetStop): generation that only a cancelled request context stops.
const slowQuestion = "Describe the vacation days policy slowly"

// slowAnswerer is the extractive answerer, except for slowQuestion.
type slowAnswerer struct {
	*answer.Answerer
	cancelled chan<- string
}

func (s slowAnswerer) Answer(ctx context.Context, q answer.Prompt, onDelta func(string)) (*answer.Result, error) {
	if !strings.Contains(q.Question, "slowly") {
		return s.Answerer.Answer(ctx, q, onDelta)
	}
	onDelta("Vacation days are ")
	select {
	case <-ctx.Done():
		s.cancelled <- q.Question
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("slow answer: never cancelled")
	}
}

// newEnv starts the server (with an answer cache of cacheSize answers; 0: none) and the host
// site.
func newEnv(t testing.TB, cacheSize int) *env {
	t.Helper()
	ctx := context.Background()
	db := dbtest.New(t)
	logger := slog.New(slog.DiscardHandler)
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{Source: "demo", Roots: []string{demoCorpus(t)}}, db.Pool, emb, logger)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := in.Run(ctx); err != nil || s.Documents.Failed > 0 {
		t.Fatalf("ingest the demo corpus: %v %v", err, s.Failures)
	}
	e := &env{t: t, db: db, pages: map[string]page{}, cancelled: make(chan string, 4)}
	authn, err := auth.New(ctx, auth.Config{SessionSecret: []byte("the widget session secret of the widget tests")},
		auth.DBKeys{DB: db.Pool}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authn.Close(context.Background()) })
	r, err := retrieve.New(retrieve.Config{}, db.Pool, emb, nil, "", logger)
	if err != nil {
		t.Fatal(err)
	}
	a, err := answer.New(answer.Config{}, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	traces, err := trace.New(trace.Config{FlushEvery: 20 * time.Millisecond}, db.Pool, m, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = traces.Close(context.Background()) })
	h, err := api.New(api.Config{MinEvidence: defaultMinEvidence(t), CacheSize: cacheSize, RateLimit: 1000, RateBurst: 1000,
		WidgetKeyRate: 1000, WidgetKeyBurst: 1000, WidgetAddressRate: 1000, WidgetAddressBurst: 1000},
		db.Pool, r, slowAnswerer{a, e.cancelled}, authn, traces, m, logger)
	if err != nil {
		t.Fatal(err)
	}
	e.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		e.mu.Lock()
		e.requests = append(e.requests, served{r.Method, r.URL.Path, r.Header.Get("Origin"), rec.status})
		e.mu.Unlock()
	}))
	t.Cleanup(e.api.Close)
	e.host = httptest.NewServer(http.HandlerFunc(e.serveHost))
	t.Cleanup(e.host.Close)
	e.site = strings.Replace(e.host.URL, "127.0.0.1", "localhost", 1)
	e.issuer = e.key(index.KindSessionIssuer, "intranet-backend", []string{e.site}, []string{"group:engineering", "group:hr"})
	return e
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// demoCorpus copies testdata/demo and extraDocuments into a temporary folder.
func demoCorpus(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "testdata", "demo")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	for name, content := range extraDocuments {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// key creates a key of kind (widget or session issuer) and returns it.
func (e *env) key(kind, name string, origins, principals []string) string {
	e.t.Helper()
	generate := auth.GenerateKey
	nk := index.NewKey{Name: name, Principals: principals, Role: index.RoleUser, Kind: kind, Origins: origins}
	if kind == index.KindWidget {
		generate = auth.GenerateWidgetKey
	} else {
		nk.UserDomain = "northwind.example"
	}
	key, prefix, hash, err := generate()
	if err != nil {
		e.t.Fatal(err)
	}
	nk.Prefix, nk.Hash = prefix, hash
	if _, err := index.CreateKey(context.Background(), e.db.Pool, nk); err != nil {
		e.t.Fatal(err)
	}
	return key
}

// widgetKey is a publishable key for the host site, reading public documents.
func (e *env) widgetKey(name string) string {
	return e.key(index.KindWidget, name, []string{e.site}, []string{"public"})
}

// addPage registers a host page at /p/name and returns its URL on the host site's origin.
func (e *env) addPage(name string, p page) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pages[name] = p
	return e.site + "/p/" + name
}

// users are the demo users the host site signs in, and the groups its backend vouches for.
var users = map[string][]string{
	"erin":   {"engineering"},
	"harper": {"hr"},
}

// serveHost is the host site: /p/<name> (a page; ?login=<user> signs that user in with a
// cookie first), /session (a session for the signed-in user, minted with the issuer key
// from the backend, as docs/widget.md shows).
func (e *env) serveHost(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/p/"):
		e.mu.Lock()
		p, ok := e.pages[strings.TrimPrefix(r.URL.Path, "/p/")]
		e.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if u := r.URL.Query().Get("login"); u != "" {
			http.SetCookie(w, &http.Cookie{Name: "user", Value: u, Path: "/", HttpOnly: true})
		}
		if p.csp != "" {
			w.Header().Set("Content-Security-Policy", p.csp)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		var tag strings.Builder
		tag.WriteString(`<script src="` + e.api.URL + `/widget.js" async`)
		for k, v := range p.attrs {
			tag.WriteString(" " + k + `="` + html.EscapeString(v) + `"`)
		}
		tag.WriteString("></script>")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Northwind intranet</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>Northwind intranet</h1>%s%s</body></html>`, p.before, tag.String())
	case r.URL.Path == "/csp":
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		e.mu.Lock()
		e.csp = append(e.csp, string(body))
		e.mu.Unlock()
	case r.URL.Path == "/session":
		c, err := r.Cookie("user")
		groups, ok := users[cookieValue(c, err)]
		if !ok {
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
		body, _ := json.Marshal(map[string]any{"user": c.Value + "@northwind.example", "groups": groups, "ttl_seconds": 900})
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, e.api.URL+"/v1/widget/sessions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.issuer)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		e.mu.Lock()
		e.sessions++
		e.mu.Unlock()
		if r.URL.Query().Get("short") == "" || res.StatusCode != http.StatusCreated {
			w.WriteHeader(res.StatusCode)
			_, _ = io.Copy(w, res.Body)
			return
		}
		// ?short: the site says the session lasts 3 s (the widget's other format, expires_in).
		var s map[string]any
		if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"token": s["token"], "expires_in": 3})
	default:
		http.NotFound(w, r)
	}
}

func cookieValue(c *http.Cookie, err error) string {
	if err != nil {
		return ""
	}
	return c.Value
}

// cspReports returns the CSP violation reports received so far.
func (e *env) cspReports() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.csp)
}

// sessionCount returns the sessions the host site served.
func (e *env) sessionCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions
}

// served returns the requests the API answered for path.
func (e *env) served(path string) []served {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []served
	for _, s := range e.requests {
		if s.path == path {
			out = append(out, s)
		}
	}
	return out
}

// ---- driving the widget ----

// shadow is the widget's shadow root, in page scripts.
const shadow = `document.querySelector('docent-chat').shadowRoot`

// eval evaluates a JavaScript expression in the page (awaiting a promise) and returns its
// value, decoded from JSON into T.
func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition in the page until it is true, failing after 20 s.
func waitFor(t testing.TB, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")")); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(()=>{const h=document.querySelector('docent-chat');return h&&h.shadowRoot?h.shadowRoot.textContent:'(no widget)'})()`))
			t.Fatalf("waiting for %s: timed out; the widget shows: %q", what, text)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// open navigates tab to url and waits for the widget to be ready.
func open(t testing.TB, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate to %s: %v", url, err)
	}
	waitFor(t, ctx, "the widget", `document.querySelector('docent-chat[data-ready]')`)
}

// widgetText is all the text of the widget's shadow DOM.
func widgetText(t testing.TB, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, shadow+`.textContent`)
}

func decodeJSON(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v)
}

// defaultMinEvidence is DOCENT_MIN_EVIDENCE's default, the threshold the server refuses
// below: the widget is tested as it is deployed.
func defaultMinEvidence(t testing.TB) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(config.Lookup(func(string) string { return "" }, config.MinEvidence), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

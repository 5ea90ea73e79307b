// Package demo is the demo host site that `make run` serves at /demo: an intranet page of
// Northwind Robotics (the fictional company of testdata/demo) with Docent's chat widget on
// it, where one can sign in as one of the demo users and see what each may read.
//
// It plays the part of a customer's web site, and does exactly what docs/widget.md asks of
// one, no more: its own login (a cookie it signs; no password, it is a demo), and a session
// URL (GET /demo/session) that its backend answers by asking Docent for a session for the
// signed-in user over HTTP, with a session issuer key (POST /v1/widget/sessions), as any
// host backend would. The page carries no secret and never names groups: the widget gets its
// principals only from the token Docent signed. A visitor who is not signed in gets the
// public variant, a publishable widget key that sees the handbook.
//
// The widget itself (GET /widget.js) is not part of this package: the page only loads it.
//
// Anyone who can reach the page can sign in as any demo user: cmd/server serves it only
// when DOCENT_DEMO says so, and only on a loopback address unless told otherwise.
package demo

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// User is a demo user of the host site: who its login knows, and what its backend asks
// Docent to grant.
type User struct {
	ID     string   // the user id sent to Docent (canonical, under the issuer's user domain)
	Name   string   // shown on the page
	Title  string   // shown on the page
	Groups []string // the groups the host site vouches for, without "group:"
	// Try is a question that shows what this user may (or may not) read.
	Try string
	// Suggestions are the widget's suggested questions for this user (at most 4): each
	// answered from a document this user reads (testdata/DEMO.md).
	Suggestions []string
}

// publicSuggestions are the public visitor's suggested questions: the handbook's page, its
// spreadsheet, and two questions it is refused.
var publicSuggestions = []string{"How many vacation days do I get?", "Which laptop does a field technician get?",
	"How do I fail over the production database?", "What is the salary band for a Senior Robotics Engineer?"}

// Users are the default demo users (docs/widget.md, testdata/DEMO.md). Their groups must be
// among the issuer key's --group values, their ids under its --user-domain.
var Users = []User{
	{ID: "erin@northwind.example", Name: "Erin", Title: "Site reliability engineer", Groups: []string{"engineering"},
		Try: "How do I fail over the production database?",
		// A runbook, a slide of a deck, a scanned certificate (OCR), a spreadsheet.
		Suggestions: []string{"How do I fail over the production database?", "When does the Flock 4.3 beta start?",
			"When is the next safety inspection of the Austin Proving Ground due?", "Which laptop does a field technician get?"}},
	{ID: "harper@northwind.example", Name: "Harper", Title: "People partner, people team", Groups: []string{"hr"},
		Try: "What is the salary band for a Senior Robotics Engineer?",
		// A page, a Word document, the handbook, a spreadsheet.
		Suggestions: []string{"What is the salary band for a Senior Robotics Engineer?", "What is the relocation allowance for a move between two US offices?",
			"How many vacation days do I get?", "Which laptop does a field technician get?"}},
}

// Config configures the demo site.
type Config struct {
	// DocentURL is where the host backend asks for sessions: the Docent server serving this
	// page, reached from the server itself (http://127.0.0.1:PORT).
	DocentURL string
	// IssuerKey is the session issuer key (dk_...) of the host backend: a secret, used only
	// in the server-to-server request, never put in a page.
	IssuerKey string
	// WidgetKey is the publishable key (dpk_...) of the public variant.
	WidgetKey string
	// Users are the users one may sign in as; default Users.
	Users []User
	// SessionTTL is the lifetime asked for each session; default 15 minutes (Docent's
	// maximum).
	SessionTTL time.Duration
	// Client makes the request to Docent; default one with a 10 s timeout.
	Client *http.Client
	// Now is the clock of the sign-in cookie; default time.Now.
	Now func() time.Time
}

// Site is the demo host site, an http.Handler for /demo and below.
type Site struct {
	cfg    Config
	secret []byte // signs the sign-in cookie; random per process
	mux    *http.ServeMux
	logger *slog.Logger
}

const (
	cookieName = "docent_demo_user"
	// signInFor is how long a demo sign-in lasts.
	signInFor = 8 * time.Hour
	// maxSessionBody bounds Docent's answer to a session request.
	maxSessionBody = 64 << 10
	// Paths, all under /demo.
	pagePath    = "/demo"
	sessionPath = "/demo/session"
	signInPath  = "/demo/signin"
	stylePath   = "/demo/demo.css"
	iconPath    = "/demo/favicon.svg"
)

// New returns the demo site.
func New(cfg Config, logger *slog.Logger) (*Site, error) {
	if cfg.Users == nil {
		cfg.Users = Users
	}
	cfg.SessionTTL = cmp.Or(cfg.SessionTTL, 15*time.Minute)
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(cfg.DocentURL)
	switch {
	case cfg.DocentURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("demo: DocentURL %q is not an http(s) URL", cfg.DocentURL)
	case !strings.HasPrefix(cfg.IssuerKey, "dk_"):
		return nil, errors.New("demo: the issuer key must be a session issuer key (dk_...)")
	case !strings.HasPrefix(cfg.WidgetKey, "dpk_"):
		return nil, errors.New("demo: the widget key must be a publishable widget key (dpk_...)")
	case cfg.SessionTTL < time.Minute || cfg.SessionTTL > 15*time.Minute:
		return nil, fmt.Errorf("demo: SessionTTL %s is not between 1m and 15m", cfg.SessionTTL)
	}
	for _, usr := range cfg.Users {
		if usr.ID == "" || usr.ID == publicID || strings.ContainsAny(usr.ID, "|;, ") {
			return nil, fmt.Errorf("demo: user id %q cannot be signed in", usr.ID)
		}
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	s := &Site{cfg: cfg, secret: secret, mux: http.NewServeMux(), logger: logger}
	// Signing in is a form post: refused from other sites (Sec-Fetch-Site, Origin), so that
	// no other page can sign a visitor in as someone else.
	csrf := http.NewCrossOriginProtection()
	s.mux.HandleFunc("GET "+pagePath, s.page)
	s.mux.HandleFunc("GET "+stylePath, s.style)
	s.mux.HandleFunc("GET "+iconPath, s.icon)
	s.mux.HandleFunc("GET "+sessionPath, s.session)
	s.mux.Handle("POST "+signInPath, csrf.Handler(http.HandlerFunc(s.signIn)))
	return s, nil
}

func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// publicID is the switcher's value for "not signed in".
const publicID = "public"

// user returns the signed-in user of r: the one its cookie names, if the cookie was signed
// by this site, has not expired, and names a demo user. ok is false otherwise; forged is
// true when a cookie was sent but is not valid.
func (s *Site) user(r *http.Request) (u User, ok, forged bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return User{}, false, false
	}
	id, ok := s.verify(c.Value)
	if !ok {
		return User{}, false, true
	}
	i := slices.IndexFunc(s.cfg.Users, func(u User) bool { return u.ID == id })
	if i < 0 {
		return User{}, false, true
	}
	return s.cfg.Users[i], true, false
}

// sign returns the cookie value naming id until exp: id|exp|HMAC-SHA256(id|exp).
func (s *Site) sign(id string, exp time.Time) string {
	v := id + "|" + strconv.FormatInt(exp.Unix(), 10)
	return v + "|" + base64.RawURLEncoding.EncodeToString(s.mac(v))
}

func (s *Site) mac(v string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("docent demo sign-in\x00"))
	m.Write([]byte(v))
	return m.Sum(nil)
}

// verify returns the user id of a cookie value that sign made and that has not expired.
func (s *Site) verify(value string) (string, bool) {
	i := strings.LastIndexByte(value, '|')
	if i < 0 {
		return "", false
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(value[i+1:])
	if err != nil || !hmac.Equal(got, s.mac(value[:i])) {
		return "", false
	}
	id, expText, ok := strings.Cut(value[:i], "|")
	exp, err := strconv.ParseInt(expText, 10, 64)
	if !ok || err != nil || !s.cfg.Now().Before(time.Unix(exp, 0)) {
		return "", false
	}
	return id, true
}

func (s *Site) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: value, Path: pagePath, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// signIn switches the signed-in user (form field "user": a demo user's id, or "public" to
// sign out) and sends the browser back to the page, which loads the widget again.
func (s *Site) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	id := r.PostFormValue("user")
	switch {
	case id == publicID:
		s.setCookie(w, r, "", -1)
	case slices.ContainsFunc(s.cfg.Users, func(u User) bool { return u.ID == id }):
		s.setCookie(w, r, s.sign(id, s.cfg.Now().Add(signInFor)), int(signInFor.Seconds()))
	default:
		http.Error(w, "no such demo user", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, pagePath, http.StatusSeeOther)
}

// sessionBody is what the session URL answers: the widget's contract (docs/widget.md).
type sessionBody struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	ExpiresIn int       `json:"expires_in"`
	// Principals are what Docent granted, shown by the page for the demo's sake.
	Principals []string `json:"principals"`
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	writeJSON(w, status, b)
}

// session is the session URL: for the signed-in user only, a Docent session minted through
// POST /v1/widget/sessions with the issuer key, never cached. The user and the groups come
// from the host site's own record of who is signed in, nothing from the request.
func (s *Site) session(w http.ResponseWriter, r *http.Request) {
	// Only this site's own pages may fetch it (a cross-site page could not read the answer
	// anyway, and the cookie is SameSite=Strict; this refuses the request itself).
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		writeError(w, http.StatusForbidden, "forbidden", "the session URL answers this site's own pages only")
		return
	}
	u, ok, forged := s.user(r)
	if !ok {
		if forged {
			s.setCookie(w, r, "", -1)
		}
		writeError(w, http.StatusUnauthorized, "unauthorized", "sign in on the demo site first")
		return
	}
	sess, status, err := s.mint(r.Context(), u)
	if err != nil {
		s.logger.WarnContext(r.Context(), "demo: Docent refused a session", "user", u.ID, "status", status, "err", err)
		writeError(w, http.StatusBadGateway, "session_failed", "Docent did not grant a session: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, sess)
}

// mint asks Docent for a session for u, as docs/widget.md shows a host backend doing.
func (s *Site) mint(ctx context.Context, u User) (sessionBody, int, error) {
	body, err := json.Marshal(map[string]any{"user": u.ID, "groups": u.Groups, "ttl_seconds": int(s.cfg.SessionTTL.Seconds())})
	if err != nil {
		return sessionBody{}, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(s.cfg.DocentURL, "/")+"/v1/widget/sessions", bytes.NewReader(body))
	if err != nil {
		return sessionBody{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.IssuerKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return sessionBody{}, 0, errors.New("the Docent server is unreachable")
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSessionBody))
	if err != nil {
		return sessionBody{}, resp.StatusCode, errors.New("the answer could not be read")
	}
	if resp.StatusCode != http.StatusCreated {
		var e errorBody
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return sessionBody{}, resp.StatusCode, fmt.Errorf("%d %s", resp.StatusCode, e.Error.Message)
		}
		return sessionBody{}, resp.StatusCode, fmt.Errorf("status %d", resp.StatusCode)
	}
	var sess sessionBody
	if err := json.Unmarshal(data, &sess); err != nil || !strings.HasPrefix(sess.Token, "dws_") || sess.ExpiresAt.IsZero() {
		return sessionBody{}, resp.StatusCode, errors.New("the answer is not a session")
	}
	return sess, resp.StatusCode, nil
}

//go:embed page.html
var pageHTML string

//go:embed demo.css
var styleCSS []byte

// faviconSVG is the page's icon (without one, browsers ask for /favicon.ico and log a 404).
//
//go:embed favicon.svg
var faviconSVG []byte

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// pageData is what the page shows.
type pageData struct {
	Users       []User
	Current     *User // nil: a public visitor
	WidgetKey   string
	SessionURL  string
	Suggestions string
	Greeting    string
}

// contentSecurityPolicy is the page's: scripts and styles only from this origin (the widget,
// demo.css), nothing inline (the widget needs no 'unsafe-inline': its styles are a constructed
// stylesheet, docs/widget.md), nothing framed, forms only to this site.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

func (s *Site) page(w http.ResponseWriter, r *http.Request) {
	d := pageData{Users: s.cfg.Users, SessionURL: sessionPath, WidgetKey: s.cfg.WidgetKey,
		Suggestions: strings.Join(publicSuggestions, "|"),
		Greeting:    "Hi! Ask me about Northwind's handbook. I answer from the public documents only."}
	u, ok, forged := s.user(r)
	if forged {
		s.setCookie(w, r, "", -1)
	}
	if ok {
		d.Current = &u
		if len(u.Suggestions) > 0 {
			d.Suggestions = strings.Join(u.Suggestions, "|")
		}
		d.Greeting = "Hi " + u.Name + "! Ask me anything about Northwind's documents you can read."
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		s.logger.ErrorContext(r.Context(), "demo: render the page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Per user: never cached, so that switching users always shows the right widget.
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "same-origin")
	_, _ = w.Write(buf.Bytes())
}

func (s *Site) style(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(styleCSS)
}

func (s *Site) icon(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(faviconSVG)
}

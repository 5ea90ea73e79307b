package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestRunScriptDemo runs scripts/run.sh (what `make run` runs) for real, twice, on a database
// of its own and a free port, and goes through the demo as a browser would: the public
// visitor's widget key sees the handbook only; Erin, signed in on the demo site, gets a
// session (minted by the site's backend through POST /v1/widget/sessions) whose principals
// are hers and which answers the failover question; Harper's is refused it. The second run
// replaces every key: the first run's keys and sessions stop working. The demo's office
// files and scan are answered from, with their locators (checkDemoDocuments).
func TestRunScriptDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and ingests the demo corpus")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	t.Parallel()
	db := dbtest.New(t)
	root := scriptCheckout(t)

	first := startRunScript(t, root, db.URL, freeAddr(t))
	pub := first.widgetKey()
	erin, harper := first.signedIn("erin@northwind.example"), first.signedIn("harper@northwind.example")
	erinSession := erin.session()

	if got, want := erinSession.Principals, []string{"group:engineering", "public", "user:erin@northwind.example"}; !slices.Equal(got, want) {
		t.Errorf("Erin's session grants %v, want %v", got, want)
	}
	if got, want := harper.session().Principals, []string{"group:hr", "public", "user:harper@northwind.example"}; !slices.Equal(got, want) {
		t.Errorf("Harper's session grants %v, want %v", got, want)
	}
	const failover, salary, vacation = "How do I fail over the production database?", "What is the salary band for a Senior Robotics Engineer?", "How many vacation days do I get?"
	runbook := []string{"flock-pg-2", "database-failover"}
	bands := []string{"152,000", "salary-bands"}
	for _, origin := range first.origins() {
		a := first.ask(pub, origin, failover)
		if !a.Refused || len(a.Citations) > 0 || leaked(a, runbook) {
			t.Errorf("public from %s, failover: %+v, want refused", origin, a)
		}
		if a := first.ask(pub, origin, vacation); a.Refused || !strings.Contains(a.Answer, "25") {
			t.Errorf("public from %s, vacation: %+v, want the handbook's 25 days", origin, a)
		}
	}
	origin := first.origins()[0]
	if a := first.ask(erinSession.Token, origin, failover); a.Refused || !leaked(a, runbook) {
		t.Errorf("Erin, failover: %+v, want the runbook", a)
	}
	harperToken := harper.session().Token
	if a := first.ask(harperToken, origin, failover); !a.Refused || leaked(a, runbook) {
		t.Errorf("Harper, failover: %+v, want refused", a)
	}
	if a := first.ask(harperToken, origin, salary); a.Refused || !leaked(a, bands) {
		t.Errorf("Harper, salary band: %+v, want the salary bands", a)
	}
	if a := first.ask(erinSession.Token, origin, salary); leaked(a, bands) {
		t.Errorf("Erin, salary band: %+v, leaks the salary bands", a)
	}
	// The demo's Word document, deck, spreadsheet and scan, cited where they say it.
	checkDemoDocuments(t, first, pub, erinSession.Token, harperToken)
	first.stop()

	// Run again: every demo key is replaced.
	second := startRunScript(t, root, db.URL, strings.TrimPrefix(first.base, "http://"))
	if second.widgetKey() == pub {
		t.Errorf("the second run kept the widget key")
	}
	for name, token := range map[string]string{"the first widget key": pub, "a session of the first issuer key": erinSession.Token} {
		status, body := second.answer(token, origin, vacation)
		if status != http.StatusUnauthorized {
			t.Errorf("%s after a rerun: %d %s, want 401", name, status, body)
		}
	}
	if a := second.ask(second.signedIn("erin@northwind.example").session().Token, origin, failover); a.Refused || !leaked(a, runbook) {
		t.Errorf("Erin after a rerun, failover: %+v", a)
	}
	second.stop()
}

// scriptCheckout lays out what scripts/run.sh needs in a temporary directory: the scripts,
// the demo corpus and freshly built binaries, so that the test neither uses nor replaces the
// checkout's bin/.
func scriptCheckout(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"scripts", filepath.Join("testdata", "demo")} {
		if err := os.CopyFS(filepath.Join(root, dir), os.DirFS(filepath.Join(repo, dir))); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(root, "bin")+"/", "./cmd/ingest", "./cmd/server")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return root
}

// runScript is a running scripts/run.sh.
type runScript struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	port   string
	out    *lockedWriter
	done   chan struct{}
	closed bool
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startRunScript runs scripts/run.sh in root on database dbURL, serving on addr, and waits
// until the server is ready.
func startRunScript(t *testing.T, root, dbURL, addr string) *runScript {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "run.sh"))
	// Only what the script needs: none of the caller's DOCENT_* settings (DOCENT_DB_PORT
	// above all).
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "DOCENT_DATABASE_URL=" + dbURL,
		"DOCENT_ADDR=" + addr, "DOCENT_LOG_FORMAT=json", "DOCENT_LOG_LEVEL=warn"}
	out := &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	r := &runScript{t: t, cmd: cmd, base: "http://" + addr, port: port, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	t.Cleanup(r.stop)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-r.done:
			t.Fatalf("scripts/run.sh exited:\n%s", out.String())
		default:
		}
		if resp, err := http.Get(r.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 3 minutes:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), r.base+"/demo") {
		t.Errorf("scripts/run.sh does not print the demo page's address %s/demo:\n%s", r.base, out.String())
	}
	return r
}

// stop interrupts the server (run.sh execs it) and waits for it.
func (r *runScript) stop() {
	if r.closed {
		return
	}
	r.closed = true
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
	if r.t.Failed() {
		r.t.Logf("scripts/run.sh output:\n%s", r.out.String())
	}
}

// origins are the demo site's origins, as a browser names them.
func (r *runScript) origins() []string {
	return []string{"http://127.0.0.1:" + r.port, "http://localhost:" + r.port}
}

var keyAttr = regexp.MustCompile(`data-docent-key="(dpk_[A-Za-z0-9_-]+)"`)

// widgetKey returns the publishable key of the public visitor's page.
func (r *runScript) widgetKey() string {
	r.t.Helper()
	resp, err := http.Get(r.base + "/demo")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := keyAttr.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		r.t.Fatalf("GET /demo: %d, no widget key in\n%s", resp.StatusCode, body)
	}
	return string(m[1])
}

// browser is a browser signed in on the demo site.
type browser struct {
	r      *runScript
	client *http.Client
}

func (r *runScript) signedIn(user string) *browser {
	r.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{r: r, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	req, _ := http.NewRequest(http.MethodPost, r.base+"/demo/signin", strings.NewReader(url.Values{"user": {user}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", r.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.client.Do(req) // follows the redirect to /demo
	if err != nil {
		r.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`data-docent-session-url="/demo/session"`)) {
		r.t.Fatalf("sign in as %s: %d\n%s", user, resp.StatusCode, body)
	}
	return b
}

type demoSession struct {
	Token      string    `json:"token"`
	ExpiresAt  time.Time `json:"expires_at"`
	Principals []string  `json:"principals"`
}

// session fetches the session URL, as the widget does.
func (b *browser) session() demoSession {
	b.r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.r.base+"/demo/session", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.client.Do(req)
	if err != nil {
		b.r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var s demoSession
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &s) != nil || !strings.HasPrefix(s.Token, "dws_") {
		b.r.t.Fatalf("GET /demo/session: %d %s", resp.StatusCode, body)
	}
	if left := time.Until(s.ExpiresAt); left < 14*time.Minute || left > 15*time.Minute+time.Second {
		b.r.t.Errorf("the session expires in %s, want 15 minutes", left)
	}
	return s
}

// answer asks a question with token from a page of origin.
func (r *runScript) answer(token, origin, question string) (int, []byte) {
	r.t.Helper()
	body, _ := json.Marshal(map[string]string{"question": question})
	req, _ := http.NewRequest(http.MethodPost, r.base+"/v1/answer", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

type demoAnswer struct {
	Answer    string
	Refused   bool
	Citations []struct {
		Snippet  string
		Document struct{ URI string }
	}
}

func (r *runScript) ask(token, origin, question string) demoAnswer {
	r.t.Helper()
	status, body := r.answer(token, origin, question)
	var a demoAnswer
	if status != http.StatusOK || json.Unmarshal(body, &a) != nil {
		r.t.Fatalf("POST /v1/answer %q from %s: %d %s", question, origin, status, body)
	}
	return a
}

// leaked reports whether any of facts is in the answer or its citations.
func leaked(a demoAnswer, facts []string) bool {
	text := a.Answer
	for _, c := range a.Citations {
		text += "\n" + c.Snippet + "\n" + c.Document.URI
	}
	return slices.ContainsFunc(facts, func(f string) bool { return strings.Contains(text, f) })
}

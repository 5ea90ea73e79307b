package main

// The demo page as `make run` serves it (scripts/run.sh, run_script_test.go), with the real
// widget, in a real headless Chromium.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	chromium "github.com/docent-rag/docent/internal/testing/browser"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestDemoPageInABrowser opens http://ADDR/demo of scripts/run.sh in Chromium and uses it as a
// visitor would, through the page's own switcher and the widget's own input: the public
// visitor gets the handbook's vacation days (streamed, with a source card) and is refused the
// failover question; Erin, signed in by clicking her name, gets the runbook, and after a
// reload finds her conversation restored (a same-origin GET without an Origin header);
// Harper, signed in next in the same tab, where Erin's conversation id is still stored, is
// refused the failover question and answered the salary band one, and the page never holds
// engineering's facts, also after it plants Erin's conversation id again and reloads. No
// console error and no CSP violation happen on the way (the page's CSP has no
// 'unsafe-inline'). With DOCENT_SCREENSHOTS=<dir> it writes docs/widget.md's demo
// screenshots there.
func TestDemoPageInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries, ingests the demo corpus and drives Chromium")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	t.Parallel()
	root := chromium.New(t, chromium.Options{Width: 1280, Height: 800, Timeout: 6 * time.Minute}) // skips without Chromium
	shots := screenshotDir(t)
	db := dbtest.New(t)
	r := startRunScript(t, scriptCheckout(t), db.URL, freeAddr(t))
	defer r.stop()

	ctx, cancel := chromedp.NewContext(root)
	defer cancel()
	w := watch(t, ctx)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	p := &demoPage{t: t, ctx: ctx, shots: shots}

	const failover, salary, vacation = "How do I fail over the production database?", "What is the salary band for a Senior Robotics Engineer?", "How many vacation days do I get?"
	const refusal = "I can't find that in the documents you can access."
	runbook := []string{"flock-pg-2", "database-failover"}

	// The public visitor: the handbook, streamed with its cards; the failover question refused.
	p.open(r.base + "/demo")
	p.signedInAs("Public visitor")
	p.watchStreaming()
	a := p.ask(vacation, false)
	if a.Refused || !strings.Contains(a.Answer, "25") || !a.cites("handbook/") {
		t.Errorf("public, vacation: %+v, want the handbook's 25 days", a)
	}
	p.cardsOf(a)
	if !p.eval(`window.__seen.cardsWhileBusy === true`).(bool) {
		t.Error("the source cards did not show while the answer was streaming")
	}
	if a := p.ask(failover, true); !a.Refused || len(a.Citations) > 0 {
		t.Errorf("public, failover: %+v, want refused", a)
	}
	p.refusalShown(refusal)
	p.noFacts(runbook)

	// Erin, signed in through the switcher.
	p.clickSwitcher("erin@northwind.example")
	p.signedInAs("Erin")
	a = p.ask(failover, true)
	if a.Refused || !a.cites("database-failover") || a.ConversationID == "" {
		t.Fatalf("Erin, failover: %+v, want the runbook", a)
	}
	p.cardsOf(a)
	if dom := p.dom(); !strings.Contains(dom, "flock-pg-2") {
		t.Errorf("Erin's page does not show the runbook's facts")
	}
	erinConversation := a.ConversationID
	if shots != "" {
		// The question at the top of the panel, its cards and the answer below.
		p.eval(`([...` + shadowRoot + `.querySelectorAll('.msg.user')].at(-1).scrollIntoView({block: 'start'}), true)`)
		p.shoot("demo-erin-answer.png", true)
	}

	// Reload: the widget restores Erin's conversation through a same-origin GET that carries
	// no Origin header, only Sec-Fetch-Site: same-origin.
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	p.ready()
	p.waitFor("the restored conversation", shadowRoot+`.querySelectorAll('.msg.user').length === 1 && `+shadowRoot+`.querySelector('.card')`)
	if text := p.widgetText(); !strings.Contains(text, failover) || !strings.Contains(text, "flock-pg-2") {
		t.Errorf("the restored conversation lacks the question or the runbook: %q", text)
	}
	restore := w.conversationGets(erinConversation, 1)
	if g := restore[0]; g.status != 200 || g.origin != "" || g.fetchSite != "same-origin" {
		t.Errorf("the restore: %+v, want 200 to a same-origin GET without Origin", g)
	}
	if shots != "" {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 760)); err != nil {
			t.Fatal(err)
		}
		p.shoot("demo-narrow.png", true)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
			t.Fatal(err)
		}
	}

	// Harper, in the same tab: the widget's storage still names Erin's conversation, which
	// the server does not give her.
	p.clickSwitcher("harper@northwind.example")
	p.signedInAs("Harper")
	if g := w.conversationGets(erinConversation, 2)[1]; g.status != 404 {
		t.Errorf("Harper's widget restoring Erin's conversation: %+v, want 404", g)
	}
	p.noFacts(runbook)
	p.noQuestions()
	if a := p.ask(failover, true); !a.Refused || len(a.Citations) > 0 {
		t.Errorf("Harper, failover: %+v, want refused", a)
	}
	p.refusalShown(refusal)
	p.noFacts(runbook)
	p.shoot("demo-harper-refused.png", true)
	if a := p.ask(salary, false); a.Refused || !a.cites("salary-bands") {
		t.Errorf("Harper, salary band: %+v, want the salary bands", a)
	}
	p.noFacts(runbook)
	// The page plants Erin's conversation id where the widget keeps its own (under every
	// conversation key: the public visitor's and the signed-in users'), and reloads.
	if n := p.eval(`(() => { let n = 0; for (const k of Object.keys(sessionStorage)) if (k.startsWith('docent:conversation:')) { sessionStorage.setItem(k, ` +
		jsString(erinConversation) + `); n++ } return n })()`).(float64); n < 1 {
		t.Fatal("no conversation key in sessionStorage")
	}
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	p.ready()
	if g := w.conversationGets(erinConversation, 3)[2]; g.status != 404 {
		t.Errorf("Harper's page restoring a planted conversation of Erin's: %+v, want 404", g)
	}
	p.waitFor("a fresh conversation", shadowRoot+`.querySelector('.greeting')`)
	p.noFacts(runbook)
	p.noQuestions()

	// Nothing went wrong in the console but Harper's refused restores, which the browser
	// logs as failed loads.
	time.Sleep(200 * time.Millisecond)
	expected := func(m chromedp.ConsoleMessage) bool {
		return m.Source == "network" && strings.Contains(m.URL, "/v1/conversations/"+erinConversation) && strings.Contains(m.Text, "404")
	}
	for _, m := range w.messages() {
		if (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning) && !expected(m) {
			t.Errorf("console %s (%s %s): %s", m.Type, m.Source, m.URL, m.Text)
		}
	}
	// The watch sees CSP violations: an inline style, which the page's CSP does not allow.
	before := len(w.messages())
	if color := p.eval(`(() => { const s = document.createElement('style'); s.textContent = 'body { color: rgb(255, 0, 0) }';
	  document.head.append(s); return getComputedStyle(document.body).color })()`).(string); color == "rgb(255, 0, 0)" {
		t.Error("the demo page's CSP allows inline styles")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.ContainsFunc(w.messages()[before:], func(m chromedp.ConsoleMessage) bool { return strings.Contains(m.Text, "style-src") }) {
		if time.Now().After(deadline) {
			t.Fatalf("no CSP violation reported for an inline style: %v", w.messages()[before:])
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// screenshotDir is DOCENT_SCREENSHOTS (a relative folder is taken from the repository's
// root), created, or "" when screenshots are not asked for.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("DOCENT_SCREENSHOTS")
	if dir == "" {
		return ""
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shadowRoot is the widget's shadow root, in page scripts.
const shadowRoot = `document.querySelector('docent-chat').shadowRoot`

// instrument runs in every document before its scripts (through DevTools, so the page's CSP
// does not apply to it): it keeps the widget's answers and reports CSP violations to the
// console.
const instrument = `window.__answers = [];
document.addEventListener('docent:answer', (e) => window.__answers.push(e.detail));
document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));`

// pageWatch records what a tab writes to its console and its API requests.
type pageWatch struct {
	t        *testing.T
	mu       sync.Mutex
	console  []chromedp.ConsoleMessage
	requests map[network.RequestID]*apiRequest
	order    []*apiRequest
}

// apiRequest is a request of the page to /v1/, with the headers the browser sent.
type apiRequest struct {
	method, url       string
	origin, fetchSite string
	status            int64
}

func watch(t *testing.T, ctx context.Context) *pageWatch {
	t.Helper()
	w := &pageWatch{t: t, requests: map[network.RequestID]*apiRequest{}}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			w.mu.Lock()
			w.console = append(w.console, m)
			w.mu.Unlock()
		}
	}()
	err := chromedp.Listen(ctx, func(ev any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		get := func(id network.RequestID) *apiRequest {
			r := w.requests[id]
			if r == nil {
				r = &apiRequest{}
				w.requests[id] = r
				w.order = append(w.order, r)
			}
			return r
		}
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if strings.Contains(ev.Request.URL, "/v1/") {
				r := get(ev.RequestID)
				r.method, r.url = ev.Request.Method, ev.Request.URL
			}
		case *network.EventRequestWillBeSentExtraInfo:
			r := get(ev.RequestID)
			for k, v := range ev.Headers {
				s, _ := v.(string)
				switch strings.ToLower(k) {
				case "origin":
					r.origin = s
				case "sec-fetch-site":
					r.fetchSite = s
				}
			}
		case *network.EventResponseReceived:
			if strings.Contains(ev.Response.URL, "/v1/") {
				get(ev.RequestID).status = ev.Response.Status
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: instrument}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *pageWatch) messages() []chromedp.ConsoleMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.console)
}

// conversationGets waits until n GET requests for conversation id have been answered (and
// their headers seen), and returns them.
func (w *pageWatch) conversationGets(id string, n int) []apiRequest {
	w.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(25 * time.Millisecond) {
		var got []apiRequest
		w.mu.Lock()
		for _, r := range w.order {
			if r.method == "GET" && strings.HasSuffix(r.url, "/v1/conversations/"+id) && r.status != 0 && r.fetchSite != "" {
				got = append(got, *r)
			}
		}
		w.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%d requests for conversation %s, want %d: %+v", len(got), id, n, got)
		}
	}
}

// demoPage drives the demo page in one tab.
type demoPage struct {
	t       *testing.T
	ctx     context.Context
	shots   string
	answers int // docent:answer events seen on the current document
}

func (p *demoPage) eval(expr string) any {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[any](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is true, failing after 30 s.
func (p *demoPage) waitFor(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool]("!!("+cond+")")); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(() => { const h = document.querySelector('docent-chat'); return h && h.shadowRoot ? h.shadowRoot.textContent : '(no widget)' })()`))
			p.t.Fatalf("waiting for %s: timed out; the widget shows: %q", what, text)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// ready waits for the widget of a newly loaded document.
func (p *demoPage) ready() {
	p.t.Helper()
	p.answers = 0
	p.waitFor("the widget", `document.querySelector('docent-chat[data-ready]')`)
}

func (p *demoPage) open(url string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Navigate(url)); err != nil {
		p.t.Fatalf("navigate to %s: %v", url, err)
	}
	p.ready()
}

// clickSwitcher clicks the header's button for user id, as a visitor would, and waits for
// the page it leads to.
func (p *demoPage) clickSwitcher(id string) {
	p.t.Helper()
	click := chromedp.Click(chromedp.CSS(`form.switcher button[value="` + id + `"]`))
	if _, err := chromedp.Run(p.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, click)); err != nil {
		p.t.Fatalf("sign in as %s: %v", id, err)
	}
	p.ready()
}

// signedInAs checks that the page says who is signed in.
func (p *demoPage) signedInAs(name string) {
	p.t.Helper()
	got := p.eval(`[document.querySelector('form.switcher [aria-pressed=true]').textContent, document.querySelector('.who h2').textContent]`).([]any)
	if got[0] != name || !strings.HasPrefix(got[1].(string), name) {
		p.t.Fatalf("the page shows %q signed in, want %s", got, name)
	}
}

// watchStreaming records whether source cards showed while an answer was still streaming.
func (p *demoPage) watchStreaming() {
	p.eval(`(() => { window.__seen = {}; new MutationObserver(() => {
	  const bot = ` + shadowRoot + `.querySelector('.msg.bot[aria-busy]');
	  if (bot && bot.querySelector('.card')) window.__seen.cardsWhileBusy = true;
	}).observe(` + shadowRoot + `, {subtree: true, childList: true, attributes: true}); return true })()`)
}

// center returns the middle of an element of the widget, in the viewport.
func (p *demoPage) center(sel string) (float64, float64) {
	p.t.Helper()
	b := p.eval(`(() => { const b = ` + shadowRoot + `.querySelector(` + jsString(sel) + `).getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2] })()`).([]any)
	return b[0].(float64), b[1].(float64)
}

type pageAnswer struct {
	ID             string
	Answer         string
	Refused        bool
	ConversationID string `json:"conversation_id"`
	Citations      []struct {
		Document struct{ Title, URI string }
	}
}

func (a pageAnswer) cites(part string) bool {
	return slices.ContainsFunc(a.Citations, func(c struct{ Document struct{ Title, URI string } }) bool {
		return strings.Contains(c.Document.URI, part)
	})
}

// ask clicks into the widget's input, types q, sends it (Enter, or a click on the send
// button when click is true), and returns the answer the widget got.
func (p *demoPage) ask(q string, click bool) pageAnswer {
	p.t.Helper()
	x, y := p.center("textarea")
	if err := chromedp.Do(p.ctx, chromedp.MouseClickXY(x, y), chromedp.KeyEvent(q)); err != nil {
		p.t.Fatal(err)
	}
	send := chromedp.KeyEvent(kb.Enter)
	if click {
		send = chromedp.MouseClickXY(p.center("button.send"))
	}
	if err := chromedp.Do(p.ctx, send); err != nil {
		p.t.Fatal(err)
	}
	p.answers++
	p.waitFor("the answer to "+q, `window.__answers.length >= `+strconv.Itoa(p.answers)+` && !`+shadowRoot+`.querySelector('[aria-busy]')`)
	raw, err := json.Marshal(p.eval(`window.__answers.at(-1)`))
	var a pageAnswer
	if err != nil || json.Unmarshal(raw, &a) != nil {
		p.t.Fatalf("the answer: %v %s", err, raw)
	}
	if text := p.eval(`[...` + shadowRoot + `.querySelectorAll('.msg.user')].at(-1)?.textContent ?? ''`).(string); !strings.Contains(text, q) {
		p.t.Errorf("the widget shows the question as %q, want %q", text, q)
	}
	return a
}

// cardsOf checks that the last answer shows one source card per citation, titled as the
// document.
func (p *demoPage) cardsOf(a pageAnswer) {
	p.t.Helper()
	titles := p.eval(`[...[...` + shadowRoot + `.querySelectorAll('.msg.bot')].at(-1).querySelectorAll('.card .card-title')].map(c => c.textContent)`).([]any)
	if len(titles) == 0 || len(titles) != len(a.Citations) {
		p.t.Fatalf("%d source cards for %d citations: %v", len(titles), len(a.Citations), titles)
	}
	for i, c := range a.Citations {
		if titles[i] != c.Document.Title {
			p.t.Errorf("card %d is %q, want %q", i, titles[i], c.Document.Title)
		}
	}
}

// refusalShown checks that the last answer shows the refusal and the page's escalation link.
func (p *demoPage) refusalShown(refusal string) {
	p.t.Helper()
	got := p.eval(`(() => { const b = [...` + shadowRoot + `.querySelectorAll('.msg.bot')].at(-1); const a = b.querySelector('a.link');
	  return [b.querySelector('.refusal') ? b.querySelector('.refusal').textContent : '', a ? a.textContent : '', a ? a.href : '', b.querySelectorAll('.card').length] })()`).([]any)
	if got[0] != refusal || got[1] != "Ask the IT helpdesk" || !strings.HasSuffix(got[2].(string), "/demo#helpdesk") || got[3] != 0.0 {
		p.t.Errorf("the refusal shows %q, want %q, the helpdesk link and no card", got, refusal)
	}
}

// widgetText is the text of the widget's shadow DOM.
func (p *demoPage) widgetText() string {
	p.t.Helper()
	return p.eval(shadowRoot + `.textContent`).(string)
}

// dom is everything the page holds: its HTML, the widget's shadow DOM (text and attributes)
// and the answers its scripts received.
func (p *demoPage) dom() string {
	p.t.Helper()
	return p.eval(`document.documentElement.outerHTML + '\n' + ` + shadowRoot + `.innerHTML + '\n' + JSON.stringify(window.__answers)`).(string)
}

// noFacts fails when the page holds one of facts.
func (p *demoPage) noFacts(facts []string) {
	p.t.Helper()
	dom := p.dom()
	for _, f := range facts {
		if strings.Contains(dom, f) {
			p.t.Errorf("the page holds %q", f)
		}
	}
}

// noQuestions fails when the widget shows a conversation (the greeting only).
func (p *demoPage) noQuestions() {
	p.t.Helper()
	if n := p.eval(shadowRoot + `.querySelectorAll('.msg.user').length`).(float64); n != 0 {
		p.t.Errorf("the widget shows %v questions, want a new conversation: %q", n, p.widgetText())
	}
}

// shoot writes a screenshot of the viewport to the screenshot folder, if there is one, with
// nothing focused (no focus ring) when blur is true.
func (p *demoPage) shoot(name string, blur bool) {
	p.t.Helper()
	if p.shots == "" {
		return
	}
	if blur {
		p.eval(`(document.activeElement && document.activeElement.blur(), true)`)
	}
	time.Sleep(300 * time.Millisecond) // let transitions end
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.shots, name), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("%s: %d bytes", name, len(png))
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

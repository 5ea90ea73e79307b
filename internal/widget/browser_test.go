package widget_test

// The widget in a real headless Chromium, against the real server and database (env_test.go):
// the page is on another origin than the API, so CORS, widget keys and sessions are real.

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/browser"
)

// failoverFacts are in the engineering failover runbook only.
var failoverFacts = []string{"flock-prod-pg", "flock-pg-2", "nwctl db"}

// recorder is page HTML that keeps the widget's events in window.__events.
const recorder = `<script>window.__events = [];
for (const name of ['docent:answer', 'docent:error', 'docent:feedback'])
  document.addEventListener(name, (e) => window.__events.push({type: e.type, detail: e.detail, target: e.target.tagName}));
</script>`

// typeQuestion types q into the widget's input with the keyboard and presses Enter.
func typeQuestion(t *testing.T, ctx context.Context, q string) {
	t.Helper()
	eval[bool](t, ctx, shadow+`.querySelector('textarea').focus() || true`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(q), chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
}

// answers waits until the page has seen n docent:answer events and returns the last one.
func lastAnswer(t *testing.T, ctx context.Context, n int) map[string]any {
	t.Helper()
	waitFor(t, ctx, "an answer", `window.__events.filter(e => e.type === 'docent:answer').length >= `+strconv.Itoa(n))
	return eval[map[string]any](t, ctx, `window.__events.filter(e => e.type === 'docent:answer').at(-1).detail`)
}

// noFacts fails when the widget's DOM shows one of facts.
func noFacts(t *testing.T, ctx context.Context, facts []string) {
	t.Helper()
	text := widgetText(t, ctx)
	for _, f := range facts {
		if strings.Contains(text, f) {
			t.Errorf("the widget shows %q: %q", f, text)
		}
	}
}

func TestWidget(t *testing.T) {
	e := newEnv(t, 100)
	root := browser.New(t, browser.Options{Timeout: 3 * time.Minute})
	tab := func(t *testing.T) context.Context {
		ctx, cancel := chromedp.NewContext(root)
		t.Cleanup(cancel)
		return ctx
	}
	publicKey := e.widgetKey("public-site")
	publicPage := e.addPage("public", page{before: recorder, attrs: map[string]string{"data-docent-key": publicKey, "data-docent-open": "true"}})
	sessionPage := e.addPage("intranet", page{before: recorder, attrs: map[string]string{
		"data-docent-session-url": "/session", "data-docent-open": "true", "data-docent-escalation-url": "https://help.northwind.example/ticket"}})
	var erinConversation string

	t.Run("streamed answer with citation cards", func(t *testing.T) {
		ctx := tab(t)
		open(t, ctx, publicPage)
		// Watch the order in which the answer appears: cards while the answer is still coming.
		eval[bool](t, ctx, `(() => { window.__seen = {}; new MutationObserver(() => {
		  const r = `+shadow+`; const bot = r.querySelector('.msg.bot[aria-busy]');
		  if (bot && bot.querySelector('.card')) window.__seen.cardsWhileBusy = true;
		}).observe(`+shadow+`, {subtree: true, childList: true, attributes: true}); return true })()`)
		typeQuestion(t, ctx, "How many vacation days do I get?")
		a := lastAnswer(t, ctx, 1)
		if a["refused"] != false || a["answer"] == "" {
			t.Fatalf("answer: %v", a)
		}
		cites := a["citations"].([]any)
		if len(cites) == 0 {
			t.Fatalf("no citations: %v", a)
		}
		if !eval[bool](t, ctx, `window.__seen.cardsWhileBusy === true`) {
			t.Error("the source cards did not show before the answer was complete")
		}
		type card struct{ N, Title, Snippet, Href, Text string }
		cards := eval[[]card](t, ctx, `[...`+shadow+`.querySelectorAll('.msg.bot:last-child .card')].map(c => ({
		  N: c.dataset.n, Title: c.querySelector('.card-title').textContent, Snippet: (c.querySelector('.snippet')||{}).textContent||'',
		  Href: c.querySelector('a.card-title') ? c.querySelector('a.card-title').getAttribute('href') : '', Text: c.textContent}))`)
		if len(cards) != len(cites) {
			t.Fatalf("%d cards for %d citations: %+v", len(cards), len(cites), cards)
		}
		for i, c := range cites {
			ct := c.(map[string]any)
			doc := ct["document"].(map[string]any)
			if cards[i].Title != doc["title"] || cards[i].Snippet == "" {
				t.Errorf("card %d: %+v, citation %v", i, cards[i], ct)
			}
		}
		// Markers [n] link to their cards and show the snippet on focus.
		markers := eval[int](t, ctx, shadow+`.querySelectorAll('.msg.bot:last-child .answer .cite').length`)
		if markers == 0 {
			t.Fatal("no citation markers in the answer")
		}
		tip := eval[map[string]any](t, ctx, `(() => { const m = `+shadow+`.querySelector('.msg.bot:last-child .answer .cite');
		  const tip = m.querySelector('.tip'); const before = getComputedStyle(tip).display; m.focus();
		  return {before, after: getComputedStyle(tip).display, text: tip.textContent,
		          described: m.getAttribute('aria-describedby') === tip.id, label: m.getAttribute('aria-label')} })()`)
		if tip["before"] != "none" || tip["after"] == "none" || tip["described"] != true || !strings.Contains(tip["text"].(string), cards[0].Title[:10]) {
			t.Errorf("citation tooltip on focus: %v", tip)
		}
		// The answer was announced once complete, politely.
		waitFor(t, ctx, "the announcement", shadow+`.querySelector('[aria-live=polite]').textContent.includes(`+jsString(a["answer"].(string)[:20])+`)`)
	})

	t.Run("follow-up, reload and feedback with a signed session", func(t *testing.T) {
		ctx := tab(t)
		open(t, ctx, sessionPage+"?login=erin")
		typeQuestion(t, ctx, "How do I fail over the production database?")
		first := lastAnswer(t, ctx, 1)
		if first["refused"] != false || !citesURI(first, "database-failover") {
			t.Fatalf("Erin's failover answer: %v", first)
		}
		erinConversation, _ = first["conversation_id"].(string)
		typeQuestion(t, ctx, "How long does it take?")
		second := lastAnswer(t, ctx, 2)
		if second["refused"] != false || !citesURI(second, "database-failover") {
			t.Fatalf("the follow-up was not answered from the runbook: %v", second)
		}
		if second["conversation_id"] != first["conversation_id"] {
			t.Errorf("the follow-up is in conversation %v, not %v", second["conversation_id"], first["conversation_id"])
		}
		// The same question alone does not make sense: it is not answered from the runbook.
		alone := eval[map[string]any](t, ctx, `Docent.reset(), Docent.ask('How long does it take?').catch(e => ({error: e.message}))`)
		if citesURI(alone, "database-failover") {
			t.Errorf("without the first question, the follow-up still cites the runbook: %v", alone)
		}
		// Back to the conversation: reload with its id stored, and find it restored.
		eval[bool](t, ctx, `sessionStorage.setItem(Object.keys(sessionStorage).find(k => k.startsWith('docent:conversation:')), `+jsString(erinConversation)+`) || true`)
		open(t, ctx, sessionPage)
		waitFor(t, ctx, "the restored conversation", shadow+`.querySelectorAll('.msg.user').length === 2`)
		text := widgetText(t, ctx)
		for _, want := range []string{"How do I fail over the production database?", "How long does it take?", "flock-pg-2"} {
			if !strings.Contains(text, want) {
				t.Errorf("the restored conversation lacks %q: %q", want, text)
			}
		}
		if n := eval[int](t, ctx, shadow+`.querySelectorAll('.card').length`); n == 0 {
			t.Error("the restored conversation has no source cards")
		}
		// Thumbs down with a reason and a comment, on the restored last answer.
		eval[bool](t, ctx, `(() => { const bots = `+shadow+`.querySelectorAll('.msg.bot'); bots[bots.length-1].querySelector('.down').click(); return true })()`)
		eval[bool](t, ctx, `(() => { const f = `+shadow+`.querySelector('form.feedback');
		  f.querySelector('input[value=outdated]').click(); f.querySelector('textarea').value = 'the approver changed';
		  f.querySelector('button[type=submit]').click(); return true })()`)
		waitFor(t, ctx, "the feedback event", `window.__events.some(e => e.type === 'docent:feedback')`)
		var got []index.FeedbackRecord
		if err := index.EachFeedback(context.Background(), e.db.Pool, index.FeedbackFilter{Rating: "down"}, func(r index.FeedbackRecord) error {
			got = append(got, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Reason != "outdated" || got[0].Comment != "the approver changed" || got[0].TraceID != second["id"] ||
			!slices.ContainsFunc(got[0].CitedURIs, func(u string) bool { return strings.Contains(u, "database-failover") }) {
			t.Errorf("stored feedback: %+v (answer %v)", got, second["id"])
		}
		if !strings.Contains(widgetText(t, ctx), "Thank you for your feedback.") {
			t.Error("the widget does not acknowledge the feedback")
		}
	})

	t.Run("Harper never sees engineering's facts", func(t *testing.T) {
		ctx := tab(t)
		open(t, ctx, sessionPage+"?login=harper")
		typeQuestion(t, ctx, "How do I fail over the production database?")
		a := lastAnswer(t, ctx, 1)
		if a["refused"] != true {
			t.Errorf("Harper's failover question was not refused: %v", a)
		}
		text := widgetText(t, ctx)
		if !strings.Contains(text, "I can't find that in the documents you can access.") || !strings.Contains(text, "Contact a person") {
			t.Errorf("no refusal message with the escalation link: %q", text)
		}
		noFacts(t, ctx, failoverFacts)
		// The page puts Erin's conversation id where the widget keeps its own, and reloads.
		if erinConversation == "" {
			t.Fatal("no conversation of Erin's (the previous subtest failed)")
		}
		eval[bool](t, ctx, `(() => { for (const k of Object.keys(sessionStorage)) if (k.startsWith('docent:conversation:')) sessionStorage.setItem(k, `+jsString(erinConversation)+`); return true })()`)
		open(t, ctx, sessionPage)
		waitFor(t, ctx, "a fresh conversation", shadow+`.querySelector('.greeting')`)
		noFacts(t, ctx, append(failoverFacts, "How long does it take?"))
		var refused bool
		for _, s := range e.served("/v1/conversations/" + erinConversation) {
			refused = refused || s.status == 404
		}
		if !refused {
			t.Errorf("the widget did not ask for Erin's conversation, or got it: %+v", e.served("/v1/conversations/"+erinConversation))
		}
		// The page asks through the widget's API, and through the API itself with the session.
		eval[any](t, ctx, `Docent.ask('What is the production database failover runbook? flock-prod-pg').catch(e => null)`)
		noFacts(t, ctx, failoverFacts[1:])
	})

	t.Run("a page that edits the session's groups is refused", func(t *testing.T) {
		// The page rewrites the session token on its way to the widget: the groups in its
		// claims become engineering's. The signature no longer matches: 401, then the widget
		// fetches a new session once, which the page edits again: an error, no facts.
		tamper := recorder + `<script>(() => { const real = window.fetch;
		  window.fetch = async (url, init) => {
		    const res = await real(url, init);
		    if (!String(url).endsWith('/session')) return res;
		    const body = await res.json();
		    const [claims, sig] = body.token.slice(4).split('.');
		    const c = JSON.parse(atob(claims.replace(/-/g, '+').replace(/_/g, '/')));
		    c.groups = ['engineering', 'hr'];
		    body.token = 'dws_' + btoa(JSON.stringify(c)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') + '.' + sig;
		    window.__tampered = (window.__tampered || 0) + 1;
		    return new Response(JSON.stringify(body), {status: 200, headers: {'Content-Type': 'application/json'}});
		  }; })()</script>`
		ctx := tab(t)
		open(t, ctx, e.addPage("tampered", page{before: tamper, attrs: map[string]string{"data-docent-session-url": "/session", "data-docent-open": "true"}})+"?login=harper")
		typeQuestion(t, ctx, "How do I fail over the production database?")
		waitFor(t, ctx, "the error", `window.__events.some(e => e.type === 'docent:error')`)
		if n := eval[int](t, ctx, `window.__tampered`); n < 2 {
			t.Errorf("the page tampered with %d sessions, want the first and the refreshed one", n)
		}
		if got := eval[string](t, ctx, `(`+shadow+`.querySelector('.error') || {}).textContent || ''`); got == "" {
			t.Errorf("no visible error: %q", widgetText(t, ctx))
		}
		var refused int
		for _, s := range e.served("/v1/answer") {
			if s.method == "POST" && s.status == 401 {
				refused++
			}
		}
		if refused < 2 {
			t.Errorf("the server refused %d edited sessions, want 2", refused)
		}
		noFacts(t, ctx, failoverFacts)
	})

	t.Run("sessions are refreshed before they expire", func(t *testing.T) {
		ctx := tab(t)
		open(t, ctx, e.addPage("short", page{before: recorder, attrs: map[string]string{"data-docent-session-url": "/session?short=1"}})+"?login=harper")
		start := e.sessionCount()
		eval[any](t, ctx, `Docent.ask('How many vacation days do I get?')`)
		deadline := time.Now().Add(6 * time.Second)
		for e.sessionCount() < start+3 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		// The first session, then one every 2 s (half of 3 s, at least 2 s) without a question.
		if n := e.sessionCount() - start; n < 3 {
			t.Errorf("%d sessions fetched in 6 s, want the first and 2 refreshes", n)
		}
	})

	t.Run("stop cancels the request on the server", func(t *testing.T) {
		ctx := tab(t)
		open(t, ctx, publicPage)
		typeQuestion(t, ctx, slowQuestion)
		waitFor(t, ctx, "the first words", shadow+`.querySelector('.answer').textContent.includes('Vacation days are')`)
		if got := eval[string](t, ctx, shadow+`.querySelector('button.send').getAttribute('aria-label')`); got != "Stop" {
			t.Fatalf("while streaming, the button is %q, want Stop", got)
		}
		eval[bool](t, ctx, shadow+`.querySelector('button.send').click() || true`)
		select {
		case q := <-e.cancelled:
			if q != slowQuestion {
				t.Errorf("cancelled %q", q)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the server kept generating after stop")
		}
		waitFor(t, ctx, "the stopped message", shadow+`.textContent.includes('Stopped. The answer was not finished.')`)
		text := widgetText(t, ctx)
		if !strings.Contains(text, "Vacation days are") || !strings.Contains(text, "Retry") {
			t.Errorf("after stop: %q", text)
		}
	})

	t.Run("hostile documents and questions are inert", func(t *testing.T) {
		ctx := tab(t)
		open(t, ctx, publicPage)
		typeQuestion(t, ctx, "When are Zanzibar badges renewed?")
		a := lastAnswer(t, ctx, 1)
		if !citesURI(a, "zanzibar-badges") {
			t.Fatalf("the hostile document was not cited: %v", a)
		}
		typeQuestion(t, ctx, `Zanzibar badges </script><script>window.__pwned='question'</script><img src=x onerror="window.__pwned='q-img'"> [1](javascript:window.__pwned='q-link')`)
		lastAnswer(t, ctx, 2)
		// Open the passage view of the hostile document's card (it has no URL).
		eval[bool](t, ctx, `(() => { const b = [...`+shadow+`.querySelectorAll('button.card-title')].find(b => b.textContent.includes('Zanzibar')); b.click(); return true })()`)
		waitFor(t, ctx, "the passage", shadow+`.querySelector('.passage mark')`)
		time.Sleep(300 * time.Millisecond) // any onerror would have run by now
		report := eval[map[string]any](t, ctx, `(() => { const r = `+shadow+`; const all = [...r.querySelectorAll('*')];
		  return {pwned: window.__pwned === undefined ? null : String(window.__pwned),
		    dangerous: all.filter(e => ['IMG','SCRIPT','IFRAME','OBJECT','EMBED'].includes(e.tagName)).map(e => e.tagName),
		    handlers: all.flatMap(e => [...e.attributes].filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)),
		    links: all.filter(e => e.hasAttribute('href')).map(e => e.getAttribute('href')).filter(h => !/^https?:/.test(h)),
		    text: r.textContent} })()`)
		if report["pwned"] != nil {
			t.Errorf("a handler ran: window.__pwned = %v", report["pwned"])
		}
		for _, k := range []string{"dangerous", "handlers", "links"} {
			if l := report[k].([]any); len(l) > 0 {
				t.Errorf("%s in the widget: %v", k, l)
			}
		}
		text := report["text"].(string)
		for _, want := range []string{"Zanzibar <img src=x onerror=window.__pwned='title'> badges", "</script><script>window.__pwned='question'</script>"} {
			if !strings.Contains(text, want) {
				t.Errorf("the widget does not show %q as text: %q", want, text)
			}
		}
	})

	t.Run("a widget key from another origin is refused", func(t *testing.T) {
		otherKey := e.key(index.KindWidget, "elsewhere", []string{"https://intranet.northwind.example"}, []string{"public"})
		ctx := tab(t)
		open(t, ctx, e.addPage("wrong-origin", page{before: recorder, attrs: map[string]string{"data-docent-key": otherKey, "data-docent-open": "true"}}))
		typeQuestion(t, ctx, "How many vacation days do I get?")
		waitFor(t, ctx, "the error", `window.__events.some(e => e.type === 'docent:error')`)
		if got := eval[string](t, ctx, shadow+`.querySelector('.error').textContent`); !strings.Contains(got, "could not be reached from this page") {
			t.Errorf("visible error: %q", got)
		}
		if n := eval[int](t, ctx, `window.__events.filter(e => e.type === 'docent:answer').length`); n != 0 {
			t.Errorf("%d answers", n)
		}
		var refused bool
		for _, s := range e.served("/v1/answer") {
			if s.origin == e.site && s.status == 403 {
				refused = true
			}
			if s.origin == e.site && s.status == 200 && s.method == "POST" {
				// only the other subtests' keys may have been answered; this one must not
				continue
			}
		}
		if !refused {
			t.Errorf("the server did not refuse the request: %+v", e.served("/v1/answer"))
		}
	})

	t.Run("keyboard only", func(t *testing.T) {
		ctx := tab(t)
		open(t, ctx, e.addPage("launcher", page{attrs: map[string]string{"data-docent-key": publicKey}}))
		focused := func() string {
			return eval[string](t, ctx, `(() => { const h = document.activeElement; if (!h || h.tagName !== 'DOCENT-CHAT') return h ? h.tagName : '';
			  const a = h.shadowRoot.activeElement; return a ? a.tagName + '.' + a.className : 'DOCENT-CHAT' })()`)
		}
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		if f := focused(); f != "BUTTON.launcher" {
			t.Fatalf("Tab focuses %q, want the launcher", f)
		}
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
			t.Fatal(err)
		}
		if f := focused(); f != "TEXTAREA." {
			t.Errorf("opening focuses %q, want the question", f)
		}
		if got := eval[string](t, ctx, shadow+`.querySelector('.launcher').getAttribute('aria-expanded')`); got != "true" {
			t.Errorf("aria-expanded %q", got)
		}
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape)); err != nil {
			t.Fatal(err)
		}
		if f := focused(); f != "BUTTON.launcher" {
			t.Errorf("Escape leaves the focus on %q, want the launcher", f)
		}
		if hidden := eval[bool](t, ctx, shadow+`.querySelector('.panel').hidden`); !hidden {
			t.Error("Escape did not close the panel")
		}
	})

	t.Run("narrow screen: the panel takes it all", func(t *testing.T) {
		ctx := tab(t)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(400, 700)); err != nil {
			t.Fatal(err)
		}
		open(t, ctx, e.addPage("narrow", page{attrs: map[string]string{"data-docent-key": publicKey, "data-docent-open": "true"}}))
		r := eval[map[string]float64](t, ctx, `(() => { const b = `+shadow+`.querySelector('.panel').getBoundingClientRect();
		  return {x: b.x, y: b.y, w: b.width, h: b.height, vw: innerWidth, vh: innerHeight} })()`)
		if r["x"] != 0 || r["y"] != 0 || r["w"] != r["vw"] || r["h"] != r["vh"] {
			t.Errorf("panel %v, want the whole %v × %v viewport", r, r["vw"], r["vh"])
		}
		// And on a wide screen it does not.
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
			t.Fatal(err)
		}
		if w := eval[float64](t, ctx, shadow+`.querySelector('.panel').getBoundingClientRect().width`); w > 480 {
			t.Errorf("on a wide screen the panel is %v px wide", w)
		}
	})

	t.Run("a strict Content-Security-Policy needs only the Docent origin", func(t *testing.T) {
		csp := "default-src 'none'; script-src " + e.api.URL + "; connect-src " + e.api.URL + "; style-src 'none'; img-src 'none'; report-uri /csp"
		ctx := tab(t)
		open(t, ctx, e.addPage("strict", page{csp: csp, attrs: map[string]string{"data-docent-key": publicKey, "data-docent-open": "true",
			"data-docent-theme": `{"--docent-accent": "rgb(120, 20, 90)"}`}}))
		a := eval[map[string]any](t, ctx, `Docent.ask('How many vacation days do I get?')`)
		if a["refused"] != false {
			t.Fatalf("answer under a strict CSP: %v", a)
		}
		styled := eval[map[string]string](t, ctx, `(() => { const r = `+shadow+`;
		  return {launcher: getComputedStyle(r.querySelector('.launcher')).position, header: getComputedStyle(r.querySelector('header')).backgroundColor} })()`)
		if styled["launcher"] != "fixed" || styled["header"] != "rgb(120, 20, 90)" {
			t.Errorf("styles under a strict CSP: %v", styled)
		}
		time.Sleep(200 * time.Millisecond)
		if reports := e.cspReports(); len(reports) > 0 {
			t.Errorf("CSP violations: %v", reports)
		}
	})
}

// citesURI reports whether an answer object cites a document whose URI contains part.
func citesURI(a map[string]any, part string) bool {
	cites, _ := a["citations"].([]any)
	for _, c := range cites {
		doc, _ := c.(map[string]any)["document"].(map[string]any)
		if uri, _ := doc["uri"].(string); strings.Contains(uri, part) {
			return true
		}
	}
	return false
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

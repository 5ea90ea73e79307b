package widget_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/docent-rag/docent/internal/testing/browser"
	"github.com/docent-rag/docent/internal/widget"
)

// demoQuestions are the demo corpus's questions that Erin (engineering) may have answered:
// the public (P) and engineering (E, ES) rows of testdata/DEMO.md.
func demoQuestions(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "DEMO.md"))
	if err != nil {
		t.Fatal(err)
	}
	var qs []string
	for _, m := range regexp.MustCompile(`(?m)^\| (?:P|E|ES)\d+ \| ([^|]+\?) \|`).FindAllStringSubmatch(string(data), -1) {
		qs = append(qs, strings.TrimSpace(m[1]))
	}
	return qs
}

// measure is page script: it asks q through the widget's API and measures, from the call
// (the submit) with performance.now(), when the turn's first source card and its finished
// answer are in the DOM (a MutationObserver) and then on screen (the next animation frame).
const measure = `(async (q) => {
  const root = document.querySelector('docent-chat').shadowRoot;
  const before = root.querySelectorAll('.msg.bot').length;
  const frame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
  let cards = null, done = null;
  const seen = new Promise((resolve) => {
    const obs = new MutationObserver(() => {
      const bot = root.querySelectorAll('.msg.bot')[before];
      if (!bot) return;
      if (cards === null && bot.querySelector('.card')) cards = frame();
      if (done === null && !bot.hasAttribute('aria-busy') && bot.querySelector('.answer').textContent) { done = frame(); obs.disconnect(); resolve(); }
    });
    obs.observe(root, {subtree: true, childList: true, attributes: true});
  });
  const t0 = performance.now();
  const a = await Docent.ask(q);
  await seen;
  return {cards: cards === null ? -1 : (await cards) - t0, answer: (await done) - t0, refused: a.refused, server: a.timings_ms.total};
})`

// baseline is page script: the same request without the widget, by fetch, reading the
// stream: from the call to the sources event's bytes, and to the end of the stream.
const baseline = `(async (q) => {
  const s = await (await fetch('/session')).json();
  const t0 = performance.now();
  const res = await fetch(API + '/v1/answer', {method: 'POST', body: JSON.stringify({question: q}),
    headers: {Authorization: 'Bearer ' + s.token, 'Content-Type': 'application/json', Accept: 'text/event-stream'}});
  const reader = res.body.getReader(); const dec = new TextDecoder(); let text = '', cards = -1;
  for (;;) { const {value, done} = await reader.read(); if (done) break; text += dec.decode(value, {stream: true});
    if (cards < 0 && text.includes('event: sources') || cards < 0 && text.includes('event:sources')) cards = performance.now() - t0; }
  return {cards, answer: performance.now() - t0, refused: text.includes('"refused":true'), server: 0};
})`

type measured struct {
	Cards, Answer, Server float64
	Refused               bool
}

func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1)+0.5)]
}

// TestWidgetBenchmark measures the widget in Chromium against the real server on the demo
// corpus with the extractive answerer (docs/benchmarks.md). Opt-in, as timings are not
// pass/fail: DOCENT_WIDGET_BENCH=1 go test -run TestWidgetBenchmark -v ./internal/widget/
func TestWidgetBenchmark(t *testing.T) {
	if os.Getenv("DOCENT_WIDGET_BENCH") == "" {
		t.Skip("set DOCENT_WIDGET_BENCH=1 to measure the widget in Chromium")
	}
	e := newEnv(t, 0) // no answer cache: every question is retrieved and answered
	ctx := browser.New(t, browser.Options{Timeout: 5 * time.Minute})
	url := e.addPage("bench", page{attrs: map[string]string{"data-docent-session-url": "/session", "data-docent-open": "true"}})
	open(t, ctx, url+"?login=erin")
	questions := demoQuestions(t)
	if len(questions) < 30 {
		t.Fatalf("%d questions in testdata/DEMO.md, want at least 30", len(questions))
	}
	// Warm up (the session, the connection, the embedder) on questions not measured.
	for _, q := range []string{"Hello, what can you do?", "Where are the offices?", "What does Northwind make?"} {
		eval[measured](t, ctx, measure+`(`+jsString(q)+`)`)
		eval[any](t, ctx, `Docent.reset()`)
	}
	eval[any](t, ctx, `window.API = `+jsString(e.api.URL))
	var cards, answers, server, baseCards, baseAnswers []float64
	refused := 0
	for i, q := range questions {
		// The baseline and the widget take turns going first, so that neither always
		// profits from what the other warmed.
		var m, b measured
		for j := range 2 {
			if (i+j)%2 == 0 {
				m = eval[measured](t, ctx, measure+`(`+jsString(q)+`)`)
				eval[any](t, ctx, `Docent.reset()`) // each question stands alone, like a new visitor's
			} else {
				b = eval[measured](t, ctx, baseline+`(`+jsString(q)+`)`)
			}
		}
		if m.Refused {
			refused++
		}
		if m.Cards >= 0 {
			cards = append(cards, m.Cards)
		}
		if b.Cards >= 0 {
			baseCards = append(baseCards, b.Cards)
		}
		answers = append(answers, m.Answer)
		baseAnswers = append(baseAnswers, b.Answer)
		server = append(server, m.Server)
	}
	t.Logf("%d questions (%d refused, %d with source cards)", len(questions), refused, len(cards))
	t.Logf("| | p50 | p90 |")
	t.Logf("| submit → source cards on screen | %.1f ms | %.1f ms |", percentile(cards, 0.5), percentile(cards, 0.9))
	t.Logf("| submit → full answer on screen | %.1f ms | %.1f ms |", percentile(answers, 0.5), percentile(answers, 0.9))
	t.Logf("| baseline: fetch → sources event received | %.1f ms | %.1f ms |", percentile(baseCards, 0.5), percentile(baseCards, 0.9))
	t.Logf("| baseline: fetch → end of stream | %.1f ms | %.1f ms |", percentile(baseAnswers, 0.5), percentile(baseAnswers, 0.9))
	t.Logf("| server time (timings_ms.total) | %.1f ms | %.1f ms |", percentile(server, 0.5), percentile(server, 0.9))
	t.Logf("widget / baseline at p50: cards %.2f, answer %.2f", percentile(cards, 0.5)/percentile(baseCards, 0.5), percentile(answers, 0.5)/percentile(baseAnswers, 0.5))
	t.Logf("widget.js: %d bytes, %d bytes gzipped", len(widget.Source()), widget.GzipSize())
}

// TestWidgetScreenshots writes the screenshots of docs/widget.md. Opt-in:
// DOCENT_SCREENSHOTS=docs/img go test -run TestWidgetScreenshots ./internal/widget/
// (a relative folder is taken from the repository's root).
func TestWidgetScreenshots(t *testing.T) {
	dir := os.Getenv("DOCENT_SCREENSHOTS")
	if dir == "" {
		t.Skip("set DOCENT_SCREENSHOTS to a folder to write the widget's screenshots")
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, 100)
	intranet := `<style>body{margin:0;font:16px/1.5 Georgia,serif;background:#eef1f5;color:#222}
	  .top{background:#0f2a44;color:#fff;padding:14px 32px;font:600 18px system-ui,sans-serif}
	  main{max-width:720px;margin:32px 48px;background:#fff;padding:24px 32px;border-radius:6px}
	  h1{display:none}</style><div class="top">Northwind Robotics · Intranet</div>
	  <main><h2>Welcome back</h2><p>News, policies and tools for everyone at Northwind.</p>
	  <p>Questions about time off, travel or the on-call rotation? Ask the assistant in the corner.</p></main>`
	attrs := map[string]string{"data-docent-session-url": "/session", "data-docent-open": "true",
		"data-docent-title": "Northwind assistant", "data-docent-escalation-url": "https://help.northwind.example/ticket",
		"data-docent-escalation-label": "Open a ticket with IT",
		"data-docent-suggestions":      "How many vacation days do I get?|What is the on-call pager number?|How do I fail over the production database?"}
	url := e.addPage("shots", page{before: intranet, attrs: attrs})
	shoot := func(ctx context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", name, len(png))
	}

	desktop := browser.New(t, browser.Options{Width: 1200, Height: 760})
	if err := chromedp.Do(desktop, chromedp.EmulateViewport(1200, 760)); err != nil {
		t.Fatal(err)
	}
	open(t, desktop, url+"?login=erin")
	eval[any](t, desktop, `Docent.ask('How do I fail over the production database?')`)
	// Hover a citation marker with the mouse: its snippet shows.
	at := eval[map[string]float64](t, desktop, `(() => { const m = `+shadow+`.querySelectorAll('.answer .cite'); const b = m[m.length-1].getBoundingClientRect();
	  return {x: b.x + b.width/2, y: b.y + b.height/2} })()`)
	if err := chromedp.Do(desktop, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, at["x"], at["y"])); err != nil {
		t.Fatal(err)
	}
	shoot(desktop, "widget-answer.png")

	narrow := browser.New(t, browser.Options{Width: 390, Height: 760})
	if err := chromedp.Do(narrow, chromedp.EmulateViewport(390, 760)); err != nil {
		t.Fatal(err)
	}
	open(t, narrow, url+"?login=erin")
	eval[any](t, narrow, `Docent.ask('How many vacation days do I get?')`)
	eval[bool](t, narrow, `(document.activeElement.blur(), true)`)
	shoot(narrow, "widget-narrow.png")

	refusal := browser.New(t, browser.Options{Width: 1200, Height: 760})
	if err := chromedp.Do(refusal, chromedp.EmulateViewport(1200, 760)); err != nil {
		t.Fatal(err)
	}
	open(t, refusal, url+"?login=harper")
	eval[any](t, refusal, `Docent.ask('How do I fail over the production database?')`)
	shoot(refusal, "widget-refusal.png")
	fmt.Fprintln(os.Stderr, "screenshots in", dir)
}

package widget_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/testing/browser"
	"github.com/docent-rag/docent/internal/widget"
)

// stubAPI answers POST /v1/answer by the question's first word, with the failures a real
// server or network can produce, and CORS for any origin.
func stubAPI(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/widget.js" {
		widget.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
	h.Set("Access-Control-Expose-Headers", "Retry-After")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var q struct{ Question string }
	_ = decodeJSON(r, &q)
	sse := func(events ...string) {
		h.Set("Content-Type", "text/event-stream")
		for _, e := range events {
			fmt.Fprint(w, e+"\n\n")
			w.(http.Flusher).Flush()
		}
	}
	const sources = `event: sources` + "\n" + `data: [{"n":1,"chunk_id":7,"document":{"uri":"a.md","title":"A doc","source":"s","url":"javascript:alert(1)"},"pages":null,"heading":"H","text":"Some text."}]`
	switch strings.Fields(q.Question)[0] {
	case "rate":
		h.Set("Retry-After", "7")
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"code":"rate_limited","message":"too many requests for this widget key"}}`)
	case "down":
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"code":"unavailable","message":"the database is unreachable"}}`)
	case "broken":
		sse(sources, `event: error`+"\n"+`data: {"error":{"code":"internal","message":"internal error (request 42)"}}`)
	case "cut":
		sse(sources, `event: delta`+"\n"+`data: {"text":"The first half"}`)
	case "crlf":
		h.Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: delta\r\ndata: {\"text\":\"Over CRLF\"}\r\n\r\n: a comment\r\n\r\nevent: answer\r\ndata: {\"id\":\"a1\",\"answer\":\"Over **CRLF** [1].\",\"refused\":false,\"citations\":[{\"n\":1,\"chunk_id\":3,\"document\":{\"uri\":\"b.pdf\",\"title\":\"B\",\"source\":\"s\",\"url\":\"https://docs.example/b.pdf#page=2\"},\"pages\":{\"start\":2,\"end\":3},\"heading\":\"Intro\",\"snippet\":\"Snip.\"},{\"n\":2,\"chunk_id\":4,\"document\":{\"uri\":\"d.pptx\",\"title\":\"Deck\",\"source\":\"s\",\"url\":null},\"pages\":{\"start\":4,\"end\":4,\"unit\":\"slide\"},\"locator\":null,\"ocr\":true,\"heading\":\"\",\"snippet\":\"S.\"},{\"n\":3,\"chunk_id\":5,\"document\":{\"uri\":\"b.xlsx\",\"title\":\"Book\",\"source\":\"s\",\"url\":null},\"pages\":null,\"locator\":\"Budget!A1:F40\",\"ocr\":false,\"heading\":\"Budget\",\"snippet\":\"B.\"}]}\r\n\r\n")
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

// TestWidgetShowsFailures: rate limits (with their Retry-After), an unavailable server, an
// error in the stream and a stream that ends without an answer are each shown as what they
// are, with a retry, never as an empty bubble; a link that is not http(s) is not a link.
func TestWidgetShowsFailures(t *testing.T) {
	t.Parallel()
	api := httptest.NewServer(http.HandlerFunc(stubAPI))
	defer api.Close()
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body>%s<script src="%s/widget.js" data-docent-key="dpk_test" data-docent-mode="inline" data-docent-target="#chat"
		  data-docent-strings='{"errorRateLimited": "Trop de questions : réessayez dans {seconds} s.", "nope": "ignored"}'></script><div id="chat" style="height:600px"></div></body></html>`, recorder, api.URL)
	}))
	defer host.Close()
	ctx := browser.New(t, browser.Options{})
	open(t, ctx, strings.Replace(host.URL, "127.0.0.1", "localhost", 1))
	for _, tc := range []struct{ question, want string }{
		{"rate me", "Trop de questions : réessayez dans 7 s."},
		{"down again", "Docent is unavailable right now. Please try again in a moment."},
		{"broken stream", "Docent could not answer: internal error (request 42)"},
		{"cut short", "The answer was interrupted. Please try again."},
	} {
		got := eval[map[string]any](t, ctx, `Docent.ask(`+jsString(tc.question)+`).then(a => ({answer: a}), e => ({error: e.message}))`)
		if got["error"] != tc.want {
			t.Errorf("%s: %v, want the error %q", tc.question, got, tc.want)
		}
		shown := eval[string](t, ctx, shadow+`.querySelector('.msg.bot:last-child .error').textContent`)
		retry := eval[bool](t, ctx, `!!`+shadow+`.querySelector('.msg.bot:last-child .actions button')`)
		if shown != tc.want || !retry {
			t.Errorf("%s: shows %q (retry %v), want %q", tc.question, shown, retry, tc.want)
		}
	}
	a := eval[map[string]any](t, ctx, `Docent.ask('crlf')`)
	if a["answer"] != "Over **CRLF** [1]." {
		t.Errorf("CRLF stream: %v", a)
	}
	if got := eval[string](t, ctx, shadow+`.querySelector('.msg.bot:last-child strong').textContent`); got != "CRLF" {
		t.Errorf("bold: %q", got)
	}
	card := eval[map[string]string](t, ctx, `(() => { const c = `+shadow+`.querySelector('.msg.bot:last-child .card'); const a = c.querySelector('a.card-title');
	  return {href: a.getAttribute('href'), target: a.getAttribute('target'), rel: a.getAttribute('rel'), meta: c.querySelector('.meta').textContent} })()`)
	if card["href"] != "https://docs.example/b.pdf#page=2" || card["rel"] != "noopener noreferrer" || card["target"] != "_blank" || card["meta"] != "Intro · pp. 2–3" {
		t.Errorf("card with a URL: %v", card)
	}
	metas := eval[[]string](t, ctx, `[...`+shadow+`.querySelectorAll('.msg.bot:last-child .card .meta')].map(m => m.textContent)`)
	if want := []string{"Intro · pp. 2–3", "slide 4 · from a scan", "Budget · Budget!A1:F40"}; !slices.Equal(metas, want) {
		t.Errorf("cards' places: %q, want %q", metas, want)
	}
	empty := eval[int](t, ctx, `[...`+shadow+`.querySelectorAll('.msg.bot')].filter(b => b.textContent.trim() === '').length`)
	if empty != 0 {
		t.Errorf("%d empty bubbles", empty)
	}
	if n := eval[int](t, ctx, shadow+`.querySelectorAll('a[href^="javascript"]').length`); n != 0 {
		t.Errorf("%d javascript: links", n)
	}
	if n := eval[int](t, ctx, `window.__events.filter(e => e.type === 'docent:error' && e.target === 'SCRIPT').length`); n != 4 {
		t.Errorf("%d docent:error events on the script element, want 4", n)
	}
}

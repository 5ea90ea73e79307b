package browser_test

import (
	"bytes"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/docent-rag/docent/internal/testing/browser"
)

const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>Probe</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<button id="ask" onclick="document.getElementById('out').textContent = 'answered ' + window.innerWidth">Ask</button>
<p id="out"></p>
</body></html>`

// TestBrowserRunsScriptsAndTakesScreenshots: the browser the widget's tests will use loads a
// page, runs its script on a click, reports what the page shows, and takes a PNG screenshot
// of the window's size, narrow as well as wide.
func TestBrowserRunsScriptsAndTakesScreenshots(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()
	for _, width := range []int{1280, 400} {
		ctx := browser.New(t, browser.Options{Width: width, Height: 700})
		err := chromedp.Do(ctx,
			chromedp.EmulateViewport(int64(width), 700),
			chromedp.Navigate(srv.URL),
			chromedp.Click(chromedp.ID("ask")),
			chromedp.WaitNotPresent(chromedp.CSS("#out:empty")),
		)
		if err != nil {
			t.Fatalf("width %d: %v", width, err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("out")))
		if err != nil {
			t.Fatalf("width %d: %v", width, err)
		}
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("width %d: %v", width, err)
		}
		if want := "answered " + strconv.Itoa(width); text != want {
			t.Errorf("width %d: the page shows %q, want %q", width, text, want)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatalf("width %d: the screenshot is not a PNG: %v", width, err)
		}
		if b := img.Bounds(); b.Dx() != width || b.Dy() != 700 {
			t.Errorf("width %d: screenshot %d × %d, want %d × 700", width, b.Dx(), b.Dy(), width)
		}
	}
}

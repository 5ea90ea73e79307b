// Package browser starts a headless Chromium for tests, driven through the DevTools protocol
// (chromedp).
//
// The executable is DOCENT_CHROMIUM (set by `make test` from scripts/chromium.sh), or
// `chromium` on PATH. When there is none, tests skip with a hint, except under CI=true, where
// they fail: CI must never pass by skipping.
package browser

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Executable returns the Chromium to run, or "" when there is none.
func Executable() string {
	if p := os.Getenv("DOCENT_CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		return ""
	}
	return p
}

// Options tune a browser.
type Options struct {
	Width, Height int           // the window; default 1280 × 800
	Timeout       time.Duration // for everything the test does with the browser; default 60 s
}

// New starts a headless Chromium of its own for t (a fresh profile, no extensions, no first-run
// pages) and returns a context for chromedp actions, with one tab open. The browser is closed
// when the test ends.
func New(t testing.TB, o Options) context.Context {
	t.Helper()
	path := Executable()
	if path == "" {
		msg := "no Chromium: run the tests through `make test`, or install Debian's chromium (scripts/chromium.sh) or set DOCENT_CHROMIUM"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if o.Width == 0 {
		o.Width, o.Height = 1280, 800
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(o.Width, o.Height),
		chromedp.UserDataDir(t.TempDir()),
		// /dev/shm is small in containers and chroots; Chromium then crashes rendering pages.
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox; tests run as root in CI.
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, o.Timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser and its first tab
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

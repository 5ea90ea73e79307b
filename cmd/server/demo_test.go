package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Well-formed keys: the demo site checks their kind, not (until used) that they exist.
const (
	testIssuerKey = "dk_issuerissuerissuerissuerissuerissuerissuer1"
	testWidgetKey = "dpk_publicpublicpublicpublicpublicpublicpublic"
)

// serveWith starts the server with env added to testEnv's, and returns its address once it
// serves (and a function that stops it and returns its exit code), or "" and the exit code if
// it stopped first.
func serveWith(t testing.TB, url string, env map[string]string) (addr string, code int, log *lockedWriter) {
	t.Helper()
	base := map[string]string{"DOCENT_DATABASE_URL": url, "DOCENT_ADDR": "127.0.0.1:0", "DOCENT_LOG_FORMAT": "json"}
	maps.Copy(base, env)
	ctx, cancel := context.WithCancel(context.Background())
	log = &lockedWriter{w: &bytes.Buffer{}}
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return base[k] }, io.Discard, log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the server did not stop")
		}
	})
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case code := <-done:
			done <- code
			return "", code, log
		default:
		}
		for _, line := range strings.Split(log.String(), "\n") {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "serving" {
				return entry.Addr, -1, log
			}
		}
	}
	t.Fatalf("the server neither served nor stopped; log:\n%s", log.String())
	return "", 0, nil
}

func TestDemoIsOffUnlessEnabled(t *testing.T) {
	t.Parallel()
	db := indexed(t)
	addr, _, log := serveWith(t, db.URL, map[string]string{"DOCENT_DEMO_ISSUER_KEY": testIssuerKey, "DOCENT_DEMO_WIDGET_KEY": testWidgetKey})
	if addr == "" {
		t.Fatalf("did not start:\n%s", log.String())
	}
	for _, path := range []string{"/demo", "/demo/session"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without DOCENT_DEMO: %d, want 404", path, resp.StatusCode)
		}
	}
}

func TestDemoOnlyOnLoopbackUnlessForced(t *testing.T) {
	t.Parallel()
	db := indexed(t)
	keys := map[string]string{"DOCENT_DEMO_ISSUER_KEY": testIssuerKey, "DOCENT_DEMO_WIDGET_KEY": testWidgetKey}
	with := func(extra map[string]string) map[string]string {
		m := maps.Clone(keys)
		maps.Copy(m, extra)
		return m
	}

	_, code, log := serveWith(t, db.URL, with(map[string]string{"DOCENT_DEMO": "true", "DOCENT_ADDR": "0.0.0.0:0"}))
	if code != exitFatal || !strings.Contains(log.String(), "not a loopback address") {
		t.Errorf("DOCENT_DEMO=true on 0.0.0.0: exit %d, log:\n%s\nwant a refusal", code, log.String())
	}

	for _, env := range []map[string]string{
		{"DOCENT_DEMO": "true"},
		{"DOCENT_DEMO": "any-address", "DOCENT_ADDR": "0.0.0.0:0"},
	} {
		addr, _, log := serveWith(t, db.URL, with(env))
		if addr == "" {
			t.Fatalf("%v: did not start:\n%s", env, log.String())
		}
		_, port, _ := strings.Cut(addr, "]:")
		if port == "" {
			port = addr[strings.LastIndexByte(addr, ':')+1:]
		}
		resp, err := http.Get("http://127.0.0.1:" + port + "/demo")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`data-docent-key="`+testWidgetKey+`"`)) {
			t.Errorf("%v: GET /demo %d\n%s", env, resp.StatusCode, body)
		}
		if !strings.Contains(log.String(), "serving the demo site") {
			t.Errorf("%v: no warning that the demo is on:\n%s", env, log.String())
		}
	}
}

func TestDemoConfiguration(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"unknown value": {map[string]string{"DOCENT_DEMO": "yes please"}, `DOCENT_DEMO: "yes please" is not false, true or any-address`},
		"no keys":       {map[string]string{"DOCENT_DEMO": "true"}, "set DOCENT_DEMO_ISSUER_KEY"},
		"keys swapped": {map[string]string{"DOCENT_DEMO": "true", "DOCENT_DEMO_ISSUER_KEY": testWidgetKey, "DOCENT_DEMO_WIDGET_KEY": testIssuerKey},
			"set DOCENT_DEMO_ISSUER_KEY"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), nil, func(k string) string { return tc.env[k] }, io.Discard, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 with %q", code, stderr.String(), tc.want)
			}
		})
	}
}

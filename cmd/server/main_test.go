package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// testEnv is the environment of a server on database url, on a free port, logging in format.
func testEnv(url, format string) func(string) string {
	env := map[string]string{"DOCENT_DATABASE_URL": url, "DOCENT_ADDR": "127.0.0.1:0", "DOCENT_LOG_FORMAT": format}
	return func(k string) string { return env[k] }
}

func TestRefusesUnmigratedDatabase(t *testing.T) {
	t.Parallel()
	db := dbtest.NewEmpty(t)
	var stderr bytes.Buffer
	code := run(context.Background(), nil, testEnv(db.URL, "text"), io.Discard, &stderr)
	if code != exitFatal || !strings.Contains(stderr.String(), "ingest migrate") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 telling to run ingest migrate", code, stderr.String())
	}
}

// indexed returns a database with a few documents ingested, so that a generation is active.
func indexed(t *testing.T) *dbtest.DB {
	t.Helper()
	db := dbtest.New(t)
	dir := t.TempDir()
	for name, content := range map[string]string{".docent-acl": "public\n", "a.md": "# Parking\n\nParking is free at the depot.\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{Source: "t", Roots: []string{dir}}, db.Pool, emb, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestRefusesWithoutAnIndex(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	var stderr bytes.Buffer
	code := run(context.Background(), nil, testEnv(db.URL, "text"), io.Discard, &stderr)
	if code != exitFatal || !strings.Contains(stderr.String(), "ingest run") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 telling to run ingest run", code, stderr.String())
	}
}

func TestServesUntilCancelled(t *testing.T) {
	t.Parallel()
	db := indexed(t)
	var stderr bytes.Buffer
	getenv := testEnv(db.URL, "json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &lockedWriter{w: &stderr}
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, getenv, io.Discard, log) }()

	// Wait for the "serving" log line and take the address from it.
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(log.String(), "\n") {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "serving" {
				addr = entry.Addr
			}
		}
	}
	if addr == "" {
		t.Fatalf("server did not start; log:\n%s", log.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", resp.StatusCode)
	}

	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d after shutdown, want 0; log:\n%s", code, log.String())
	}
}

func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"log level":        {nil, map[string]string{"DOCENT_LOG_LEVEL": "loud"}, `"loud" is not one of debug, info, warn, error`},
		"log format":       {nil, map[string]string{"DOCENT_LOG_FORMAT": "xml"}, `"xml" is not one of json, text, auto`},
		"argument":         {[]string{"serve"}, nil, `unexpected argument "serve"`},
		"rate limit scope": {nil, map[string]string{"DOCENT_RATE_LIMIT_SCOPE": "cluster"}, `DOCENT_RATE_LIMIT_SCOPE: "cluster" is not database or instance`},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, io.Discard, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 with %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// lockedWriter serialises writes from the server's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

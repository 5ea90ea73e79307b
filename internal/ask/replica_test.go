package ask_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestAReplicasAnswerIsCachedUnderItsOwnVersion: an answer served from a replica that has
// not yet replayed a re-tag (within the maximum lag: the documented window) is cached under
// the replica's corpus version, so once the replica has the re-tag nobody is served that
// answer again. Were the version read from the primary while the evidence came from the
// replica, the stale answer would be cached under the primary's new version and keep showing
// the re-tagged document to the callers who lost it, for as long as the cache keeps it.
func TestAReplicasAnswerIsCachedUnderItsOwnVersion(t *testing.T) {
	standby := dbtest.TestStandby(t)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	db := dbtest.New(t)
	dir := t.TempDir()
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(files map[string]string) {
		t.Helper()
		for name, content := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		in, err := ingest.New(ingest.Config{Source: "test", Roots: []string{dir}, Prune: true}, db.Pool, emb, quiet)
		if err != nil {
			t.Fatal(err)
		}
		if s, err := in.Run(ctx); err != nil || s.Documents.Failed > 0 {
			t.Fatalf("ingest: %v %+v", err, s.Failures)
		}
	}
	put(map[string]string{
		"ops/.docent-acl": "group:ops\n",
		"ops/launch.md":   "# Launch codes\n\nThe launch window for the Kestrel probe opens on the ninth of March at dawn.\n",
	})
	standby.CatchUp(t, db)
	// A maximum lag longer than the test: the replica stays admissible while it lags.
	rs, err := index.NewReplicas(db.Pool, []string{standby.URL(db)}, index.ReplicaConfig{MaxLag: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	for rs.Check(ctx); !rs.Status()[0].InUse; rs.Check(ctx) {
		time.Sleep(50 * time.Millisecond)
	}
	r, err := retrieve.New(retrieve.Config{Replicas: rs, GenerationTTL: 10 * time.Millisecond}, db.Pool, emb, nil, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	extractive, err := answer.New(answer.Config{}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ask.New(ask.Config{CacheSize: 100, CacheTTL: time.Hour}, r, extractive, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ops := ask.NewCaller(auth.Principal{Kind: auth.KindAPIKey, KeyID: 1, Subject: "ops", Principals: []string{"group:ops"}})
	question := "When does the launch window of the Kestrel probe open?"
	askOps := func() (*ask.Answer, *ask.Trace) {
		t.Helper()
		tr := ask.NewTrace("/v1/answer", ops, question)
		a, err := svc.Ask(ctx, ask.Question{Text: question, MaxSources: 5}, ops, tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		tr.Finish(nil)
		return a, tr
	}
	cites := func(a *ask.Answer) bool {
		for _, s := range a.Sources {
			if strings.Contains(s.Text, "ninth of March") {
				return true
			}
		}
		return false
	}

	standby.Pause(t)
	put(map[string]string{"ops/.docent-acl": "group:legal\n"}) // ops loses the document
	a, tr := askOps()
	if !strings.Contains(string(tr.Retrieval), `"database":"replica1"`) {
		t.Fatalf("not served by the replica: %s", tr.Retrieval)
	}
	t.Logf("from the lagging replica (the documented window): refused %v, cites the document %v", a.Refused, cites(a))

	standby.Resume(t)
	standby.CatchUp(t, db)
	a, tr = askOps()
	if cites(a) || !a.Refused {
		t.Fatalf("after the replica replayed the re-tag, ops is still answered from the document (cached %v, %s): %q",
			a.Cached, tr.Retrieval, a.Text)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestReindexCommands drives reindex, generations, activate and gc as an admin would.
func TestReindexCommands(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	dir := t.TempDir()
	var docs, queries, qrels strings.Builder
	qrels.WriteString("query-id\tcorpus-id\tscore\n")
	for i := range 40 {
		fmt.Fprintf(&docs, "{\"id\":\"d%d\",\"title\":\"Note %d\",\"text\":\"note about alpha%dx and beta%dy with gamma%dz, for the quarterly plan\"}\n", i, i, i, i, i)
		fmt.Fprintf(&queries, "{\"_id\":\"q%d\",\"text\":\"alpha%dx gamma%dz\"}\n", i, i, i)
		fmt.Fprintf(&qrels, "q%d\td%d\t1\n", i, i)
	}
	for path, content := range map[string]string{"docs/notes.jsonl": docs.String(), "gate/queries.jsonl": queries.String(), "gate/qrels/test.tsv": qrels.String()} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := runIngest(t, db.URL, "run", "--source", "notes", "--acl", "public", filepath.Join(dir, "docs")); code != exitOK {
		t.Fatalf("ingest run: exit %d: %s", code, stderr)
	}

	held, err := index.LockReindex(context.Background(), db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runIngest(t, db.URL, "reindex", "--embedder", "builtin", "--dimension", "64"); code != exitLocked || !strings.Contains(stderr, "another reindex") {
		t.Errorf("reindex while another holds the lock: exit %d, want %d: %s", code, exitLocked, stderr)
	}
	if err := held.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runIngest(t, db.URL, "reindex", "--embedder", "builtin", "--dimension", "64", "--dry-run")
	if code != exitOK || !strings.Contains(stdout, "would build a new generation (builtin:hash-ngram-v1, 64 dimensions") || !strings.Contains(stdout, "40 stored chunks") {
		t.Errorf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runIngest(t, db.URL, "reindex", "--rechunk", "--chunk-target-tokens", "100", "--chunk-max-tokens", "150", "--dry-run")
	if code != exitOK || !strings.Contains(stdout, "by reading the documents of 1 sources again") {
		t.Errorf("rechunk dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runIngest(t, db.URL, "reindex", "--chunk-target-tokens", "60"); code != exitUsage || !strings.Contains(stderr, "need --rechunk") {
		t.Errorf("chunk flags without --rechunk: exit %d: %s", code, stderr)
	}
	// A worse generation (32 dimensions scatter these notes' words) with no tolerance: refused, exit 4.
	code, stdout, stderr = runIngest(t, db.URL, "reindex", "--embedder", "builtin", "--dimension", "32", "--eval", filepath.Join(dir, "gate"), "--tolerance", "0")
	if code != exitGateRefused || !strings.Contains(stderr, "ingest activate 2 --force") {
		t.Errorf("refused reindex: exit %d, want %d\n%s%s", code, exitGateRefused, stdout, stderr)
	}
	code, _, stderr = runIngest(t, db.URL, "reindex", "--embedder", "builtin", "--dimension", "64")
	if code != exitUsage && code != exitFatal || !strings.Contains(stderr, "ingest gc --abandon") {
		t.Errorf("reindex beside an unfinished one: exit %d: %s", code, stderr)
	}
	if code, stdout, stderr := runIngest(t, db.URL, "gc", "--abandon"); code != exitOK || !strings.Contains(stdout, "dropped generation 2") {
		t.Errorf("gc --abandon: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runIngest(t, db.URL, "reindex", "--embedder", "builtin", "--dimension", "64", "--json", "--force", "--eval", filepath.Join(dir, "gate"))
	var res struct {
		Generation int  `json:"generation"`
		Dimension  int  `json:"dimension"`
		Activated  bool `json:"activated"`
		Forced     bool `json:"gate_skipped_by_force"`
		Embedded   int  `json:"embedded"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || code != exitOK || !res.Activated || !res.Forced || res.Dimension != 64 || res.Embedded != 40 {
		t.Fatalf("reindex --json: exit %d, %+v (%v)\n%s%s", code, res, err, stdout, stderr)
	}

	code, stdout, _ = runIngest(t, db.URL, "generations", "--json")
	var gens []map[string]any
	if err := json.Unmarshal([]byte(stdout), &gens); err != nil || code != exitOK || len(gens) != 3 {
		t.Fatalf("generations --json: exit %d, %v:\n%s", code, err, stdout)
	}
	want := map[float64]string{1: "retired", 2: "retired", 3: "active"}
	for _, g := range gens {
		for _, field := range []string{"id", "embedder", "model", "dimension", "status", "chunks"} {
			if _, ok := g[field]; !ok {
				t.Errorf("generation %v has no %q", g["id"], field)
			}
		}
		if g["status"] != want[g["id"].(float64)] {
			t.Errorf("generation %v is %v, want %s", g["id"], g["status"], want[g["id"].(float64)])
		}
	}

	// Roll back to generation 1, the id before the flags as people type it.
	if code, stdout, stderr := runIngest(t, db.URL, "activate", "1", "--eval", filepath.Join(dir, "gate")); code != exitOK || !strings.Contains(stdout, "activated generation 1 (was 3)") {
		t.Errorf("activate 1: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runIngest(t, db.URL, "activate", "9"); code != exitUsage || !strings.Contains(stderr, "no generation 9") {
		t.Errorf("activate 9: exit %d: %s", code, stderr)
	}
	// gc keeps the generation retired moments ago (--grace), then drops it without.
	if code, stdout, _ := runIngest(t, db.URL, "gc", "--keep", "0"); code != exitOK || !strings.Contains(stdout, "kept generation 3") {
		t.Errorf("gc within the grace period: exit %d\n%s", code, stdout)
	}
	if code, stdout, _ := runIngest(t, db.URL, "gc", "--keep", "0", "--grace", "0"); code != exitOK || !strings.Contains(stdout, "dropped generation 3") {
		t.Errorf("gc --grace 0: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := runIngest(t, db.URL, "activate", "3"); code != exitFatal || !strings.Contains(stderr, "was dropped") {
		t.Errorf("activate a dropped generation: exit %d: %s", code, stderr)
	}
}

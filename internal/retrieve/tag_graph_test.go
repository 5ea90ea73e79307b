package retrieve_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestLargeTagsWalkTheirOwnGraphs: an ingestion past the index threshold builds the shared
// graph and a graph per large tag; a caller with large tags (and few other chunks) is served
// by walks of those graphs and an exact scan of the rest, finds what the exact scan finds, and
// nothing it may not see; other callers keep their plans.
func TestLargeTagsWalkTheirOwnGraphs(t *testing.T) {
	t.Parallel()
	dirs := []struct {
		name, acl, words string
		n                int
	}{
		{"other", "group:all", "recipe flour oven dough", 240},
		{"big1", "group:big1\ngroup:all", "robot pallet aisle forklift", 120},
		{"big2", "group:big2\ngroup:all", "invoice vendor payment ledger", 100},
		{"small", "group:small\ngroup:all", "satellite orbit telemetry antenna", 20},
	}
	root := t.TempDir()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d.name), 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{".docent-acl": d.acl + "\n"}
		w := strings.Fields(d.words)
		for i := range d.n {
			files[fmt.Sprintf("%s%03d.md", d.name, i)] = fmt.Sprintf("# %s %d\n\nThe %s number %d met the %s near %s %d and %s %d.\n",
				w[0], i, w[1], i, w[2], w[3], i%17, w[i%4], i*7)
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(root, d.name, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	db := dbtest.New(t)
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{Source: "test", Roots: []string{root}, IndexFrom: 100,
		TagIndexes: index.TagIndexOptions{MinChunks: 80, MaxShare: 0.5}}, db.Pool, emb, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s, err := in.Run(context.Background())
	if err != nil || s.Documents.Failed > 0 {
		t.Fatalf("ingest: %v %+v", err, s.Failures)
	}
	notes := strings.Join(s.Notes, "\n")
	for _, tag := range []string{"group:big1", "group:big2"} {
		if !strings.Contains(notes, fmt.Sprintf("built the vector index of tag %q", tag)) {
			t.Errorf("the run's notes do not say it built the graph of %s:\n%s", tag, notes)
		}
	}
	ctx := context.Background()
	g, err := index.ActiveGeneration(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	graphs, err := index.TagVectorIndexes(ctx, db.Pool, g.ID)
	if err != nil || len(graphs) != 2 {
		t.Fatalf("tag graphs %+v, %v; want group:big1 and group:big2 (group:all is over half the corpus, group:small under 80 chunks)", graphs, err)
	}
	dirOf := documentURIs(t, db)
	for id, uri := range dirOf {
		dirOf[id] = filepath.Base(filepath.Dir(uri))
	}

	cfg := retrieve.Config{Depth: 10, ExactTop: 10, ExactScanBelow: 50}
	r := newRetriever(t, db, emb, cfg, nil)
	cfg.MaxTagScans = 1
	one := newRetriever(t, db, emb, cfg, nil)
	exact := newRetriever(t, db, emb, retrieve.Config{Depth: 10, ExactTop: 10, ExactScanBelow: 1 << 30}, nil)
	queries := []string{"robot pallet 12 forklift", "invoice vendor ledger 40", "satellite orbit telemetry 3",
		"recipe dough oven", "aisle near antenna", "payment number 7"}
	for _, tc := range []struct {
		r          *retrieve.Retriever
		principals []string
		plan       string
		sees       []string
	}{
		{r, []string{"group:big1"}, "tag-hnsw", []string{"big1"}},
		{r, []string{"group:big1", "group:small"}, "tag-hnsw", []string{"big1", "small"}},
		{r, []string{"group:big1", "group:big2"}, "tag-hnsw", []string{"big1", "big2"}},
		{r, []string{"group:big2", "group:small", "group:unknown"}, "tag-hnsw", []string{"big2", "small"}},
		{one, []string{"group:big1", "group:big2"}, "hnsw", []string{"big1", "big2"}},
		{r, []string{"group:big1", "group:all"}, "hnsw", []string{"big1", "big2", "small", "other"}},
		{r, []string{"group:all"}, "hnsw", []string{"big1", "big2", "small", "other"}},
		{r, []string{"group:small"}, "exact", []string{"small"}},
	} {
		var found, want float64
		for _, q := range queries {
			req := retrieve.Request{Query: q, Principals: tc.principals, Mode: retrieve.Dense}
			res, err := tc.r.Retrieve(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.DensePlan != tc.plan {
				t.Errorf("%q, %q: plan %q, want %q", tc.principals, q, res.DensePlan, tc.plan)
			}
			for _, h := range res.Dense {
				if !slices.Contains(tc.sees, dirOf[h.DocumentID]) {
					t.Errorf("%q, %q: chunk %d of %s/ is not visible to the caller", tc.principals, q, h.ChunkID, dirOf[h.DocumentID])
				}
			}
			ref, err := exact.Retrieve(ctx, req)
			if err != nil || ref.DensePlan != "exact" {
				t.Fatalf("exact reference: plan %q, %v", ref.DensePlan, err)
			}
			in := map[int64]bool{}
			for _, h := range res.Dense {
				in[h.ChunkID] = true
			}
			for _, h := range ref.Dense {
				if in[h.ChunkID] {
					found++
				}
			}
			want += float64(len(ref.Dense))
		}
		if recall := found / want; recall < 0.9 {
			t.Errorf("%q (%s): recall@10 %.3f against the exact scan, want >= 0.9", tc.principals, tc.plan, recall)
		}
	}
	// The exact part of a mixed caller counts: a query on the small group's words finds its
	// chunk first for a caller with a large tag and the small one.
	res, err := r.Retrieve(ctx, retrieve.Request{Query: "satellite orbit telemetry antenna 5", Principals: []string{"group:big1", "group:small"}, Mode: retrieve.Dense})
	if err != nil || len(res.Dense) == 0 || dirOf[res.Dense[0].DocumentID] != "small" {
		t.Errorf("mixed caller, a small group's query: %v, first hit %+v; want a chunk of small/", err, res.Dense[:min(1, len(res.Dense))])
	}
}

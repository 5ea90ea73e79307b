package index_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/index"
)

// hostileTag is a tag that would end a literal, an array and the statement if it were pasted
// into SQL unquoted, under either setting of standard_conforming_strings.
const hostileTag = `x'] OR true; -- \' "{a,b}"`

// TestTagLiteralMeansTheTag: the literal the dense leg writes into its statement means the tag
// itself, whatever standard_conforming_strings is; a tag with NUL is refused.
func TestTagLiteralMeansTheTag(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, conforming := range []string{"on", "off"} {
		if _, err := conn.Exec(ctx, "SET standard_conforming_strings = "+conforming); err != nil {
			t.Fatal(err)
		}
		for _, tag := range []string{"group:a", hostileTag, `\`, `'`, `\'`, `''\\`, "é\t\n", "{}", "NULL"} {
			lit, err := index.TagLiteral(tag)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if err := conn.QueryRow(ctx, "SELECT ARRAY["+lit+"]::text[]").Scan(&got); err != nil {
				t.Fatalf("standard_conforming_strings %s: %q as %s: %v", conforming, tag, lit, err)
			}
			if len(got) != 1 || got[0] != tag {
				t.Errorf("standard_conforming_strings %s: %q as %s reads back as %q", conforming, tag, lit, got)
			}
		}
	}
	if _, err := conn.Exec(ctx, "RESET standard_conforming_strings"); err != nil {
		t.Fatal(err)
	}
	if _, err := index.TagLiteral("a\x00b"); err == nil {
		t.Error("a tag with NUL was accepted")
	}
}

// TestTagVectorIndexes: the large tags within the share get a graph of their own, once; a
// search restricted to a tag walks that graph, returns only rows the caller may see and
// carrying the tag, also for a tag that is hostile SQL; dropping the generation forgets them.
func TestTagVectorIndexes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	// 40 documents of 5 chunks: "all" on every one; "big" on 16 (80 chunks), the hostile tag on
	// 12 (60), "small" on 2 (10), "huge" on 30 (150, over half the corpus).
	r := rand.New(rand.NewPCG(3, 4))
	vectors := map[int64][]float32{}
	tagsOf := map[int64][]string{}
	for d := range 40 {
		acl := []string{"all"}
		switch {
		case d < 16:
			acl = append(acl, "big")
		case d < 28:
			acl = append(acl, hostileTag)
		case d < 30:
			acl = append(acl, "small")
		}
		if d >= 10 {
			acl = append(acl, "huge")
		}
		texts := make([]string, 5)
		for i := range texts {
			texts[i] = fmt.Sprintf("document %d part %d", d, i)
		}
		_, ids := f.addDocument(t, fmt.Sprintf("d%02d.md", d), fmt.Sprint("D", d), acl, texts...)
		for _, id := range ids {
			vectors[id] = randomVector(r, 8)
			tagsOf[id] = acl
		}
	}
	g := f.newGeneration(t, "tags", 8)
	f.embed(t, g, vectors)
	opt := index.TagIndexOptions{MinChunks: 50, MaxShare: 0.5, M: 8, EfConstruction: 32}
	// No shared graph yet: a small corpus's callers scan exactly, no tag graph is built.
	if built, err := index.BuildTagVectorIndexes(ctx, f.pool, g.ID, opt, nil); err != nil || len(built) != 0 {
		t.Fatalf("before the shared graph: built %v, %v; want none", built, err)
	}
	if err := index.BuildVectorIndex(ctx, f.pool, g.ID); err != nil {
		t.Fatal(err)
	}
	var progress []string
	built, err := index.BuildTagVectorIndexes(ctx, f.pool, g.ID, opt, func(t index.TagVectorIndex, done bool) {
		progress = append(progress, fmt.Sprint(t.Tag, " ", t.Chunks, " ", done))
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range built {
		got = append(got, fmt.Sprint(b.Tag, " ", b.Chunks))
	}
	if want := []string{"big 80", hostileTag + " 60"}; !slices.Equal(got, want) {
		t.Fatalf("built %q, want %q (the tags from 50 chunks to half the corpus, largest first)", got, want)
	}
	if want := []string{"big 80 false", "big 80 true", hostileTag + " 60 false", hostileTag + " 60 true"}; !slices.Equal(progress, want) {
		t.Errorf("progress %q, want %q", progress, want)
	}
	if again, err := index.BuildTagVectorIndexes(ctx, f.pool, g.ID, opt, nil); err != nil || len(again) != 0 {
		t.Errorf("second build: %v, %v; want nothing new", again, err)
	}
	listed, err := index.TagVectorIndexes(ctx, f.pool, g.ID)
	if err != nil || len(listed) != 2 {
		t.Fatalf("listed %v, %v", listed, err)
	}
	for _, ti := range listed {
		q := index.VectorQuery{Generation: g, Vector: randomVector(r, 8), Principals: []string{ti.Tag}, Limit: 10,
			Plan: index.HNSWScan, EfSearch: 40, Candidates: 40, Tag: ti.Tag}
		plan, err := index.ExplainNearest(ctx, f.pool, q)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, `"Index Name": "`+ti.Index+`"`) {
			t.Errorf("tag %q: the search does not walk its graph %s:\n%s", ti.Tag, ti.Index, plan)
		}
		hits, err := index.Nearest(ctx, f.pool, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 10 {
			t.Errorf("tag %q: %d hits, want 10", ti.Tag, len(hits))
		}
		for _, h := range hits {
			if !slices.Contains(tagsOf[h.ChunkID], ti.Tag) {
				t.Errorf("tag %q: chunk %d carries %q", ti.Tag, h.ChunkID, tagsOf[h.ChunkID])
			}
		}
		// The caller's tags still filter: a walk of the tag's graph for a caller without it
		// finds nothing, and a caller with "small" only finds nothing in "big"'s graph.
		for _, principals := range [][]string{{"nobody"}, {"small"}} {
			q.Principals = principals
			if hits, err := index.Nearest(ctx, f.pool, q); err != nil || len(hits) != 0 {
				t.Errorf("tag %q, caller %q: %d hits, %v; want none", ti.Tag, principals, len(hits), err)
			}
		}
	}
	if _, err := f.pool.Exec(ctx, `SELECT docent_drop_embedding_table($1)`, g.ID); err != nil {
		t.Fatal(err)
	}
	if listed, err := index.TagVectorIndexes(ctx, f.pool, g.ID); err != nil || len(listed) != 0 {
		t.Errorf("after the generation's drop: %v, %v; want no tag graphs", listed, err)
	}
}

// TestTagVectorIndexesAtMost: MaxTags bounds a generation's tag graphs, the largest tags first.
func TestTagVectorIndexesAtMost(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	vectors := map[int64][]float32{}
	for d := range 30 {
		acl := []string{"rest"}
		if d < 12 {
			acl = []string{"a"}
		} else if d < 22 {
			acl = []string{"b"}
		}
		_, ids := f.addDocument(t, fmt.Sprintf("d%02d.md", d), "D", acl, "one", "two")
		for _, id := range ids {
			vectors[id] = randomVector(r, 4)
		}
	}
	g := f.newGeneration(t, "most", 4)
	f.embed(t, g, vectors)
	if err := index.BuildVectorIndex(ctx, f.pool, g.ID); err != nil {
		t.Fatal(err)
	}
	opt := index.TagIndexOptions{MinChunks: 10, MaxShare: 0.5, MaxTags: 1, M: 4, EfConstruction: 16}
	for range 2 {
		if _, err := index.BuildTagVectorIndexes(ctx, f.pool, g.ID, opt, nil); err != nil {
			t.Fatal(err)
		}
	}
	listed, err := index.TagVectorIndexes(ctx, f.pool, g.ID)
	if err != nil || len(listed) != 1 || listed[0].Tag != "a" {
		t.Errorf("listed %+v, %v; want tag a only (24 chunks, the largest; b has 20, rest 16)", listed, err)
	}
	opt.M, opt.EfConstruction = 4, 7
	if _, err := index.BuildTagVectorIndexes(ctx, f.pool, g.ID, opt, nil); err == nil {
		t.Error("ef_construction below 2·m was accepted")
	}
}

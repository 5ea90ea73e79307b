package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/acl"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

func TestGroupOfPartitionsTheCorpus(t *testing.T) {
	const docs, groups = 20000, 20
	count := make([]int, groups)
	moved := 0
	for i := range docs {
		id := fmt.Sprintf("doc-%d", i)
		g := groupOf("", id, groups)
		if g < 0 || g >= groups {
			t.Fatalf("groupOf(%q) = %d, outside [0, %d)", id, g, groups)
		}
		if again := groupOf("", id, groups); again != g {
			t.Fatalf("groupOf(%q) is %d, then %d", id, g, again)
		}
		count[g]++
		if groupOf("other", id, groups) != g {
			moved++
		}
	}
	// About docs/groups each (binomial: a standard deviation of ~31 for 1,000).
	for g, n := range count {
		if n < 850 || n > 1150 {
			t.Errorf("group %d has %d documents of %d; want about %d", g, n, docs, docs/groups)
		}
	}
	// Another salt draws other groups: a document keeps its group by chance only (1 in 20).
	if moved < docs*8/10 {
		t.Errorf("another salt moved %d of %d documents to another group", moved, docs)
	}
}

func TestSlicingTagsAndVisibility(t *testing.T) {
	s := &slicing{groups: []int{3, 7}, salt: "x"}
	tags := s.tags("d1")
	want := []string{"public", fmt.Sprintf("group:g3-%d", groupOf("x", "d1", 3)), fmt.Sprintf("group:g7-%d", groupOf("x", "d1", 7))}
	if diff := cmp.Diff(want, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if _, err := acl.Parse(tags); err != nil {
		t.Errorf("the tags are not valid tags: %v", err)
	}
	// A caller sees exactly the documents that carry its tag.
	for _, g := range []int{0, 3, 7} {
		p := s.principal(g, "d1")
		for i := range 200 {
			doc := fmt.Sprintf("d%d", i)
			if carries := slices.Contains(s.tags(doc), p); carries != s.visible(g, "d1", doc) {
				t.Errorf("groups %d: document %s carries %s: %v, visible: %v", g, doc, p, carries, !carries)
			}
		}
	}
}

func TestTagCorpus(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.jsonl")
	s := &slicing{groups: []int{2, 5}}
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(src, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"_id": "a", "title": "T <b>", "text": "one", "metadata": {"k": 1}}` + "\n\n" + `{"_id": "b", "text": "two"}`)
	dst := filepath.Join(dir, "out.jsonl")
	if err := s.tagCorpus(src, dst); err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d records written, want 2:\n%s", len(lines), out)
	}
	for i, id := range []string{"a", "b"} {
		var rec struct {
			ID       string          `json:"_id"`
			Title    string          `json:"title"`
			ACL      []string        `json:"acl"`
			Metadata json.RawMessage `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.ID != id || !slices.Equal(rec.ACL, s.tags(id)) {
			t.Errorf("record %d: %s; want _id %s with acl %v", i, lines[i], id, s.tags(id))
		}
		if id == "a" && (rec.Title != "T <b>" || string(rec.Metadata) != `{"k":1}`) {
			t.Errorf("record a lost its fields: %s", lines[i])
		}
	}

	for _, bad := range []struct{ content, want string }{
		{`{"_id": "a", "acl": ["group:hr"]}`, `"acl" of its own`},
		{`{"id": "a"}`, `without a string "_id"`},
		{`{"_id": 7}`, `without a string "_id"`},
		{`{"_id": "a"}` + "\n" + `{"_id": "b"`, "in.jsonl:2"},
	} {
		write(bad.content)
		if err := s.tagCorpus(src, dst); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want one with %q", bad.content, err, bad.want)
		}
	}
}

func TestSliceFlags(t *testing.T) {
	for _, tt := range []struct {
		flags sliceFlags
		want  *slicing
		err   string
	}{
		{flags: sliceFlags{}, want: nil},
		{flags: sliceFlags{by: "hash"}, want: nil},
		{flags: sliceFlags{groups: "20, 6"}, want: &slicing{groups: []int{6, 20}, floors: []int{0}}},
		{flags: sliceFlags{groups: "8,2", by: "topic"}, want: &slicing{groups: []int{2, 8}, floors: []int{0}, byTopic: true}},
		{flags: sliceFlags{groups: "6", by: "topic"}, err: "powers of two"},
		{flags: sliceFlags{groups: "8", by: "size"}, err: "not hash or topic"},
		{flags: sliceFlags{by: "topic"}, err: "need --groups"},
		{flags: sliceFlags{groups: "6", floors: "1000,1", salt: "s"}, want: &slicing{groups: []int{6}, floors: []int{1, 1000}, salt: "s"}},
		{flags: sliceFlags{floors: "1"}, err: "need --groups"},
		{flags: sliceFlags{groups: "1"}, err: "at least 2"},
		{flags: sliceFlags{groups: "6,x"}, err: "--groups"},
		{flags: sliceFlags{groups: "6,6"}, err: "given twice"},
		{flags: sliceFlags{groups: "6", floors: "0"}, err: "at least 1"},
	} {
		got, err := tt.flags.parse()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%+v: error %v, want %q", tt.flags, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tt.flags, err)
		} else if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(slicing{})); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", tt.flags, diff)
		}
	}
}

func TestBEIRSlicesEndToEnd(t *testing.T) {
	dbtest.New(t)
	code, stdout, stderr := runEval(t, "beir", "--dataset", "testdata/mini", "--mode", "lexical", "--rerank", "none",
		"--groups", "2,3", "--min-idf-chunks", "1,1000", "--json")
	dropEvalDatabases(t, stderr)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep sliceReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if want, _ := minEvidence(func(string) string { return "" }); len(rep.Rows) != 6 || rep.Threshold != want || rep.Quality != "nDCG@10" {
		t.Fatalf("report %s: want 2 floors × 3 views at the default threshold %v", stdout, want)
	}
	// The mini corpus has one chunk a document; the queries' anchors are d3, d1, d4, d2.
	s := &slicing{groups: []int{2, 3}}
	for _, row := range rep.Rows {
		seen := 0.0
		for _, anchor := range []string{"d3", "d1", "d4", "d2"} {
			for _, doc := range []string{"d1", "d2", "d3", "d4", "d5", "d6"} {
				if s.visible(row.Groups, anchor, doc) {
					seen++
				}
			}
		}
		if row.Queries != 4 || row.Chunks != seen/4 {
			t.Errorf("row %+v: want 4 queries seeing %.2f chunks on average", row, seen/4)
		}
		// Each relevant document has the query's distinctive words, in every slice.
		if row.Quality < 0.99 {
			t.Errorf("row %+v: nDCG@10 below 1", row)
		}
		if row.Groups == 0 && (row.Flips != 0 || row.Delta != 0) {
			t.Errorf("row %+v: the whole corpus differs from itself", row)
		}
	}
	// The floor reaches the retriever: over 6 chunks, N = 6 and N = 1,000 weigh terms
	// differently.
	if rep.Rows[0].MinIDFChunks != 1 || rep.Rows[3].MinIDFChunks != 1000 || rep.Rows[0].Strength == rep.Rows[3].Strength {
		t.Errorf("rows %+v and %+v: want floors 1 and 1,000 for the whole corpus with different strengths", rep.Rows[0], rep.Rows[3])
	}
}

// fakeEmbedder embeds a text as the vector its first word names ("a", "b" or "c": three
// distant points), so that documents on one topic have one vector.
type fakeEmbedder struct{}

func (fakeEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	points := map[string][]float32{"a": {1, 0, 0, 0}, "b": {0, 1, 0, 0}, "c": {0, 0, 0, 1}}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = points[strings.Fields(t)[0]]
	}
	return out, nil
}
func (fakeEmbedder) Dimension() int { return 4 }
func (fakeEmbedder) Kind() string   { return "fake" }
func (fakeEmbedder) Model() string  { return "points" }

func TestAssignTopics(t *testing.T) {
	src := filepath.Join(t.TempDir(), "corpus.jsonl")
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf(`{"_id": "d%d", "title": "%s", "text": "doc %d"}`, i, []string{"a", "b", "c"}[i%3], i))
	}
	if err := os.WriteFile(src, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	topics := func(salt string) map[string][]int {
		t.Helper()
		s := &slicing{groups: []int{2, 8, 64}, salt: salt, byTopic: true}
		if err := s.assignTopics(context.Background(), src, fakeEmbedder{}); err != nil {
			t.Fatal(err)
		}
		if len(s.topics) != 30 {
			t.Fatalf("%d documents grouped, want 30", len(s.topics))
		}
		return s.topics
	}
	got := topics("")
	if diff := cmp.Diff(got, topics("")); diff != "" {
		t.Errorf("a second assignment differs (-first +second):\n%s", diff)
	}
	distinct := map[int]bool{}
	for i := range 30 {
		g := got[fmt.Sprintf("d%d", i)]
		// One topic, one group; the groupings are nested.
		if same := got[fmt.Sprintf("d%d", i%3)]; !slices.Equal(g, same) {
			t.Errorf("d%d is in groups %v, d%d (same topic) in %v", i, g, i%3, same)
		}
		if g[0] != g[2]&1 || g[1] != g[2]&7 || g[2] < 0 || g[2] >= 64 {
			t.Errorf("d%d: groups %v among 2, 8, 64 are not nested", i, g)
		}
		distinct[g[2]] = true
	}
	// Three points centred on their mean lie on both sides of a random hyperplane: among 64
	// groups (six hyperplanes) they are apart but by a very unlikely draw.
	if len(distinct) != 3 {
		t.Errorf("three topics fell in %d groups among 64", len(distinct))
	}
}

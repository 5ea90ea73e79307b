package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/pdfgen"
)

// TestMain lets this test binary extract files: ingestion extracts each file in a child
// process, which is the running binary re-executed.
func TestMain(m *testing.M) {
	extract.RunChildIfRequested()
	os.Exit(m.Run())
}

// fakeEmbedder is a deterministic embedder that counts what it embeds.
type fakeEmbedder struct {
	mu     sync.Mutex
	texts  []string
	err    error
	panics bool // a bug in the embedder
}

func (f *fakeEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panics {
		panic("embedder bug")
	}
	if f.err != nil {
		return nil, f.err
	}
	f.texts = append(f.texts, texts...)
	out := make([][]float32, len(texts))
	for i, t := range texts {
		h := fnv.New64a()
		h.Write([]byte(t))
		s := h.Sum64()
		v := make([]float32, 8)
		for j := range v {
			v[j] = float32((s>>(j*8))&0xff) + 1
		}
		out[i] = v
	}
	return out, nil
}

func (f *fakeEmbedder) Dimension() int { return 8 }
func (f *fakeEmbedder) Kind() string   { return "test" }
func (f *fakeEmbedder) Model() string  { return "fnv-8" }

func (f *fakeEmbedder) embedded() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.texts)
	f.texts = nil
	return n
}

// corpus writes files (path -> content) under a new directory and returns it.
func corpus(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		write(t, filepath.Join(dir, name), content)
	}
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var sampleCorpus = map[string]string{
	"handbook/.docent-acl": "public\n",
	"handbook/holidays.md": "---\ntitle: Holidays\n---\n# Holidays\n\nEvery employee gets 27 vacation days a year.\n\n## Carry-over\n\nUp to five unused days carry over to the next year.\n",
	"handbook/offices.html": `<html><head><title>Offices</title></head><body><nav>Home | About</nav>
<main><h1>Offices</h1><p>Our head office is at 12 Harbour Street, Bristol.</p><ul><li>Bristol</li><li>Lyon</li></ul></main>
<footer>© Northwind</footer></body></html>`,
	"handbook/notes.txt": "IT notice\n\nPasswords must be rotated every 90 days.\n",
	"handbook/faq.jsonl": `{"id":"q1","title":"Parking","text":"Parking is free at the Bristol office."}
{"id":"q2","title":"Lunch","text":"Lunch is subsidised on Fridays."}
{"id":"q3","title":"Bonus","text":"Bonuses are paid in March.","acl":["group:hr"]}
`,
	"hr/.docent-acl":         "# HR only\ngroup:hr\n",
	"hr/salaries.md":         "# Salary bands\n\nA Senior Robotics Engineer earns between 92,000 and 118,000 euros.\n",
	"hr/private.md":          "---\nacl: [user:cfo@northwind.example]\n---\n# Board notes\n\nThe board meets in Lyon.\n",
	"eng/deploy.md":          "# Deploying\n\nRun make deploy from the release branch.\n",
	"eng/deploy.md.acl":      "group:engineering\ngroup:sales\n",
	"eng/untagged-notes.txt": "Nobody tagged this file.\n",
}

type harness struct {
	t   *testing.T
	db  *dbtest.DB
	emb *fakeEmbedder
	dir string
}

func newHarness(t *testing.T, files map[string]string) *harness {
	t.Helper()
	return &harness{t: t, db: dbtest.New(t), emb: &fakeEmbedder{}, dir: corpus(t, files)}
}

// run ingests the harness's directory as source "demo" and returns the summary and the
// report lines by URI.
func (h *harness) run(mod ...func(*ingest.Config)) (ingest.Summary, map[string]string, error) {
	h.t.Helper()
	var report bytes.Buffer
	cfg := ingest.Config{Source: "demo", Roots: []string{h.dir}, Prune: true, Report: &report, Concurrency: 2}
	for _, m := range mod {
		m(&cfg)
	}
	in, err := ingest.New(cfg, h.db.Pool, h.emb, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := in.Run(context.Background())
	outcomes := map[string]string{}
	dec := json.NewDecoder(&report)
	for {
		var line struct{ URI, Outcome, Reason string }
		if err := dec.Decode(&line); err != nil {
			break
		}
		outcomes[line.URI] = line.Outcome
		if line.Reason != "" {
			outcomes[line.URI] += ":" + line.Reason
		}
	}
	return s, outcomes, err
}

func (h *harness) mustRun(mod ...func(*ingest.Config)) (ingest.Summary, map[string]string) {
	h.t.Helper()
	s, o, err := h.run(mod...)
	if err != nil {
		h.t.Fatalf("run: %v", err)
	}
	return s, o
}

// tags returns each document's tags and those of its chunks and vectors, checking they agree.
func (h *harness) tags() map[string]string {
	h.t.Helper()
	ctx := context.Background()
	g, err := index.ActiveGeneration(ctx, h.db.Pool)
	if err != nil {
		h.t.Fatal(err)
	}
	rows, err := h.db.Pool.Query(ctx, `
		SELECT d.uri, array_to_string(d.acl, ','),
		       count(*) FILTER (WHERE c.acl <> d.acl), count(*) FILTER (WHERE e.acl <> d.acl)
		FROM documents d LEFT JOIN chunks c ON c.document_id = d.id
		LEFT JOIN `+g.Table+` e ON e.chunk_id = c.id
		GROUP BY d.uri, d.acl`)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var uri, tags string
		var badChunks, badVectors int
		if err := rows.Scan(&uri, &tags, &badChunks, &badVectors); err != nil {
			h.t.Fatal(err)
		}
		if badChunks+badVectors > 0 {
			h.t.Errorf("%s: %d chunks and %d vectors do not carry the document's tags", uri, badChunks, badVectors)
		}
		out[uri] = tags
	}
	return out
}

func TestFirstRunThenIdempotentRerun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleCorpus)
	s, outcomes := h.mustRun()
	if s.Status != index.RunPartial && s.Status != index.RunSucceeded {
		t.Fatalf("first run status %s: %+v", s.Status, s)
	}
	wantOutcomes := map[string]string{
		"handbook/holidays.md": "added", "handbook/offices.html": "added", "handbook/notes.txt": "added",
		"handbook/faq.jsonl#q1": "added", "handbook/faq.jsonl#q2": "added", "handbook/faq.jsonl#q3": "added",
		"hr/salaries.md": "added", "hr/private.md": "added", "eng/deploy.md": "added", "eng/untagged-notes.txt": "added",
	}
	if diff := cmp.Diff(wantOutcomes, outcomes); diff != "" {
		t.Errorf("first run outcomes (-want +got):\n%s", diff)
	}
	if s.Documents.Added != 10 || s.Chunks.Written == 0 || s.Status != index.RunSucceeded {
		t.Errorf("first run summary: %+v", s)
	}
	if diff := cmp.Diff([]string{"eng/untagged-notes.txt"}, s.Untagged); diff != "" {
		t.Errorf("untagged documents (-want +got):\n%s", diff)
	}
	wantTags := map[string]string{
		"handbook/holidays.md": "public", "handbook/offices.html": "public", "handbook/notes.txt": "public",
		"handbook/faq.jsonl#q1": "public", "handbook/faq.jsonl#q2": "public", "handbook/faq.jsonl#q3": "group:hr",
		"hr/salaries.md": "group:hr", "hr/private.md": "user:cfo@northwind.example",
		"eng/deploy.md": "group:engineering,group:sales", "eng/untagged-notes.txt": "",
	}
	if diff := cmp.Diff(wantTags, h.tags()); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	embedded := h.emb.embedded()
	if embedded == 0 {
		t.Fatal("nothing was embedded")
	}
	g, err := index.ActiveGeneration(context.Background(), h.db.Pool)
	if err != nil {
		t.Fatalf("the first run did not activate its generation: %v", err)
	}
	// A small first corpus goes live without a vector index (its queries scan exactly), and
	// the run says so.
	if g.IndexBuiltAt != nil || !strings.Contains(strings.Join(s.Notes, " "), "without a vector index") {
		t.Errorf("small corpus: index built at %v, notes %q", g.IndexBuiltAt, s.Notes)
	}
	var opts string
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT options FROM sources`).Scan(&opts); err != nil || !strings.Contains(opts, `"prune": true`) {
		t.Errorf("the source's recorded options %s (%v), want the run's", opts, err)
	}

	// Nothing changed: everything unchanged, nothing written, nothing embedded.
	s, outcomes = h.mustRun()
	for uri, o := range outcomes {
		if o != "unchanged" {
			t.Errorf("re-run: %s is %s, want unchanged", uri, o)
		}
	}
	if s.Documents.Unchanged != 10 || s.Chunks.Written != 0 || s.Chunks.Deleted != 0 {
		t.Errorf("re-run summary: %+v", s)
	}
	if n := h.emb.embedded(); n != 0 {
		t.Errorf("re-run embedded %d texts, want 0", n)
	}
}

func TestTagOnlyChangesReTagWithoutReEmbedding(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleCorpus)
	h.mustRun()
	h.emb.embedded()

	write(t, filepath.Join(h.dir, "hr/.docent-acl"), "group:hr\ngroup:leadership\n")
	if err := os.Remove(filepath.Join(h.dir, "eng/deploy.md.acl")); err != nil {
		t.Fatal(err)
	}
	s, outcomes := h.mustRun(func(c *ingest.Config) { c.ACL = []string{"group:engineering"} })
	want := map[string]string{"hr/salaries.md": "acl_changed", "eng/deploy.md": "acl_changed", "eng/untagged-notes.txt": "acl_changed"}
	for uri, o := range outcomes {
		if w, ok := want[uri]; ok && o != w || !ok && o != "unchanged" {
			t.Errorf("%s: %s", uri, o)
		}
	}
	if s.Documents.ACLChanged != 3 || s.Chunks.Written != 0 {
		t.Errorf("summary: %+v", s)
	}
	if n := h.emb.embedded(); n != 0 {
		t.Errorf("a tag change embedded %d texts, want 0", n)
	}
	tags := h.tags()
	for uri, want := range map[string]string{
		"hr/salaries.md": "group:hr,group:leadership", "hr/private.md": "user:cfo@northwind.example",
		"eng/deploy.md": "group:engineering", "eng/untagged-notes.txt": "group:engineering",
	} {
		if tags[uri] != want {
			t.Errorf("%s tags = %q, want %q", uri, tags[uri], want)
		}
	}
}

func TestChangesAndDeletions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleCorpus)
	h.mustRun()
	h.emb.embedded()

	// A longer document, then one paragraph of it changes: only that chunk is re-embedded.
	var long strings.Builder
	long.WriteString("# Runbook\n\n")
	for i := range 30 {
		long.WriteString("## Step " + string(rune('A'+i%26)) + "\n\n")
		long.WriteString(strings.Repeat("Check the fleet manager dashboard and confirm the robots are docked before you continue. ", 12) + "\n\n")
	}
	write(t, filepath.Join(h.dir, "eng/runbook.md"), long.String())
	h.mustRun()
	first := h.emb.embedded()

	changed := strings.Replace(long.String(), "## Step C\n\nCheck", "## Step C\n\nFirst, page the on-call engineer. Check", 1)
	write(t, filepath.Join(h.dir, "eng/runbook.md"), changed)
	if err := os.Remove(filepath.Join(h.dir, "handbook/notes.txt")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(h.dir, "handbook/faq.jsonl"), `{"id":"q1","title":"Parking","text":"Parking is free at the Bristol office."}
{"id":"q3","title":"Bonus","text":"Bonuses are paid in April.","acl":["group:hr"]}
`)
	s, outcomes := h.mustRun()
	want := map[string]string{
		"eng/runbook.md": "updated", "handbook/notes.txt": "deleted", "handbook/faq.jsonl#q2": "deleted",
		"handbook/faq.jsonl#q3": "updated", "handbook/faq.jsonl#q1": "unchanged",
	}
	for uri, w := range want {
		if outcomes[uri] != w {
			t.Errorf("%s: %s, want %s", uri, outcomes[uri], w)
		}
	}
	if s.Documents.Deleted != 2 || s.Documents.Updated != 2 {
		t.Errorf("summary: %+v", s.Documents)
	}
	if n := h.emb.embedded(); n == 0 || n >= first {
		t.Errorf("changing one paragraph re-embedded %d texts (the document has %d chunks): want only the changed ones", n, first)
	}
	var left int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM documents WHERE uri IN ('handbook/notes.txt', 'handbook/faq.jsonl#q2')`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d deleted documents are still in the index", left)
	}
	assertStatsConsistent(t, h.db)
}

// assertStatsConsistent recomputes the BM25 statistics from the chunks.
func assertStatsConsistent(t *testing.T, db *dbtest.DB) {
	t.Helper()
	bad, err := index.StatisticsMismatches(context.Background(), db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d statistics differ from the chunks", bad)
	}
	var deferred int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM statistics_deferred`).Scan(&deferred); err != nil || deferred != 0 {
		t.Errorf("%d chunkings still have their statistics deferred after the run (%v)", deferred, err)
	}
}

func TestInvalidTagsFailTheirFilesOnly(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"ok/.docent-acl":  "public\n",
		"ok/a.md":         "# A\n\nfine\n",
		"bad/.docent-acl": "group:eng\nEveryone\n",
		"bad/b.md":        "# B\n\nnot fine\n",
		"ok/c.md":         "---\nacl: [Group:Admins]\n---\n# C\n\nbad front matter tags\n",
	}
	h := newHarness(t, files)
	s, outcomes := h.mustRun()
	if s.Status != index.RunPartial {
		t.Errorf("status %s, want partial", s.Status)
	}
	want := map[string]string{"ok/a.md": "added", "bad/b.md": "failed:invalid_acl", "ok/c.md": "failed:invalid_acl"}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	for _, f := range s.Failures {
		if f.URI == "bad/b.md" && !strings.Contains(f.Message, "line 2") {
			t.Errorf("failure message %q does not say which line of .docent-acl is wrong", f.Message)
		}
	}
}

// TestFailedFileKeepsItsOldVersionButLosesRevokedTags: a file that cannot declare its own
// tags (a PDF) and fails to extract keeps its stored version, and a change of its outside
// tags is applied all the same: a revocation must not wait for the file to be readable.
func TestFailedFileKeepsItsOldVersionButLosesRevokedTags(t *testing.T) {
	t.Parallel()
	var pdf bytes.Buffer
	if err := pdfgen.Write(&pdf, pdfgen.Document{Title: "Roadmap", Pages: []pdfgen.Page{{Lines: []string{"Roadmap", "", "The secret roadmap ships in May."}}}}); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, map[string]string{"d/.docent-acl": "group:a\n", "d/x.pdf": pdf.String()})
	h.mustRun()
	write(t, filepath.Join(h.dir, "d/x.pdf"), "%PDF-1.4\nnot a pdf at all\n")
	write(t, filepath.Join(h.dir, "d/.docent-acl"), "group:b\n")
	s, outcomes := h.mustRun()
	if outcomes["d/x.pdf"] != "failed:pdf_invalid" {
		t.Fatalf("outcome %q, want failed:pdf_invalid (summary %+v)", outcomes["d/x.pdf"], s)
	}
	var text string
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT text FROM chunks`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "secret roadmap") {
		t.Errorf("the old version was not kept: %q", text)
	}
	if tags := h.tags(); tags["d/x.pdf"] != "group:b" {
		t.Errorf("tags of the failing document = %q: the revocation of group:a was not applied", tags["d/x.pdf"])
	}
}

func TestLockedSourceNamesTheHolder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleCorpus)
	ctx := context.Background()
	lock, err := index.LockSource(ctx, h.db.Pool, "demo")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Unlock(ctx) }()
	// Pretend a live run holds it.
	sourceID, err := index.EnsureSource(ctx, h.db.Pool, "demo")
	if err != nil {
		t.Fatal(err)
	}
	runID, err := index.StartRun(ctx, h.db.Pool, index.RunStart{Kind: "ingest", SourceID: sourceID, Host: "cron-1", PID: 4242})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = h.run()
	var locked *index.LockedError
	if !errors.As(err, &locked) || locked.RunID != runID || !strings.Contains(err.Error(), "pid 4242 on cron-1") {
		t.Fatalf("err = %v, want a LockedError naming run %d", err, runID)
	}
	var docs int
	if err := h.db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents`).Scan(&docs); err != nil {
		t.Fatal(err)
	}
	if docs != 0 {
		t.Errorf("the locked-out run wrote %d documents", docs)
	}
}

func TestPruneRefusesToEmptyASource(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleCorpus)
	h.mustRun()
	empty := t.TempDir()
	s, _ := h.mustRun(func(c *ingest.Config) { c.Roots = []string{empty} })
	if s.Documents.Deleted != 0 || len(s.Notes) == 0 {
		t.Errorf("a run over an empty directory deleted %d documents (notes %v)", s.Documents.Deleted, s.Notes)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleCorpus)
	s, outcomes := h.mustRun(func(c *ingest.Config) { c.DryRun = true })
	if s.Status != "dry_run" || s.Documents.Added != 10 || len(outcomes) != 10 {
		t.Errorf("dry run: %+v %v", s, outcomes)
	}
	var n int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM documents) + (SELECT count(*) FROM ingest_runs) + (SELECT count(*) FROM sources)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 || h.emb.embedded() != 0 {
		t.Errorf("a dry run wrote %d rows or embedded something", n)
	}
	h.mustRun()
	write(t, filepath.Join(h.dir, "handbook/holidays.md"), "# Holidays\n\n30 days now.\n")
	s, outcomes = h.mustRun(func(c *ingest.Config) { c.DryRun = true })
	if outcomes["handbook/holidays.md"] != "updated" || s.Documents.Unchanged != 9 {
		t.Errorf("dry run after a change: %v", outcomes)
	}
}

func TestRunsAreRecorded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleCorpus)
	write(t, filepath.Join(h.dir, "bad/.docent-acl"), "NOPE\n")
	write(t, filepath.Join(h.dir, "bad/x.md"), "# x\n\nx\n")
	s, _ := h.mustRun()
	runs, err := index.RecentRuns(context.Background(), h.db.Pool, 5, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].ID != s.RunID || runs[0].Status != index.RunPartial || runs[0].Counts.Added != 10 ||
		runs[0].Counts.Failed != 1 || len(runs[0].Failures) != 1 || runs[0].Failures[0].URI != "bad/x.md" {
		t.Errorf("recorded runs: %+v", runs)
	}
}

func TestEmbedderFailureStopsTheRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleCorpus)
	h.emb.err = errors.New("provider down")
	s, _, err := h.run()
	if err == nil || !strings.Contains(err.Error(), "provider down") || s.Status != index.RunFailed {
		t.Fatalf("err = %v, status %s: want the run to fail with the embedder's error", err, s.Status)
	}
	runs, err := index.RecentRuns(context.Background(), h.db.Pool, 1, 0)
	if err != nil || len(runs) != 1 || runs[0].Status != index.RunFailed || !strings.Contains(runs[0].Error, "provider down") {
		t.Errorf("recorded run: %+v %v", runs, err)
	}
}

func TestIncludeExcludeAndMaxSize(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleCorpus)
	write(t, filepath.Join(h.dir, "handbook/big.txt"), strings.Repeat("large file ", 1000))
	_, outcomes := h.mustRun(func(c *ingest.Config) {
		c.Include = []string{"handbook/**"}
		c.Exclude = []string{"*.html"}
		c.MaxFileSize = 5000
	})
	var uris []string
	for uri := range outcomes {
		uris = append(uris, uri)
	}
	slices.Sort(uris)
	want := []string{"handbook/big.txt", "handbook/faq.jsonl#q1", "handbook/faq.jsonl#q2", "handbook/faq.jsonl#q3", "handbook/holidays.md", "handbook/notes.txt"}
	if diff := cmp.Diff(want, uris); diff != "" {
		t.Errorf("documents seen (-want +got):\n%s", diff)
	}
	if outcomes["handbook/big.txt"] != "skipped:too_large" {
		t.Errorf("big.txt: %s", outcomes["handbook/big.txt"])
	}
}

// TestVectorIndexArrivesWithTheCorpusSize: a first corpus below IndexFrom chunks goes live
// without an HNSW index, and the run that takes it past IndexFrom builds it.
func TestVectorIndexArrivesWithTheCorpusSize(t *testing.T) {
	t.Parallel()
	files := map[string]string{".docent-acl": "public\n"}
	for i := range 4 {
		files[fmt.Sprintf("n%d.md", i)] = fmt.Sprintf("# Note %d\n\nRobot %d parks in bay %d.\n", i, i, i)
	}
	h := newHarness(t, files)
	from := func(c *ingest.Config) { c.IndexFrom = 10 }
	ctx := context.Background()
	if s, _ := h.mustRun(from); s.Chunks.Written >= 10 {
		t.Fatalf("the first corpus has %d chunks, the test needs fewer than 10", s.Chunks.Written)
	}
	g, err := index.ActiveGeneration(ctx, h.db.Pool)
	if err != nil || g.IndexBuiltAt != nil {
		t.Fatalf("after a small first run: %+v, %v; want active without an index", g, err)
	}
	for i := 4; i < 12; i++ {
		write(t, filepath.Join(h.dir, fmt.Sprintf("n%d.md", i)), fmt.Sprintf("# Note %d\n\nRobot %d parks in bay %d.\n", i, i, i))
	}
	s, _ := h.mustRun(from)
	if !strings.Contains(strings.Join(s.Notes, " "), "built the vector index") {
		t.Errorf("notes %q: want the index build", s.Notes)
	}
	if g, err = index.ActiveGeneration(ctx, h.db.Pool); err != nil || g.IndexBuiltAt == nil {
		t.Fatalf("after passing 10 chunks: %+v, %v; want the index built", g, err)
	}
	var indexes int
	if err := h.db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%hnsw%'`, g.Table).Scan(&indexes); err != nil || indexes != 1 {
		t.Errorf("HNSW indexes on %s: %d, %v", g.Table, indexes, err)
	}
}

// TestLargeTagGraphsAreBuiltAndTheirFailureIsANote: the run that builds the shared graph
// builds the graphs of the large tags; when such a build fails, the run still succeeds and
// activates its generation (a tag's graph only speeds up its callers) and says so; the next
// run builds what is missing.
func TestLargeTagGraphsAreBuiltAndTheirFailureIsANote(t *testing.T) {
	t.Parallel()
	files := map[string]string{".docent-acl": "public\n", "team/.docent-acl": "group:team\n"}
	for i := range 6 {
		files[fmt.Sprintf("n%d.md", i)] = fmt.Sprintf("# Note %d\n\nRobot %d parks in bay %d.\n", i, i, i)
		files[fmt.Sprintf("team/t%d.md", i)] = fmt.Sprintf("# Team note %d\n\nForklift %d charges at dock %d.\n", i, i, i)
	}
	h := newHarness(t, files)
	ctx := context.Background()
	opts := func(c *ingest.Config) {
		c.IndexFrom = 10
		c.TagIndexes = index.TagIndexOptions{MinChunks: 3, MaxShare: 0.6, M: 4, EfConstruction: 16}
	}
	var def string
	if err := h.db.Pool.QueryRow(ctx, `SELECT pg_get_functiondef('docent_create_tag_vector_index'::regproc)`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.Pool.Exec(ctx, `CREATE OR REPLACE FUNCTION docent_create_tag_vector_index(generation int, index_tag text, m int, ef_construction int)
		RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$`); err != nil {
		t.Fatal(err)
	}
	s, _ := h.mustRun(opts)
	notes := strings.Join(s.Notes, "\n")
	if !strings.Contains(notes, "could not build a large tag's vector index") || !strings.Contains(notes, "No space left on device") {
		t.Errorf("notes %q: want the failed tag graph", s.Notes)
	}
	g, err := index.ActiveGeneration(ctx, h.db.Pool)
	if err != nil || g.IndexBuiltAt == nil {
		t.Fatalf("after the run: %+v, %v; want the generation active with its shared graph", g, err)
	}
	if graphs, err := index.TagVectorIndexes(ctx, h.db.Pool, g.ID); err != nil || len(graphs) != 0 {
		t.Fatalf("tag graphs %+v, %v; want none", graphs, err)
	}
	if _, err := h.db.Pool.Exec(ctx, def); err != nil {
		t.Fatal(err)
	}
	s, _ = h.mustRun(opts)
	for _, tag := range []string{"public", "group:team"} {
		if !strings.Contains(strings.Join(s.Notes, "\n"), fmt.Sprintf("built the vector index of tag %q", tag)) {
			t.Errorf("second run's notes %q: want the graph of %s", s.Notes, tag)
		}
	}
	if graphs, err := index.TagVectorIndexes(ctx, h.db.Pool, g.ID); err != nil || len(graphs) != 2 {
		t.Errorf("tag graphs after the second run %+v, %v; want 2", graphs, err)
	}
}

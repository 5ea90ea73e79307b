package embed

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func newBuiltin(t testing.TB, dim int) *Builtin {
	t.Helper()
	b, err := NewBuiltin(BuiltinConfig{Dimension: dim})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func embedOne(t testing.TB, e interface {
	Embed(context.Context, []string) ([][]float32, error)
}, text string) []float32 {
	t.Helper()
	v, err := e.Embed(t.Context(), []string{text})
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func norm2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func TestNewBuiltin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dim     int
		wantDim int
		wantErr string
	}{
		{dim: 0, wantDim: 384},
		{dim: 256, wantDim: 256},
		{dim: 32, wantDim: 32},
		{dim: 4000, wantDim: 4000},
		{dim: 31, wantErr: "BuiltinConfig.Dimension"},
		{dim: -1, wantErr: "BuiltinConfig.Dimension"},
		{dim: 4001, wantErr: "BuiltinConfig.Dimension"},
	}
	for _, tt := range tests {
		b, err := NewBuiltin(BuiltinConfig{Dimension: tt.dim})
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewBuiltin(%d) error = %v, want one naming %s", tt.dim, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("NewBuiltin(%d): %v", tt.dim, err)
		}
		got := []any{b.Dimension(), b.Kind(), b.Model(), len(embedOne(t, b, "some text"))}
		want := []any{tt.wantDim, "builtin", "hash-ngram-v1", tt.wantDim}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("NewBuiltin(%d) (-want +got):\n%s", tt.dim, diff)
		}
	}
}

// TestBuiltinVectors checks the invariants on awkward inputs: every vector has the
// dimension, unit length and finite values, and the same text gives the same vector.
func TestBuiltinVectors(t *testing.T) {
	t.Parallel()
	inputs := map[string]string{
		"empty":        "",
		"whitespace":   " \t\n\r  ",
		"punctuation":  "... --- !!! ???",
		"one letter":   "a",
		"stop words":   "to be or not to be",
		"invalid utf8": "caf\xe9 \xff\xfe deploy \xc3",
		"nul bytes":    "a\x00b\x00c",
		"cjk":          "検索拡張生成は文書を検索してから答える。",
		"emoji":        "🚀🚀 deploy 🎉",
		"mixed case":   "DEPLOY The SERVICE",
		"ligature":     "ﬁnd the ﬁle",
		"huge":         strings.Repeat("the quick brown fox jumps over the lazy dog 0123456789 ", 4000),
		"long word":    strings.Repeat("x", 20000),
		"repeated":     strings.Repeat("deploy ", 1000),
		"many words":   manyWords(30000),
	}
	for _, dim := range []int{256, 384} {
		b := newBuiltin(t, dim)
		for name, text := range inputs {
			v := embedOne(t, b, text)
			if len(v) != dim {
				t.Errorf("dim %d, %s: len = %d", dim, name, len(v))
			}
			for i, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("dim %d, %s: v[%d] = %v", dim, name, i, x)
				}
			}
			if n := norm2(v); math.Abs(n-1) > 1e-5 {
				t.Errorf("dim %d, %s: |v| = %v, want 1", dim, name, n)
			}
			if again := embedOne(t, newBuiltin(t, dim), text); !cmp.Equal(v, again) {
				t.Errorf("dim %d, %s: a second embedder gave another vector", dim, name)
			}
		}
	}
}

func TestBuiltinEquivalentTexts(t *testing.T) {
	t.Parallel()
	b := newBuiltin(t, 384)
	same := [][2]string{
		{"", "   \n\t"}, // no words: the fixed vector
		{"", "!!! ..."}, // no words
		{"Deploy the Service", "deploy the service"}, // case
		{"deploy   the\tservice", "deploy the service"},
		{"ﬁnd", "find"},        // NFKC: ligature
		{"ｄｅｐｌｏｙ", "deploy"},   // NFKC: full-width letters
		{"cafe\u0301", "café"}, // NFKC: combining accent
		{"x\xffy", "x\uFFFDy"}, // invalid bytes are U+FFFD
		{"deploy, service", "deploy service"},
	}
	for _, p := range same {
		if diff := cmp.Diff(embedOne(t, b, p[0]), embedOne(t, b, p[1])); diff != "" {
			t.Errorf("%q and %q differ:\n%s", p[0], p[1], diff)
		}
	}
	if cmp.Equal(embedOne(t, b, "service deploy"), embedOne(t, b, "deploy service")) {
		t.Error("word order is ignored: the bigram feature is missing")
	}
	if cmp.Equal(embedOne(t, b, "deploy. service"), embedOne(t, b, "deploy service")) {
		t.Error("a bigram spans the end of a sentence")
	}
}

// TestBuiltinSimilarity checks what the built-in embedder promises: texts sharing words,
// stems or most letters of their words are closer than unrelated ones. The last case
// records what it does not do: synonyms are unrelated to it.
func TestBuiltinSimilarity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		anchor, near, far string
	}{
		{"deploy the service", "deploying services", "quarterly budget"},
		{"kubernetes configuration", "kubernetse configuraton", "chocolate cake recipe"},
		{"How do I reset my password?", "Resetting a forgotten password", "How do I export a report?"},
		{"connection pooling in PostgreSQL", "PostgreSQL connection pool size", "connecting flights in Denver"},
		{"the retry policy for failed uploads", "uploads that failed are retried", "the privacy policy for visitors"},
		{"Zugriffsberechtigung für Benutzer", "Benutzerberechtigungen", "Wettervorhersage"},
	}
	for _, dim := range []int{256, 384} {
		b := newBuiltin(t, dim)
		for _, tt := range tests {
			a, n, f := embedOne(t, b, tt.anchor), embedOne(t, b, tt.near), embedOne(t, b, tt.far)
			near, far := cosine(a, n), cosine(a, f)
			if near < 0.2 || near < far+0.15 {
				t.Errorf("dim %d: cos(%q, %q) = %.3f, cos(.., %q) = %.3f; want the first clearly higher",
					dim, tt.anchor, tt.near, near, tt.far, far)
			}
		}
		if c := cosine(embedOne(t, b, "car"), embedOne(t, b, "automobile")); c > 0.2 {
			t.Errorf("dim %d: cos(car, automobile) = %.3f: synonyms are not meant to match", dim, c)
		}
	}
}

func TestBuiltinBatch(t *testing.T) {
	t.Parallel()
	b := newBuiltin(t, 256)
	texts := []string{"alpha beta", "", "gamma delta", "alpha beta"}
	got, err := b.Embed(t.Context(), texts)
	if err != nil {
		t.Fatal(err)
	}
	want := make([][]float32, len(texts))
	for i, text := range texts {
		want[i] = embedOne(t, b, text)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batch differs from one by one (-want +got):\n%s", diff)
	}
	// The vectors share one allocation: appending to one must not touch the next.
	_ = append(got[0], 42)
	if diff := cmp.Diff(want[1], got[1]); diff != "" {
		t.Errorf("append to vector 0 changed vector 1:\n%s", diff)
	}

	none, err := b.Embed(t.Context(), nil)
	if err != nil || len(none) != 0 {
		t.Errorf("Embed(nil) = %v, %v; want no vectors", none, err)
	}
}

// TestBuiltinReuse: the buffers a text leaves behind (a grown table included) do not
// change the next text's vector.
func TestBuiltinReuse(t *testing.T) {
	t.Parallel()
	b := newBuiltin(t, 384)
	before := embedOne(t, b, "deploy the service")
	for _, text := range []string{manyWords(30000), manyWords(100), ""} {
		embedOne(t, b, text)
		if diff := cmp.Diff(before, embedOne(t, b, "deploy the service")); diff != "" {
			t.Fatalf("vector changed after embedding %d bytes (-before +after):\n%s", len(text), diff)
		}
	}
}

// manyWords is a text of n distinct words, enough to grow the feature table.
func manyWords(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "word%d ", i*7919)
	}
	return b.String()
}

func TestBuiltinCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := newBuiltin(t, 256).Embed(ctx, []string{"text"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Embed with a canceled context: err = %v, want context.Canceled", err)
	}
}

func TestBuiltinConcurrent(t *testing.T) {
	t.Parallel()
	b := newBuiltin(t, 384)
	texts := []string{chunkText(), "deploy the service", "", strings.Repeat("long text ", 500), "検索拡張生成"}
	want, err := b.Embed(t.Context(), texts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 5 {
				got, err := b.Embed(t.Context(), texts)
				if err != nil {
					errs <- err
					return
				}
				if !cmp.Equal(want, got) {
					errs <- errors.New("concurrent Embed gave other vectors")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestBuiltinGolden pins the vectors of a few texts: a change here changes every index built
// with the embedder, so it must come with a new BuiltinModel version.
func TestBuiltinGolden(t *testing.T) {
	t.Parallel()
	texts := []string{"", "deploy the service", "Zugriffsberechtigung für Benutzer", "検索拡張生成", chunkText()}
	got, err := newBuiltin(t, 64).Embed(t.Context(), texts)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", BuiltinModel+"-64.golden.json")
	if *update {
		data, err := json.MarshalIndent(got, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	var want [][]float32
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	// Hashes, buckets and signs are exact; only float rounding may differ between machines.
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
		t.Errorf("vectors changed; if on purpose, bump BuiltinModel and run go test -update (-want +got):\n%s", diff)
	}
}

func FuzzBuiltin(f *testing.F) {
	for _, s := range []string{"", "deploy the service", "caf\xe9", "検索", "a. b! c? d", strings.Repeat("ab", 100)} {
		f.Add(s)
	}
	b := newBuiltin(f, 64)
	f.Fuzz(func(t *testing.T, text string) {
		got, err := b.Embed(t.Context(), []string{text, text})
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(got[0], got[1]) {
			t.Fatal("same text, different vectors")
		}
		if n := norm2(got[0]); len(got[0]) != 64 || math.IsNaN(n) || math.Abs(n-1) > 1e-5 {
			t.Fatalf("len %d, norm %v; want 64 and 1", len(got[0]), n)
		}
		if utf8.ValidString(text) {
			return
		}
		if !cmp.Equal(got[0], embedOne(t, b, strings.ToValidUTF8(text, "\uFFFD"))) {
			t.Fatal("invalid UTF-8 is not treated as U+FFFD")
		}
	})
}

// chunkText is a chunk of about 350 tokens (as chunk.CountTokens counts them) of technical
// English, the size ingestion embeds.
func chunkText() string {
	return `Docent ingests folders of documents into PostgreSQL and answers questions about them
with citations. The ingester walks each source, extracts text from Markdown, HTML, PDF and
plain files, and splits it into chunks along the document's structure: headings first, then
paragraphs, list items and table rows, then sentences. Each chunk keeps its heading path and
page numbers so that an answer can cite where it came from. Chunks are embedded in batches
and written with COPY, one transaction per document, so that a document is never half
indexed. A re-ingest compares content hashes and skips unchanged files; deleted files are
pruned when asked. Retrieval combines a full-text search over a tsvector column with a
vector search over an HNSW index, and merges both rankings with reciprocal rank fusion.
Permissions are checked in SQL: a chunk is returned only if the caller holds one of its
access tags. The server exposes a JSON API with bearer-token authentication, rate limits
and request tracing. Configuration comes from DOCENT_* environment variables; the README's
table is generated from the same list, so it cannot drift. To deploy the service, build the
two binaries, run the migrations, and start the server behind a reverse proxy that
terminates TLS. Operators can watch ingestion runs with the status subcommand, which shows
the files processed, skipped and failed, the time taken, and the index generation written.
When the embedding model changes, a new generation is built beside the active one and
swapped in atomically once complete, so queries never see a half-built index. Backups are
ordinary pg_dump archives; restoring one restores the documents, chunks and vectors.`
}

func BenchmarkBuiltin(b *testing.B) {
	chunk := chunkText()
	for _, bench := range []struct {
		name  string
		dim   int
		texts []string
	}{
		{"chunk/dim384", 384, []string{chunk}},
		{"chunk/dim256", 256, []string{chunk}},
		{"query/dim384", 384, []string{"how do I deploy the service?"}},
		{"batch64/dim384", 384, repeatText(chunk, 64)},
		{"chunk-german/dim384", 384, []string{strings.Repeat("Die Zugriffsberechtigung für Benutzer wird über Gruppen verwaltet. ", 40)}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			e := newBuiltin(b, bench.dim)
			size := 0
			for _, t := range bench.texts {
				size += len(t)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Embed(b.Context(), bench.texts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bench.texts)), "ns/text")
		})
	}
}

func repeatText(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

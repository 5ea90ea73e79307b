package extract

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// benchDoc returns a realistic document of about 50 KB built from a testdata file: its
// front matter and head once, then its body repeated.
func benchDoc(b *testing.B, name string, repeat func(data string) (head, body, tail string)) []byte {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("testdata/text", name))
	if err != nil {
		b.Fatal(err)
	}
	head, body, tail := repeat(string(data))
	var out strings.Builder
	out.WriteString(head)
	for out.Len() < 50<<10 {
		out.WriteString(body)
	}
	out.WriteString(tail)
	return []byte(out.String())
}

func BenchmarkMarkdown(b *testing.B) {
	data := benchDoc(b, "guide.md", func(s string) (string, string, string) {
		i := strings.Index(s, "\n# ")
		return s[:i], s[i:], ""
	})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		doc, err := Markdown(data)
		if err != nil || len(doc.Blocks) == 0 {
			b.Fatal(err, len(doc.Blocks))
		}
	}
}

func BenchmarkHTML(b *testing.B) {
	data := benchDoc(b, "handbook.html", func(s string) (string, string, string) {
		i := strings.Index(s, "<main")
		j := strings.Index(s, "</main>")
		return s[:i] + "<main>", s[strings.Index(s[i:], ">")+i+1 : j], s[j:]
	})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		doc, err := HTML(data)
		if err != nil || len(doc.Blocks) == 0 {
			b.Fatal(err, len(doc.Blocks))
		}
	}
}

// BenchmarkSplitJSONL splits a generated collection shaped like SciFact's corpus (5,183
// abstracts of about 1.5 KB). Ingestion needs well under 50 µs a line; see ns/line.
func BenchmarkSplitJSONL(b *testing.B) {
	benchSplit(b, sciFactLike(5183))
}

// BenchmarkSplitJSONLSciFact splits the real SciFact corpus from the evaluation data.
func BenchmarkSplitJSONLSciFact(b *testing.B) {
	data, err := os.ReadFile(evaldata.Path(b, "beir/scifact/corpus.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	benchSplit(b, data)
}

func benchSplit(b *testing.B, data []byte) {
	lines := bytes.Count(data, []byte{'\n'})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		recs := SplitJSONL(data)
		if len(recs) != lines || recs[0].Err != nil {
			b.Fatalf("%d records for %d lines", len(recs), lines)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}

// BenchmarkJSONLRecord decodes one SciFact-like record, as ingestion does for each new or
// changed record.
func BenchmarkJSONLRecord(b *testing.B) {
	raw := bytes.TrimSpace(sciFactLike(1))
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := JSONLRecord(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// goDevFiles reads the go.dev site's source files from the evaluation data.
func goDevFiles(b *testing.B) (names []string, files [][]byte) {
	dir := evaldata.Path(b, "docs/go-website/content")
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		names, files = append(names, path), append(files, data)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return names, files
}

// BenchmarkGoDevInProcess extracts the go.dev site (485 files) in this process, one file
// at a time: the baseline of BenchmarkGoDevRunner.
func BenchmarkGoDevInProcess(b *testing.B) {
	names, files := goDevFiles(b)
	for b.Loop() {
		for i, data := range files {
			if _, err := Text(names[i], data); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(files)), "µs/file")
}

// BenchmarkGoDevRunner extracts the go.dev site through one child, as ingestion does with
// one worker: the ratio to BenchmarkGoDevInProcess is the cost of the budget.
func BenchmarkGoDevRunner(b *testing.B) {
	names, files := goDevFiles(b)
	r := testRunner(b, Config{Workers: 1})
	for b.Loop() {
		for i, data := range files {
			if _, err := r.Extract(b.Context(), names[i], data); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(files)), "µs/file")
}

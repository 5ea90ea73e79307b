package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// sampleReports are two runs as the eval command would report them (made-up numbers).
func sampleReports() []Report {
	return []Report{
		{
			Dataset: "scifact", Split: "test", Mode: "dense", Queries: 300,
			NDCG10: 0.64213, Recall10: 0.79, Recall100: 0.93333, MRR10: 0.6,
			Latency: Latency{P50: 12.34, P95: 30, P99: 101.25},
		},
		{
			Dataset: "scifact", Split: "test", Mode: "hybrid", Rerank: "cross-encoder", Queries: 300,
			NDCG10: 0.7, Recall10: 0.8125, Recall100: 1, MRR10: 0.66667,
			Latency: Latency{P50: 8, P95: 1234.56, P99: 2000},
		},
	}
}

func TestReportJSON(t *testing.T) {
	t.Parallel()
	got, err := json.Marshal(sampleReports()[1])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"dataset":"scifact","split":"test","mode":"hybrid","rerank":"cross-encoder","queries":300,` +
		`"ndcg@10":0.7,"recall@10":0.8125,"recall@100":1,"mrr@10":0.66667,` +
		`"latency_ms":{"p50":8,"p95":1234.56,"p99":2000},"failed":0}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
	var back Report
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sampleReports()[1], back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

// TestWriteTable compares the table of sampleReports with testdata/table.golden. Run
// `go test ./internal/eval -run TestWriteTable -update` to accept new output, after reading
// the diff.
func TestWriteTable(t *testing.T) {
	t.Parallel()
	reports := append(sampleReports(), Report{Dataset: "clapnq", NDCG10: math.NaN()}) // empty fields show as "-"
	var buf bytes.Buffer
	if err := WriteTable(&buf, reports); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("WriteTable (-%s +got):\n%s", golden, diff)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTableError(t *testing.T) {
	t.Parallel()
	if err := WriteTable(failWriter{}, sampleReports()); err == nil || err.Error() != "write report table: disk full" {
		t.Errorf("WriteTable to a failing writer: %v, want %q", err, "write report table: disk full")
	}
}

// TestReportTable checks that Table is the one-report case of WriteTable.
func TestReportTable(t *testing.T) {
	t.Parallel()
	r := sampleReports()[0]
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Report{r}); err != nil {
		t.Fatal(err)
	}
	want := "dataset  split  mode   rerank  queries  ndcg@10  recall@10  recall@100  mrr@10  p50 ms  p95 ms  p99 ms\n" +
		"scifact  test   dense  -           300   0.6421     0.7900      0.9333  0.6000    12.3    30.0   101.2\n"
	if diff := cmp.Diff(want, r.Table()); diff != "" {
		t.Errorf("Table (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(buf.String(), r.Table()); diff != "" {
		t.Errorf("Table differs from WriteTable (-WriteTable +Table):\n%s", diff)
	}
}

package eval

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Report is the result of one evaluation run: the metrics averaged (Mean) over Queries
// queries and the query latency percentiles. Its JSON form is what the eval command
// prints with -json; the metrics must be finite for it to encode.
type Report struct {
	Dataset   string  `json:"dataset"` // e.g. "scifact"
	Split     string  `json:"split"`   // e.g. "test"
	Mode      string  `json:"mode"`    // retrieval mode, e.g. "dense", "hybrid"
	Rerank    string  `json:"rerank"`  // reranker, empty for none
	Queries   int     `json:"queries"`
	NDCG10    float64 `json:"ndcg@10"`
	Recall10  float64 `json:"recall@10"`
	Recall100 float64 `json:"recall@100"`
	MRR10     float64 `json:"mrr@10"`
	Latency   Latency `json:"latency_ms"`
	// The queries whose retrieval failed: each counts as finding nothing (0 in every metric;
	// not in the latencies).
	QueryFailures
	// Folds and Fold are the fold selection (Fold), when the queries were split: the
	// queries are those of the folds Fold (every fold when empty) of Folds.
	Folds int   `json:"folds,omitempty"`
	Fold  []int `json:"fold,omitempty"`
}

// QueryFailures counts the queries of a run whose retrieval failed and lists the first
// MaxFailures of them.
type QueryFailures struct {
	Failed   int            `json:"failed"`
	Failures []QueryFailure `json:"failures,omitempty"`
}

// QueryFailure is a query whose retrieval failed, and why.
type QueryFailure struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// MaxFailures is the most failures a QueryFailures lists.
const MaxFailures = 20

// Fail counts a failed query, listing it while fewer than MaxFailures are.
func (f *QueryFailures) Fail(id string, err error) {
	f.Failed++
	if len(f.Failures) < MaxFailures {
		f.Failures = append(f.Failures, QueryFailure{ID: id, Error: err.Error()})
	}
}

// Latency holds query latency percentiles in milliseconds (see Percentiles).
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// WriteTable writes reports to w as a plain-text table, one row per report under a header,
// columns separated by two spaces: text left-aligned, numbers right-aligned, metrics with
// four decimals and latencies (ms) with one. An empty text field shows as "-".
func WriteTable(w io.Writer, reports []Report) error {
	if _, err := io.WriteString(w, table(reports)); err != nil {
		return fmt.Errorf("write report table: %w", err)
	}
	return nil
}

// Table formats r as WriteTable does: a header line and one row, each ending in a newline.
func (r Report) Table() string {
	return table([]Report{r})
}

// table lays out reports as WriteTable documents.
func table(reports []Report) string {
	header := []string{"dataset", "split", "mode", "rerank", "queries",
		"ndcg@10", "recall@10", "recall@100", "mrr@10", "p50 ms", "p95 ms", "p99 ms"}
	const textColumns = 4 // the first four are left-aligned
	rows := [][]string{header}
	for _, r := range reports {
		rows = append(rows, []string{
			orDash(r.Dataset), orDash(r.Split), orDash(r.Mode), orDash(r.Rerank),
			strconv.Itoa(r.Queries),
			metric(r.NDCG10), metric(r.Recall10), metric(r.Recall100), metric(r.MRR10),
			millis(r.Latency.P50), millis(r.Latency.P95), millis(r.Latency.P99),
		})
	}
	widths := make([]int, len(header))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if i < textColumns {
				b.WriteString(cell + pad)
			} else {
				b.WriteString(pad + cell)
			}
			if i < len(row)-1 {
				b.WriteString("  ")
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func metric(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

func millis(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

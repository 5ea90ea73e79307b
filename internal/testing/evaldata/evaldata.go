// Package evaldata locates the evaluation data (SciFact, the reference PDFs, ClapNQ, the
// go.dev docs) for tests and benchmarks. The data lives outside the repository, in
// ../shared/data beside it, or where DOCENT_EVAL_DATA points; it is never copied in.
package evaldata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Path returns the path of sub (e.g. "beir/scifact/corpus.jsonl") in the evaluation data. When
// it is missing, the test is skipped with a hint, or fails under CI=true: CI must never pass
// by skipping.
func Path(tb testing.TB, sub string) string {
	tb.Helper()
	p := filepath.Join(Dir(), filepath.FromSlash(sub))
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("evaluation data missing (CI=true, so this fails instead of skipping): %v", err)
		}
		tb.Skipf("evaluation data missing: %v (set DOCENT_EVAL_DATA to the shared data folder)", err)
	}
	return p
}

// Dir is the evaluation data folder: $DOCENT_EVAL_DATA, else ../shared/data from the
// repository root.
func Dir() string {
	if d := os.Getenv("DOCENT_EVAL_DATA"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0) // .../internal/testing/evaldata/evaldata.go
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "data")
}

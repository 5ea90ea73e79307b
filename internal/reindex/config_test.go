package reindex_test

import (
	"errors"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/reindex"
)

// A Config is checked by reindex itself, whoever builds it: a command's flags, a test, a
// future API. Zero means the default; what is out of range is named by its field.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	gate := func(tol float64) *reindex.Gate { return &reindex.Gate{Dir: "gate", Tolerance: tol} }
	for _, tc := range []struct {
		name  string
		cfg   reindex.Config
		field string // "" = valid
	}{
		{"zero values take the defaults", reindex.Config{}, ""},
		{"every setting in range", reindex.Config{HNSWM: 2, HNSWEfConstruction: 4, BatchSize: 1, Gate: gate(0),
			Rechunk: &reindex.Rechunk{Chunking: chunk.Config{TargetTokens: 60, MaxTokens: 90, OverlapTokens: 8, MinTokens: 16}, LockWait: time.Second}}, ""},
		{"largest HNSW settings", reindex.Config{HNSWM: 100, HNSWEfConstruction: 1000}, ""},
		{"negative batch", reindex.Config{BatchSize: -1}, "BatchSize"},
		{"negative tolerance", reindex.Config{Gate: gate(-0.01)}, "Gate.Tolerance"},
		{"gate without a folder", reindex.Config{Gate: &reindex.Gate{}}, "Gate.Dir"},
		{"m too small", reindex.Config{HNSWM: 1}, "HNSWM"},
		{"m negative", reindex.Config{HNSWM: -1}, "HNSWM"},
		{"m too large", reindex.Config{HNSWM: 101}, "HNSWM"},
		{"ef below twice m", reindex.Config{HNSWM: 16, HNSWEfConstruction: 31}, "HNSWEfConstruction"},
		{"ef below twice the default m", reindex.Config{HNSWEfConstruction: 31}, "HNSWEfConstruction"},
		{"ef too large", reindex.Config{HNSWEfConstruction: 1001}, "HNSWEfConstruction"},
		{"ef negative", reindex.Config{HNSWEfConstruction: -1}, "HNSWEfConstruction"},
		{"chunking the chunker refuses", reindex.Config{Rechunk: &reindex.Rechunk{Chunking: chunk.Config{TargetTokens: 600, MaxTokens: 500}}}, "Rechunk.Chunking"},
		{"negative lock wait", reindex.Config{Rechunk: &reindex.Rechunk{LockWait: -time.Second}}, "Rechunk.LockWait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var ce *reindex.ConfigError
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.field != "" && !errors.As(err, &ce):
				t.Errorf("Validate() = %v, want a *ConfigError for %s", err, tc.field)
			case tc.field != "" && ce.Field != tc.field:
				t.Errorf("Validate() names %s (%v), want %s", ce.Field, err, tc.field)
			}
		})
	}
}

// Run and Activate refuse a bad Config before they touch the database (nil here).
func TestRunAndActivateValidate(t *testing.T) {
	t.Parallel()
	bad := reindex.Config{Embedder: builtin(t, 64), HNSWM: 1}
	var ce *reindex.ConfigError
	if _, err := reindex.Run(t.Context(), nil, bad, quiet); !errors.As(err, &ce) || ce.Field != "HNSWM" {
		t.Errorf("Run: %v, want the HNSWM ConfigError", err)
	}
	if _, err := reindex.Activate(t.Context(), nil, 1, reindex.Config{BatchSize: -5}, quiet); !errors.As(err, &ce) || ce.Field != "BatchSize" {
		t.Errorf("Activate: %v, want the BatchSize ConfigError", err)
	}
}

package api_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"

	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestTheIDFFloorAnswersSmallCallers: in the demo corpus a public caller sees 34 chunks and
// HR 49; with their own IDF alone, "How many vacation days do employees get?" weighs "many"
// (in one chunk) far above "day" (in 26), and the vacation chunk's evidence strength falls
// below the default refusal threshold. With the default floor (MinIDFChunks) both get the
// answer. docs/retrieval.md, "Callers who see few chunks", and docs/benchmarks.md have the
// measurement of the floor's value.
func TestTheIDFFloorAnswersSmallCallers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{Source: "demo", Roots: []string{demoCorpus(t, nil)}}, db.Pool, emb, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := in.Run(ctx); err != nil || s.Documents.Failed > 0 {
		t.Fatalf("ingest the demo corpus: %v %v", err, s.Failures)
	}
	threshold := defaultMinEvidence(t)
	for _, tt := range []struct {
		name     string
		floor    int
		answered bool
	}{
		{"the default floor", 0, true},
		{"no floor", 1, false},
	} {
		r, err := retrieve.New(retrieve.Config{MinIDFChunks: tt.floor}, db.Pool, emb, nil, "", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		for _, principals := range [][]string{{"public"}, {"public", "group:hr"}} {
			res, err := r.Retrieve(ctx, retrieve.Request{Query: vacationQ, Principals: principals})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Strength >= threshold; got != tt.answered {
				t.Errorf("%s, caller %v: strength %.3f; want it above %.2f: %v", tt.name, principals, res.Strength, threshold, tt.answered)
			}
		}
	}
}

// defaultMinEvidence is DOCENT_MIN_EVIDENCE's default: the threshold the server refuses
// below unless configured otherwise.
func defaultMinEvidence(t testing.TB) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(config.Lookup(func(string) string { return "" }, config.MinEvidence), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

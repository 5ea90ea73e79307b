package api_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"

	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestTheIDFFloorAnswersSmallCallers: in the demo corpus a public caller sees 34 chunks and
// HR 49; with their own IDF alone, "How many vacation days do employees get?" weighs "many"
// (in one chunk) far above "day" (in 26), and the vacation chunk's evidence strength falls
// lower. With the default floor (MinIDFChunks) both get the
// answer. docs/retrieval.md, "Callers who see few chunks", and docs/benchmarks.md have the
// measurement of the floor's value.
func TestTheIDFFloorAnswersSmallCallers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	emb, _ := ingestDemo(t, db, nil, ingest.Config{}, slog.New(slog.DiscardHandler), false)
	threshold := defaultMinEvidence(t)
	strengthWith := func(floor int, principals []string) float64 {
		r, err := retrieve.New(retrieve.Config{MinIDFChunks: floor}, db.Pool, emb, nil, "", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Retrieve(ctx, retrieve.Request{Query: vacationQ, Principals: principals})
		if err != nil {
			t.Fatal(err)
		}
		return res.Strength
	}
	for _, principals := range [][]string{{"public"}, {"public", "group:hr"}} {
		// With the calibrated strength (coverage, gap, agreement of the legs) the question is
		// answered even without a floor (0.52 / 0.51); the floor still raises the coverage a
		// small caller's skewed IDF lowered.
		with, without := strengthWith(0, principals), strengthWith(1, principals)
		if with < threshold {
			t.Errorf("the default floor, caller %v: strength %.3f, below the default threshold %.2f: refused", principals, with, threshold)
		}
		if with <= without {
			t.Errorf("caller %v: strength %.3f with the default floor, %.3f without: want the floor to raise it", principals, with, without)
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

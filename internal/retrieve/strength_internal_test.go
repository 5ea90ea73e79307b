package retrieve

import (
	"math"
	"testing"

	"github.com/docent-rag/docent/internal/index"
)

// TestStrengthIsBoundedAndMonotone: over a grid of every input, strength stays within
// (0, 1) and never falls when one input grows with the others fixed.
func TestStrengthIsBoundedAndMonotone(t *testing.T) {
	m := DefaultStrengthModel
	if m.Coverage <= 0 || m.Gap <= 0 || m.Agreement <= 0 {
		t.Fatalf("model %+v: every input's weight must be positive for strength to grow with it", m)
	}
	grid := []float64{0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1}
	for _, c := range grid {
		for _, g := range grid {
			for _, a := range grid {
				in := StrengthInputs{Coverage: c, Gap: g, Agreement: a}
				s := m.Strength(in)
				if !(s > 0 && s < 1) {
					t.Fatalf("Strength(%+v) = %v, outside (0, 1)", in, s)
				}
				for name, up := range map[string]StrengthInputs{
					"coverage":  {Coverage: c + 0.01, Gap: g, Agreement: a},
					"gap":       {Coverage: c, Gap: g + 0.01, Agreement: a},
					"agreement": {Coverage: c, Gap: g, Agreement: a + 0.01},
				} {
					if m.Strength(up) <= s {
						t.Fatalf("raising %s from %+v did not raise strength (%v to %v)", name, in, s, m.Strength(up))
					}
				}
			}
		}
	}
}

// TestStrengthInputs checks each input on hand-made rankings: bounded, the gap never above
// the coverage, agreement falling with the dense rank of the best lexical hit and 0 when the
// dense leg did not find it, and nothing without lexical hits.
func TestStrengthInputs(t *testing.T) {
	hits := func(scores ...float64) []index.Scored {
		out := make([]index.Scored, len(scores))
		for i, s := range scores {
			out[i] = index.Scored{ChunkID: int64(i + 1), Score: s}
		}
		return out
	}
	dense := func(ids ...int64) []Hit {
		out := make([]Hit, len(ids))
		for i, id := range ids {
			out[i] = Hit{ChunkID: id}
		}
		return out
	}
	lex := &lexicalResult{hits: hits(6, 5, 4, 4, 3, 3, 3, 2, 2, 1.5, 1), maxScore: 10, idfSum: 4}
	in := strengthInputs(lex, dense(1, 2))
	want := StrengthInputs{Coverage: 0.6, Gap: 0.45, Agreement: 1, DenseRank: 1, NormalizedBM25: 1.5}
	if math.Abs(in.Gap-want.Gap) > 1e-12 {
		t.Errorf("gap %v, want %v", in.Gap, want.Gap)
	}
	in.Gap = want.Gap
	if in != want {
		t.Errorf("inputs %+v, want %+v", in, want)
	}
	prev := 2.0
	for r := 1; r <= 100; r++ {
		ids := make([]int64, r)
		for i := range ids {
			ids[i] = int64(100 + i)
		}
		ids[r-1] = 1 // the best lexical hit at dense rank r
		a := strengthInputs(lex, dense(ids...)).Agreement
		if !(a > 0 && a <= 1 && a < prev) {
			t.Fatalf("agreement at dense rank %d = %v (at %d: %v): want within (0, 1], falling", r, a, r-1, prev)
		}
		prev = a
	}
	if a := strengthInputs(lex, dense(7, 8, 9)).Agreement; a != 0 {
		t.Errorf("agreement when the dense leg did not rank the best lexical hit = %v, want 0", a)
	}
	few := &lexicalResult{hits: hits(3, 1), maxScore: 10}
	if in := strengthInputs(few, nil); in.Gap != in.Coverage || in.Agreement != 0 {
		t.Errorf("fewer than 10 hits, no dense leg: %+v; want the gap equal to the coverage and no agreement", in)
	}
	if in := strengthInputs(&lexicalResult{maxScore: 10}, dense(1)); in != (StrengthInputs{}) {
		t.Errorf("no lexical hit: %+v, want zero inputs", in)
	}
	if in := strengthInputs(nil, dense(1)); in != (StrengthInputs{}) {
		t.Errorf("no lexical leg: %+v, want zero inputs", in)
	}
}

// TestContextCoverageIsBoundedAndMonotone: a hit's coverage with context is in [0, 1],
// grows with the question's own part and with the context's, never falls below the own
// part, reaches 1 only through the question's own terms (a hit matching the context alone
// gets at most ContextCoverageCap), and without context is the score over the maximum.
func TestContextCoverageIsBoundedAndMonotone(t *testing.T) {
	const maxScore = 8.0
	with := &lexicalResult{maxScore: maxScore, hasContext: true}
	without := &lexicalResult{maxScore: maxScore}
	parts := []float64{0, 0.01, 0.5, 1, 2, 4, 7.9, 8, 9, 16, 100, 1e9}
	for _, own := range parts {
		prev := -1.0
		for _, ctx := range parts {
			c := with.coverage(index.Scored{Score: own + ctx, Own: own})
			if !(c >= 0 && c <= 1) {
				t.Fatalf("own %v, context %v: coverage %v outside [0, 1]", own, ctx, c)
			}
			if c < prev {
				t.Errorf("own %v: coverage falls from %v to %v as the context's part grows to %v", own, prev, c, ctx)
			}
			prev = c
			if ownCov := min(1, own/maxScore); c < ownCov-1e-12 {
				t.Errorf("own %v, context %v: coverage %v below the question's own %v", own, ctx, c, ownCov)
			}
			if own == 0 && c > ContextCoverageCap {
				t.Errorf("context %v alone: coverage %v above the cap %v", ctx, c, ContextCoverageCap)
			}
		}
	}
	for _, ctx := range parts {
		prev := -1.0
		for _, own := range parts {
			c := with.coverage(index.Scored{Score: own + ctx, Own: own})
			if c < prev {
				t.Errorf("context %v: coverage falls from %v to %v as the own part grows to %v", ctx, prev, c, own)
			}
			prev = c
		}
	}
	if c := with.coverage(index.Scored{Score: maxScore, Own: maxScore}); c != 1 {
		t.Errorf("every own term saturated: coverage %v, want 1", c)
	}
	for _, s := range parts {
		if c, want := without.coverage(index.Scored{Score: s}), min(1, s/maxScore); c != want {
			t.Errorf("no context, score %v: coverage %v, want %v", s, c, want)
		}
	}
	// Broken numbers (a NaN from the database, a negative part) stay within bounds.
	for _, h := range []index.Scored{{Score: math.NaN(), Own: 1}, {Score: 1, Own: math.NaN()}, {Score: 1, Own: 3}, {Score: -1, Own: -2}} {
		if c := with.coverage(h); !(c >= 0 && c <= 1) {
			t.Errorf("%+v: coverage %v", h, c)
		}
	}
	if c := (&lexicalResult{hasContext: true}).coverage(index.Scored{Score: 3, Own: 1}); c != 0 {
		t.Errorf("no maximum: coverage %v, want 0", c)
	}
}

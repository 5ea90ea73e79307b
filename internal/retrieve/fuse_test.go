package retrieve

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFuse(t *testing.T) {
	lex := []Hit{{ChunkID: 1, Score: 10}, {ChunkID: 2, Score: 6}, {ChunkID: 3, Score: 2}}
	dense := []Hit{{ChunkID: 3, Score: 0.9}, {ChunkID: 4, Score: 0.8}, {ChunkID: 1, Score: 0.1}}
	ids := func(hits []Hit) []int64 {
		var out []int64
		for _, h := range hits {
			out = append(out, h.ChunkID)
		}
		return out
	}
	tests := []struct {
		name string
		cfg  Config
		mode Mode
		want []int64
	}{
		// Convex, lexical 1, dense 0.2: normalised lexical 1, 0.5, 0; dense 1, 0.875, 0.
		// 1: (1 + 0)/1.2; 2: 0.5/1.2; 3: (0 + 0.2)/1.2; 4: 0.175/1.2.
		{"convex favours the strong leg", Config{Fusion: FusionConvex, LexicalWeight: 1, DenseWeight: 0.2}, Hybrid, []int64{1, 2, 3, 4}},
		// Equal convex weights: 3 (0 + 1), 1 (1 + 0), 4 (0.875), 2 (0.5).
		{"convex, equal weights", Config{Fusion: FusionConvex, LexicalWeight: 1, DenseWeight: 1}, Hybrid, []int64{1, 3, 4, 2}},
		// RRF k=60: 1: 1/61 + 1/63; 3: 1/63 + 1/61 (tie, lower id first); 2: 1/62; 4: 1/62.
		{"rrf", Config{Fusion: FusionRRF, RRFK: 60, LexicalWeight: 1, DenseWeight: 1}, Hybrid, []int64{1, 3, 2, 4}},
		{"lexical only", Config{}, Lexical, []int64{1, 2, 3}},
		{"dense only", Config{}, Dense, []int64{3, 4, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.defaults()
			r := &Retriever{cfg: tt.cfg}
			got := r.fuse(lex, dense, tt.mode)
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			for _, h := range got {
				if h.ChunkID == 1 && tt.mode == Hybrid && (h.LexicalRank != 1 || h.DenseRank != 3) {
					t.Errorf("chunk 1 ranks %d/%d, want 1/3", h.LexicalRank, h.DenseRank)
				}
			}
		})
	}
}

func TestBuiltinRerankerFeatures(t *testing.T) {
	b := &Builtin{Coverage: 1, Pairs: 1, Proximity: 1, Title: 1}
	scores, err := b.Rerank(t.Context(), "charging robots at night", []string{
		"Charging robots\n\nThe robots are charging at night in bay two.",
		"Handbook\n\nAt night the office is closed. Robots exist. Charging happens elsewhere much later on.",
		"Handbook\n\nNothing relevant here.",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !(scores[0] > scores[1] && scores[1] > scores[2]) {
		t.Errorf("scores %v: want the passage with the words together and in its title first, the unrelated one last", scores)
	}
	if got := proximity([]int{0, 1}, []string{"a", "b"}, map[string]bool{"a": true, "b": true}); got != 1 {
		t.Errorf("proximity of adjacent terms = %v, want 1", got)
	}
	if stem("deploying") != stem("deployed") || stem("robots") != "robot" {
		t.Errorf("stem: %s %s %s", stem("deploying"), stem("deployed"), stem("robots"))
	}
}

package retrieve

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFuse(t *testing.T) {
	lex := []Hit{{ChunkID: 1, Score: 10}, {ChunkID: 2, Score: 6}, {ChunkID: 3, Score: 1}}
	dense := []Hit{{ChunkID: 3, Score: 0.9}, {ChunkID: 4, Score: 0.8}, {ChunkID: 1, Score: 0.1}}
	tests := []struct {
		name   string
		cfg    Config
		mode   Mode
		want   []int64
		weight float64
	}{
		// The lexical list is shorter than Depth, so normalised from 0: 1, 0.6, 0.1; the
		// dense leg min–max: 1, 0.875, 0 (TestShortLexicalListCountsFromZero).
		// Convex, lexical 1, dense 0.2: 1: 1/1.2; 2: 0.6/1.2; 3: (0.1 + 0.2)/1.2; 4: 0.175/1.2.
		{"convex favours the strong leg", Config{Fusion: FusionConvex, LexicalWeight: 1, DenseWeight: 0.2, AgreementDepth: -1}, Hybrid, []int64{1, 2, 3, 4}, 0.2},
		// Equal convex weights: 3 (0.1 + 1), 1 (1 + 0), 4 (0.875), 2 (0.6).
		{"convex, equal weights", Config{Fusion: FusionConvex, LexicalWeight: 1, DenseWeight: 1, AgreementDepth: -1}, Hybrid, []int64{3, 1, 4, 2}, 1},
		// Agreement over the top 2: {1, 2} and {3, 4} share nothing, so the dense leg has no
		// say: the lexical order, then the dense-only chunk.
		{"no agreement, no dense weight", Config{Fusion: FusionConvex, LexicalWeight: 1, DenseWeight: 1, AgreementDepth: 2}, Hybrid, []int64{1, 2, 3, 4}, 0},
		// Over the top 3 they share 1 and 3 (2/3 ≥ full 0.5): the full weight, as above.
		{"agreement, full dense weight", Config{Fusion: FusionConvex, LexicalWeight: 1, DenseWeight: 1, AgreementDepth: 3, AgreementFull: 0.5}, Hybrid, []int64{3, 1, 4, 2}, 1},
		// Over the top 10 (the default) 2 of 10 are common: 0.2/0.5 of the weight 1:
		// 1 (1), 2 (0.6), 3 (0.1 + 0.4), 4 (0.35).
		{"agreement, part of the weight", Config{Fusion: FusionConvex, LexicalWeight: 1, DenseWeight: 1}, Hybrid, []int64{1, 2, 3, 4}, 0.4},
		// RRF k=60: 1: 1/61 + 1/63; 3: 1/63 + 1/61 (tie: lexical order); 2: 1/62; 4: 1/62.
		{"rrf", Config{Fusion: FusionRRF, RRFK: 60, LexicalWeight: 1, DenseWeight: 1, AgreementDepth: -1}, Hybrid, []int64{1, 3, 2, 4}, 1},
		{"lexical only", Config{}, Lexical, []int64{1, 2, 3}, 0},
		{"dense only", Config{}, Dense, []int64{3, 4, 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, w := Fuse(tt.cfg, lex, dense, tt.mode)
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if math.Abs(w-tt.weight) > 1e-12 {
				t.Errorf("dense weight %v, want %v", w, tt.weight)
			}
			for _, h := range got {
				if h.ChunkID == 1 && tt.mode == Hybrid && (h.LexicalRank != 1 || h.DenseRank != 3) {
					t.Errorf("chunk 1 ranks %d/%d, want 1/3", h.LexicalRank, h.DenseRank)
				}
			}
		})
	}
}

// TestShortLexicalListCountsFromZero: a lexical list shorter than Depth ended because few
// chunks hold the query's terms, so its scores are normalised from 0, not from its last
// hit: a chunk holding the query's terms at lexical rank 3 of 3 stays above a chunk only
// the dense leg found (MTRAG ibmcloud, issue 12 item 6). A full list (Depth hits) keeps
// min–max, as does the dense leg.
func TestShortLexicalListCountsFromZero(t *testing.T) {
	lex := []Hit{{ChunkID: 1, Score: 16.9}, {ChunkID: 2, Score: 9.5}, {ChunkID: 3, Score: 9.3}}
	dense := []Hit{{ChunkID: 5, Score: 0.9}, {ChunkID: 1, Score: 0.8}, {ChunkID: 3, Score: 0.5}}
	cfg := Config{Fusion: FusionConvex, LexicalWeight: 1, DenseWeight: 0.2, AgreementDepth: -1}
	// From 0: lexical 1, 0.562, 0.550; dense 1, 0.75, 0 (min–max): 1 1.15, 2 0.562, 3 0.550, 5 0.2.
	got, _ := Fuse(cfg, lex, dense, Hybrid)
	if diff := cmp.Diff([]int64{1, 2, 3, 5}, ids(got)); diff != "" {
		t.Errorf("short lexical list (-want +got):\n%s", diff)
	}
	// Depth 3: the list is full, min–max: lexical 1, 0.027, 0: 1 1.15, 5 0.2, 2 0.027 (and
	// 3, 0, past Depth).
	cfg.Depth = 3
	got, _ = Fuse(cfg, lex, dense, Hybrid)
	if diff := cmp.Diff([]int64{1, 5, 2}, ids(got)); diff != "" {
		t.Errorf("full lexical list (-want +got):\n%s", diff)
	}
	// Normalisation stays within [0, 1] whatever the floor, and an empty range is all 1.
	for _, floor := range []float64{0, math.Inf(1), -5} {
		for id, v := range normalizedAbove(lex, floor) {
			if !(v >= 0 && v <= 1) {
				t.Errorf("floor %v: chunk %d normalised to %v", floor, id, v)
			}
		}
	}
	if got := normalizedAbove([]Hit{{ChunkID: 1, Score: 0}}, 0); got[1] != 1 {
		t.Errorf("one hit at 0: %v, want 1", got)
	}
}

func ids(hits []Hit) []int64 {
	var out []int64
	for _, h := range hits {
		out = append(out, h.ChunkID)
	}
	return out
}

// TestDenseWeightFollowsAgreement: the dense weight is 0 when the legs' tops share nothing,
// grows with every chunk they share, never exceeds DenseWeight and reaches it at
// AgreementFull.
func TestDenseWeightFollowsAgreement(t *testing.T) {
	for _, full := range []float64{0.2, 0.5, 1} {
		cfg := Config{DenseWeight: 0.3, AgreementDepth: 10, AgreementFull: full}
		cfg.defaults()
		lex := make([]Hit, 10)
		for i := range lex {
			lex[i] = Hit{ChunkID: int64(i + 1)}
		}
		prev := -1.0
		for common := 0; common <= 10; common++ {
			dense := make([]Hit, 10)
			for i := range dense {
				dense[i] = Hit{ChunkID: int64(100 + i)}
				if i < common {
					dense[i].ChunkID = int64(10 - i) // the lexical leg's chunks, in another order
				}
			}
			w := cfg.denseWeight(lex, dense)
			switch {
			case w < 0 || w > cfg.DenseWeight:
				t.Errorf("full %v, %d common: weight %v outside [0, %v]", full, common, w, cfg.DenseWeight)
			case common == 0 && w != 0:
				t.Errorf("full %v, nothing common: weight %v, want 0", full, w)
			case float64(common)/10 >= full && w != cfg.DenseWeight:
				t.Errorf("full %v, %d common: weight %v, want the full %v", full, common, w, cfg.DenseWeight)
			case w < prev || float64(common)/10 <= full && w == prev:
				t.Errorf("full %v, %d common: weight %v after %v: not increasing", full, common, w, prev)
			}
			prev = w
		}
	}
	// Short legs: the share is of AgreementDepth, not of the shorter leg.
	cfg := Config{DenseWeight: 0.2, AgreementDepth: 10, AgreementFull: 1}
	cfg.defaults()
	if w := cfg.denseWeight([]Hit{{ChunkID: 1}}, []Hit{{ChunkID: 1}}); math.Abs(w-0.02) > 1e-12 {
		t.Errorf("one common chunk of one: weight %v, want 0.02", w)
	}
}

// TestAgreement: the share of a's first k among b's first k, of k (not of a shorter list),
// and 0 for an empty list or k <= 0.
func TestAgreement(t *testing.T) {
	t.Parallel()
	hits := func(ids ...int64) []Hit {
		out := make([]Hit, len(ids))
		for i, id := range ids {
			out[i] = Hit{ChunkID: id}
		}
		return out
	}
	tests := []struct {
		name string
		a, b []Hit
		k    int
		want float64
	}{
		{"same top in another order", hits(1, 2, 3), hits(3, 1, 2), 3, 1},
		{"two of three", hits(1, 2, 3, 4), hits(2, 9, 1, 3), 3, 2.0 / 3},
		{"beyond k does not count", hits(1, 2, 3), hits(4, 5, 1), 2, 0},
		{"a short list shares of k", hits(1), hits(1), 5, 0.2},
		{"an empty list", nil, hits(1, 2), 3, 0},
		{"k of zero", hits(1), hits(1), 0, 0},
		{"negative k", hits(1), hits(1), -1, 0},
	}
	for _, tt := range tests {
		if got := Agreement(tt.a, tt.b, tt.k); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: Agreement = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFuseWithAnEmptyLeg: when one leg found nothing (no term in the caller's view, no
// vector), hybrid is the other leg's ranking, not a ranking by a weight that may be 0.
func TestFuseWithAnEmptyLeg(t *testing.T) {
	lex := []Hit{{ChunkID: 5, Score: 3}, {ChunkID: 2, Score: 2}, {ChunkID: 9, Score: 1}}
	dense := []Hit{{ChunkID: 7, Score: 0.5}, {ChunkID: 3, Score: 0.4}, {ChunkID: 1, Score: 0.3}}
	for _, fusion := range []string{FusionConvex, FusionRRF} {
		cfg := Config{Fusion: fusion}
		if got, w := Fuse(cfg, nil, dense, Hybrid); !slices.Equal(ids(got), []int64{7, 3, 1}) || w != 1 {
			t.Errorf("%s without lexical hits: %v (weight %v), want the dense order 7 3 1", fusion, ids(got), w)
		}
		if got, w := Fuse(cfg, lex, nil, Hybrid); !slices.Equal(ids(got), []int64{5, 2, 9}) || w != 0 {
			t.Errorf("%s without dense hits: %v (weight %v), want the lexical order 5 2 9", fusion, ids(got), w)
		}
		if got, _ := Fuse(cfg, nil, nil, Hybrid); len(got) != 0 {
			t.Errorf("%s without hits: %v", fusion, ids(got))
		}
	}
}

// TestFuseOnlyReorders: on random legs and settings, fusion returns each chunk at most once,
// only chunks one of the legs returned (what the caller may see: fusion cannot add one), at
// most Depth of them, with the ranks they had in the legs; and when the legs' tops share
// nothing, the hybrid ranking begins with the lexical ranking, whole.
func TestFuseOnlyReorders(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	leg := func(n int, pool int64) []Hit {
		var out []Hit
		seen := map[int64]bool{}
		for len(out) < n {
			id := 1 + r.Int64N(pool)
			if !seen[id] {
				seen[id] = true
				out = append(out, Hit{ChunkID: id, Score: float64(n - len(out))})
			}
		}
		return out
	}
	for i := range 2000 {
		lex, dense := leg(r.IntN(40), 60), leg(r.IntN(40), 60)
		if i%3 == 0 { // disjoint legs
			for j := range dense {
				dense[j].ChunkID += 1000
			}
		}
		cfg := Config{Fusion: []string{FusionConvex, FusionRRF}[r.IntN(2)], DenseWeight: r.Float64() * 2,
			AgreementDepth: r.IntN(20) - 2, AgreementFull: r.Float64(), Depth: 10 + r.IntN(50)}
		got, w := Fuse(cfg, lex, dense, Hybrid)
		given := map[int64][2]int{}
		for j, h := range lex {
			given[h.ChunkID] = [2]int{j + 1, 0}
		}
		for j, h := range dense {
			g := given[h.ChunkID]
			given[h.ChunkID] = [2]int{g[0], j + 1}
		}
		seen := map[int64]bool{}
		for _, h := range got {
			g, ok := given[h.ChunkID]
			if !ok || seen[h.ChunkID] || g != [2]int{h.LexicalRank, h.DenseRank} {
				t.Fatalf("case %d: hit %+v: given %v, seen before %v", i, h, ok, seen[h.ChunkID])
			}
			seen[h.ChunkID] = true
		}
		cfg.defaults()
		if len(got) != min(len(given), cfg.Depth) {
			t.Fatalf("case %d: %d hits of %d, depth %d", i, len(got), len(given), cfg.Depth)
		}
		if w < 0 || len(lex) > 0 && len(dense) > 0 && w > cfg.DenseWeight {
			t.Fatalf("case %d: dense weight %v outside [0, %v]", i, w, cfg.DenseWeight)
		}
		if i%3 == 0 && cfg.AgreementDepth > 0 && len(lex) > 0 {
			n := min(len(lex), cfg.Depth)
			if !slices.Equal(ids(got[:n]), ids(lex[:n])) {
				t.Fatalf("case %d: disjoint legs reordered the lexical ranking: %v, want %v first", i, ids(got), ids(lex))
			}
		}
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

// BenchmarkFuse compares the cost of fusing two legs of 100 hits with fixed weights and
// with the agreement-scaled dense weight (the default), in the same process.
func BenchmarkFuse(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	leg := func() []Hit {
		out := make([]Hit, 100)
		for i := range out {
			out[i] = Hit{ChunkID: r.Int64N(300), Score: float64(100 - i)}
		}
		return out
	}
	lex, dense := leg(), leg()
	for _, tt := range []struct {
		name string
		cfg  Config
	}{{"fixed", Config{AgreementDepth: -1}}, {"agreement", Config{}}} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				Fuse(tt.cfg, lex, dense, Hybrid)
			}
		})
	}
}

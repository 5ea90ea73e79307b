package eval

import (
	"math"
	"slices"
	"strconv"
	"testing"
)

// fuzzRun decodes a ranking over documents d0..d7 (repeats included) and their grades
// (-1 to 3) from fuzz bytes.
func fuzzRun(ranking, grades []byte) ([]string, map[string]int) {
	ranked := make([]string, len(ranking))
	for i, b := range ranking {
		ranked[i] = "d" + strconv.Itoa(int(b%8))
	}
	rel := make(map[string]int)
	for i, b := range grades[:min(len(grades), 8)] {
		rel["d"+strconv.Itoa(i)] = int(b%5) - 1
	}
	return ranked, rel
}

// FuzzRankingMetrics checks invariants of NDCG, Recall and MRR on arbitrary rankings and
// judgments: every value within [0, 1]; 0 exactly when no relevant document is in the
// distinct top k; Recall and MRR never decrease as k grows; MRR is 1/rank; the ideal
// ranking (relevant documents by grade) scores NDCG 1 and Recall 1.
func FuzzRankingMetrics(f *testing.F) {
	f.Add([]byte{0, 1, 2}, []byte{2, 1, 3}, uint8(2))
	f.Add([]byte{5, 5, 5, 1}, []byte{0, 4, 0, 0, 0, 2}, uint8(0))
	f.Add([]byte{}, []byte{4}, uint8(9))
	f.Fuzz(func(t *testing.T, ranking, grades []byte, cut uint8) {
		ranked, rel := fuzzRun(ranking, grades)
		k := 1 + int(cut)%12
		ndcg, recall, mrr := NDCG(ranked, rel, k), Recall(ranked, rel, k), MRR(ranked, rel, k)
		for name, v := range map[string]float64{"NDCG": ndcg, "Recall": recall, "MRR": mrr} {
			if !(v >= 0 && v <= 1+1e-12) {
				t.Fatalf("%s(%q, %v, %d) = %v, outside [0, 1]", name, ranked, rel, k, v)
			}
		}
		hit := slices.ContainsFunc(topK(ranked, k), func(id string) bool { return rel[id] > 0 })
		if (ndcg > 0) != hit || (recall > 0) != hit || (mrr > 0) != hit {
			t.Fatalf("%q, %v, k=%d: relevant in top k: %v, but NDCG %v, Recall %v, MRR %v", ranked, rel, k, hit, ndcg, recall, mrr)
		}
		if mrr > 0 {
			if r := 1 / mrr; math.Abs(r-math.Round(r)) > 1e-9 || r > float64(k) {
				t.Fatalf("MRR(%q, %v, %d) = %v, not 1/rank within k", ranked, rel, k, mrr)
			}
		}
		if r := Recall(ranked, rel, k+1); r < recall {
			t.Fatalf("Recall(%q, %v) fell from %v at k=%d to %v", ranked, rel, recall, k, r)
		}
		if m := MRR(ranked, rel, k+1); m < mrr {
			t.Fatalf("MRR(%q, %v) fell from %v at k=%d to %v", ranked, rel, mrr, k, m)
		}

		var ideal []string
		for id, g := range rel {
			if g > 0 {
				ideal = append(ideal, id)
			}
		}
		if len(ideal) == 0 {
			return
		}
		slices.SortFunc(ideal, func(a, b string) int { return rel[b] - rel[a] })
		if v := NDCG(ideal, rel, k); math.Abs(v-1) > 1e-12 {
			t.Fatalf("NDCG of the ideal ranking %q, %v, k=%d = %v, want 1", ideal, rel, k, v)
		}
		if v := Recall(ideal, rel, len(ideal)); v != 1 {
			t.Fatalf("Recall of the ideal ranking %q, %v = %v, want 1", ideal, rel, v)
		}
	})
}

// FuzzROCAUC compares ROCAUC with the definition it implements, counted pair by pair.
func FuzzROCAUC(f *testing.F) {
	f.Add([]byte{1, 2, 3, 3, 0}, []byte{0b10110})
	f.Add([]byte{7, 7, 7}, []byte{0b010})
	f.Fuzz(func(t *testing.T, raw, labels []byte) {
		scores := make([]float64, len(raw))
		positive := make([]bool, len(raw))
		for i, b := range raw {
			scores[i] = float64(b%16) - 4 // few distinct values: many ties
			if i/8 < len(labels) {
				positive[i] = labels[i/8]&(1<<(i%8)) != 0
			}
		}
		var wins, pairs float64
		for i := range scores {
			for j := range scores {
				if !positive[i] || positive[j] {
					continue
				}
				pairs++
				switch {
				case scores[i] > scores[j]:
					wins++
				case scores[i] == scores[j]:
					wins += 0.5
				}
			}
		}
		got := ROCAUC(scores, positive)
		if pairs == 0 {
			if !math.IsNaN(got) {
				t.Fatalf("ROCAUC(%v, %v) = %v, want NaN (a class is empty)", scores, positive, got)
			}
			return
		}
		if want := wins / pairs; got != want {
			t.Fatalf("ROCAUC(%v, %v) = %v, want %v", scores, positive, got, want)
		}
	})
}

package eval

import (
	"math"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// approx compares floats to 1e-12: the expected values below are written as the
// arithmetic that produces them, which may round differently in the last bits.
var approx = cmp.Options{cmpopts.EquateApprox(0, 1e-12), cmpopts.EquateNaNs()}

// Discounts used in the hand computations: 1/log2(i+1) for rank i.
//
//	rank 1: 1/log2(2) = 1
//	rank 2: 1/log2(3) = 0.6309297535714575
//	rank 3: 1/log2(4) = 0.5
var rank2 = 1 / math.Log2(3)

type rankCase struct {
	name   string
	ranked []string
	rel    map[string]int
	k      int
	want   float64
}

func TestNDCG(t *testing.T) {
	t.Parallel()
	// d1 (grade 1) at rank 1 and d3 (grade 2) at rank 3; z is judged non-relevant.
	mixed := map[string]int{"d1": 1, "d3": 2, "z": 0}
	// pytrec_eval's own test (tests/pytrec_eval_tests.py, test_ndcg and test_ndcg_cut):
	// qrels d1:0 d2:1 d3:0; the run d3 1.5, d1 1.0, d2 0.0 ranks d2 third.
	pytrec := map[string]int{"d1": 0, "d2": 1, "d3": 0}
	tests := []rankCase{
		// DCG@10 = 1/1 + 2/log2(4) = 1 + 1 = 2
		// IDCG@10 = 2/1 + 1/log2(3) = 2.6309297535714575 (grades sorted: 2, 1)
		// NDCG = 2 / 2.6309297535714575 = 0.7601875334318685
		{"ranks 1 and 3 of 2 relevant", []string{"d1", "x", "d3"}, mixed, 10, 2 / (2 + rank2)},
		// DCG@1 = 1; IDCG@1 = 2 (the grade-2 document first) -> 0.5
		{"cut at 1", []string{"d1", "x", "d3"}, mixed, 1, 1.0 / 2},
		// DCG@2 = 1; IDCG@2 = 2 + 0.6309... -> 0.38009376671593426
		{"cut at 2", []string{"d1", "x", "d3"}, mixed, 2, 1 / (2 + rank2)},
		// pytrec_eval expects ndcg_cut_1 = ndcg_cut_2 = 0, ndcg_cut_3 = ndcg_cut_1000 = 0.5.
		{"pytrec_eval cut 1", []string{"d3", "d1", "d2"}, pytrec, 1, 0},
		{"pytrec_eval cut 2", []string{"d3", "d1", "d2"}, pytrec, 2, 0},
		{"pytrec_eval cut 3", []string{"d3", "d1", "d2"}, pytrec, 3, 0.5},
		{"pytrec_eval cut 1000", []string{"d3", "d1", "d2"}, pytrec, 1000, 0.5},
		// pytrec_eval expects 0.6309297535714575 with d2 at rank 2 (run d1 4, d2 2, d3 1.5).
		{"pytrec_eval rank 2", []string{"d1", "d2", "d3"}, pytrec, 10, 0.6309297535714575},
		// Linear gain: DCG = 1/1 + 2/log2(3) = 2.2618595071429148,
		// IDCG = 2/1 + 1/log2(3) = 2.6309297535714575 -> 0.8597186998521972.
		// (Exponential gain 2^g-1 would give (1 + 3*0.6309)/(3 + 0.6309) = 0.7967.)
		{"graded gains are linear", []string{"b", "a"}, map[string]int{"a": 2, "b": 1}, 2, (1 + 2*rank2) / (2 + rank2)},
		{"ideal order is 1", []string{"b", "a"}, map[string]int{"a": 1, "b": 2}, 10, 1},
		// Ideal DCG counts b and c although they were not retrieved:
		// DCG = 1; IDCG@10 = 1 + 0.6309 + 0.5 = 2.1309297535714575 -> 0.46927872602275644
		{"ideal uses unretrieved judged docs", []string{"a", "x"}, map[string]int{"a": 1, "b": 1, "c": 1}, 10, 1 / (1 + rank2 + 0.5)},
		// IDCG@2 = 1 + 0.6309 = 1.6309297535714575 -> 0.6131471927654584
		{"ideal cut at k", []string{"a", "x"}, map[string]int{"a": 1, "b": 1, "c": 1}, 2, 1 / (1 + rank2)},
		// The unretrieved grade-3 document leads the ideal ranking:
		// DCG = 1; IDCG = 3/1 + 1/log2(3) = 3.6309297535714575 -> 0.27541155237618664
		{"ideal sorted by grade", []string{"a"}, map[string]int{"a": 1, "b": 3}, 10, 1 / (3 + rank2)},
		// Grades 0 and -1 give no gain and are not in the ideal ranking:
		// DCG = 1/log2(4) = 0.5; IDCG = 1 -> 0.5
		{"non-positive grades", []string{"z", "neg", "a"}, map[string]int{"z": 0, "neg": -1, "a": 1}, 3, 0.5},
		{"no relevant judged", []string{"z", "a"}, map[string]int{"z": 0}, 10, 0},
		{"no judgments", []string{"a"}, nil, 10, 0},
		{"empty ranking", nil, map[string]int{"a": 1}, 10, 0},
		// The second a is dropped: the top 3 are a, x, b.
		// DCG = 1 + 1/log2(4) = 1.5; IDCG@3 = 1 + 0.6309 -> 0.9197207891481876
		{"duplicates count once", []string{"a", "a", "x", "b"}, map[string]int{"a": 1, "b": 1}, 3, 1.5 / (1 + rank2)},
		// One document for k = 100: DCG = 1; IDCG = 1 + 0.6309 -> 0.6131471927654584
		{"k beyond the ranking", []string{"a"}, map[string]int{"a": 1, "b": 1}, 100, 1 / (1 + rank2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := NDCG(tc.ranked, tc.rel, tc.k)
			if diff := cmp.Diff(tc.want, got, approx); diff != "" {
				t.Errorf("NDCG(%q, %v, %d) (-want +got):\n%s", tc.ranked, tc.rel, tc.k, diff)
			}
		})
	}
}

func TestRecall(t *testing.T) {
	t.Parallel()
	mixed := map[string]int{"d1": 1, "d3": 2, "z": 0} // 2 relevant; z does not count
	tests := []rankCase{
		{"rank 1 of 2 at k=1", []string{"d1", "x", "d3"}, mixed, 1, 1.0 / 2},
		{"rank 1 of 2 at k=2", []string{"d1", "x", "d3"}, mixed, 2, 1.0 / 2},
		{"ranks 1 and 3 of 2 at k=3", []string{"d1", "x", "d3"}, mixed, 3, 2.0 / 2},
		{"k beyond the ranking", []string{"d1", "x", "d3"}, mixed, 100, 2.0 / 2},
		{"unretrieved relevant", []string{"a", "x"}, map[string]int{"a": 1, "b": 1, "c": 1}, 10, 1.0 / 3},
		{"judged non-relevant retrieved", []string{"z", "n"}, map[string]int{"z": 0, "n": -1, "a": 1}, 10, 0},
		{"negative grade is not relevant", []string{"a"}, map[string]int{"n": -1, "a": 1}, 10, 1.0 / 1},
		{"no relevant judged", []string{"z"}, map[string]int{"z": 0}, 10, 0},
		{"no judgments", []string{"a"}, nil, 10, 0},
		// Distinct top 2: a, x -> 1/2. Distinct top 3: a, x, b -> 2/2.
		{"duplicates at k=2", []string{"a", "a", "x", "b"}, map[string]int{"a": 1, "b": 1}, 2, 1.0 / 2},
		{"duplicates at k=3", []string{"a", "a", "x", "b"}, map[string]int{"a": 1, "b": 1}, 3, 2.0 / 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Recall(tc.ranked, tc.rel, tc.k)
			if diff := cmp.Diff(tc.want, got, approx); diff != "" {
				t.Errorf("Recall(%q, %v, %d) (-want +got):\n%s", tc.ranked, tc.rel, tc.k, diff)
			}
		})
	}
}

func TestMRR(t *testing.T) {
	t.Parallel()
	rel := map[string]int{"a": 1, "z": 0}
	tests := []rankCase{
		{"first at rank 1", []string{"a", "x"}, rel, 10, 1.0 / 1},
		{"first at rank 3", []string{"x", "y", "a"}, rel, 10, 1.0 / 3},
		{"first at rank 3, k=3", []string{"x", "y", "a"}, rel, 3, 1.0 / 3},
		{"none in top k", []string{"x", "y", "a"}, rel, 2, 0},
		{"grade 0 is skipped", []string{"z", "a"}, rel, 10, 1.0 / 2},
		{"only the first counts", []string{"b", "a"}, map[string]int{"a": 2, "b": 1}, 10, 1.0 / 1},
		// Distinct top 2: x, a -> 1/2.
		{"duplicates count once", []string{"x", "x", "a"}, rel, 2, 1.0 / 2},
		{"no relevant judged", []string{"z"}, map[string]int{"z": 0}, 10, 0},
		{"empty ranking", nil, rel, 10, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := MRR(tc.ranked, tc.rel, tc.k)
			if diff := cmp.Diff(tc.want, got, approx); diff != "" {
				t.Errorf("MRR(%q, %v, %d) (-want +got):\n%s", tc.ranked, tc.rel, tc.k, diff)
			}
		})
	}
}

func TestCutoffPanics(t *testing.T) {
	t.Parallel()
	metrics := map[string]func([]string, map[string]int, int) float64{"NDCG": NDCG, "Recall": Recall, "MRR": MRR}
	for name, f := range metrics {
		for _, k := range []int{0, -1} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s with k = %d did not panic", name, k)
					}
				}()
				f([]string{"a"}, map[string]int{"a": 1}, k)
			}()
		}
	}
}

func TestMean(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []float64
		want   float64
	}{
		{"three", []float64{1, 2, 4}, 7.0 / 3},
		{"one", []float64{0.5}, 0.5},
		{"zeros count", []float64{1, 0, 0, 0}, 0.25},
		{"none", nil, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, Mean(tc.values), approx); diff != "" {
				t.Errorf("Mean(%v) (-want +got):\n%s", tc.values, diff)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	oneToTwenty := make([]float64, 20)
	for i := range oneToTwenty {
		oneToTwenty[19-i] = float64(i + 1) // descending, to check the sorting
	}
	nan := math.NaN()
	tests := []struct {
		name   string
		values []float64
		ps     []float64
		want   []float64
	}{
		// Sorted: 15 20 35 40 50 (n = 5). Rank = ceil(p/100 * 5):
		// p0 -> rank 1 (15); p5 -> ceil(0.25) = 1 (15); p30 -> ceil(1.5) = 2 (20);
		// p40 -> ceil(2.0) = 2 (20); p50 -> ceil(2.5) = 3 (35); p100 -> 5 (50).
		{"nearest rank", []float64{40, 15, 50, 35, 20}, []float64{0, 5, 30, 40, 50, 100}, []float64{15, 15, 20, 20, 35, 50}},
		// n = 20: p50 -> rank 10; p95 -> rank 19; p99 -> ceil(19.8) = 20.
		{"latencies", oneToTwenty, []float64{50, 95, 99}, []float64{10, 19, 20}},
		{"one value", []float64{7}, []float64{0, 50, 100}, []float64{7, 7, 7}},
		{"no values", nil, []float64{50, 99}, []float64{nan, nan}},
		{"no percentiles", []float64{1, 2}, nil, []float64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := slices.Clone(tc.values)
			got := Percentiles(tc.values, tc.ps...)
			if diff := cmp.Diff(tc.want, got, approx); diff != "" {
				t.Errorf("Percentiles(%v, %v) (-want +got):\n%s", tc.values, tc.ps, diff)
			}
			if !slices.Equal(before, tc.values) {
				t.Errorf("Percentiles modified its input: %v, was %v", tc.values, before)
			}
		})
	}
	for _, p := range []float64{-1, 100.5, math.NaN()} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Percentiles(_, %v) did not panic", p)
				}
			}()
			Percentiles([]float64{1}, p)
		}()
	}
}

func TestROCAUC(t *testing.T) {
	t.Parallel()
	const T, F = true, false
	tests := []struct {
		name     string
		scores   []float64
		positive []bool
		want     float64
	}{
		// 2 positives x 2 negatives = 4 pairs, all won.
		{"perfect", []float64{0.9, 0.8, 0.2, 0.1}, []bool{T, T, F, F}, 4.0 / 4},
		{"inverted", []float64{0.1, 0.2, 0.8, 0.9}, []bool{T, T, F, F}, 0.0 / 4},
		// 4 pairs, all tied: 4 * 0.5 / 4.
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5}, []bool{T, F, T, F}, 2.0 / 4},
		// Pairs (pos, neg): (0.9, 0.7) 1, (0.9, 0.3) 1, (0.7, 0.7) 0.5, (0.7, 0.3) 1 -> 3.5/4.
		{"one tie", []float64{0.9, 0.7, 0.7, 0.3}, []bool{T, T, F, F}, 3.5 / 4},
		// Positives 0.8 0.6 0.4, negatives 0.6 0.2: (0.8, 0.6) 1, (0.8, 0.2) 1,
		// (0.6, 0.6) 0.5, (0.6, 0.2) 1, (0.4, 0.6) 0, (0.4, 0.2) 1 -> 4.5/6.
		{"mixed", []float64{0.8, 0.6, 0.6, 0.4, 0.2}, []bool{T, F, T, T, F}, 4.5 / 6},
		// Unsorted input and negative scores: positives -1, 3; negatives 2, -2:
		// (-1, 2) 0, (-1, -2) 1, (3, 2) 1, (3, -2) 1 -> 3/4.
		{"unsorted", []float64{-1, 2, 3, -2}, []bool{T, F, T, F}, 3.0 / 4},
		{"no positives", []float64{0.1, 0.2}, []bool{F, F}, math.NaN()},
		{"no negatives", []float64{0.1, 0.2}, []bool{T, T}, math.NaN()},
		{"empty", nil, nil, math.NaN()},
		{"NaN score", []float64{0.1, math.NaN()}, []bool{T, F}, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, ROCAUC(tc.scores, tc.positive), approx); diff != "" {
				t.Errorf("ROCAUC(%v, %v) (-want +got):\n%s", tc.scores, tc.positive, diff)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("ROCAUC with 2 scores and 1 label did not panic")
		}
	}()
	ROCAUC([]float64{1, 2}, []bool{true})
}

func TestDocumentRanking(t *testing.T) {
	uris := map[int64]string{1: "corpus.jsonl#d7", 2: "handbook/leave.md", 3: "a#b#d9"}
	got := DocumentRanking([]int64{2, 1, 2, 3, 1}, func(id int64) string { return uris[id] })
	want := []string{"handbook/leave.md", "d7", "d9"}
	if !slices.Equal(got, want) {
		t.Errorf("DocumentRanking = %q, want %q (each document once, at its best chunk's rank)", got, want)
	}
}

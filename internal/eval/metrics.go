package eval

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// NDCG is trec_eval's ndcg_cut at k (pytrec_eval's "ndcg_cut.10" for k = 10, BEIR's
// NDCG@10):
//
//	DCG@k  = Σ_{i=1..k} gain_i / log2(i+1),  gain_i = grade of the document at rank i if > 0, else 0
//	IDCG@k = the same sum over the ideal ranking: all documents judged relevant for the
//	         query (retrieved or not), by grade, highest first
//	NDCG@k = DCG@k / IDCG@k, and 0 when IDCG@k = 0 (no relevant document)
//
// The gain is the grade itself (linear), not 2^grade−1: trec_eval's m_ndcg_cut.c takes
// gain = the qrels relevance value and divides by log2(i+2) for the 0-based index i ("Gain
// values are the relevance values in the qrels file"). With binary grades (SciFact) the two
// gains agree. The discount log2(i+1) is current trec_eval's and pytrec_eval's (whose own
// tests expect 0.6309… = 1/log2(3) for a single relevant document at rank 2); early 9.0
// releases left rank 2 undiscounted (1/log2(i) from rank 2 on).
func NDCG(ranked []string, rel map[string]int, k int) float64 {
	checkCutoff(k)
	var dcg float64
	for i, id := range topK(ranked, k) {
		if g := rel[id]; g > 0 {
			dcg += float64(g) / math.Log2(float64(i+2))
		}
	}
	var grades []int
	for _, g := range rel {
		if g > 0 {
			grades = append(grades, g)
		}
	}
	slices.Sort(grades)
	slices.Reverse(grades)
	var idcg float64
	for i, g := range grades[:min(k, len(grades))] {
		idcg += float64(g) / math.Log2(float64(i+2))
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// Recall is trec_eval's recall at cutoff k (pytrec_eval's "recall.100" for k = 100, BEIR's
// Recall@100): the number of relevant documents among the first k, divided by the number of
// relevant documents judged for the query; 0 when there is none.
func Recall(ranked []string, rel map[string]int, k int) float64 {
	checkCutoff(k)
	relevant := 0
	for _, g := range rel {
		if g > 0 {
			relevant++
		}
	}
	if relevant == 0 {
		return 0
	}
	found := 0
	for _, id := range topK(ranked, k) {
		if rel[id] > 0 {
			found++
		}
	}
	return float64(found) / float64(relevant)
}

// MRR is the reciprocal rank of the first relevant document within the first k, and 0 when
// none of them is relevant: trec_eval's recip_rank (1/rank of the first relevant retrieved
// document) computed on the ranking cut at k, which is how BEIR computes MRR@k. Averaged
// over queries with Mean, it is the mean reciprocal rank.
func MRR(ranked []string, rel map[string]int, k int) float64 {
	checkCutoff(k)
	for i, id := range topK(ranked, k) {
		if rel[id] > 0 {
			return 1 / float64(i+1)
		}
	}
	return 0
}

// checkCutoff panics unless k is a valid cutoff.
func checkCutoff(k int) {
	if k < 1 {
		panic(fmt.Sprintf("eval: cutoff k = %d, want at least 1", k))
	}
}

// topK returns the first k distinct ids of ranked, each at its first occurrence.
func topK(ranked []string, k int) []string {
	top := make([]string, 0, min(k, len(ranked)))
	seen := make(map[string]struct{}, cap(top))
	for _, id := range ranked {
		if len(top) == k {
			break
		}
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		top = append(top, id)
	}
	return top
}

// Mean is the arithmetic mean of values (per-query scores, as trec_eval averages them over
// queries), and NaN when there are none.
func Mean(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	var sum float64
	for _, v := range values {
		sum += v
	}
	return sum / float64(len(values))
}

// Percentiles returns the ps-th percentiles of values (0 ≤ p ≤ 100) by the nearest-rank
// method, without interpolation: the value at rank ⌈p/100 · n⌉ of the n values sorted
// ascending (rank 1 for p = 0). Every result is thus one of the values: a latency that was
// actually observed. For example P95 of 20 latencies is the 19th smallest. values is not
// modified; with no values, every percentile is NaN. It panics when a p is outside [0, 100].
func Percentiles(values []float64, ps ...float64) []float64 {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	out := make([]float64, len(ps))
	for i, p := range ps {
		if !(p >= 0 && p <= 100) {
			panic(fmt.Sprintf("eval: percentile %v, want 0 to 100", p))
		}
		if len(sorted) == 0 {
			out[i] = math.NaN()
			continue
		}
		rank := int(math.Ceil(p * float64(len(sorted)) / 100))
		out[i] = sorted[max(rank, 1)-1]
	}
	return out
}

// ROCAUC is the area under the ROC curve of scores (higher means more likely positive)
// against the labels positive, computed as the normalized Mann–Whitney U statistic: the
// fraction of (positive, negative) pairs in which the positive scores higher, a tie counting
// one half. 1 is a perfect separation, 0 a perfectly inverted one, 0.5 chance (or all
// scores equal). It is NaN when either class is empty or a score is NaN, and panics when
// the two slices differ in length.
func ROCAUC(scores []float64, positive []bool) float64 {
	if len(scores) != len(positive) {
		panic(fmt.Sprintf("eval: ROCAUC of %d scores and %d labels", len(scores), len(positive)))
	}
	type item struct {
		score    float64
		positive bool
	}
	items := make([]item, len(scores))
	for i, s := range scores {
		if math.IsNaN(s) {
			return math.NaN()
		}
		items[i] = item{s, positive[i]}
	}
	slices.SortFunc(items, func(a, b item) int {
		switch {
		case a.score < b.score:
			return -1
		case a.score > b.score:
			return 1
		}
		return 0
	})
	// Walk groups of equal scores from the lowest up. A positive beats every negative
	// below its group and ties with the negatives in it. Counts are integers and the sum
	// is a multiple of 0.5, exact in float64 up to 2^52 pairs.
	var wins float64
	var pos, neg, negBelow int
	for i := 0; i < len(items); {
		j := i
		var p, n int
		for ; j < len(items) && items[j].score == items[i].score; j++ {
			if items[j].positive {
				p++
			} else {
				n++
			}
		}
		wins += float64(p)*float64(negBelow) + 0.5*float64(p)*float64(n)
		negBelow += n
		pos += p
		neg += n
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return wins / (float64(pos) * float64(neg))
}

// JudgmentID is the id relevance judgments use for the document with this URI: the part
// after the last '#' (a record of a JSON Lines collection, as BEIR corpora are ingested),
// else the whole URI.
func JudgmentID(uri string) string {
	if i := strings.LastIndexByte(uri, '#'); i >= 0 {
		return uri[i+1:]
	}
	return uri
}

// DocumentRanking turns a ranking of chunks, given as their documents' ids, into the ranking
// of the documents' judgment ids: each document at the rank of its best chunk (trec_eval
// judges documents). uri names a document by id.
func DocumentRanking(docIDs []int64, uri func(int64) string) []string {
	var out []string
	seen := map[int64]bool{}
	for _, id := range docIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, JudgmentID(uri(id)))
	}
	return out
}

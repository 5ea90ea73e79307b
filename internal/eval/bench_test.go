package eval

import (
	"strconv"
	"testing"
)

// BenchmarkRankingMetrics scores one query as the eval command does: NDCG@10, Recall@10,
// Recall@100 and MRR@10 of a 100-document ranking (with some repeats, as when chunks are
// mapped to documents) against 10 graded judgments.
func BenchmarkRankingMetrics(b *testing.B) {
	ranked := make([]string, 100)
	for i := range ranked {
		ranked[i] = "doc" + strconv.Itoa(i*7%90)
	}
	rel := make(map[string]int)
	for i := range 10 {
		rel["doc"+strconv.Itoa(i*13)] = 1 + i%3
	}
	for b.Loop() {
		NDCG(ranked, rel, 10)
		Recall(ranked, rel, 10)
		Recall(ranked, rel, 100)
		MRR(ranked, rel, 10)
	}
}

// BenchmarkROCAUC measures the AUC of 10,000 scores with ties.
func BenchmarkROCAUC(b *testing.B) {
	scores := make([]float64, 10_000)
	positive := make([]bool, len(scores))
	for i := range scores {
		scores[i] = float64(i * 7919 % 1000)
		positive[i] = i%3 == 0
	}
	for b.Loop() {
		ROCAUC(scores, positive)
	}
}

// Package eval reads the evaluation datasets (BEIR retrieval sets such as SciFact, ClapNQ
// for grounded answering, and the answer sets of answers.go: ClapNQ, MTRAG conversations,
// question/answer pairs, a Markdown FAQ) and computes the metrics that the eval command
// reports: ranking metrics, word overlap with gold answers (overlap.go), answer measures
// (answermeasures.go), and the folds every set is split into (fold.go).
//
// The package is pure: it reads dataset files but holds no state, opens no database and
// calls no model. The corpora themselves are ingested by the real ingestion pipeline, so
// the loaders only check document ids and hand back the corpus path.
//
// # Ranking metrics
//
// NDCG, Recall and MRR follow trec_eval (https://github.com/usnistgov/trec_eval, 9.0.x,
// the code that pytrec_eval wraps and BEIR reports through), so that Docent's numbers can
// be compared with published ones: NDCG is trec_eval's ndcg_cut, Recall its recall at a
// cutoff, and MRR its recip_rank limited to the top k, as BEIR's MRR@k is. Each function
// states its formula. They take the ranked document ids of one query, best first, and that
// query's judgments rel (document id -> grade, as in BEIR.Qrels), and share these rules:
//
//   - A document is relevant when its grade is above 0. A grade of 0 or less, or no
//     judgment at all, is non-relevant (trec_eval's default relevance level 1; its negative
//     grades mean "in the pool, unjudged", which these metrics also count as non-relevant).
//   - k is the cutoff: only the first k documents count. A ranking shorter than k is
//     treated as padded with non-relevant documents. k must be at least 1 (trec_eval
//     rejects other cutoffs); the functions panic otherwise.
//   - A document id that occurs more than once counts once, at its first occurrence, and
//     the later copies are dropped before cutting at k: ranks and k count distinct
//     documents. trec_eval refuses a run with duplicate documents, and a pytrec_eval run
//     (a map) cannot hold any, so this is the ranking those tools would be given. It
//     matters when chunks are mapped to their documents: k documents, not k chunks.
//   - The caller orders the ranking. (trec_eval itself orders by score and breaks ties by
//     document id, descending; a caller that wants that order must sort so itself.)
//   - A query without any relevant document (judged, but only with grades of 0 or less)
//     scores 0 on every metric, as in trec_eval. trec_eval averages only over the queries
//     found in both the qrels and the run (unless -c); averaging with Mean over every query
//     of BEIR.Queries, with an empty ranking for a query that retrieved nothing, is
//     trec_eval -c.
package eval

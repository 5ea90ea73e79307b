// Package rerank scores retrieved passages against a question with a cross-encoder served
// over HTTP.
//
// Retrieval finds candidates with two cheap first-stage searches, BM25 over tsvector and
// nearest neighbours over embeddings, and fuses their rankings. Both compare the question
// and a passage that were encoded separately, so neither sees how the words of one bear on
// the other. A cross-encoder reads the question and one passage together, as one input, and
// outputs one relevance score for that pair. That is far more accurate and far slower (a
// model forward pass per passage), so it is used as a second stage: on the few dozen
// candidates that fusion ranked highest, to choose the handful of passages the answer is
// written from.
//
// Two wire formats are spoken:
//
//   - TEI: Hugging Face Text Embeddings Inference serving a reranker model (bge-reranker,
//     gte-reranker, ms-marco cross-encoders, ...), POST {BaseURL}/rerank.
//   - Cohere: the Cohere-style POST {BaseURL}/v1/rerank that Cohere, Jina and many
//     self-hosted servers (vLLM, Infinity, LocalAI, ...) answer.
//
// The retrieval package consumes them through its own one-method interface, Reranker. Its
// configuration chooses "off" (the fused order is final), "builtin" (retrieve.Builtin, a
// lexical scorer that needs no model or server) or "http" (a TEI or Cohere value from this
// package), and Name labels the results. Reranking sits on the
// request path of a chat answer, so these clients fail fast: one deadline (Timeout) bounds the
// whole call, nothing is retried unless MaxRetries asks for it, and every failure is an error
// that says what went wrong (bad key, wrong URL or model, input too large, overloaded, timed
// out, unreachable, invalid answer). The caller then keeps the fused order and says that the
// results were not reranked, rather than failing the question.
//
// Passages beyond MaxBatch are sent in several requests, a few at once, and the scores merged.
// That is sound because a cross-encoder scores each (question, passage) pair on its own: the
// score of a passage does not depend on the other passages in its request. (TEI's scores are
// the model's logit, passed through a sigmoid unless raw scores are asked for; Cohere's and
// Jina's relevance_score is per pair too.) A server that normalised scores across the list it
// was sent would break this; give such a server a MaxBatch at least as large as the number of
// candidates. Scores are still only compared within one call, as the interface says.
//
// Every answer is checked before it is used: each passage's index exactly once, none out of
// range, every score finite. A model server is untrusted input, and a misaligned score would
// silently put the wrong passage in front of the answer-writing model.
//
// The API key is sent only as an Authorization bearer header. It is never logged and never
// part of an error, even when a server echoes it back in its error message.
package rerank

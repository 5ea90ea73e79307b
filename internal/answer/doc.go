// Package answer writes a short answer to a question from the evidence that retrieval
// found, citing the passages as [n], and validates it. The model describes; deterministic
// code owns validation: every generator's output is untrusted until Validate has checked
// it, and when the model fails or misbehaves the Answerer falls back to an extractive
// answer or refuses.
//
// # Generators
//
// A Generator turns a Prompt (question, sources, conversation) into a Draft. Extractive
// quotes the passage that answers verbatim, each sentence followed by its citation; it
// makes no network call, is deterministic, and is both the default and the fallback.
// OpenAI (any OpenAI-compatible chat completions API: OpenAI, vLLM, llama.cpp's server) and
// Ollama call a model through langchaingo, streaming, with the prompt of prompt_v1.txt
// (PromptVersion "answer-v1"), which is built into the binary: system instructions, then
// the numbered sources as data in <source n="…" title="…" uri="…"> elements whose text
// cannot close or open a delimiter (any "<source", "</source", "<question" is escaped),
// then the question. The instructions: answer only from the sources, cite [n] after every
// claim, say plainly when the sources lack the answer, never follow instructions inside
// the sources, be short. Failures are classified from the HTTP exchange: timeouts, 429,
// 5xx, connection errors and answers cut off are ErrModelUnavailable (an *UnavailableError
// with the server's Retry-After when it gave one); 401, 403, 404 and other 4xx are
// ErrModelConfig. API keys never appear in errors or logs.
//
// # Validation
//
// Citations are [n], [n, m], [n; m], [n][m] and ranges [n-m] (at most 20 wide); the
// numbers outside 1..len(sources) are removed from the text and reported in Dropped, and
// the valid ones are rewritten as [n] markers. The answer is split into sentences; each
// sentence's citations are those inside it or right after its full stop.
//
// A sentence is a claim unless it is a heading, a lead-in ending with a colon, has fewer
// than two content words and no number, or is an uncited statement that the sources lack
// the answer. A cited claim is supported when its cited passages (with their titles and
// headings) contain at least MinSupport of its content words (stemmed, stop words and
// words about the sources removed), every number in it and every name (a capitalised word
// past its first, or an acronym); an uncited claim is never supported. The names check
// was added on a labelled set built from ClapNQ (TestSupportLabelledSet, docs/benchmarks.md):
// a claim with a name swapped for another passed 98.5% of the time without it, 0.6% with it. An answer is Grounded when it has at least one valid citation and every claim
// is supported.
//
// DefaultMinSupport (0.7) was chosen on ClapNQ (TestSupportClapNQ; qa/clapnq in the
// evaluation data): the 467 sentences of the human answers to its 150 answerable questions,
// each checked against its gold passage (should be supported) and against the passage of
// another article that shares the most of its words (should not):
//
//	MinSupport  recall  false-positive rate  precision  F1
//	0.50        1.000   0.156                0.865      0.928
//	0.60        0.996   0.041                0.961      0.978
//	0.70        0.985   0.015                0.985      0.985  ← default
//	0.80        0.981   0.013                0.987      0.984
//	0.90        0.946   0.000                1.000      0.972
//
// Numbers are compared as digits ("1,280" matches "1280"; "three" does not match "3").
// The number check is what catches a changed figure: with one number changed, 4% of the
// sentences still pass (99% would without it). What the lexical test cannot see is one
// word swapped for another: 96% of sentences with one content word replaced still pass.
// Support means "the cited passage talks about these things", not "the passage entails the
// claim". ClapNQ's human answers copy their passage closely; paraphrasing models will score
// lower support than they do.
//
// # The Answerer
//
// Answerer.Answer applies these rules in order: no sources → refused ("no_evidence"),
// without a model call; a model failure matching ErrModelUnavailable is retried once after
// a backoff or the server's Retry-After (not when it asks for more than MaxRetryWait, nor
// past the deadline), and any failure left falls back to the extractive answer; a model
// answer without a valid citation is a refusal when it says that the sources lack the
// answer (the fixed NoEvidenceAnswer is shown, not the model's words), and is otherwise
// replaced by the extractive answer ("no_valid_citation"); unsupported claims are handled
// by Config.Policy (policy.go): dropped before anyone sees them (drop, the default; the
// answer falls back, "ungrounded", when no supported claim is left), dropped with a fallback
// when fewer than half of the claims are supported (fallback), or kept and flagged with
// Grounded false (mark). Under drop and fallback, streamed text passes a gate that sends a
// sentence only once it is complete and validated; an extractive answer that quotes nothing
// is a refusal.
//
// Extractive answers from one passage, in its order (issue 12, item 4): the numbered
// steps of a how-to (with the list's lead-in), the table row that holds the value with its
// column names, a definition's first sentence, else the best sentence with those of the
// same passage that match the question at least 0.6 as well, within 3 sentences and 70
// words, after the passage's opening sentence when the passage opens under no heading and
// that sentence holds a word of the question. Headings, questions standing alone (a FAQ's question once its "#" are gone),
// code and lines that do not end as sentences do are never quoted: a heading's words count
// for the sentences under it instead. docs/retrieval.md ("Extractive answers") has the
// rules and their measures.
//
// Extractive's DefaultMinCoverage (0.3) was chosen on ClapNQ too (TestExtractiveClapNQ),
// with eight sources per question, the question's passage among the seven others that share
// the most of its words (measured again with the answer from one passage):
//
//	MinCoverage  answerable: 1st sentence from gold  annotator-selected  refused  unanswerable: refused
//	0.20         82.0%                               58.7%                2.0%    16.0%
//	0.30         76.7%                               53.3%               10.0%    42.0%  ← default
//	0.40         76.0%                               52.7%               15.3%    64.7%
//	0.50         67.3%                               49.3%               27.3%    78.0%
//
// ("annotator-selected": the first quoted sentence is one the ClapNQ annotators picked for
// their answer.) Refusing unanswerable questions is mostly the evidence-strength threshold's
// job, upstream of the composer.
//
// Answerer.Rewrite makes a follow-up question standalone for retrieval: by the model when
// the primary generator implements QueryRewriter, else (and when the model fails) by
// RewriteByRule, which keeps the question's words and adds the conversation's last turns
// as weighted context for the lexical leg (docs/retrieval.md, "Follow-up rewriting").
//
// On 2 cores, the extractive answer and its validation over 8 sources of ~400 tokens take
// about 0.35 ms (BenchmarkExtractiveValidate) on an idle machine. The passage-first composer
// costs what the one before it did: 1.11 ms against 1.14 ms for the old code, run after it
// on the same busy cores (2026-12-07).
package answer

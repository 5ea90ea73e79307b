// Package embed turns texts into vectors for retrieval. Three embedders are provided:
//
//   - Builtin (kind "builtin", the default) hashes words, word pairs and character n-grams
//     into a vector. It needs no network and no model files, is deterministic and fast
//     (tens of microseconds per chunk), but it only measures lexical and sub-word overlap:
//     "deploying services" is near "deploy the service", "car" is not near "automobile".
//   - OpenAI (kind "openai") calls an OpenAI-compatible POST /embeddings endpoint: OpenAI
//     itself, or a local vLLM, llama.cpp server, LocalAI or Ollama's /v1. Neural models
//     match meaning, at the price of a server, its latency and, for OpenAI, money and
//     sending the documents away.
//   - Ollama (kind "ollama") calls Ollama's native /api/embed endpoint. langchaingo's client
//     sends one text per request, so it is slower per text than the OpenAI-compatible
//     endpoint of the same Ollama server.
//
// The remote embedders go through langchaingo's clients, over internal/modelapi's Client:
// every request has its own deadline, and 429, 5xx, network errors and timeouts are retried
// with capped exponential backoff and jitter, honouring Retry-After(-Ms). Inputs are
// sent in batches, several at once; every response is checked (one finite, non-zero vector of
// the expected dimension per input) because model output is untrusted.
//
// Vectors of different embedders, models or dimensions are not comparable: the index records
// Kind, Model and Dimension, and the same embedder must be used at index and query time.
package embed

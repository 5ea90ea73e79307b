package embed_test

import (
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
)

// The embedders satisfy the interfaces of the packages that consume them: ingest embeds
// chunks, retrieve embeds queries (and reindex hands one embedder to both).
var (
	_ ingest.Embedder   = (*embed.Builtin)(nil)
	_ ingest.Embedder   = (*embed.OpenAI)(nil)
	_ ingest.Embedder   = (*embed.Ollama)(nil)
	_ retrieve.Embedder = (*embed.Builtin)(nil)
	_ retrieve.Embedder = (*embed.OpenAI)(nil)
	_ retrieve.Embedder = (*embed.Ollama)(nil)
	_ retrieve.Embedder = embed.Embedder(nil) // what Open returns
	_ ingest.Embedder   = embed.Embedder(nil)
)

package rerank_test

import (
	"github.com/docent-rag/docent/internal/rerank"
	"github.com/docent-rag/docent/internal/retrieve"
)

// The rerankers satisfy the interface of the package that consumes them.
var (
	_ retrieve.Reranker = (*rerank.TEI)(nil)
	_ retrieve.Reranker = (*rerank.Cohere)(nil)
)

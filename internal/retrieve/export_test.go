package retrieve

import (
	"context"

	"github.com/docent-rag/docent/internal/index"
)

// TermStatistics is how a retriever looks up a query's lexemes and their BM25 statistics.
type TermStatistics = func(ctx context.Context, db index.DBTX, chunkingID int, text string, principals []string) ([]index.Term, index.Corpus, error)

// SetTermStatistics replaces r's lookup of BM25 statistics. Only the timing benchmark does,
// to run the corpus-wide lookup of earlier versions beside the caller's own in one process.
func SetTermStatistics(r *Retriever, f TermStatistics) { r.termStats = f }

package ask

import (
	"context"

	"github.com/docent-rag/docent/internal/retrieve"
)

// Search is a search for evidence, without an answer.
type Search struct {
	Query   string
	Limit   int      // results at most, 1..retrieve.MaxLimit
	Sources []string // restrict retrieval to these sources; empty for all
}

// Found is what a Search found: the ranked evidence the caller may see, best first.
type Found struct {
	Query string // normalised, and shortened when it was too long (Shortened)
	// Shortened says how a query too long to run whole was shortened to its most
	// informative words; nil otherwise.
	Shortened *retrieve.Shortening
	Evidence  []retrieve.Item
	Timings   Timings
}

// Search finds the evidence for q that caller may see, filling tr. The errors are Ask's
// retrieval errors (not the cache's: searches are not cached).
func (s *Service) Search(ctx context.Context, q Search, caller Caller, tr *Trace) (*Found, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	query, err := s.normalize(q.Query, tr)
	if err != nil {
		return nil, err
	}
	// The limit goes to retrieval, which assembles that many results: the evidence count and
	// token budget of an answer's prompt do not apply to a search.
	res, err := s.retrieve(ctx, s.retriever.Read(), query, retrieve.Request{Principals: caller.principals, Sources: q.Sources, Limit: q.Limit}, tr)
	if err != nil {
		return nil, err
	}
	tr.Outcome = "answered"
	return &Found{Query: res.Query.Text, Shortened: res.Shortened, Evidence: res.Evidence[:min(len(res.Evidence), q.Limit)],
		Timings: Timings{Retrieval: res.Timings, Total: tr.elapsed()}}, nil
}

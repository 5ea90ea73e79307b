package ask

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/retrieve"
)

// cached is what the answer cache keeps: the answer, and the chunks it was built from (for
// the traces of the requests it answers).
type cached struct {
	answer   Answer
	involved []int64
}

// cacheKey identifies an answer: everything it depends on. The caller's principal set is part
// of it, so an answer is never shared between callers who may see different documents; the
// corpus version changes with every change to the chunks, tag changes included.
//
// The cache is each server instance's own, and correct with any number of instances because
// the version is read from the database on every request (Retriever.Version), before
// retrieval, from the database retrieval then reads: an answer is only ever stored under a
// version no newer than the data it was built from, so once a change commits, no instance
// serves an answer cached before it (docs/operations.md, "Several server instances"). A
// retriever that reads from replicas must keep that order: the version from the replica the
// retrieval reads, never from a fresher server than the data.
func (s *Service) cacheKey(c Caller, v retrieve.Version, query retrieve.Query, q Question) string {
	h := sha256.New()
	sources := slices.Clone(q.Sources)
	slices.Sort(sources)
	fmt.Fprintf(h, "%x\x00%d\x00%d\x00%s\x00%s\x00%d\x00%q\x00", c.hash, v.Generation, v.Corpus,
		s.answerer.PromptVersion(), s.answerer.Model(), q.MaxSources, sources)
	for _, t := range q.History {
		fmt.Fprintf(h, "%s\x00%s\x00", t.Role, t.Content)
	}
	for _, p := range query.Phrases { // quotes are not in the text, but restrict retrieval
		fmt.Fprintf(h, "%s\x00", p)
	}
	for _, c := range query.Context { // the history is in the key already; its weights too
		fmt.Fprintf(h, "%g\x00%s\x00", c.Weight, c.Text)
	}
	h.Write([]byte(query.Text))
	return hex.EncodeToString(h.Sum(nil))
}

// fromCache returns the cached answer under key, if any, replayed to sink: the sources, then
// the whole text at once. The chunks the cached answer was built from are involved in this
// trace as well.
func (s *Service) fromCache(key string, tr *Trace, sink Sink) (*Answer, bool) {
	if s.cache == nil {
		return nil, false
	}
	hit, ok := s.cache.Get(key)
	s.metrics.Cache(ok)
	if !ok {
		return nil, false
	}
	a := hit.answer
	a.Cached, a.Timings, a.Usage = true, Timings{Total: tr.elapsed()}, answer.Usage{} // no model call
	tr.Outcome, tr.PromptVersion, tr.Model = a.outcome(), a.PromptVersion, a.Model
	tr.cacheHit = true
	tr.Involve(hit.involved...)
	tr.cite(a.Citations)
	if err := sink.Sources(a.Sources); err == nil && a.Text != "" && !a.Refused {
		sink.Delta(a.Text)
	}
	return &a, true
}

func (s *Service) cachePut(key string, a *Answer, tr *Trace) {
	if s.cache != nil {
		s.cache.Add(key, cached{answer: *a, involved: slices.Clone(tr.Involved)})
	}
}

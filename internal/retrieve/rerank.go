package retrieve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/docent-rag/docent/internal/index"
)

// rerankHits reorders the top RerankDepth of res.Ranked by the reranker's scores blended with
// the fused order, and leaves the rest after them. On any error res is left as it was.
func (r *Retriever) rerankHits(ctx context.Context, query string, res *Result, texts map[int64]index.Evidence) error {
	n := min(len(res.Ranked), r.cfg.RerankDepth)
	head := slices.Clone(res.Ranked[:n])
	passages := make([]string, 0, n)
	kept := head[:0]
	for _, h := range head {
		if e, ok := texts[h.ChunkID]; ok {
			passages = append(passages, passage(e))
			kept = append(kept, h)
		}
	}
	head = kept
	if len(head) < 2 {
		return nil
	}
	scores, err := r.rerank.Rerank(ctx, query, passages)
	if err != nil {
		return err
	}
	if len(scores) != len(head) {
		return fmt.Errorf("the reranker returned %d scores for %d passages", len(scores), len(head))
	}
	for _, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return errors.New("the reranker returned a score that is not a finite number")
		}
	}
	// Blend: normalised reranker score and normalised fused score.
	fusedHits := slices.Clone(head)
	fused := normalized(fusedHits)
	for i := range head {
		head[i].Score = scores[i]
	}
	rer := normalized(head)
	w := r.cfg.RerankFusedWeight
	if b, ok := r.rerank.(interface{ FusedWeight() float64 }); ok {
		w = b.FusedWeight()
	}
	for i := range head {
		head[i].Score = (1-w)*rer[head[i].ChunkID] + w*fused[head[i].ChunkID]
	}
	// Every score is finite here (checked above), so cmp.Compare orders them as > does.
	slices.SortStableFunc(head, func(a, b Hit) int { return cmp.Compare(b.Score, a.Score) })
	res.Ranked = append(head, res.Ranked[n:]...)
	return nil
}

// passage is what a reranker reads of a chunk: its title and heading path, then its text.
func passage(e index.Evidence) string {
	var b strings.Builder
	parts := append([]string{e.Title}, e.HeadingPath...)
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			if b.Len() > 0 {
				b.WriteString(" > ")
			}
			b.WriteString(p)
		}
	}
	if b.Len() > 0 {
		b.WriteString("\n\n")
	}
	b.WriteString(e.Text)
	return b.String()
}

// Builtin is the built-in reranker: no model, no network. It scores a passage by how it
// contains the query beyond the bag of words that BM25 sees: the share of query terms it
// contains, the query's word pairs it contains in order (phrases), how close together its
// matches are, and the query terms in its title and headings. Words are compared
// lower-cased, without stop words, and stemmed crudely (common English suffixes dropped).
//
// The default weights were chosen on SciFact's train split (docs/retrieval.md): there only
// the title and heading matches helped (pairs, proximity and coverage each lowered nDCG@10,
// BM25 already seeing most of what they see), blended with the fused order at 0.8. Even so
// it did not improve the test split (0.6967 against 0.6977 without it), so retrieval does
// not rerank by default.
type Builtin struct {
	// Weights of the features: coverage, pairs, proximity, title.
	Coverage, Pairs, Proximity, Title float64
	// Fused is the weight of the fused order blended back (see Config.RerankFusedWeight).
	Fused float64
}

// NewBuiltin returns the built-in reranker with its default weights.
func NewBuiltin() *Builtin {
	return &Builtin{Title: 1, Fused: 0.8}
}

// FusedWeight is how much of the fused order the retriever keeps after reranking.
func (b *Builtin) FusedWeight() float64 { return b.Fused }

var _ Reranker = (*Builtin)(nil)

// Rerank scores each passage against the query.
func (b *Builtin) Rerank(_ context.Context, query string, passages []string) ([]float64, error) {
	q := words(query)
	if len(q) == 0 {
		return make([]float64, len(passages)), nil
	}
	qset := map[string]bool{}
	for _, w := range q {
		qset[w] = true
	}
	pairs := map[[2]string]bool{}
	for i := 1; i < len(q); i++ {
		pairs[[2]string{q[i-1], q[i]}] = true
	}
	scores := make([]float64, len(passages))
	for i, p := range passages {
		title, body, ok := strings.Cut(p, "\n\n")
		if !ok {
			title, body = "", p
		}
		ws := words(body)
		found := map[string]bool{}
		var positions []int
		pairHits := map[[2]string]bool{}
		for j, w := range ws {
			if qset[w] {
				found[w] = true
				positions = append(positions, j)
			}
			if j > 0 && pairs[[2]string{ws[j-1], w}] {
				pairHits[[2]string{ws[j-1], w}] = true
			}
		}
		coverage := float64(len(found)) / float64(len(qset))
		var pairScore float64
		if len(pairs) > 0 {
			pairScore = float64(len(pairHits)) / float64(len(pairs))
		}
		inTitle := map[string]bool{}
		for _, w := range words(title) {
			if qset[w] {
				inTitle[w] = true
			}
		}
		scores[i] = b.Coverage*coverage + b.Pairs*pairScore + b.Proximity*proximity(positions, ws, found) +
			b.Title*float64(len(inTitle))/float64(len(qset))
	}
	return scores, nil
}

// proximity is 1 when the distinct matched terms appear next to each other, falling as the
// smallest window holding one occurrence of each grows.
func proximity(positions []int, ws []string, found map[string]bool) float64 {
	need := len(found)
	if need < 2 {
		return 0
	}
	count := map[string]int{}
	have, best, lo := 0, math.MaxInt, 0
	for hi := 0; hi < len(positions); hi++ {
		w := ws[positions[hi]]
		if count[w] == 0 {
			have++
		}
		count[w]++
		for have == need {
			best = min(best, positions[hi]-positions[lo]+1)
			lw := ws[positions[lo]]
			count[lw]--
			if count[lw] == 0 {
				have--
			}
			lo++
		}
	}
	if best == math.MaxInt {
		return 0
	}
	return float64(need) / float64(best)
}

// words splits text into lower-case, stemmed words without stop words.
func words(s string) []string {
	fields := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	out := fields[:0]
	for _, f := range fields {
		if stopWords[f] {
			continue
		}
		out = append(out, stem(f))
	}
	return out
}

// stem drops the commonest English inflections, enough for "deploys", "deployed" and
// "deploying" to meet; it is not a real stemmer.
func stem(w string) string {
	if len(w) <= 4 {
		return w
	}
	for _, suf := range []string{"ational", "ations", "ation", "ness", "ings", "ing", "ies", "ied", "ed", "es", "ly", "s"} {
		if strings.HasSuffix(w, suf) && len(w)-len(suf) >= 3 {
			return w[:len(w)-len(suf)]
		}
	}
	return w
}

var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be but by for from has have how i in into is it its
		of on or that the their there these this to was were what when where which who why will with
		does do did can could should would may might not no than then so such about`) {
		m[w] = true
	}
	return m
}()

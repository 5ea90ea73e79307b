package retrieve

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/index"
)

// evidence fetches the rows of the ranking's head: enough for reranking and for assembling
// items after the per-document cap and de-duplication have skipped some.
func (r *Retriever) evidence(ctx context.Context, ranked []Hit, items int, principals []string) (map[int64]index.Evidence, error) {
	n := min(len(ranked), max(r.cfg.RerankDepth, 4*items))
	if n == 0 {
		return map[int64]index.Evidence{}, nil
	}
	ids := make([]int64, n)
	for i := range n {
		ids[i] = ranked[i].ChunkID
	}
	rows, err := index.ChunkEvidence(ctx, r.db, ids, principals)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]index.Evidence, len(rows))
	for _, e := range rows {
		out[e.ChunkID] = e
	}
	return out, nil
}

// assemble turns the ranking into the evidence a generator reads and cites: in rank order, at
// most PerDocument items per document, near-duplicates (the same passage in two documents,
// or overlapping chunks) skipped, each item widened with its Neighbours adjacent chunks on
// each side, until items items or budget tokens (Evidence and ContextTokens for an answer's
// evidence). An item's neighbours are dropped before the item is; the first item always fits.
func (r *Retriever) assemble(ctx context.Context, chunking int, ranked []Hit, texts map[int64]index.Evidence, items, budget int, principals []string) ([]Item, error) {
	var picked []index.Evidence
	var pickedScores []float64
	perDoc := map[int64]int{}
	var shingles []map[string]bool
	for _, h := range ranked {
		if len(picked) == items {
			break
		}
		e, ok := texts[h.ChunkID]
		if !ok || perDoc[e.DocumentID] >= r.cfg.PerDocument {
			continue
		}
		sh := shingleSet(e.Text)
		if slices.ContainsFunc(shingles, func(s map[string]bool) bool { return jaccard(s, sh) >= 0.8 }) {
			continue
		}
		perDoc[e.DocumentID]++
		picked = append(picked, e)
		pickedScores = append(pickedScores, h.Score)
		shingles = append(shingles, sh)
	}
	if len(picked) == 0 {
		return nil, nil
	}

	// Neighbours of every picked chunk, in one query.
	neighbours := map[[2]int64]index.Evidence{}
	if r.cfg.Neighbours > 0 {
		taken := map[int64]bool{}
		for _, e := range picked {
			taken[e.ChunkID] = true
		}
		var docs []int64
		var ords []int32
		for _, e := range picked {
			for d := 1; d <= r.cfg.Neighbours; d++ {
				for _, o := range []int{e.Ordinal - d, e.Ordinal + d} {
					if o >= 0 {
						docs, ords = append(docs, e.DocumentID), append(ords, int32(o))
					}
				}
			}
		}
		rows, err := index.Neighbours(ctx, r.db, chunking, docs, ords, principals)
		if err != nil {
			return nil, err
		}
		for _, n := range rows {
			if !taken[n.ChunkID] {
				neighbours[[2]int64{n.DocumentID, int64(n.Ordinal)}] = n
			}
		}
	}

	var out []Item
	used := map[int64]bool{} // a neighbour is attached to one item only
	for i, e := range picked {
		parts := []index.Evidence{e}
		for d := 1; d <= r.cfg.Neighbours; d++ {
			if n, ok := neighbours[[2]int64{e.DocumentID, int64(e.Ordinal - d)}]; ok && !used[n.ChunkID] {
				parts = append([]index.Evidence{n}, parts...)
			}
			if n, ok := neighbours[[2]int64{e.DocumentID, int64(e.Ordinal + d)}]; ok && !used[n.ChunkID] {
				parts = append(parts, n)
			}
		}
		item := makeItem(e, parts, pickedScores[i])
		if item.Tokens > budget && len(out) > 0 {
			item = makeItem(e, []index.Evidence{e}, pickedScores[i]) // without neighbours
			if item.Tokens > budget {
				break
			}
		}
		for _, p := range parts {
			if slices.Contains(item.ChunkIDs, p.ChunkID) {
				used[p.ChunkID] = true
			}
		}
		budget -= item.Tokens
		out = append(out, item)
	}
	return out, nil
}

// makeItem joins the chunks of parts (adjacent, in document order, around main) into one
// passage, dropping the text that consecutive chunks share (their overlap) and the table
// header a chunk repeats when the passage already has the rows before it.
func makeItem(main index.Evidence, parts []index.Evidence, score float64) Item {
	it := Item{ChunkID: main.ChunkID, Title: main.Title, URI: main.URI, Source: main.Source, URL: main.URL,
		HeadingPath: main.HeadingPath, Score: score, PageUnit: main.PageUnit}
	var b strings.Builder
	end := -1
	var firstLoc, lastLoc string
	for _, p := range parts {
		// A chunk's text is its repeated table header (HeaderChars characters), then the
		// document's text at CharStart.
		header, text := "", p.Text
		if p.HeaderChars > 0 {
			if r := []rune(text); p.HeaderChars <= len(r) {
				header, text = string(r[:p.HeaderChars]), string(r[p.HeaderChars:])
			}
		}
		if end > p.CharStart {
			// Skip the characters already written (the overlap with the previous chunk).
			skip := end - p.CharStart
			r := []rune(text)
			if skip >= len(r) {
				continue
			}
			text = string(r[skip:])
		}
		if b.Len() == 0 {
			text = header + text // later, the passage has the rows before it
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(strings.TrimSpace(text))
		end = max(end, p.CharEnd)
		it.ChunkIDs = append(it.ChunkIDs, p.ChunkID)
		if p.PageStart != nil && (it.PageStart == 0 || *p.PageStart < it.PageStart) {
			it.PageStart = *p.PageStart
		}
		if p.PageEnd != nil && *p.PageEnd > it.PageEnd {
			it.PageEnd = *p.PageEnd
		}
		it.OCR = it.OCR || p.OCR
		if p.Locator != "" {
			firstLoc = cmp.Or(firstLoc, p.Locator)
			lastLoc = p.Locator
		}
	}
	it.Locator = chunk.MergeLocators(firstLoc, lastLoc)
	it.Text = b.String()
	it.Tokens = chunk.CountTokens(it.Text)
	return it
}

// shingleSet is the set of three-word shingles of a text, for near-duplicate detection.
func shingleSet(text string) map[string]bool {
	ws := strings.Fields(strings.ToLower(text))
	out := make(map[string]bool, len(ws))
	for i := 0; i+3 <= len(ws); i++ {
		out[ws[i]+" "+ws[i+1]+" "+ws[i+2]] = true
	}
	if len(ws) < 3 {
		out[strings.Join(ws, " ")] = true
	}
	return out
}

func jaccard(a, b map[string]bool) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	inter := 0
	for k := range a {
		if b[k] {
			inter++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

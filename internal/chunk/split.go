package chunk

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Split cuts doc into chunks. It never fails: blocks that lie outside the text, overlap or
// come out of order are clamped, reordered or dropped, and a document without blocks is
// taken as one paragraph.
//
// It works in two passes. The first turns the blocks into segments, pieces that are never
// cut: a block that fits in MaxTokens is one segment; a longer one is cut into sentences
// (code and tables into lines), an over-long sentence into lines, then into runs of words,
// and an unbroken run of characters, as a last resort, anywhere between two characters.
// Each segment knows the strength of the boundary before it (section, block, paragraph,
// sentence, line, word, character).
//
// The second pass packs segments into chunks, section by section (a section is a heading
// and what follows it up to the next heading):
//   - a section that fits in MaxTokens stays whole in one chunk, and following whole
//     sections join it while the chunk stays within TargetTokens;
//   - a chunk that would be smaller than MinTokens (a lone title, a short preamble) is never
//     left alone: it takes the next section, whole if the result fits in MaxTokens, or the
//     start of it otherwise; a heading with no text before its first subheading always goes
//     with what follows it, so no chunk ends with a heading;
//   - a longer section is cut into chunks of about equal size, as many as make that size
//     closest to TargetTokens, each cut at the strongest boundary between half and 5/4 of
//     that size, the closest to it among equals;
//   - a chunk that continues a section begins with up to OverlapTokens of the previous
//     chunk's last whole sentences (lines, for code and tables), and the last chunk of a
//     section, if smaller than MinTokens, is merged back into the one before it when the
//     result fits in MaxTokens.
//
// Token counts are planned with upper bounds (sums of the segments' counts plus an
// allowance for each place where two pieces join without whitespace), so every chunk's
// CountTokens is at most MaxTokens.
func (c *Chunker) Split(doc Document) []Chunk {
	sp := splitter{cfg: c.cfg, text: doc.Text, pieceBudget: max(1, c.cfg.TargetTokens/8)}
	blocks := blocksOf(doc, c.cfg.MaxTokens)
	sp.blocks = blocks
	sp.segs = make([]seg, 0, len(blocks)+len(blocks)/4)
	sp.drafts = make([]draft, 0, len(doc.Text)/(4*c.cfg.TargetTokens)+1)
	for i := range blocks {
		sp.addBlock(i)
	}
	if len(sp.segs) == 0 {
		return nil
	}
	sp.pre = make([]int, len(sp.segs)+1)
	for i, s := range sp.segs {
		sp.pre[i+1] = sp.pre[i] + s.gap + s.tokens
	}
	for i := range sp.secs {
		if i+1 < len(sp.secs) {
			sp.secs[i].end = sp.secs[i+1].first
		} else {
			sp.secs[i].end = len(sp.segs)
		}
	}
	sp.pack()
	return sp.chunks()
}

// span is a block after clean-up: within the text, trimmed, not empty, in order.
type span struct {
	kind       Kind
	level      int
	start, end int
	page       int
	// For a table whose header rows are repeated: where they end (Text[start:hdrEnd] is the
	// header) and the tokens repeating them costs (the header and its line break). 0: none.
	hdrEnd, hdrCost int
	locator         string
	ocr             bool
}

// needsHeader reports whether a chunk starting at byte start of the block carries its rows
// without its header rows.
func (b *span) needsHeader(start int) bool { return b.hdrEnd > 0 && start >= b.hdrEnd }

// maxHeaderShare: header rows that cost more than this share of MaxTokens are not repeated
// (a "header" that large is not one; repeating it would leave little room for the rows).
const maxHeaderShare = 2

// blocksOf returns doc's blocks cleaned up. Offsets are clamped to the text and widened to
// whole characters; a block that starts before the previous one ends starts where it ends;
// unknown kinds are paragraphs. Without any usable block, the whole text is one paragraph.
// A table's header rows are kept for repetition when there are rows after them and they
// cost at most MaxTokens/maxHeaderShare.
func blocksOf(doc Document, maxTokens int) []span {
	text, blocks := doc.Text, doc.Blocks
	byStart := func(a, b Block) int { return cmp.Compare(a.Start, b.Start) }
	if !slices.IsSortedFunc(blocks, byStart) {
		blocks = slices.Clone(blocks)
		slices.SortStableFunc(blocks, byStart)
	}
	out := make([]span, 0, len(blocks))
	prevEnd := 0
	for _, b := range blocks {
		start := alignBack(text, min(max(b.Start, 0), len(text)))
		end := alignForward(text, min(max(b.End, 0), len(text)))
		start = max(start, prevEnd)
		if start >= end {
			continue
		}
		start, end = trimSpace(text, start, end)
		if start >= end {
			continue
		}
		s := span{kind: b.Kind, start: start, end: end, page: max(b.Page, 0), locator: b.Locator, ocr: b.OCR}
		switch b.Kind {
		case Heading:
			s.level = min(max(b.Level, 1), 6)
		case Table:
			if b.HeaderRows > 0 {
				s.hdrEnd, s.hdrCost = headerRows(text, start, end, b.HeaderRows, maxTokens)
			}
		case Paragraph, ListItem, Code:
		default:
			s.kind = Paragraph
		}
		out = append(out, s)
		prevEnd = end
	}
	if len(out) == 0 {
		if start, end := trimSpace(text, 0, len(text)); start < end {
			out = append(out, span{kind: Paragraph, start: start, end: end})
		}
	}
	return out
}

// headerRows returns where the first n lines of the table Text[start:end] end (trimmed) and
// what repeating them costs in tokens, or 0, 0 when they are the whole table or cost more
// than maxTokens/maxHeaderShare.
func headerRows(text string, start, end, n, maxTokens int) (hdrEnd, cost int) {
	at := start
	for range n {
		nl := strings.IndexByte(text[at:end], '\n')
		if nl < 0 {
			return 0, 0 // no rows after the header
		}
		at += nl + 1
	}
	_, hdrEnd = trimSpace(text, start, at)
	if s, _ := trimSpace(text, at, end); s >= end || hdrEnd <= start {
		return 0, 0
	}
	// Joined by a line break: counts add up across whitespace; one more for safety.
	cost = CountTokens(text[start:hdrEnd]) + CountTokens("\n") + 1
	if cost > maxTokens/maxHeaderShare {
		return 0, 0
	}
	return hdrEnd, cost
}

// seg is a piece of text that is never cut: Text[start:end], trimmed, not empty.
type seg struct {
	start, end int
	tokens     int  // CountTokens of the text; at most MaxTokens
	gap        int  // upper bound on the tokens that joining it to the previous segment adds
	sticky     bool // gap is only a bound: no whitespace on one side of the join
	strength   strength
	kind       Kind
	page       int
	section    int // index into splitter.secs
	block      int // index into splitter.blocks
}

func (s *seg) heading() bool { return s.kind == Heading }

// section is a heading and the segments up to the next heading (or the text before the
// first heading).
type section struct {
	first, end int      // segments
	path       []string // HeadingPath of chunks that start in it
}

// draft is a chunk being made.
type draft struct {
	start, end  int // bytes
	first, last int // segments: the one holding start, and the last
	ub          int // upper bound on its tokens
}

// state is the open chunk while packing.
type state struct {
	start   int  // byte where the chunk starts: in segment first, before content when overlapping
	first   int  // segment holding start
	content int  // first segment after the overlap
	last    int  // last segment in the chunk; content-1 when none yet, -1 when no chunk is open
	base    int  // tokens of the overlap, or minus the content's gap without overlap
	cont    bool // it continues a section that an earlier chunk started
}

type splitter struct {
	cfg         Config
	text        string
	pieceBudget int // size of the pieces an unbroken sentence or line is cut into

	blocks []span
	segs   []seg
	pre    []int // pre[i]: sum of gap+tokens of segs[:i]
	secs   []section
	stack  []heading // enclosing headings while reading blocks
	drafts []draft

	// scratch
	units, lines []unit
	cands        []overlap
}

type heading struct {
	level int
	text  string
}

type overlap struct {
	start, tokens, seg int
}

// addBlock appends the segments of block bi.
func (sp *splitter) addBlock(bi int) {
	b := &sp.blocks[bi]
	str := atBlock
	if b.kind == Heading {
		str = atSection
		for len(sp.stack) > 0 && sp.stack[len(sp.stack)-1].level >= b.level {
			sp.stack = sp.stack[:len(sp.stack)-1]
		}
		sp.stack = append(sp.stack, heading{b.level, sp.text[b.start:b.end]})
		path := make([]string, len(sp.stack))
		for i, h := range sp.stack {
			path[i] = h.text
		}
		sp.secs = append(sp.secs, section{first: len(sp.segs), path: path})
	} else if len(sp.secs) == 0 {
		sp.secs = append(sp.secs, section{first: len(sp.segs), path: []string{}})
	}
	t := CountTokens(sp.text[b.start:b.end])
	if t <= sp.cfg.MaxTokens {
		sp.addSeg(bi, b.start, b.end, t, str)
		return
	}
	prose := b.kind != Code && b.kind != Table
	var units []unit
	if prose {
		units = appendSentences(sp.units[:0], sp.text, b.start, b.end, str)
	} else {
		units = appendLines(sp.units[:0], sp.text, b.start, b.end, str)
	}
	for _, u := range units {
		sp.addUnit(bi, u, prose)
	}
	sp.units = units[:0]
}

// addUnit appends u as one segment if it fits, else cut into lines (if lines is set) or
// pieces of about pieceBudget tokens. A table's rows after its header must fit beside the
// header a chunk starting with them repeats.
func (sp *splitter) addUnit(bi int, u unit, lines bool) {
	b := &sp.blocks[bi]
	t := CountTokens(sp.text[u.start:u.end])
	limit := sp.cfg.MaxTokens
	if b.needsHeader(u.start) {
		limit -= b.hdrCost
	}
	if t <= limit {
		sp.addSeg(bi, u.start, u.end, t, u.strength)
		return
	}
	if lines {
		ls := appendLines(sp.lines[:0], sp.text, u.start, u.end, u.strength)
		if len(ls) > 1 {
			for _, l := range ls {
				sp.addUnit(bi, l, false)
			}
			sp.lines = ls[:0]
			return
		}
	}
	str := u.strength
	for i := u.start; i < u.end; {
		n, word := cutTokens(sp.text[i:u.end], sp.pieceBudget)
		if s, e := trimSpace(sp.text, i, i+n); s < e {
			sp.addSeg(bi, s, e, CountTokens(sp.text[s:e]), str)
		}
		str = atRune
		if word {
			str = atWord
		}
		i = skipSpace(sp.text, i+n, u.end)
	}
}

func (sp *splitter) addSeg(bi, start, end, tokens int, str strength) {
	b := &sp.blocks[bi]
	gap, sticky := 0, false
	if len(sp.segs) > 0 {
		gap, sticky = joinCost(sp.text, sp.segs[len(sp.segs)-1].end, start)
	}
	sp.segs = append(sp.segs, seg{
		start: start, end: end, tokens: tokens, gap: gap, sticky: sticky, strength: str,
		kind: b.kind, page: b.page, section: len(sp.secs) - 1, block: bi,
	})
}

// joinCost bounds what joining Text[:from] (ending in a non-space) to Text[to:] (starting
// with one) adds to their token counts: the count of the text between them, plus one for
// each side where no whitespace separates them (sticky), since a word (or digit or CJK) run
// that continues across the join can cost one token more than its two halves. Where
// whitespace separates them, counts add up exactly.
func joinCost(text string, from, to int) (cost int, sticky bool) {
	if from >= to {
		return 1, true
	}
	cost = CountTokens(text[from:to])
	if sp, _ := isSpaceAt(text, from); !sp {
		cost++
		sticky = true
	}
	if sp, _ := isSpaceAt(text, alignBack(text, to-1)); !sp {
		cost++
		sticky = true
	}
	return cost, sticky
}

// tokens returns the upper bound on the tokens of the open chunk if it ended with segment m.
func (sp *splitter) tokens(st *state, m int) int {
	return st.base + sp.pre[m+1] - sp.pre[st.content]
}

// contentTokens is tokens without the overlap.
func (sp *splitter) contentTokens(st *state, m int) int {
	return sp.pre[m+1] - sp.pre[st.content] - sp.segs[st.content].gap
}

func (sp *splitter) pack() {
	cfg := sp.cfg
	st := state{last: -1}
	for si := 0; si < len(sp.secs); si++ {
		// A section that is only its heading (a chapter title followed by its first
		// subsection) goes with the section after it: a chunk never ends with a heading.
		a := sp.secs[si].first
		for si+1 < len(sp.secs) && sp.headingsOnly(sp.secs[si]) {
			si++
		}
		b := sp.secs[si].end
		size := sp.pre[b] - sp.pre[a] - sp.segs[a].gap
		if st.last >= 0 {
			total := sp.tokens(&st, b-1)
			small := sp.contentTokens(&st, st.last) < cfg.MinTokens || sp.segs[st.last].heading()
			if total <= cfg.TargetTokens || (small || size < cfg.MinTokens) && total <= cfg.MaxTokens {
				st.last = b - 1 // the whole section joins the open chunk
				continue
			}
			switch {
			case !small:
				sp.emit(&st, st.last+1)
			case st.cont && sp.merge(&st, st.last+1):
				// A small tail of the section before went back into its previous chunk.
			}
			// Otherwise the small open chunk leads into this section.
		}
		if st.last < 0 && size <= cfg.MaxTokens {
			st = state{start: sp.segs[a].start, first: a, content: a, last: b - 1, base: -sp.segs[a].gap}
			continue
		}
		sp.splitSection(&st, a, b)
	}
	if st.last >= 0 {
		sp.emit(&st, st.last+1)
	}
}

func (sp *splitter) headingsOnly(sec section) bool {
	for _, s := range sp.segs[sec.first:sec.end] {
		if !s.heading() {
			return false
		}
	}
	return true
}

// splitSection packs segments a..b-1 (a section too long for one chunk, with any
// subsections that it holds no text before) into chunks. An open chunk (a small one from
// before the section) is filled first. The last chunk is left open, so that following
// sections can join it.
func (sp *splitter) splitSection(st *state, a, b int) {
	cfg := sp.cfg
	for i := a; i < b; {
		if st.last < 0 {
			sp.open(st, i, a)
		}
		// Tokens of the chunk so far plus the rest of the section, to share out evenly.
		rest := sp.tokens(st, b-1)
		aim := sp.aim(rest)
		limit := min(aim+aim/4, cfg.MaxTokens) // a stronger or closer boundary may be past the aim
		j := i
		for ; j < b; j++ {
			t := sp.tokens(st, j)
			if t > cfg.MaxTokens {
				break
			}
			if st.last >= st.content && t > limit && sp.contentTokens(st, st.last) >= cfg.MinTokens {
				break
			}
			st.last = j
		}
		if j == b {
			return
		}
		k := sp.cut(st, max(st.content+1, a), j, aim)
		sp.emit(st, k)
		i = k
	}
}

// open starts a chunk at segment i of the section that starts at segment a. A chunk that
// continues the section begins with the longest overlap that leaves room for segment i. A
// chunk that starts among a table's rows after its header counts the header it repeats.
func (sp *splitter) open(st *state, i, a int) {
	s := &sp.segs[i]
	*st = state{start: s.start, first: i, content: i, last: i - 1, base: -s.gap + sp.headerCost(i, s.start), cont: i > a && !s.heading()}
	if i == a || s.heading() || len(sp.drafts) == 0 {
		return
	}
	cands := sp.overlaps(sp.drafts[len(sp.drafts)-1], i)
	for c := len(cands) - 1; c >= 0; c-- {
		base := cands[c].tokens + sp.headerCost(cands[c].seg, cands[c].start)
		if base+s.gap+s.tokens <= sp.cfg.MaxTokens {
			st.start, st.first, st.base = cands[c].start, cands[c].seg, base
			return
		}
	}
}

// headerCost is the tokens of the table header that a chunk starting at byte start of
// segment m repeats: 0 unless it starts among a table's rows after its header.
func (sp *splitter) headerCost(m, start int) int {
	if b := &sp.blocks[sp.segs[m].block]; b.needsHeader(start) {
		return b.hdrCost
	}
	return 0
}

// overlaps lists where a chunk that follows prev (and starts at segment i) may begin: the
// starts of prev's last sentences (lines in code and tables), after prev's own start and
// after its last heading, within OverlapTokens of its end. Fewest tokens first.
func (sp *splitter) overlaps(prev draft, i int) []overlap {
	cands := sp.cands[:0]
	acc := 0 // tokens from the unit being looked at to prev's end
	for m := i - 1; m >= prev.first; m-- {
		s := &sp.segs[m]
		if s.heading() {
			break
		}
		if m < i-1 {
			acc += sp.segs[m+1].gap
		}
		var units []unit
		need := atSentence
		if s.kind == Code || s.kind == Table {
			units = appendLines(sp.units[:0], sp.text, s.start, s.end, s.strength)
			need = atLine
		} else {
			units = appendSentences(sp.units[:0], sp.text, s.start, s.end, s.strength)
		}
		sp.units = units[:0]
		for u := len(units) - 1; u >= 0; u-- {
			acc += CountTokens(sp.text[units[u].start:units[u].end])
			if acc > sp.cfg.OverlapTokens || units[u].start <= prev.start {
				sp.cands = cands[:0]
				return cands
			}
			if units[u].strength >= need {
				cands = append(cands, overlap{start: units[u].start, tokens: acc, seg: m})
			}
		}
	}
	sp.cands = cands[:0]
	return cands
}

// aim returns the size to aim at for the next chunk, given the tokens left in the section
// (counting the open chunk): an equal share over the number of chunks whose size comes
// closest to TargetTokens without exceeding MaxTokens, counting the overlap that each chunk
// after the first repeats.
func (sp *splitter) aim(rest int) int {
	t, o := sp.cfg.TargetTokens, sp.cfg.OverlapTokens
	if rest <= t {
		return t
	}
	n := (rest - o + t - o - 1) / (t - o) // the fewest chunks within the target
	size := (rest + (n-1)*o + n - 1) / n
	if n > 1 {
		// One chunk fewer is larger than the target: better if closer to it.
		if fewer := (rest + (n-2)*o + n - 2) / (n - 1); fewer <= sp.cfg.MaxTokens && fewer-t < t-size {
			return fewer
		}
	}
	return size
}

// cut chooses where the open chunk, filled up to segment j-1, ends: before segment k for k
// in [lo, j], at the strongest boundary among those that keep the chunk at least half the
// aim (and MinTokens), the one closest to the aim among equals, and not right after a
// heading.
func (sp *splitter) cut(st *state, lo, j, aim int) int {
	floor := max(aim/2, min(sp.cfg.MinTokens, aim))
	best, bestDist := -1, 0
	for k := j; k >= lo; k-- {
		t := sp.tokens(st, k-1)
		if t < floor {
			break
		}
		if sp.segs[k-1].heading() {
			continue
		}
		dist := max(t-aim, aim-t)
		if best < 0 || sp.segs[k].strength > sp.segs[best].strength ||
			sp.segs[k].strength == sp.segs[best].strength && dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best < 0 {
		return j
	}
	return best
}

// emit closes the open chunk after segment k-1. A chunk that continues a section and holds
// less than MinTokens of its own is merged into the chunk before it if the result fits.
func (sp *splitter) emit(st *state, k int) {
	if st.cont && sp.contentTokens(st, k-1) < sp.cfg.MinTokens && sp.merge(st, k) {
		return
	}
	sp.drafts = append(sp.drafts, draft{start: st.start, end: sp.segs[k-1].end, first: st.first, last: k - 1, ub: sp.tokens(st, k-1)})
	st.last = -1
}

// merge appends the open chunk's content up to segment k-1 to the previous chunk (which
// ends right before it) and closes it, if the result fits in MaxTokens.
func (sp *splitter) merge(st *state, k int) bool {
	if len(sp.drafts) == 0 {
		return false
	}
	prev := &sp.drafts[len(sp.drafts)-1]
	merged := prev.ub + sp.pre[k] - sp.pre[st.content]
	if merged > sp.cfg.MaxTokens {
		return false
	}
	prev.end, prev.last, prev.ub = sp.segs[k-1].end, k-1, merged
	st.last = -1
	return true
}

// chunks turns the drafts into Chunks.
func (sp *splitter) chunks() []Chunk {
	out := make([]Chunk, len(sp.drafts))
	// Starts and ends only grow, and a start is at most an overlap before the previous end:
	// one cursor counts characters in about one pass over the text.
	var at, chars int
	for i, d := range sp.drafts {
		var startChars int
		if d.start >= at {
			chars += utf8.RuneCountInString(sp.text[at:d.start])
			at = d.start
			startChars = chars
		} else {
			startChars = chars - utf8.RuneCountInString(sp.text[d.start:at])
		}
		chars += utf8.RuneCountInString(sp.text[at:d.end])
		at = d.end
		endChars := chars
		pageStart, pageEnd := 0, 0
		exact := true // the planned count is the count: all joins are at whitespace
		ocr := false
		firstLoc, lastLoc, prevBlock := "", "", -1
		for m, s := range sp.segs[d.first : d.last+1] {
			if s.page > 0 {
				if pageStart == 0 || s.page < pageStart {
					pageStart = s.page
				}
				pageEnd = max(pageEnd, s.page)
			}
			exact = exact && (m == 0 || !s.sticky)
			if s.block != prevBlock {
				prevBlock = s.block
				b := &sp.blocks[s.block]
				ocr = ocr || b.ocr
				if b.locator != "" {
					if firstLoc == "" {
						firstLoc = b.locator
					}
					lastLoc = b.locator
				}
			}
		}
		text := sp.text[d.start:d.end]
		header := ""
		if b := &sp.blocks[sp.segs[d.first].block]; b.needsHeader(d.start) {
			header = sp.text[b.start:b.hdrEnd]
			exact = false
		}
		tokens := d.ub
		if !exact {
			tokens = CountTokens(text)
			if header != "" {
				tokens = CountTokens(header + "\n" + text)
			}
		}
		out[i] = Chunk{
			Header:      header,
			Locator:     MergeLocators(firstLoc, lastLoc),
			OCR:         ocr,
			Ordinal:     i,
			Text:        text,
			Start:       d.start,
			End:         d.end,
			CharStart:   startChars,
			CharEnd:     endChars,
			HeadingPath: sp.secs[sp.segs[d.first].section].path,
			PageStart:   pageStart,
			PageEnd:     pageEnd,
			Tokens:      tokens,
		}
	}
	return out
}

package pdf

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// Layout: pure functions from a file's lines to paragraphs and a title.

// layout turns the lines of parsed pages into a Document.
func layout(res result) Document {
	pages := res.Pages
	removeRunningLines(pages)

	doc := Document{
		Pages:     make([][]string, len(pages)),
		Info:      res.Info,
		Created:   date(res.Info.CreationDate),
		Encrypted: res.Encrypted,
		Path:      res.Path,
		Truncated: res.Truncated,
	}
	for i, p := range pages {
		if p.Err != "" {
			doc.PageErrors++
		}
		for _, para := range paragraphs(readingOrder(p.Lines)) {
			if text := textnorm.Collapse(para); text != "" {
				doc.Pages[i] = append(doc.Pages[i], text)
			}
		}
	}
	doc.Title = title(res.Info.Title, pages)
	return doc
}

// paragraphs groups a page's lines into paragraphs, each returned as its lines joined
// by newlines (textnorm.Collapse then joins them, mending words hyphenated at line ends). A new
// paragraph starts where the text changes direction or size, jumps up (a new column) or
// down by more than the leading, or where a short line is followed by an indented one.
func paragraphs(lines []line) []string {
	var out []string
	var cur []line
	flush := func() {
		if len(cur) == 0 {
			return
		}
		texts := make([]string, len(cur))
		for i, l := range cur {
			texts[i] = l.Text
		}
		out = append(out, strings.Join(texts, "\n"))
		cur = cur[:0]
	}
	maxX1 := 0.0 // the right end of the current paragraph's widest line
	for _, l := range lines {
		if len(cur) > 0 && newParagraph(cur, maxX1, l) {
			flush()
		}
		if len(cur) == 0 || l.X1 > maxX1 {
			maxX1 = l.X1
		}
		cur = append(cur, l)
	}
	flush()
	return out
}

// readingOrder returns a page's lines in reading order. Most producers draw text in
// reading order, column after column, and the drawing order is kept. Some draw a
// multi-column page row by row across the columns; when the lines fall into text columns
// separated by gutters and the drawing order keeps jumping between columns along a row,
// the page is read column by column instead, band by band between lines that span several
// columns (headings, full-width notes). Tables, whose cells are short, keep their row order.
func readingOrder(lines []line) []line {
	if len(lines) < 8 {
		return lines
	}
	cols, spans := columns(lines)
	if len(cols) < 2 {
		return lines
	}
	colOf := func(l line) int {
		if l.Dir != 0 || spans(l) {
			return -1
		}
		mid := (l.X + l.X1) / 2
		for i, c := range cols {
			if mid < c[1] {
				return i
			}
		}
		return len(cols) - 1
	}
	// Row-major drawing: consecutive lines in different columns on the same baseline.
	jumps, steps := 0, 0
	for i := 1; i < len(lines); i++ {
		a, b := lines[i-1], lines[i]
		ca, cb := colOf(a), colOf(b)
		if ca < 0 || cb < 0 {
			continue
		}
		steps++
		if ca != cb && math.Abs(a.Y-b.Y) < 0.5*math.Max(a.Size, b.Size) {
			jumps++
		}
	}
	if steps == 0 || jumps*5 < steps {
		return lines
	}
	// Bands between spanning lines, top to bottom; in each band, column by column.
	type item struct {
		l   line
		col int
	}
	items := make([]item, len(lines))
	for i, l := range lines {
		items[i] = item{l, colOf(l)}
	}
	slices.SortStableFunc(items, func(a, b item) int { return cmp.Compare(b.l.Y, a.l.Y) })
	out := make([]line, 0, len(lines))
	var band []item
	flushBand := func() {
		slices.SortStableFunc(band, func(a, b item) int { return cmp.Compare(a.col, b.col) })
		for _, it := range band {
			out = append(out, it.l)
		}
		band = band[:0]
	}
	for _, it := range items {
		if it.col < 0 {
			flushBand()
			out = append(out, it.l)
			continue
		}
		band = append(band, it)
	}
	flushBand()
	return out
}

// columns finds the text columns of a page: the x ranges between gutters, a gutter being
// a strip at least one font size wide that hardly any narrow line crosses (a few may: the
// bits of a running header). Each column must be at least 12 font sizes wide and hold
// mostly lines that fill most of its width, as lines of running text do and table cells do
// not. spans reports whether a line crosses a gutter. It returns no columns when the page
// does not have at least two.
func columns(lines []line) (cols [][2]float64, spans func(line) bool) {
	left, right := math.Inf(1), math.Inf(-1)
	var sizes []float64
	for _, l := range lines {
		if l.Dir == 0 {
			left, right = math.Min(left, l.X), math.Max(right, l.X1)
			sizes = append(sizes, l.Size)
		}
	}
	if len(sizes) < 8 || right <= left {
		return nil, nil
	}
	slices.Sort(sizes)
	em := math.Max(sizes[len(sizes)/2], 1)
	width := right - left

	// Coverage of the x axis by narrow lines (not headings across the page, not specks).
	type event struct {
		x     float64
		delta int
	}
	var events []event
	narrow := 0
	for _, l := range lines {
		if l.Dir == 0 && l.X1-l.X <= 0.6*width && utf8.RuneCountInString(l.Text) >= 3 {
			events = append(events, event{l.X, 1}, event{l.X1, -1})
			narrow++
		}
	}
	slices.SortFunc(events, func(a, b event) int {
		return cmp.Or(cmp.Compare(a.x, b.x), cmp.Compare(a.delta, b.delta))
	})
	allowed := max(2, narrow/20)
	var gutters [][2]float64
	cover, gapStart := 0, math.NaN()
	for _, e := range events {
		was := cover
		cover += e.delta
		switch {
		case was > allowed && cover <= allowed:
			gapStart = e.x
		case was <= allowed && cover > allowed && !math.IsNaN(gapStart):
			if e.x-gapStart >= em && gapStart > left && e.x < right {
				gutters = append(gutters, [2]float64{gapStart, e.x})
			}
			gapStart = math.NaN()
		}
	}
	if len(gutters) == 0 || len(gutters) > 12 {
		return nil, nil // no columns, or a layout no text uses
	}
	edges := []float64{left}
	for _, g := range gutters {
		edges = append(edges, g[0], g[1])
	}
	edges = append(edges, right)
	for i := 0; i < len(edges); i += 2 {
		cols = append(cols, [2]float64{edges[i], edges[i+1]})
	}
	spans = func(l line) bool {
		for _, g := range gutters {
			if l.X < g[0] && l.X1 > g[1] {
				return true
			}
		}
		return false
	}
	// Every column must hold running text.
	for _, c := range cols {
		if c[1]-c[0] < 12*em {
			return nil, nil
		}
		var fill []float64
		for _, l := range lines {
			if l.Dir == 0 && !spans(l) && l.X >= c[0]-em && l.X1 <= c[1]+em {
				fill = append(fill, (l.X1-l.X)/(c[1]-c[0]))
			}
		}
		if len(fill) < 3 {
			return nil, nil
		}
		slices.Sort(fill)
		if fill[len(fill)/2] < 0.6 {
			return nil, nil
		}
	}
	return cols, spans
}

// newParagraph reports whether line l starts a new paragraph after the lines of para,
// whose widest line ends at maxX1.
func newParagraph(para []line, maxX1 float64, l line) bool {
	prev := para[len(para)-1]
	s := math.Max(math.Max(prev.Size, l.Size), 1)
	if prev.Dir != l.Dir || math.Abs(prev.Size-l.Size) > 0.15*s {
		return true
	}
	gap := prev.Y - l.Y // positive: l is below prev
	if math.Abs(gap) < 0.3*s {
		// The same baseline: a continuation of the line (drawn in pieces) when it starts
		// after prev, otherwise something else (a table cell, a second column's line).
		return l.X < prev.X1-s
	}
	if gap < 0 {
		// Moved up: a new column or a float. A sentence running on into the next column
		// (it did not end, and the column starts in lower case) stays one paragraph.
		return !runsOn(prev.Text, l.Text)
	}
	lead := 1.45 * s // no leading known yet: more than about 1.5 lines is a gap
	if len(para) >= 2 {
		if g := para[len(para)-2].Y - prev.Y; g > 0.3*s {
			lead = 1.3 * g
		}
	}
	if gap > lead+0.1*s {
		return true
	}
	if len(para) >= 2 {
		short := prev.X1 < maxX1-2*s
		indented := l.X > prev.X+0.8*s && l.X < prev.X+8*s
		endsSentence := strings.ContainsAny(lastRune(prev.Text), ".:!?\"”。")
		if short && (indented || endsSentence) {
			return true
		}
	}
	return false
}

// runsOn reports whether text b looks like the continuation of a sentence that a ends
// without finishing: a ends in a letter, a comma or a hyphen, and b starts in lower case.
func runsOn(a, b string) bool {
	last, _ := utf8.DecodeLastRuneInString(a)
	first, _ := utf8.DecodeRuneInString(b)
	return unicode.IsLower(first) && (unicode.IsLetter(last) || last == ',' || last == '-')
}

func lastRune(s string) string {
	r, _ := utf8.DecodeLastRuneInString(s)
	return string(r)
}

// removeRunningLines removes running headers and footers: the top or bottom row of a
// page (its lines on the topmost or bottommost baseline) whose text, ignoring digits, is
// the top or bottom row of at least half the pages with text (and of three or more); and,
// as a book's chapter headers vary, the top or bottom row that starts or ends with the page
// number, recognised by its constant offset from the page's position in the file. Two
// passes catch two-line headers.
func removeRunningLines(pages []page) {
	textPages := 0
	for _, p := range pages {
		if len(p.Lines) > 0 {
			textPages++
		}
	}
	if textPages < 3 {
		return
	}
	need := max(3, (textPages+1)/2)
	for range 2 {
		for _, top := range []bool{true, false} {
			rows := make([][]int, len(pages))
			keys := make([]string, len(pages))
			offsets := make([]int, len(pages))
			hasNum := make([]bool, len(pages))
			count := map[string]int{}
			offCount := map[int]int{}
			for i, p := range pages {
				rows[i] = edgeRow(p.Lines, top)
				if rows[i] == nil {
					continue
				}
				texts := make([]string, len(rows[i]))
				for j, k := range rows[i] {
					texts[j] = p.Lines[k].Text
				}
				text := strings.Join(texts, " ")
				if keys[i] = runningKey(text); keys[i] != "" {
					count[keys[i]]++
				}
				if n, ok := edgeNumber(text); ok {
					offsets[i], hasNum[i] = i+1-n, true
					offCount[offsets[i]]++
				}
			}
			bestOff, bestN := 0, 0
			for off, n := range offCount {
				if n > bestN || n == bestN && off < bestOff {
					bestOff, bestN = off, n
				}
			}
			numbered := bestN >= max(3, textPages*3/10)
			for i := range pages {
				if rows[i] == nil {
					continue
				}
				if keys[i] != "" && count[keys[i]] >= need || numbered && hasNum[i] && offsets[i] == bestOff {
					remove := map[int]bool{}
					for _, k := range rows[i] {
						remove[k] = true
					}
					kept := pages[i].Lines[:0:0]
					for k, l := range pages[i].Lines {
						if !remove[k] {
							kept = append(kept, l)
						}
					}
					pages[i].Lines = kept
				}
			}
		}
	}
}

// edgeRow returns the indices of the lines on the page's topmost (or bottommost)
// baseline, left to right, or nil for a page without lines.
func edgeRow(lines []line, top bool) []int {
	best := -1
	for i, l := range lines {
		if best < 0 || top && l.Y > lines[best].Y || !top && l.Y < lines[best].Y {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	var row []int
	for i, l := range lines {
		if math.Abs(l.Y-lines[best].Y) < 0.3*math.Max(lines[best].Size, 1) {
			row = append(row, i)
		}
	}
	slices.SortFunc(row, func(a, b int) int { return cmp.Compare(lines[a].X, lines[b].X) })
	return row
}

// edgeNumber returns the number that starts or ends s ("12 Chapter 1", "Chapter 1 12").
func edgeNumber(s string) (int, bool) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, false
	}
	for _, w := range []string{f[0], f[len(f)-1]} {
		if n, err := strconv.Atoi(w); err == nil && n >= 0 && n < 100_000 {
			return n, true
		}
	}
	return 0, false
}

// runningKey is a line's text with case, spacing and runs of digits normalised, so that
// "Page 3 of 12" and "Page 4 of 12" compare equal.
func runningKey(s string) string {
	if utf8.RuneCountInString(s) > 200 {
		return ""
	}
	var b strings.Builder
	digit, space := false, false
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.IsDigit(r):
			if !digit {
				b.WriteByte('#')
			}
			digit, space = true, false
		case unicode.IsSpace(r):
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			digit, space = false, true
		default:
			b.WriteRune(r)
			digit, space = false, false
		}
	}
	return strings.TrimSpace(b.String())
}

// title returns the document information Title when it looks like a title, else the
// largest text at the top of page 1 when it stands out, else the first short line of page 1.
func title(info string, pages []page) string {
	if t := textnorm.CollapseLine(info); sensibleTitle(t) {
		return t
	}
	if len(pages) == 0 || len(pages[0].Lines) == 0 {
		return ""
	}
	lines := pages[0].Lines
	head := lines[:min(len(lines), 15)]
	sizes := make([]float64, len(lines))
	for i, l := range lines {
		sizes[i] = l.Size
	}
	slices.Sort(sizes)
	median := sizes[len(sizes)/2]
	big := -1
	for i, l := range head {
		if titleLine(l.Text) && (big < 0 || l.Size > head[big].Size) {
			big = i
		}
	}
	if big >= 0 && head[big].Size >= 1.2*median {
		title := textnorm.CollapseLine(head[big].Text)
		for _, l := range head[big+1:] { // a title set on two or three lines
			if math.Abs(l.Size-head[big].Size) > 0.05*head[big].Size || l.Dir != head[big].Dir {
				break
			}
			next := title + " " + textnorm.CollapseLine(l.Text)
			if utf8.RuneCountInString(next) > 200 {
				break
			}
			title = next
		}
		return title
	}
	for _, l := range head {
		if t := textnorm.CollapseLine(l.Text); titleLine(t) && utf8.RuneCountInString(t) <= 120 {
			return t
		}
	}
	return ""
}

// titleLine reports whether a line could be a title: a few characters with letters.
func titleLine(s string) bool {
	n := utf8.RuneCountInString(s)
	if n < 3 || n > 200 {
		return false
	}
	letters := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	return letters >= 2
}

// sensibleTitle reports whether a document information Title is a real title rather
// than a file name or a producer's placeholder ("Microsoft Word - report.doc", "untitled").
func sensibleTitle(t string) bool {
	if !titleLine(t) || strings.ContainsRune(t, utf8.RuneError) {
		return false
	}
	low := strings.ToLower(t)
	switch low {
	case "untitled", "title", "document", "untitled document", "no title", "slide 1":
		return false
	}
	for _, p := range []string{"microsoft word - ", "microsoft powerpoint - ", "untitled-", "document1"} {
		if strings.HasPrefix(low, p) {
			return false
		}
	}
	for _, ext := range []string{".doc", ".docx", ".pdf", ".tex", ".dvi", ".ps", ".rtf", ".odt", ".ppt", ".pptx", ".xls", ".xlsx", ".indd", ".qxd", ".txt", ".htm", ".html"} {
		if strings.HasSuffix(low, ext) {
			return false
		}
	}
	return true
}

// date converts a PDF date ("D:20180530132733+02'00'") to RFC 3339, or "" when it cannot
// be read.
func date(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "D:")
	digits := 0
	for digits < len(s) && digits < 14 && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	if digits < 4 || digits%2 != 0 {
		return ""
	}
	layout := "20060102150405"[:digits]
	t, err := time.Parse(layout, s[:digits])
	if err != nil {
		return ""
	}
	loc := time.UTC
	if tz := strings.ReplaceAll(s[digits:], "'", ""); len(tz) >= 3 && (tz[0] == '+' || tz[0] == '-') {
		mm := "00"
		if len(tz) >= 5 {
			mm = tz[3:5]
		}
		h, err1 := strconv.Atoi(tz[1:3])
		m, err2 := strconv.Atoi(mm)
		if err1 == nil && err2 == nil && h < 24 && m < 60 {
			off := h*3600 + m*60
			if tz[0] == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		}
	}
	t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc)
	return t.Format(time.RFC3339)
}

package extract

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docent-rag/docent/internal/chunk"
)

// XLSX (and XLSM), read with archive/zip and encoding/xml rather than excelize: excelize
// writes a worksheet larger than its XML limit to a temporary file and reads a sheet's
// merged cells by decoding the whole sheet, where a child must neither touch the file
// system nor hold more than one sheet's rows; the format's cell model is small enough to
// read directly, streaming.
//
// Each visible sheet is a Heading (its name) followed by its rows as Table blocks of up to
// sheetBlockRows rows, cells joined by " | " in their columns (empty cells kept between
// values so that columns line up with the header). Each block's Locator is its cell range
// ("Budget!A1:F25"). When the first row looks like a header (text in every non-empty cell,
// and rows after it), it is the blocks' header: HeaderRows 1 in the first block, and
// repeated as the first line of every later block, so that every chunk of rows carries
// its column names. Formulas give their cached values (a file saved without them yields
// the cell empty); a value merged down over several rows is repeated in each of them;
// numbers are shown as stored (dates as their serial numbers). Hidden sheets are skipped
// and reported (WarnHiddenSheet); a sheet is cut after officeMaxRows rows with content, and
// the workbook after officeMaxCells cells (WarnTruncated).

// sheetBlockRows is how many rows one Table block of a sheet holds.
const sheetBlockRows = 25

// Warnings of spreadsheets (Document.Warnings).
const (
	WarnTruncated   = "truncated"    // a sheet had more rows (or the file more cells) than are read
	WarnHiddenSheet = "hidden_sheet" // a hidden sheet was skipped
)

func xlsxExtract(data []byte) (Document, error) {
	p, err := openOffice(data)
	if err != nil {
		return Document{}, err
	}
	w, rels, err := p.main("xl/workbook.xml", "an Excel workbook")
	if err != nil {
		return Document{}, err
	}
	type sheet struct{ name, part, state string }
	var sheets []sheet
	date1904 := false
	err = w.each(func(tok xml.Token) error {
		if e, ok := tok.(xml.StartElement); ok && e.Name.Local == "workbookPr" {
			date1904 = xattr(e, "date1904") == "1" || xattr(e, "date1904") == "true"
		}
		if e, ok := tok.(xml.StartElement); ok && e.Name.Local == "sheet" {
			sheets = append(sheets, sheet{name: xattr(e, "name"), part: rels[relID(e)], state: xattr(e, "state")})
			if len(sheets) > maxSlides {
				return &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("more than %d sheets: %w", maxSlides, errOfficeLimit)}
			}
		}
		return nil
	})
	if err != nil {
		return Document{}, err
	}
	shared, err := sharedStrings(p)
	if err != nil {
		return Document{}, err
	}
	dates, err := xlsxDateStyles(p)
	if err != nil {
		return Document{}, err
	}
	doc := newDocument("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	var b officeBuilder
	sb := sheetBuilder{b: &b, cellsLeft: officeMaxCells}
	for _, s := range sheets {
		name := textnormLine(s.name)
		if s.state == "hidden" || s.state == "veryHidden" {
			doc.Warnings = append(doc.Warnings, Warning{Reason: WarnHiddenSheet, Message: fmt.Sprintf("hidden sheet %q skipped", truncate(name, 100))})
			continue
		}
		sw, err := p.walker(s.part)
		if err != nil {
			return Document{}, err
		}
		if sw == nil {
			continue // a chart sheet, or a sheet the package lacks
		}
		rows, truncated, err := readWorksheet(sw, cellFormat{shared: shared, dates: dates, date1904: date1904}, &sb.cellsLeft)
		if err != nil {
			return Document{}, err
		}
		sb.add(name, rows)
		if err := xlsxComments(p, s.part, name, &b); err != nil {
			return Document{}, err
		}
		if truncated {
			doc.Warnings = append(doc.Warnings, Warning{Reason: WarnTruncated,
				Message: fmt.Sprintf("sheet %q cut after %d rows (or the workbook after %d cells)", truncate(name, 100), len(rows), officeMaxCells)})
		}
	}
	doc.Document = b.document(officeTitle(p))
	if doc.Title == "" && len(sheets) > 0 {
		doc.Title = firstHeading(doc.Document)
	}
	doc.Metadata["format"] = "xlsx"
	doc.Warnings = b.warnings(doc.Warnings)
	doc.Metadata["sheets"] = int64(len(sheets))
	if doc.Text == "" {
		doc.Skip = SkipEmpty
	}
	return doc, nil
}

// sheetRow is a row of a sheet with content: its 1-based number and its cells by 0-based
// column (nil for an empty cell).
type sheetRow struct {
	n     int64
	cells []string
}

// sheetBuilder turns sheets' rows into blocks.
type sheetBuilder struct {
	b         *officeBuilder
	cellsLeft int
}

// add appends a sheet: its name as a Heading, its rows as Table blocks.
func (sb *sheetBuilder) add(name string, rows []sheetRow) {
	first, last := officeMaxColumns, -1
	for _, r := range rows {
		for c, v := range r.cells {
			if strings.TrimSpace(v) != "" {
				first, last = min(first, c), max(last, c)
			}
		}
	}
	if last < 0 {
		return
	}
	sb.b.add(chunk.Heading, 1, 0, cmp.Or(name, "Sheet"))
	line := func(r sheetRow) []string {
		out := make([]string, last-first+1)
		for c := first; c <= last && c < len(r.cells); c++ {
			out[c-first] = r.cells[c]
		}
		return out
	}
	header := len(rows) > 1 && looksLikeHeaderRow(rows[0].cells)
	locName := strings.NewReplacer("!", "", "\n", " ").Replace(name)
	for i := 0; i < len(rows); i += sheetBlockRows {
		block := rows[i:min(i+sheetBlockRows, len(rows))]
		var lines [][]string
		hdr := 0
		if header {
			hdr = 1
			if i > 0 {
				lines = append(lines, line(rows[0]))
			}
		}
		for _, r := range block {
			lines = append(lines, line(r))
		}
		loc := fmt.Sprintf("%s!%s:%s", locName, chunk.CellName(first+1, int(block[0].n)), chunk.CellName(last+1, int(block[len(block)-1].n)))
		sb.b.addTable(lines, hdr, 0, truncate(loc, maxLocator))
	}
}

// looksLikeHeaderRow reports whether a first row names columns: at least one non-empty cell,
// and none of them a number.
func looksLikeHeaderRow(cells []string) bool {
	n := 0
	for _, v := range cells {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return false
		}
		n++
	}
	return n > 0
}

// sharedStrings reads xl/sharedStrings.xml: the text of each item, phonetic runs excluded.
func sharedStrings(p *officePackage) ([]string, error) {
	const name = "xl/sharedStrings.xml"
	w, err := p.walker(name)
	if err != nil || w == nil {
		return nil, err
	}
	var out []string
	var cur strings.Builder
	size := 0
	err = w.each(func(tok xml.Token) error {
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "si":
				cur.Reset()
			case "rPh":
				if err := w.skip(); err != nil {
					return err
				}
			case "t":
				t, err := elementText(w)
				if err != nil {
					return err
				}
				cur.WriteString(t)
			}
		case xml.EndElement:
			if e.Name.Local == "si" {
				out = append(out, truncate(cur.String(), officeMaxCell))
				if size += len(out[len(out)-1]); size > officeMaxText {
					return &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("shared strings of more than %d MiB: %w", officeMaxText>>20, errOfficeLimit)}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readWorksheet reads a worksheet's rows with content, at most officeMaxRows and the cells
// left in the workbook's budget (truncated says it stopped early), with values merged down
// over rows repeated in each row.
func readWorksheet(w *xmlWalker, cf cellFormat, cellsLeft *int) (rows []sheetRow, truncated bool, err error) {
	var row *sheetRow
	var nextRow int64 = 1
	col := 0
	var cellType string
	style := 0
	var value strings.Builder
	inCell := false
	var merges []mergeDown
	for {
		tok, err := w.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, err
		}
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "row":
				n, err := strconv.ParseInt(xattr(e, "r"), 10, 64)
				if err != nil || n < 1 {
					n = nextRow
				}
				nextRow = n + 1
				row = &sheetRow{n: n}
				col = 0
			case "c":
				if row == nil {
					continue
				}
				if c, _, ok := splitCell(xattr(e, "r")); ok {
					col = c
				}
				cellType, inCell = xattr(e, "t"), true
				style, _ = strconv.Atoi(xattr(e, "s"))
				value.Reset()
			case "v", "t":
				if inCell {
					t, err := elementText(w)
					if err != nil {
						return nil, false, err
					}
					value.WriteString(t)
				}
			case "rPh", "f":
				if err := w.skip(); err != nil {
					return nil, false, err
				}
			case "mergeCell":
				from, to, _ := strings.Cut(xattr(e, "ref"), ":")
				c1, r1, ok1 := splitCell(from)
				_, r2, ok2 := splitCell(to)
				if ok1 && ok2 && r2 > r1 && c1 < officeMaxColumns && len(merges) < maxMerges {
					merges = append(merges, mergeDown{col: c1, top: r1, bottom: r2})
				}
			}
		case xml.EndElement:
			switch e.Name.Local {
			case "c":
				if row == nil || !inCell {
					continue
				}
				inCell = false
				v := cf.value(cellType, style, value.String())
				if v != "" && col < officeMaxColumns && !truncated {
					if *cellsLeft <= 0 {
						truncated = true
						continue
					}
					*cellsLeft--
					for len(row.cells) <= col {
						row.cells = append(row.cells, "")
					}
					row.cells[col] = truncate(v, officeMaxCell)
				}
				col++
			case "row":
				if row != nil && len(row.cells) > 0 && !truncated {
					if len(rows) >= officeMaxRows {
						truncated = true
					} else {
						rows = append(rows, *row)
					}
				}
				row = nil
			}
		}
	}
	fillMerges(rows, merges)
	return rows, truncated, nil
}

// fillMerges repeats the value of each cell merged down over rows in the rows below it that
// have content, where the merged range leaves them empty. Rows are in sheet order.
func fillMerges(rows []sheetRow, merges []mergeDown) {
	for _, m := range merges {
		i, _ := slices.BinarySearchFunc(rows, m.top, func(r sheetRow, n int64) int { return cmp.Compare(r.n, n) })
		if i >= len(rows) || rows[i].n != m.top || m.col >= len(rows[i].cells) || rows[i].cells[m.col] == "" {
			continue
		}
		v := rows[i].cells[m.col]
		for j := i + 1; j < len(rows) && rows[j].n <= m.bottom; j++ {
			r := &rows[j]
			if m.col < len(r.cells) && r.cells[m.col] != "" {
				continue
			}
			cells := make([]string, max(len(r.cells), m.col+1)) // rows may share a slice: copy
			copy(cells, r.cells)
			cells[m.col] = v
			r.cells = cells
		}
	}
}

// cellFormat is what turns a cell's stored value into its text.
type cellFormat struct {
	shared   []string
	dates    map[int]bool // cell styles (indexes into cellXfs) that show a date or time
	date1904 bool         // serial numbers count from 1904 (old Mac workbooks)
}

// value is a cell's text from its type, style and stored value: shared strings resolved,
// booleans TRUE/FALSE, numbers in a date style as dates (2024-03-01, with the time when it
// has one), other numbers without binary noise.
func (cf cellFormat) value(typ string, style int, v string) string {
	switch typ {
	case "s":
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 0 || i >= len(cf.shared) {
			return ""
		}
		return cf.shared[i]
	case "b":
		if strings.TrimSpace(v) == "1" {
			return "TRUE"
		}
		return "FALSE"
	case "str", "inlineStr", "e":
		return v
	}
	v = strings.TrimSpace(v)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	if cf.dates[style] && f >= 0 && f < 2958466 { // up to 9999-12-31
		// Serial 1 is 1900-01-01, and Excel counts a 1900-02-29 (serial 60) that never was.
		base := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
		switch {
		case cf.date1904:
			base = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
		case f < 60:
			base = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)
		}
		t := base.Add(time.Duration(math.Round(f*86400)) * time.Second)
		switch {
		case f < 1 && !cf.date1904:
			return t.Format("15:04:05")
		case t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0:
			return t.Format("2006-01-02")
		}
		return t.Format("2006-01-02 15:04:05")
	}
	return strconv.FormatFloat(f, 'g', 15, 64) // 0.30000000000000004 reads 0.3
}

// xlsxDateStyles reads xl/styles.xml: the cell styles (cellXfs, by index) whose number
// format shows a date or time, a built-in one (14-22, 27-36, 45-47, 50-58) or a custom
// format with day, month, year or hour codes outside quotes and brackets.
func xlsxDateStyles(p *officePackage) (map[int]bool, error) {
	w, err := p.walker("xl/styles.xml")
	if err != nil || w == nil {
		return nil, err
	}
	custom := map[int]bool{}
	out := map[int]bool{}
	inXfs, xf := false, 0
	err = w.each(func(tok xml.Token) error {
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "numFmt":
				if id, err := strconv.Atoi(xattr(e, "numFmtId")); err == nil && len(custom) < 10_000 {
					custom[id] = isDateFormat(xattr(e, "formatCode"))
				}
			case "cellXfs":
				inXfs = true
			case "xf":
				if inXfs {
					id, _ := strconv.Atoi(xattr(e, "numFmtId"))
					if builtinDate(id) || custom[id] {
						out[xf] = true
					}
					xf++
				}
			}
		case xml.EndElement:
			if e.Name.Local == "cellXfs" {
				inXfs = false
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func builtinDate(id int) bool {
	return id >= 14 && id <= 22 || id >= 27 && id <= 36 || id >= 45 && id <= 47 || id >= 50 && id <= 58
}

// isDateFormat reports whether a number format code shows a date or time: a d, m, y, h or s
// code outside quoted text, escapes and [colour] or [$-locale] brackets (but "[h]" counts).
func isDateFormat(code string) bool {
	code = strings.ToLower(code)
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case '"':
			if j := strings.IndexByte(code[i+1:], '"'); j >= 0 {
				i += j + 1
			}
		case '\\', '_', '*':
			i++
		case '[':
			if j := strings.IndexByte(code[i:], ']'); j >= 0 {
				inner := code[i+1 : i+j]
				if strings.Trim(inner, "hms") == "" && inner != "" {
					return true // elapsed time
				}
				i += j
			}
		case 'd', 'm', 'y', 'h', 's':
			if c == 's' && !strings.ContainsAny(code, "hm") {
				continue
			}
			return true
		}
	}
	return false
}

// mergeDown is a cell merged over rows top..bottom in one column (a merge over several
// columns counts for its first).
type mergeDown struct {
	col         int
	top, bottom int64
}

// maxMerges bounds the merged ranges read from a sheet.
const maxMerges = 10_000

// splitCell parses a cell reference ("AB12", "$A$1") into a 0-based column and a row.
func splitCell(ref string) (col int, row int64, ok bool) {
	ref = strings.ReplaceAll(ref, "$", "")
	i := 0
	for i < len(ref) && i < 4 && ref[i] >= 'A' && ref[i] <= 'Z' {
		col = col*26 + int(ref[i]-'A'+1)
		i++
	}
	if i == 0 {
		return 0, 0, false
	}
	row, err := strconv.ParseInt(ref[i:], 10, 64)
	if err != nil || row < 1 {
		return 0, 0, false
	}
	return col - 1, row, true
}

// xlsxComments appends the comments (notes) of a sheet, each marked with its author and
// cell: "Comment (author): text", its Locator the cell ("Budget!B4").
func xlsxComments(p *officePackage, sheetPart, sheetName string, b *officeBuilder) error {
	dir := sheetPart[:max(strings.LastIndexByte(sheetPart, '/'), 0)]
	rels, err := relationships(p, relsOf(sheetPart), dir)
	if err != nil {
		return err
	}
	for _, target := range rels {
		base := target[strings.LastIndexByte(target, '/')+1:]
		if !strings.HasPrefix(base, "comments") {
			continue // threadedComments repeat the legacy comments' text
		}
		w, err := p.walker(target)
		if err != nil || w == nil {
			return err
		}
		var authors []string
		var ref, author string
		var text strings.Builder
		inAuthors, inComment := false, false
		for n := 0; ; {
			tok, err := w.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			switch e := tok.(type) {
			case xml.StartElement:
				switch e.Name.Local {
				case "authors":
					inAuthors = true
				case "author":
					if inAuthors {
						t, err := elementText(w)
						if err != nil {
							return err
						}
						authors = append(authors, textnormLine(t))
					}
				case "comment":
					ref, author, inComment = xattr(e, "ref"), "", true
					if i, err := strconv.Atoi(xattr(e, "authorId")); err == nil && i >= 0 && i < len(authors) {
						author = authors[i]
					}
					text.Reset()
				case "t":
					if inComment {
						t, err := elementText(w)
						if err != nil {
							return err
						}
						text.WriteString(t)
					}
				case "rPh":
					if err := w.skip(); err != nil {
						return err
					}
				}
			case xml.EndElement:
				switch e.Name.Local {
				case "authors":
					inAuthors = false
				case "comment":
					inComment = false
					t := textnormLine(text.String())
					if t == "" || n >= officeMaxRows {
						continue
					}
					n++
					mark := "Comment: "
					if author != "" {
						mark = "Comment (" + author + "): "
					}
					k := len(b.blocks)
					b.add(chunk.Paragraph, 0, 0, mark+t)
					if len(b.blocks) > k && ref != "" {
						b.blocks[k].Locator = truncate(strings.NewReplacer("!", "", "\n", " ").Replace(sheetName)+"!"+ref, maxLocator)
					}
				}
			}
		}
	}
	return nil
}

package extract

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// CSV and TSV files are tables: each row becomes a line of a Table block, its cells joined
// by " | " (as HTML tables are), in blocks of csvBlockRows rows. When the first row looks
// like a header (see csvHeader) every block starts with it and says so (HeaderRows 1), so
// that a chunk of rows from the middle of a long file still says what its columns are. Each
// block's Locator is the cell range of the rows it holds from the file, spreadsheet style,
// as an XLSX sheet's blocks: "A1:F26" for the first (the header, row 1, and the first
// rows), "A27:F51" for the next (the header repeated above it is not counted), so that
// the chunker treats both alike and a chunk's merged range ("A1:F51") says where it is.

// Bounds of CSV extraction.
const (
	csvMaxRows    = 100_000 // rows read; the rest is reported as truncated
	csvMaxColumns = 1_000   // cells kept per row
	csvMaxCell    = 4 << 10 // bytes kept per cell (the rest is cut, with an ellipsis)
	csvBlockRows  = 25      // data rows per Table block
)

// csvSeparator joins the cells of a row.
const csvSeparator = " | "

// CSV extracts a comma- (or semicolon-, tab- or pipe-) separated file; tab says that the
// file is a .tsv, whose delimiter is the tab; otherwise the delimiter is sniffed (see
// csvDelimiter). Quoted fields may span lines; stray quotes are read as text.
func CSV(data []byte, tab bool) (Document, error) {
	doc := newDocument("text/csv")
	if tab {
		doc.ContentType = "text/tab-separated-values"
	}
	s, ok := decodeInto(&doc, data, decodeText)
	if !ok {
		return doc, nil
	}
	delim := '\t'
	if !tab {
		delim = csvDelimiter(s)
	}
	r := csv.NewReader(strings.NewReader(s))
	r.Comma, r.LazyQuotes, r.FieldsPerRecord, r.ReuseRecord = delim, true, -1, true
	var rows [][]string
	width, truncated := 0, false
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// With lazy quotes and any number of fields, only a broken delimiter is left:
			// keep what was read, and say so.
			addNote(&doc, fmt.Sprintf("CSV read up to an error: %v", err))
			break
		}
		row := csvRow(rec)
		if row == nil {
			continue
		}
		if len(rows) == csvMaxRows {
			truncated = true
			break
		}
		width = max(width, len(row))
		rows = append(rows, row)
	}
	doc.Metadata["rows"] = int64(len(rows))
	doc.Metadata["columns"] = int64(width)
	doc.Metadata["delimiter"] = string(delim)
	if truncated {
		doc.Metadata["truncated"] = true
		addNote(&doc, fmt.Sprintf("truncated: only the first %d rows are read", csvMaxRows))
		// As a sheet cut at its row limit: a warning in the run's summary.
		doc.Warnings = append(doc.Warnings, Warning{Reason: WarnTruncated, Message: fmt.Sprintf("only the first %d rows are read", csvMaxRows)})
	}
	var b builder
	header := 0
	if csvHeader(rows) {
		header = 1
	}
	last := columnName(width)
	for start := header; start < len(rows); start += csvBlockRows {
		end := min(start+csvBlockRows, len(rows))
		lines := make([]string, 0, header+end-start)
		if header > 0 {
			lines = append(lines, strings.Join(rows[0], csvSeparator))
		}
		for _, row := range rows[start:end] {
			lines = append(lines, strings.Join(row, csvSeparator))
		}
		first := start + 1
		if start == header {
			first = 1 // the block holds the file's first row, header or not
		}
		b.addTable(lines, header, fmt.Sprintf("A%d:%s%d", first, last, end))
	}
	doc.Document = b.document("")
	return finish(doc), nil
}

// csvRow normalises a record's cells: each on one line, cut to csvMaxCell bytes, at most
// csvMaxColumns of them, empty cells at the end dropped; nil when every cell is empty.
func csvRow(rec []string) []string {
	rec = rec[:min(len(rec), csvMaxColumns)]
	n := len(rec)
	for n > 0 && strings.TrimSpace(rec[n-1]) == "" {
		n--
	}
	if n == 0 {
		return nil
	}
	row := make([]string, n)
	for i, c := range rec[:n] {
		if len(c) > csvMaxCell {
			c = strings.ToValidUTF8(c[:csvMaxCell], "") + "…"
		}
		row[i] = textnorm.CollapseLine(c)
	}
	return row
}

// csvHeader reports whether the first of rows looks like a header: there are other rows,
// and its cells are all non-empty, distinct, and not numbers.
func csvHeader(rows [][]string) bool {
	if len(rows) < 2 {
		return false
	}
	seen := map[string]bool{}
	for _, c := range rows[0] {
		key := strings.ToLower(c)
		if c == "" || seen[key] || isNumber(c) {
			return false
		}
		seen[key] = true
	}
	return true
}

// isNumber reports whether a cell is a number, perhaps with a sign, thousands separators,
// a currency or a percent sign.
func isNumber(c string) bool {
	c = strings.Map(func(r rune) rune {
		switch r {
		case ',', ' ', '\u00a0', '$', '€', '£', '¥', '%', '\'', '_':
			return -1
		}
		return r
	}, c)
	if c == "" {
		return false
	}
	_, err := strconv.ParseFloat(c, 64)
	return err == nil
}

// csvDelimiter sniffs the delimiter of a CSV file from its first lines: of comma,
// semicolon, tab and pipe, the one that splits the most of the first 20 lines into the same
// number (more than one) of fields, counted outside quotes; comma when none does.
func csvDelimiter(s string) rune {
	head := s[:min(len(s), SniffLen)]
	if i := strings.LastIndexByte(head, '\n'); i > 0 && len(head) < len(s) {
		head = head[:i]
	}
	best, bestScore := ',', 0
	for _, d := range []rune{',', ';', '\t', '|'} {
		counts := map[int]int{}
		for line := range strings.Lines(head) {
			if len(counts) > 20 {
				break
			}
			if n := fieldsOutsideQuotes(line, byte(d)); n > 1 {
				counts[n]++
			}
		}
		score := 0
		for _, c := range counts {
			score = max(score, c)
		}
		if score > bestScore {
			best, bestScore = d, score
		}
	}
	return best
}

// fieldsOutsideQuotes counts the fields of a line split on d outside double quotes.
func fieldsOutsideQuotes(line string, d byte) int {
	n, quoted := 1, false
	for i := range len(line) {
		switch line[i] {
		case '"':
			quoted = !quoted
		case d:
			if !quoted {
				n++
			}
		}
	}
	return n
}

// columnName is the spreadsheet name of the n-th column (1-based): A, B, ..., Z, AA, ...
func columnName(n int) string {
	if n < 1 {
		n = 1
	}
	var b []byte
	for ; n > 0; n = (n - 1) / 26 {
		b = append(b, byte('A'+(n-1)%26))
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

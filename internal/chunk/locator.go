package chunk

import (
	"strconv"
	"strings"
)

// MergeLocators returns the locator of a chunk (or passage) whose first block has locator first and last
// block last: one of them when they are equal or one is empty; for two cell ranges of the
// same sheet ("Budget!A1:F40", "Budget!A41:F80"), or of a file that is one table (a CSV
// file's "A1:F26", "A27:F51"), the range that spans both ("Budget!A1:F80", "A1:F51");
// otherwise both, joined by " – ".
func MergeLocators(first, last string) string {
	switch {
	case first == last || last == "":
		return first
	case first == "":
		return last
	}
	if m, ok := mergeRanges(first, last); ok {
		return m
	}
	return first + " – " + last
}

// mergeRanges merges two "Sheet!A1:F40" locators of the same sheet, or two "A1:F40"
// ranges without a sheet, into the range that spans both. Without a sheet, only ranges
// (with their colon) are merged: a chapter may be called "B2".
func mergeRanges(a, b string) (string, bool) {
	ia, ib := strings.LastIndexByte(a, '!'), strings.LastIndexByte(b, '!')
	switch {
	case ia == 0 || ib == 0 || ia < 0 != (ib < 0):
		return "", false
	case ia > 0 && a[:ia] != b[:ib]:
		return "", false
	case ia < 0 && (!strings.Contains(a, ":") || !strings.Contains(b, ":")):
		return "", false
	}
	c1, r1, c2, r2, ok := parseRange(a[ia+1:])
	if !ok {
		return "", false
	}
	d1, s1, d2, s2, ok := parseRange(b[ib+1:])
	if !ok {
		return "", false
	}
	return a[:ia+1] + cellName(min(c1, d1), min(r1, s1)) + ":" + cellName(max(c2, d2), max(r2, s2)), true
}

// parseRange parses "A1:F40" (or a single cell "B2") into 1-based columns and rows.
func parseRange(s string) (c1, r1, c2, r2 int, ok bool) {
	from, to, found := strings.Cut(s, ":")
	if !found {
		to = from
	}
	if c1, r1, ok = parseCell(from); !ok {
		return 0, 0, 0, 0, false
	}
	if c2, r2, ok = parseCell(to); !ok {
		return 0, 0, 0, 0, false
	}
	return c1, r1, c2, r2, true
}

// parseCell parses a cell reference such as "AB12" (columns up to XFD, rows up to 1<<20
// as in a spreadsheet; more is not a cell).
func parseCell(s string) (col, row int, ok bool) {
	i := 0
	for i < len(s) && s[i] >= 'A' && s[i] <= 'Z' && i < 3 {
		col = col*26 + int(s[i]-'A'+1)
		i++
	}
	if i == 0 || i == len(s) || s[i] == '0' {
		return 0, 0, false
	}
	for _, c := range []byte(s[i:]) {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
	}
	row, err := strconv.Atoi(s[i:])
	if err != nil || row < 1 || row > 1<<20 || col > 16384 {
		return 0, 0, false
	}
	return col, row, true
}

// CellName returns the A1-style name of the cell at 1-based column col and row.
func CellName(col, row int) string { return cellName(col, row) }

func cellName(col, row int) string {
	var letters []byte
	for c := col; c > 0; c = (c - 1) / 26 {
		letters = append([]byte{byte('A' + (c-1)%26)}, letters...)
	}
	return string(letters) + strconv.Itoa(row)
}

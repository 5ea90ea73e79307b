package pdfgen_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/testing/pdfgen"
)

// The demo corpus's PDFs (testdata/demo/**/*.pdf) are generated from text sources in
// testdata/demo-src/, so that their content can be reviewed and edited as text. A source
// starts with header lines, then a blank line, then the body:
//
//	Title: Employee Handbook 2026          (required: the PDF's /Title)
//	Folder: handbook                       (required: where under testdata/demo/ the PDF goes)
//	Author: Northwind Robotics             (optional: the PDF's /Author)
//	Header: Northwind Robotics             (optional: running header on every page)
//	Footer: Page {page} of {pages}         (optional: running footer on every page)
//	Scan: 200                              (optional: a scanned document: its text rendered
//	                                        as an image at this many dpi, slightly askew,
//	                                        with no text layer; Title, Author, Header and
//	                                        Footer are then not used)
//
// In the body, a line holding only "---page---" (or only a form feed) starts a new page.
// Each line is a paragraph or a list item; pdfgen wraps long lines to the page width.
// testdata/DEMO.md describes the corpus and the facts the tests rely on.

const (
	demoSrcDir = "../../../testdata/demo-src" // relative to this package's directory
	demoDir    = "../../../testdata/demo"
	pageBreak  = "---page---"
)

func init() {
	// Another golden-file test of this package may define -update too; share it rather than
	// registering it twice (which panics).
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files (here: the demo PDFs) instead of comparing with them")
	}
}

func updating() bool {
	g, ok := flag.Lookup("update").Value.(flag.Getter)
	return ok && g.Get() == true
}

// demoSource is a parsed testdata/demo-src/*.txt file.
type demoSource struct {
	doc    pdfgen.Document
	folder string
	scan   int // dpi of a scanned document; 0 for a PDF with a text layer
}

// render renders the source's PDF.
func (src demoSource) render(w *bytes.Buffer) error {
	if src.scan == 0 {
		return pdfgen.Write(w, src.doc)
	}
	var text []string
	for _, p := range src.doc.Pages {
		text = append(text, strings.Join(p.Lines, "\n"))
	}
	data, err := pdfgen.Scan(strings.Join(text, "\n"), pdfgen.ScanOptions{DPI: src.scan, FontSize: 12, Rotate: 0.4, Seed: 2026})
	w.Write(data)
	return err
}

// parseDemoSource parses a PDF source file; name is used in errors.
func parseDemoSource(name string, data []byte) (demoSource, error) {
	var src demoSource
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lineNo := 0
	// Header lines, up to the first blank line.
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" {
			break
		}
		key, value, ok := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		if !ok || value == "" {
			return src, fmt.Errorf("%s:%d: want a header line \"Key: value\" (or a blank line before the body), got %q", name, lineNo, line)
		}
		switch key {
		case "Title":
			src.doc.Title = value
		case "Author":
			src.doc.Author = value
		case "Header":
			src.doc.Header = value
		case "Footer":
			src.doc.Footer = value
		case "Scan":
			dpi, err := strconv.Atoi(value)
			if err != nil || dpi < 100 || dpi > 300 {
				return src, fmt.Errorf("%s:%d: Scan %q: want a resolution in dpi, 100 to 300", name, lineNo, value)
			}
			src.scan = dpi
		case "Folder":
			if !filepath.IsLocal(value) {
				return src, fmt.Errorf("%s:%d: Folder %q must be a path inside testdata/demo", name, lineNo, value)
			}
			src.folder = filepath.FromSlash(value)
		default:
			return src, fmt.Errorf("%s:%d: unknown header %q (want Title, Folder, Author, Header, Footer or Scan)", name, lineNo, key)
		}
	}
	if src.doc.Title == "" || src.folder == "" {
		return src, fmt.Errorf("%s: the Title and Folder headers are required", name)
	}
	// Body: pages separated by page-break lines.
	var lines []string
	flush := func() {
		// Blank lines at the top or bottom of a page only waste space.
		for len(lines) > 0 && lines[0] == "" {
			lines = lines[1:]
		}
		for len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		src.doc.Pages = append(src.doc.Pages, pdfgen.Page{Lines: lines})
		lines = nil
	}
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == pageBreak || line == "\f" {
			flush()
			continue
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return src, fmt.Errorf("%s: %w", name, err)
	}
	flush()
	for i, p := range src.doc.Pages {
		if len(p.Lines) == 0 {
			return src, fmt.Errorf("%s: page %d is empty", name, i+1)
		}
	}
	pages := fmt.Sprint(len(src.doc.Pages))
	src.doc.Header = strings.ReplaceAll(src.doc.Header, "{pages}", pages)
	src.doc.Footer = strings.ReplaceAll(src.doc.Footer, "{pages}", pages)
	return src, nil
}

// TestDemoPDFs renders every testdata/demo-src/*.txt with pdfgen and checks that the PDF in
// testdata/demo/ is byte for byte what it renders to; with -update it writes the PDFs.
// It also fails on a PDF in testdata/demo/ that no source generates, so that a renamed or
// deleted source does not leave a stale PDF in the corpus.
func TestDemoPDFs(t *testing.T) {
	sources, err := filepath.Glob(filepath.Join(demoSrcDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) == 0 {
		t.Fatalf("no PDF sources in %s", demoSrcDir)
	}
	generated := map[string]bool{} // PDF path -> generated by a source
	for _, path := range sources {
		name := filepath.Base(path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		src, err := parseDemoSource(name, data)
		if err != nil {
			t.Error(err)
			continue
		}
		out := filepath.Join(demoDir, src.folder, strings.TrimSuffix(name, ".txt")+".pdf")
		generated[filepath.Clean(out)] = true
		t.Run(strings.TrimSuffix(name, ".txt"), func(t *testing.T) {
			var got bytes.Buffer
			if err := src.render(&got); err != nil {
				t.Fatalf("render %s: %v", name, err)
			}
			// Rendering twice must give the same bytes, or the committed PDFs would churn.
			var again bytes.Buffer
			if err := src.render(&again); err != nil {
				t.Fatalf("render %s again: %v", name, err)
			}
			if !bytes.Equal(got.Bytes(), again.Bytes()) {
				t.Fatalf("rendering %s twice gave different bytes: output is not deterministic", name)
			}
			if updating() {
				if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(out, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s (%d pages, %d bytes)", out, len(src.doc.Pages), got.Len())
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v\n(generate it with: go test ./internal/testing/pdfgen -run TestDemoPDFs -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s is not what %s renders to (%d bytes, want %d); regenerate it with:\n\tgo test ./internal/testing/pdfgen -run TestDemoPDFs -update", out, name, got.Len(), len(want))
			}
		})
	}

	err = filepath.WalkDir(demoDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(path), ".pdf") && !generated[filepath.Clean(path)] {
			t.Errorf("%s has no source in %s: add one, or delete the PDF", path, demoSrcDir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestParseDemoSource(t *testing.T) {
	src, err := parseDemoSource("x.txt", []byte("Title: T\nFolder: hr\nFooter: p. {page} of {pages}\n\n\nfirst\n\nsecond\n---page---\nthird\r\n\f\nfourth\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if src.folder != "hr" || src.doc.Title != "T" || src.doc.Footer != "p. {page} of 3" {
		t.Errorf("headers: folder %q, title %q, footer %q", src.folder, src.doc.Title, src.doc.Footer)
	}
	want := [][]string{{"first", "", "second"}, {"third"}, {"fourth"}}
	if len(src.doc.Pages) != len(want) {
		t.Fatalf("got %d pages, want %d", len(src.doc.Pages), len(want))
	}
	for i, p := range src.doc.Pages {
		if strings.Join(p.Lines, "|") != strings.Join(want[i], "|") {
			t.Errorf("page %d lines = %q, want %q", i+1, p.Lines, want[i])
		}
	}

	for _, bad := range []string{
		"Folder: hr\n\nbody\n",                 // no title
		"Title: T\n\nbody\n",                   // no folder
		"Title: T\nFolder: ../etc\n\nbody\n",   // folder outside the corpus
		"Title: T\nFolder: hr\nColour: red\n",  // unknown header
		"Title: T\nFolder: hr\nScan: 1200\n",   // resolution out of range
		"Title: T\nFolder: hr\n\n---page---\n", // empty page
	} {
		if _, err := parseDemoSource("bad.txt", []byte(bad)); err == nil {
			t.Errorf("parseDemoSource accepted %q", bad)
		}
	}
}

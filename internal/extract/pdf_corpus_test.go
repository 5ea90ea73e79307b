package extract

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/extract/textnorm"
	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// pdfManifest is the part of the reference corpus's manifest.json the test reads.
type pdfManifest struct {
	Files []struct {
		File     string  `json:"file"`
		Password *string `json:"password"` // nil: none needed; "": the empty user password
		Tags     []string
		Check    struct {
			Pages     *int   `json:"pages"`
			TextChars *int   `json:"text_chars"`
			Error     string `json:"error"`
			Sample    string `json:"sample"`
		} `json:"pypdf_check"`
	} `json:"files"`
}

// TestPDFReferenceCorpus extracts every file of the reference corpus and compares the
// amount of text with the reference extractor's (pypdf). It requires that nothing crashes
// or hangs the test, that every file is extracted or fails with a reason code, and that of
// the files that need no password and where the reference found more than 100 characters,
// at least 90% yield at least half as many characters. The table it logs is the one in
// docs/ingestion.md:
//
//	go test -race -run TestPDFReferenceCorpus -v ./internal/extract
func TestPDFReferenceCorpus(t *testing.T) {
	dir := filepath.Dir(filepath.Dir(evaldata.Path(t, "pdfs/manifest.json")))
	data, err := os.ReadFile(filepath.Join(dir, "pdfs", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m pdfManifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if len(m.Files) == 0 {
		t.Fatal("manifest lists no files")
	}

	type row struct {
		file, outcome, path, withPW string
		pages, chars                int
		recall                      float64
		eligible, pass              bool
		elapsed                     time.Duration
	}
	rows := make([]row, len(m.Files))
	runner := testRunner(t, Config{Timeout: 60 * time.Second, Workers: 2})
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, f := range m.Files {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := row{file: strings.TrimPrefix(f.File, "files/")}
			start := time.Now()
			doc, err := extractFile(t, runner, filepath.Join(dir, "pdfs", f.File))
			r.elapsed = time.Since(start)
			switch {
			case err != nil:
				r.outcome = ReasonOf(err)
				if !strings.HasPrefix(r.outcome, "pdf_") && r.outcome != ReasonTimeout && r.outcome != ReasonMemory && r.outcome != ReasonCrash {
					t.Errorf("%s: error without a reason code: %v", r.file, err)
				}
			case doc.Skip != "":
				r.outcome = "skip:" + doc.Skip
			default:
				r.outcome = "ok"
			}
			if err == nil {
				r.pages = doc.Pages
				r.chars = utf8.RuneCountInString(doc.Text)
				r.path, _ = doc.Metadata["pdf_extractor"].(string)
				r.recall = pdfSampleRecall(f.Check.Sample, doc.Text)
				if err := pdfCheckDocument(doc); err != nil {
					t.Errorf("%s: %v", r.file, err)
				}
			}
			if f.Password != nil && *f.Password != "" {
				// The manifest knows the password: show what supplying it gives.
				pw := testRunner(t, Config{Timeout: 60 * time.Second, Workers: 1, PDF: PDFOptions{Password: *f.Password}})
				doc, err := extractFile(t, pw, filepath.Join(dir, "pdfs", f.File))
				if err != nil {
					r.withPW = ReasonOf(err)
				} else {
					r.withPW = fmt.Sprintf("%d chars", utf8.RuneCountInString(doc.Text))
				}
			}
			ref := 0
			if f.Check.TextChars != nil {
				ref = *f.Check.TextChars
			}
			r.eligible = (f.Password == nil || *f.Password == "") && ref > 100
			r.pass = r.chars*2 >= ref
			rows[i] = r
		})
	}
	wg.Wait()

	var b strings.Builder
	b.WriteString("| file | pages (ref) | chars | ref chars | ratio | sample words | outcome | path | with password | ms |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	eligible, passed := 0, 0
	for i, r := range rows {
		f := m.Files[i]
		refPages, refChars := "–", "–"
		ratio := "–"
		if f.Check.Pages != nil {
			refPages = fmt.Sprint(*f.Check.Pages)
		}
		if f.Check.TextChars != nil {
			refChars = fmt.Sprint(*f.Check.TextChars)
			if *f.Check.TextChars > 0 {
				ratio = fmt.Sprintf("%.2f", float64(r.chars)/float64(*f.Check.TextChars))
			}
		}
		if f.Check.Error != "" {
			refChars = "error"
		}
		mark := ""
		if r.eligible {
			eligible++
			mark = " ✗"
			if r.pass {
				passed++
				mark = " ✓"
			}
		}
		recall := "–"
		if f.Check.Sample != "" && r.outcome == "ok" {
			recall = fmt.Sprintf("%.0f%%", 100*r.recall)
		}
		fmt.Fprintf(&b, "| %s | %d (%s) | %d | %s | %s%s | %s | %s | %s | %s | %d |\n",
			r.file, r.pages, refPages, r.chars, refChars, ratio, mark, recall, r.outcome, cmp.Or(r.path, "–"), cmp.Or(r.withPW, "–"), r.elapsed.Milliseconds())
		if r.elapsed > 60*time.Second+5*time.Second {
			t.Errorf("%s: took %v, more than the timeout", r.file, r.elapsed)
		}
	}
	fmt.Fprintf(&b, "\n%d of %d eligible files (no password needed, reference > 100 characters) reach half the reference's characters.\n", passed, eligible)
	t.Log("\n" + b.String())
	if eligible == 0 {
		t.Fatal("no eligible files in the manifest")
	}
	if passed*10 < eligible*9 {
		t.Errorf("%d of %d eligible files reach half the reference's characters; want at least 90%%", passed, eligible)
	}
}

// pdfSampleRecall returns the share of the reference sample's words (the last, possibly
// cut, word left out) that occur in text: a check of word boundaries and reading order
// that a character count cannot make.
func pdfSampleRecall(sample, text string) float64 {
	words := strings.FieldsFunc(textnorm.Clean(sample), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > 1 {
		words = words[:len(words)-1]
	}
	have := map[string]bool{}
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		have[w] = true
	}
	n, found := 0, 0
	for _, w := range words {
		if utf8.RuneCountInString(w) < 3 {
			continue
		}
		n++
		if have[w] {
			found++
		}
	}
	if n == 0 {
		return 1
	}
	return float64(found) / float64(n)
}

// pdfCheckDocument checks the invariants every PDF Document must hold.
func pdfCheckDocument(doc Document) error {
	if doc.ContentType != "application/pdf" {
		return fmt.Errorf("ContentType = %q", doc.ContentType)
	}
	if len(doc.PageStarts) != doc.Pages {
		return fmt.Errorf("%d PageStarts for %d pages", len(doc.PageStarts), doc.Pages)
	}
	prev := 0
	for i, s := range doc.PageStarts {
		if s < prev || s > len(doc.Text) {
			return fmt.Errorf("PageStarts[%d] = %d out of order or beyond the text (%d bytes)", i, s, len(doc.Text))
		}
		prev = s
	}
	end := 0
	for i, bl := range doc.Blocks {
		if bl.Start < end || bl.End <= bl.Start || bl.End > len(doc.Text) {
			return fmt.Errorf("block %d [%d,%d) out of order or out of the text", i, bl.Start, bl.End)
		}
		if bl.Page < 1 || bl.Page > doc.Pages {
			return fmt.Errorf("block %d on page %d of %d", i, bl.Page, doc.Pages)
		}
		if p := bl.Page; doc.PageStarts[p-1] > bl.Start || p < doc.Pages && doc.PageStarts[p] <= bl.Start {
			return fmt.Errorf("block %d at %d is not within page %d", i, bl.Start, p)
		}
		end = bl.End
	}
	if (doc.Text == "") != (doc.Skip == SkipNoText) {
		return fmt.Errorf("text of %d bytes with Skip %q", len(doc.Text), doc.Skip)
	}
	if doc.Metadata == nil || doc.Metadata["pages"] != int64(doc.Pages) {
		return fmt.Errorf("metadata pages = %v, want %d", doc.Metadata["pages"], doc.Pages)
	}
	return nil
}

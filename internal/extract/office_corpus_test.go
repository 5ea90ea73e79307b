package extract

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// officeManifest is the part of the office corpus's manifest.json the test reads.
type officeManifest struct {
	Files []struct {
		File      string  `json:"file"`
		Format    string  `json:"format"`
		Password  *string `json:"password"`
		Tags      []string
		Reference struct {
			TextChars *int           `json:"text_chars"`
			Units     map[string]any `json:"units"`
			Error     *string        `json:"error"`
		} `json:"reference"`
	} `json:"files"`
}

// officeFormats are the formats of the corpus this package extracts as office packages.
var officeFormats = []string{"docx", "pptx", "xlsx", "odt", "ods", "odp"}

// TestOfficeReferenceCorpus extracts every DOCX, PPTX, XLSX, ODT, ODS and ODP file of the
// office corpus in the child, and compares the amount of text with the reference's
// (LibreOffice). Nothing may crash or hang; every file is extracted or fails with a reason
// code; of the files that need no password and whose reference has more than 100
// characters, at least 90% must yield at least half as many characters. The table it logs
// is the one in docs/ingestion.md:
//
//	DOCENT_EVAL_DATA=/work/shared/data go test -run TestOfficeReferenceCorpus -v ./internal/extract
func TestOfficeReferenceCorpus(t *testing.T) {
	dir := filepath.Dir(evaldata.Path(t, "office/manifest.json"))
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m officeManifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	type row struct {
		file, format, units, outcome, ref string
		chars, refChars                   int
		eligible, pass                    bool
		elapsed                           time.Duration
	}
	var rows []row
	var mu sync.Mutex
	runner := testRunner(t, Config{Timeout: 60 * time.Second, Workers: 2, MemoryLimit: 512 << 20})
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, f := range m.Files {
		if !slices.Contains(officeFormats, f.Format) {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := row{file: strings.TrimPrefix(f.File, "files/"), format: f.Format}
			start := time.Now()
			doc, err := extractFile(t, runner, filepath.Join(dir, f.File))
			r.elapsed = time.Since(start)
			switch {
			case err != nil:
				r.outcome = ReasonOf(err)
				switch r.outcome {
				case ReasonEncrypted, ReasonCorrupt, ReasonTooLarge, ReasonTimeout, ReasonMemory:
				default:
					t.Errorf("%s: %v", r.file, err)
				}
			case doc.Skip != "":
				r.outcome = "skip:" + doc.Skip
			default:
				r.outcome = "ok"
			}
			if err == nil {
				r.chars = utf8.RuneCountInString(doc.Text)
				switch {
				case doc.PageUnit == PageUnitSlide:
					r.units = fmt.Sprintf("%d slides", doc.Pages)
				case doc.Metadata["sheets"] != nil:
					r.units = fmt.Sprintf("%v sheets", doc.Metadata["sheets"])
				}
				for _, w := range doc.Warnings {
					r.outcome += " (" + w.Reason + ")"
				}
				if err := officeCheckDocument(doc); err != nil {
					t.Errorf("%s: %v", r.file, err)
				}
			}
			switch {
			case f.Reference.TextChars != nil:
				r.refChars = *f.Reference.TextChars
				r.ref = fmt.Sprint(r.refChars)
			case f.Reference.Error != nil:
				r.ref = "error: " + truncate(*f.Reference.Error, 40)
			}
			if f.Password != nil {
				r.ref += " (password)"
			}
			r.eligible = f.Password == nil && r.refChars > 100
			r.pass = r.chars*2 >= r.refChars
			mu.Lock()
			rows = append(rows, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(a.format, b.format), cmp.Compare(a.file, b.file)) })

	var b strings.Builder
	b.WriteString("| file | format | units | characters | outcome | reference | ratio |\n|---|---|---|---|---|---|---|\n")
	eligible, passed := 0, 0
	for _, r := range rows {
		ratio := "–"
		if r.refChars > 0 {
			ratio = fmt.Sprintf("%.2f", float64(r.chars)/float64(r.refChars))
		}
		if r.eligible {
			eligible++
			ratio += " ✗"
			if r.pass {
				passed++
				ratio = strings.TrimSuffix(ratio, " ✗") + " ✓"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %s |\n", r.file, strings.ToUpper(r.format), cmp.Or(r.units, "–"), r.chars, r.outcome, cmp.Or(r.ref, "–"), ratio)
		if r.elapsed > 65*time.Second {
			t.Errorf("%s: took %v, more than the timeout", r.file, r.elapsed)
		}
	}
	fmt.Fprintf(&b, "\n%d of %d eligible files (no password, reference > 100 characters) reach half the reference's characters.\n", passed, eligible)
	t.Log("\n" + b.String())
	if eligible == 0 {
		t.Fatal("no eligible files in the manifest")
	}
	if passed*10 < eligible*9 {
		t.Errorf("%d of %d eligible files reach half the reference's characters; want at least 90%%", passed, eligible)
	}
}

// officeCheckDocument checks the invariants of an office Document: blocks in order within
// the text, slides' blocks within their pages, table header rows within the table.
func officeCheckDocument(doc Document) error {
	if len(doc.PageStarts) != doc.Pages {
		return fmt.Errorf("%d PageStarts for %d pages", len(doc.PageStarts), doc.Pages)
	}
	end := 0
	for i, bl := range doc.Blocks {
		if bl.Start < end || bl.End <= bl.Start || bl.End > len(doc.Text) {
			return fmt.Errorf("block %d [%d,%d) out of order or out of the text", i, bl.Start, bl.End)
		}
		if doc.PageUnit == PageUnitSlide {
			if bl.Page < 1 || bl.Page > doc.Pages {
				return fmt.Errorf("block %d on slide %d of %d", i, bl.Page, doc.Pages)
			}
			if p := bl.Page; doc.PageStarts[p-1] > bl.Start || p < doc.Pages && doc.PageStarts[p] <= bl.Start {
				return fmt.Errorf("block %d at %d is not within slide %d", i, bl.Start, p)
			}
		}
		if bl.HeaderRows > 0 && (bl.Kind != chunk.Table || strings.Count(doc.Text[bl.Start:bl.End], "\n") < bl.HeaderRows) {
			return fmt.Errorf("block %d: %d header rows in %q", i, bl.HeaderRows, doc.Text[bl.Start:bl.End])
		}
		end = bl.End
	}
	if (doc.Text == "") != (doc.Skip != "") {
		return fmt.Errorf("text of %d bytes with Skip %q", len(doc.Text), doc.Skip)
	}
	return nil
}

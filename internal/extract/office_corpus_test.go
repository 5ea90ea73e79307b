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
	"unicode"

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

// legacyFormats are the corpus's formats converted by LibreOffice.
var legacyFormats = []string{"doc", "xls", "ppt"}

// knownShort are the files that yield less than half their reference, and why: in both,
// the reference counts text that is not the document's (see docs/ingestion.md, "Office
// files of the evaluation data").
var knownShort = map[string]string{
	// The file is a pandoc RTF fragment without the {\rtf1 header: LibreOffice imported it as
	// plain text, and the reference is the RTF source, control words and all.
	"pandoc__tables.rtf": "the reference is the RTF source (LibreOffice read the headerless fragment as plain text)",
	// The message's multipart/alternative holds the same text twice: the reference reads
	// both the text/plain part (4,594 characters, exactly what is extracted) and the HTML
	// one through pandoc, whose layout tables become 7,121 characters of +---+ borders.
	"tika__testRFC822-mixed-with-pdf-inline.eml": "the reference reads both alternatives of the message, and pandoc's table borders",
}

// TestOfficeReferenceCorpus extracts every file of the office corpus (55: DOCX, PPTX, XLSX,
// ODT, ODS, ODP, EPUB, RTF, EML, and DOC, XLS, PPT through LibreOffice when it is
// installed) in the child, and compares the amount of text (characters other than white
// space, as the reference counts them, a file's derived documents included) with the
// reference's. Nothing may crash or hang; every file is extracted or fails with a reason
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
	converterMissing, _ := runner.LegacyStatus()
	if converterMissing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("LibreOffice is unavailable (%s); CI installs it with scripts/libreoffice.sh", converterMissing)
		}
		t.Logf("DOC, XLS and PPT files are not converted: %s", converterMissing)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, f := range m.Files {
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
				switch {
				case r.outcome == ReasonEncrypted || r.outcome == ReasonCorrupt || r.outcome == ReasonTooLarge ||
					r.outcome == ReasonTimeout || r.outcome == ReasonMemory:
				case r.outcome == ReasonConverterMissing && converterMissing != "" && slices.Contains(legacyFormats, f.Format):
				default:
					t.Errorf("%s: %v", r.file, err)
				}
			case doc.Skip != "":
				r.outcome = "skip:" + doc.Skip
			default:
				r.outcome = "ok"
			}
			if err == nil {
				r.chars = nonSpace(doc.Text)
				for _, p := range doc.Parts {
					r.chars += nonSpace(p.Text)
				}
				switch {
				case doc.PageUnit == PageUnitSlide:
					r.units = fmt.Sprintf("%d slides", doc.Pages)
				case doc.Metadata["sheets"] != nil:
					r.units = fmt.Sprintf("%v sheets", doc.Metadata["sheets"])
				case doc.Pages > 0:
					r.units = fmt.Sprintf("%d pages", doc.Pages)
				case len(doc.Parts) > 0:
					r.units = fmt.Sprintf("%d documents", 1+len(doc.Parts))
				}
				for _, w := range doc.Warnings {
					r.outcome += " (" + w.Reason + ")"
				}
				if slices.Contains(officeFormats, f.Format) || slices.Contains(legacyFormats, f.Format) {
					if err := officeCheckDocument(doc); err != nil {
						t.Errorf("%s: %v", r.file, err)
					}
				} else {
					checkDocument(t, r.file, doc)
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
			if why := knownShort[r.file]; why != "" && r.eligible && !r.pass {
				r.outcome += " (short: " + why + ")"
			}
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
	fmt.Fprintf(&b, "\n%d files; %d of %d eligible files (no password, reference > 100 characters) reach half the reference's characters (%.1f%%).\n",
		len(rows), passed, eligible, 100*float64(passed)/float64(max(eligible, 1)))
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

// officeFormats are the formats of the corpus this package extracts as office packages.
var officeFormats = []string{"docx", "pptx", "xlsx", "odt", "ods", "odp"}

// nonSpace counts the characters of s other than white space: how the corpus's reference
// counts (text_chars).
func nonSpace(s string) int {
	n := 0
	for _, r := range s {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

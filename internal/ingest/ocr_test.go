package ingest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/testing/pdfgen"
)

// TestOCRDeferredToTheNextRun: a run's OCR budget defers a scan's remaining pages; the
// document is stored with what it has, and the next run (same file) extracts it again and
// finishes it, after which it is unchanged.
func TestOCRDeferredToTheNextRun(t *testing.T) {
	for _, tool := range []string{"tesseract", "pdftoppm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing (CI=true): run scripts/ocr.sh", tool)
			}
			t.Skipf("%s is missing: run scripts/ocr.sh", tool)
		}
	}
	h := newHarness(t, map[string]string{".docent-acl": "public\n"})
	text := strings.Repeat("First page words.\n", 30) + strings.Repeat("Second page words.\n", 30)
	data, err := pdfgen.Scan(text, pdfgen.ScanOptions{DPI: 100, FontSize: 14})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "scan.pdf"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	budget := func(c *ingest.Config) { c.Extract.OCR = extract.OCRConfig{MaxPages: 1} }

	s, o := h.mustRun(budget)
	if o["scan.pdf"] != "added" || s.OCR.Pages != 1 || s.OCR.Deferred == 0 || s.OCR.DeferredDocuments != 1 {
		t.Fatalf("run 1: %v, OCR %+v: want scan.pdf added with page 1, the rest deferred", o, s.OCR)
	}
	if len(s.Warnings) != 1 || s.Warnings[0].Reason != extract.SkipOCRDeferred {
		t.Errorf("warnings %+v: want ocr_deferred", s.Warnings)
	}
	s, o = h.mustRun(budget)
	if o["scan.pdf"] != "updated" || s.OCR.Pages != 1 {
		t.Fatalf("run 2: %v, OCR %+v: want scan.pdf extracted again", o, s.OCR)
	}
	// With the budget it needs, the document is finished, then left alone.
	s, o = h.mustRun()
	if o["scan.pdf"] != "updated" || s.OCR.Deferred != 0 || s.OCR.Pages < 2 {
		t.Fatalf("run 3: %v, OCR %+v: want every page recognised", o, s.OCR)
	}
	s, o = h.mustRun()
	if o["scan.pdf"] != "unchanged" || s.OCR.Pages != 0 {
		t.Fatalf("run 4: %v, OCR %+v: want unchanged", o, s.OCR)
	}
	var meta string
	if err := h.db.Pool.QueryRow(t.Context(), `SELECT metadata::text FROM documents WHERE uri LIKE '%scan.pdf'`).Scan(&meta); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(meta, `"ocr_pages"`) {
		t.Errorf("metadata %s: want ocr_pages", meta)
	}
}

// TestOCRDeferredAttachment: a scanned PDF attached to an e-mail is recognised as a scan on
// its own is, with the message's tags; when the run's OCR budget defers it, the next run
// extracts the message's file again (although it did not change) and finishes the
// attachment, leaving the rest unchanged; then everything is unchanged.
func TestOCRDeferredAttachment(t *testing.T) {
	for _, tool := range []string{"tesseract", "pdftoppm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing (CI=true): run scripts/ocr.sh", tool)
			}
			t.Skipf("%s is missing: run scripts/ocr.sh", tool)
		}
	}
	scan := func(text string) string {
		data, err := pdfgen.Scan(text, pdfgen.ScanOptions{DPI: 100, FontSize: 14})
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	h := newHarness(t, map[string]string{
		".docent-acl": "group:legal\n",
		"x.eml": message("Scans", "Two scans attached.",
			[2]string{"a.pdf", scan("Invoice approved by the treasurer.")},
			[2]string{"b.pdf", scan("Delivery note signed on Tuesday.")}),
	})
	budget := func(c *ingest.Config) { c.Extract.OCR = extract.OCRConfig{MaxPages: 1} }

	s, o := h.mustRun(budget)
	want := map[string]string{"x.eml": "added", "x.eml#attachment/1/a.pdf": "added", "x.eml#attachment/2/b.pdf": "skipped:ocr_deferred"}
	if diff := cmp.Diff(want, o); diff != "" || s.OCR.Pages != 1 || s.OCR.DeferredDocuments != 1 {
		t.Fatalf("run 1: OCR %+v, outcomes (-want +got):\n%s", s.OCR, diff)
	}
	if len(h.visible("treasurer")) == 0 || len(h.visible("Tuesday")) != 0 {
		t.Errorf("run 1: want a.pdf's text only")
	}

	s, o = h.mustRun()
	want = map[string]string{"x.eml": "updated", "x.eml#attachment/1/a.pdf": "unchanged", "x.eml#attachment/2/b.pdf": "updated"}
	if diff := cmp.Diff(want, o); diff != "" || s.OCR.Pages != 1 || s.OCR.Deferred != 0 {
		t.Fatalf("run 2: OCR %+v, outcomes (-want +got):\n%s", s.OCR, diff)
	}
	for uri, tags := range h.visible("Tuesday") {
		if uri != "x.eml#attachment/2/b.pdf" || tags != "group:legal" {
			t.Errorf("run 2: Tuesday in %s visible to %s", uri, tags)
		}
	}
	if len(h.visible("Tuesday")) == 0 {
		t.Errorf("run 2: b.pdf's text was not indexed")
	}

	_, o = h.mustRun()
	want = map[string]string{"x.eml": "unchanged", "x.eml#attachment/1/a.pdf": "unchanged", "x.eml#attachment/2/b.pdf": "unchanged"}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Fatalf("run 3: outcomes (-want +got):\n%s", diff)
	}
}

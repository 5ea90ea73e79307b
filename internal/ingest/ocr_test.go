package ingest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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

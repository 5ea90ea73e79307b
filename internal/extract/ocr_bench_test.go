package extract

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/testing/evaldata"
	"github.com/docent-rag/docent/internal/testing/pdfgen"
)

// BenchmarkOCRAccuracy prints the character accuracy of OCR on generated scans of four
// pages of prose at 150 and 300 dpi, rotated and noisy as TestOCRScannedPDFAccuracy's, and
// the throughput of the whole path (a child, pdftoppm at 300 dpi, tesseract) in pages/s.
//
//	go test -run '^$' -bench BenchmarkOCRAccuracy -benchtime 1x ./internal/extract
func BenchmarkOCRAccuracy(b *testing.B) {
	requireOCR(b)
	text := strings.Repeat(scanText+"\n", 4)
	r := testRunner(b, Config{Workers: 1, Timeout: 10 * time.Minute})
	for _, dpi := range []int{150, 300} {
		data, err := pdfgen.Scan(text, pdfgen.ScanOptions{DPI: dpi, Rotate: 0.8, Noise: 12, Speckles: 0.0005, Seed: 7})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(map[int]string{150: "150dpi", 300: "300dpi"}[dpi], func(b *testing.B) {
			var pages int
			var acc float64
			start := time.Now()
			for b.Loop() {
				doc, err := r.Extract(context.Background(), "scan.pdf", data)
				if err != nil {
					b.Fatal(err)
				}
				pages += len(doc.OCR.Pages)
				acc = charAccuracy(doc.Text, text)
			}
			b.ReportMetric(100*acc, "%accuracy")
			b.ReportMetric(float64(pages)/time.Since(start).Seconds(), "pages/s")
		})
	}
}

// BenchmarkOCRRunCost measures what OCR adds to the extraction of a mixed corpus: the
// reference PDFs (36 files, 6 of them scans or image-only) and four generated scanned
// pages, extracted with OCR on and off by the same Runner configuration in the same
// process; it reports the ratio of the two times.
//
//	go test -run '^$' -bench BenchmarkOCRRunCost -benchtime 1x ./internal/extract
func BenchmarkOCRRunCost(b *testing.B) {
	requireOCR(b)
	dir := evaldata.Path(b, "pdfs/files")
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		files[e.Name()] = data
	}
	scanned, err := pdfgen.Scan(strings.Repeat(scanText+"\n", 4), pdfgen.ScanOptions{DPI: 300, Rotate: 0.5, Noise: 10, Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	files["generated-scan.pdf"] = scanned
	run := func(mode OCRMode) (time.Duration, int) {
		r := testRunner(b, Config{Workers: 2, Timeout: 10 * time.Minute, OCR: OCRConfig{Mode: mode}})
		start := time.Now()
		pages := 0
		for name, data := range files {
			doc, _ := r.Extract(context.Background(), name, data)
			pages += len(doc.OCR.Pages)
		}
		return time.Since(start), pages
	}
	for b.Loop() {
		off, _ := run(OCROff)
		on, pages := run(OCRPDF)
		b.ReportMetric(on.Seconds()/off.Seconds(), "on/off")
		b.ReportMetric(float64(pages), "ocr-pages")
		b.ReportMetric(off.Seconds(), "off-s")
		b.ReportMetric(on.Seconds(), "on-s")
	}
}

package extract

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/testing/evaldata"
	"github.com/docent-rag/docent/internal/testing/pdfgen"
)

// requireOCR skips the test when tesseract (with English) or pdftoppm is missing, with a
// hint; under CI=true it fails instead: CI must never pass by skipping.
func requireOCR(t testing.TB) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"tesseract", "pdftoppm"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		if langs, err := tesseractLanguages(must(exec.LookPath("tesseract"))); err != nil || !slices.Contains(langs, "eng") {
			missing = append(missing, "tesseract's English data")
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("OCR is not installed (%s; CI=true, so this fails instead of skipping): run scripts/ocr.sh", strings.Join(missing, ", "))
	}
	t.Skipf("OCR is not installed (%s): run scripts/ocr.sh (Debian's tesseract-ocr, tesseract-ocr-eng, poppler-utils)", strings.Join(missing, ", "))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// scanText is a page of ordinary prose for the accuracy tests (about 1,100 characters).
const scanText = `Quarterly maintenance report for the northern depot.
The inspection of the braking system found worn pads on three of the twelve vehicles. They were replaced on the 14th of March, and the vehicles returned to service the next day.
Fuel consumption rose by 4.2 percent compared with the previous quarter, mostly because of longer routes during the roadworks on the ring road. The drivers were asked to report idle times above ten minutes.
Two incidents were recorded: a cracked windscreen (no injuries) and a delayed departure caused by a faulty door sensor. Both were closed within a week.
Next steps: order spare sensors, review the winter tyre stock, and schedule the annual safety training for all staff before the end of June.`

// charAccuracy is 1 - Levenshtein(got, want) / len(want), in characters, after collapsing
// white space.
func charAccuracy(got, want string) float64 {
	g := []rune(strings.Join(strings.Fields(got), " "))
	w := []rune(strings.Join(strings.Fields(want), " "))
	prev := make([]int, len(w)+1)
	cur := make([]int, len(w)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(g); i++ {
		cur[0] = i
		for j := 1; j <= len(w); j++ {
			cost := 1
			if g[i-1] == w[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return 1 - float64(prev[len(w)])/float64(len(w))
}

func TestCharAccuracy(t *testing.T) {
	for _, c := range []struct {
		got, want string
		acc       float64
	}{
		{"abc def", "abc  def", 1},
		{"abx def", "abc def", 1 - 1.0/7},
		{"", "abcd", 0},
		{"ab\ncd", "ab cd", 1},
	} {
		if a := charAccuracy(c.got, c.want); math.Abs(a-c.acc) > 1e-9 {
			t.Errorf("charAccuracy(%q, %q) = %v, want %v", c.got, c.want, a, c.acc)
		}
	}
}

func TestGarbageText(t *testing.T) {
	for _, c := range []struct {
		paras []string
		want  bool
	}{
		{[]string{"An ordinary page of text."}, false},
		{[]string{"Überprüfung – ½ € “quoted” 漢字 עברית"}, false},
		{[]string{"\uE001\uE002\uE003\uE004 ab"}, true},               // private use: a font without a mapping
		{[]string{"\uFFFD\uFFFD\uFFFD x"}, true},                      // replacement characters
		{[]string{"\uFFFD page 3 of the report"}, false},              // a few odd glyphs among text
		{[]string{"\U000F0001\U000F0002", "\x01\x02 z"}, true},        // supplementary private use, controls
		{[]string{"\U000E01F0\U0003FFFE"}, true},                      // unassigned code points
		{[]string{"ab", "\uE000\uE001"}, true},                        // half: garbage
		{nil, false},                                                  // no text layer: not garbage, empty
		{[]string{"   "}, false},                                      //
		{[]string{"\uE000\uE001\uE002 readable words follow"}, false}, //
	} {
		if got := garbageText(c.paras); got != c.want {
			t.Errorf("garbageText(%q) = %v, want %v", c.paras, got, c.want)
		}
	}
}

// ocrRunner returns a Runner with OCR as configured, its tools found on PATH.
func ocrRunner(t *testing.T, ocr OCRConfig) *Runner {
	t.Helper()
	return testRunner(t, Config{Workers: 1, Timeout: 5 * time.Minute, OCR: ocr})
}

// scan makes a scanned PDF of text.
func scan(t testing.TB, text string, opt ScanOptionsAlias) []byte {
	t.Helper()
	data, err := pdfgen.Scan(text, opt)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// ScanOptionsAlias keeps the tests short.
type ScanOptionsAlias = pdfgen.ScanOptions

// TestOCRScannedPDFAccuracy: scanned pages made from known text (slightly rotated, with
// noise and speckles) are recognised through the real path (a child, pdftoppm,
// tesseract) with at least 95% character accuracy at 300 dpi and 90% at 150 dpi; their
// blocks are marked OCR with their page, and the document says which pages were
// recognised.
func TestOCRScannedPDFAccuracy(t *testing.T) {
	requireOCR(t)
	r := ocrRunner(t, OCRConfig{})
	for _, c := range []struct {
		dpi    int
		rotate float64
		bar    float64
	}{
		{300, 0.7, 0.95},
		{150, -0.5, 0.90},
	} {
		t.Run(strconv.Itoa(c.dpi)+"dpi", func(t *testing.T) {
			data := scan(t, scanText, ScanOptionsAlias{DPI: c.dpi, Rotate: c.rotate, Noise: 12, Speckles: 0.0005, Seed: uint64(c.dpi)})
			doc, err := r.Extract(context.Background(), "scan.pdf", data)
			if err != nil {
				t.Fatal(err)
			}
			acc := charAccuracy(doc.Text, scanText)
			t.Logf("%d dpi, rotated %.1f°: character accuracy %.1f%% (%d ms)", c.dpi, c.rotate, 100*acc, doc.OCR.Millis)
			if acc < c.bar {
				t.Errorf("character accuracy %.3f, want at least %.2f; text:\n%s", acc, c.bar, doc.Text)
			}
			if doc.Skip != "" || len(doc.NoTextPages) != 0 || !slices.Equal(doc.OCR.Pages, []int{1}) || doc.OCR.Pending != "" {
				t.Errorf("Skip %q, NoTextPages %v, OCR %+v: want page 1 recognised", doc.Skip, doc.NoTextPages, doc.OCR)
			}
			if len(doc.Blocks) < 4 {
				t.Errorf("%d blocks, want the paragraphs", len(doc.Blocks))
			}
			for _, b := range doc.Blocks {
				if !b.OCR || b.Page != 1 || b.Kind != chunk.Paragraph {
					t.Errorf("block %+v: want an OCR paragraph of page 1", b)
				}
			}
			if got := doc.Metadata["ocr_pages"]; !slices.Equal(anyInts(got), []int64{1}) || doc.Metadata["ocr_languages"] != "eng" {
				t.Errorf("metadata %v: want ocr_pages [1] and ocr_languages eng", doc.Metadata)
			}
			if StoredVersion(doc) != Version || !r.UpToDate(StoredVersion(doc)) {
				t.Errorf("stored version %q: want %q, up to date", StoredVersion(doc), Version)
			}
		})
	}
}

func anyInts(v any) []int64 {
	l, _ := v.([]any)
	var out []int64
	for _, e := range l {
		n, _ := e.(int64)
		out = append(out, n)
	}
	return out
}

// TestOCRMixedPDF: only the pages without a text layer are recognised; the others keep
// their text, unmarked.
func TestOCRMixedPDF(t *testing.T) {
	requireOCR(t)
	imgs, err := pdfgen.ScanImages("Scanned appendix with the signed delivery note.", pdfgen.ScanOptions{DPI: 150})
	if err != nil {
		t.Fatal(err)
	}
	// Page 1 text (Helvetica), page 2 the scan: two PDFs are not merged; build page 2 as an
	// image PDF and page 1 with text in one file.
	data := mixedPDF(t, "A page with a real text layer.", imgs[0], 150)
	doc, err := ocrRunner(t, OCRConfig{}).Extract(context.Background(), "mixed.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.OCR.Pages, []int{2}) || doc.Pages != 2 {
		t.Fatalf("OCR %+v, %d pages: want page 2 recognised", doc.OCR, doc.Pages)
	}
	var ocrText, layerText string
	for _, b := range doc.Blocks {
		switch {
		case b.OCR && b.Page == 2:
			ocrText += doc.Text[b.Start:b.End]
		case !b.OCR && b.Page == 1:
			layerText += doc.Text[b.Start:b.End]
		default:
			t.Errorf("block %+v", b)
		}
	}
	if !strings.Contains(layerText, "real text layer") || !strings.Contains(ocrText, "delivery note") {
		t.Errorf("text layer %q, OCR %q", layerText, ocrText)
	}
}

// mixedPDF is a PDF of two pages: text in Helvetica, then a grey image at dpi.
func mixedPDF(t *testing.T, text string, img *image.Gray, dpi int) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(img.Pix)
	_ = zw.Close()
	w, h := float64(img.Rect.Dx())*72/float64(dpi), float64(img.Rect.Dy())*72/float64(dpi)
	ops1 := "BT /F1 12 Tf 72 700 Td (" + text + ") Tj ET"
	ops2 := fmt.Sprintf("q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q", w, h)
	return pdfgen.Objects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(ops1), ops1),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /XObject << /Im0 8 0 R >> >> /Contents 7 0 R >>", w, h),
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(ops2), ops2),
		fmt.Sprintf("<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream",
			img.Rect.Dx(), img.Rect.Dy(), z.Len(), z.String()),
	})
}

// fixLength corrects the JSON length at the head of an encoded document changed by delta
// bytes.
func fixLength(p []byte, delta int) []byte {
	binary.BigEndian.PutUint32(p, uint32(int(binary.BigEndian.Uint32(p))+delta))
	return p
}

func mustGray(w, h int) *image.Gray { return image.NewGray(image.Rect(0, 0, w, h)) }

// TestOCRReferenceScans: the scanned files among the reference PDFs, which have no text
// layer, now yield text.
func TestOCRReferenceScans(t *testing.T) {
	requireOCR(t)
	dir := evaldata.Path(t, "pdfs/files")
	r := ocrRunner(t, OCRConfig{})
	for _, c := range []struct {
		file string
		want []string // words the page shows
	}{
		{"pdfminer__175.pdf", []string{"ACCESSORY", "December"}},
		{"pdfminer__pdf-with-jbig2.pdf", []string{"Doesn't"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			doc, err := extractFile(t, r, filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d characters, OCR %+v", utf8.RuneCountInString(doc.Text), doc.OCR)
			if doc.Skip != "" || len(doc.OCR.Pages) == 0 {
				t.Fatalf("Skip %q, OCR %+v: want recognised text", doc.Skip, doc.OCR)
			}
			for _, w := range c.want {
				if !strings.Contains(doc.Text, w) {
					t.Errorf("text has no %q:\n%s", w, doc.Text)
				}
			}
		})
	}
}

// TestOCRUnavailable: on a machine without the tools, a scanned page is reported as
// ocr_unavailable (not silently empty), and the document is extracted again once OCR is
// installed, not before.
func TestOCRUnavailable(t *testing.T) {
	data := scan(t, "Nothing will read this.", ScanOptionsAlias{DPI: 100})
	missing := OCRConfig{Tesseract: "/nonexistent/tesseract", Pdftoppm: "/nonexistent/pdftoppm"}
	r := ocrRunner(t, missing)
	if _, why := r.OCRStatus(); !strings.Contains(why, "tesseract and pdftoppm not found") {
		t.Errorf("OCRStatus: %q", why)
	}
	doc, err := r.Extract(context.Background(), "scan.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Skip != SkipOCRUnavailable || !slices.Equal(doc.OCR.Unavailable, []int{1}) || len(doc.OCR.Pages) != 0 {
		t.Fatalf("Skip %q, OCR %+v: want ocr_unavailable for page 1", doc.Skip, doc.OCR)
	}
	v := StoredVersion(doc)
	if v == Version || !r.UpToDate(v) {
		t.Errorf("stored version %q: want a pending version, up to date while OCR is missing", v)
	}
	// With OCR installed the same stored version is out of date; with OCR off it is too.
	if r2 := testRunner(t, Config{OCR: OCRConfig{Mode: OCROff}}); r2.UpToDate(v) {
		t.Errorf("UpToDate(%q) with OCR off: want false", v)
	}
	if _, err := exec.LookPath("tesseract"); err == nil {
		if _, err := exec.LookPath("pdftoppm"); err == nil && testRunner(t, Config{}).UpToDate(v) {
			t.Errorf("UpToDate(%q) with OCR installed: want false", v)
		}
	}
	// An image with images enabled: unavailable too.
	var png bytes.Buffer
	imgs, _ := pdfgen.ScanImages("x", pdfgen.ScanOptions{DPI: 50})
	if err := pngEncode(&png, imgs[0]); err != nil {
		t.Fatal(err)
	}
	missing.Mode = OCRAll
	doc, err = ocrRunner(t, missing).Extract(context.Background(), "photo.png", png.Bytes())
	if err != nil || doc.Skip != SkipOCRUnavailable {
		t.Errorf("image: Skip %q, err %v: want ocr_unavailable", doc.Skip, err)
	}
}

// TestOCROff: with OCR off a scan is no_text as before, and stored so that turning OCR on
// extracts it again.
func TestOCROff(t *testing.T) {
	data := scan(t, "Off.", ScanOptionsAlias{DPI: 100})
	r := ocrRunner(t, OCRConfig{Mode: OCROff})
	doc, err := r.Extract(context.Background(), "scan.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Skip != SkipNoText || len(doc.OCR.Pages)+len(doc.OCR.Unavailable) != 0 {
		t.Fatalf("Skip %q, OCR %+v: want no_text without OCR", doc.Skip, doc.OCR)
	}
	v := StoredVersion(doc)
	if !r.UpToDate(v) || testRunner(t, Config{}).UpToDate(v) {
		t.Errorf("stored version %q: want up to date with OCR off only", v)
	}
	doc, err = r.Extract(context.Background(), "photo.png", []byte("\x89PNG\r\n\x1a\n"))
	if err != nil || doc.Skip != SkipBinary {
		t.Errorf("image with OCR off: Skip %q, err %v: want binary", doc.Skip, err)
	}
}

// TestOCRBudget: a run's page budget defers the pages beyond it to the next run (the
// document is stored pending, never up to date); a file's page limit truncates.
func TestOCRBudget(t *testing.T) {
	requireOCR(t)
	// Two pages at 100 dpi, large type: quick to recognise.
	text := strings.Repeat("First page words.\n", 30) + strings.Repeat("Second page words.\n", 30)
	data := scan(t, text, ScanOptionsAlias{DPI: 100, FontSize: 14})
	if n := bytes.Count(data, []byte("/Type /Page ")); n < 2 {
		t.Fatalf("the scan has %d pages, want at least 2", n)
	}

	r := ocrRunner(t, OCRConfig{MaxPages: 1})
	doc, err := r.Extract(context.Background(), "scan.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.OCR.Pages, []int{1}) || len(doc.OCR.Deferred) == 0 || doc.OCR.Deferred[0] != 2 || doc.OCR.Pending != pendingDeferred {
		t.Fatalf("OCR %+v: want page 1 recognised, the rest deferred", doc.OCR)
	}
	if !strings.Contains(doc.Text, "First page") || strings.Contains(doc.Text, "Second page") {
		t.Errorf("text %q: want page 1's only", doc.Text)
	}
	if v := StoredVersion(doc); r.UpToDate(v) || testRunner(t, Config{}).UpToDate(v) {
		t.Errorf("a deferred document (%q) is up to date", v)
	}
	// The budget is spent: the next file is deferred whole, and skipped as such.
	doc, err = r.Extract(context.Background(), "scan2.pdf", data)
	if err != nil || doc.Skip != SkipOCRDeferred || len(doc.OCR.Pages) != 0 {
		t.Errorf("second file: Skip %q, OCR %+v, err %v: want ocr_deferred", doc.Skip, doc.OCR, err)
	}

	// A file limit of 1 page with budget left: the rest is truncated, not deferred.
	r = ocrRunner(t, OCRConfig{MaxPages: 10, MaxFilePages: 1})
	doc, err = r.Extract(context.Background(), "scan.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.OCR.Pages, []int{1}) || len(doc.OCR.Truncated) == 0 || doc.OCR.Pending != "" || StoredVersion(doc) != Version {
		t.Errorf("OCR %+v: want page 1 recognised, the rest truncated, nothing pending", doc.OCR)
	}
	// What a file did not use went back to the run: 10 - 1 recognised.
	if r.ocrLeft != 9 {
		t.Errorf("budget left %d, want 9", r.ocrLeft)
	}
}

// TestOCRPageTimeout: a tool that hangs is killed with its process group at the page's
// time limit; the page is reported failed and the file is still extracted.
func TestOCRPageTimeout(t *testing.T) {
	requireOCR(t)
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	// A "tesseract" that starts a grandchild and waits for it.
	fake := filepath.Join(dir, "tesseract")
	script := "#!/bin/sh\nif [ \"$1\" = --list-langs ]; then echo 'List of available languages (1):'; echo eng; exit 0; fi\n" +
		"sleep 300 & echo $$ $! > " + pids + "\nwait\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := ocrRunner(t, OCRConfig{Tesseract: fake, PageTimeout: 2 * time.Second})
	data := scan(t, "Hangs.", ScanOptionsAlias{DPI: 100})
	start := time.Now()
	doc, err := r.Extract(context.Background(), "scan.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.OCR.Failed, []int{1}) || doc.Skip != SkipNoText {
		t.Errorf("OCR %+v, Skip %q: want page 1 failed, no text", doc.OCR, doc.Skip)
	}
	if errs, _ := doc.Metadata["ocr_errors"].([]any); len(errs) != 1 || !strings.Contains(errs[0].(string), "did not finish in time") {
		t.Errorf("ocr_errors %v", doc.Metadata["ocr_errors"])
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("took %v", took)
	}
	b, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("process %d of the hung tool is alive", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestOCRToolOutputBounded: a tool's output beyond its limit fails the page instead of
// growing the child.
func TestOCRToolOutputBounded(t *testing.T) {
	_, err := runTool(context.Background(), toolLimits{output: 1000}, "/bin/sh", "-c", "head -c 100000 /dev/zero")
	if err == nil || !strings.Contains(err.Error(), "output over its limit") {
		t.Errorf("err %v: want output over its limit", err)
	}
	// The address space limit applies to the tool: 64 MiB cannot hold a 200 MB string.
	_, err = runTool(context.Background(), toolLimits{memory: 64 << 20, output: 1000}, "/bin/sh", "-c", `x=$(head -c 200000000 /dev/zero | tr '\0' a); echo ${#x}`)
	if err == nil {
		t.Errorf("a tool over its memory limit succeeded")
	}
}

// TestOCRLanguages: languages are checked against what Tesseract has installed, and cannot
// smuggle options.
func TestOCRLanguages(t *testing.T) {
	for _, langs := range []string{"-c tessedit_write_images=1", "eng fra", "eng+", "../eng", ""} {
		if _, err := NewRunner(Config{OCR: OCRConfig{Languages: langs + "x"[:min(1, len(langs))]}}); langs != "" && err == nil {
			t.Errorf("languages %q accepted", langs)
		}
	}
	requireOCR(t)
	if _, err := NewRunner(Config{OCR: OCRConfig{Languages: "eng+zzz"}}); err == nil || !strings.Contains(err.Error(), `"zzz" is not installed`) {
		t.Errorf("err %v: want zzz not installed", err)
	}
}

// TestOCRImage: with DOCENT_OCR=all a standalone image is recognised; with the default it
// is a binary file, stored so that enabling images extracts it again.
func TestOCRImage(t *testing.T) {
	requireOCR(t)
	imgs, err := pdfgen.ScanImages("Whiteboard photo: deploy on Friday.", pdfgen.ScanOptions{DPI: 200, FontSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pngEncode(&buf, imgs[0]); err != nil {
		t.Fatal(err)
	}
	r := ocrRunner(t, OCRConfig{Mode: OCRAll})
	doc, err := r.Extract(context.Background(), "board.png", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc.Text, "deploy on Friday") || doc.ContentType != "image/png" || len(doc.Blocks) == 0 || !doc.Blocks[0].OCR {
		t.Errorf("text %q, type %q, blocks %+v", doc.Text, doc.ContentType, doc.Blocks)
	}
	def := ocrRunner(t, OCRConfig{})
	doc, err = def.Extract(context.Background(), "board.png", buf.Bytes())
	if err != nil || doc.Skip != SkipBinary {
		t.Fatalf("default mode: Skip %q, err %v", doc.Skip, err)
	}
	if v := StoredVersion(doc); !def.UpToDate(v) || r.UpToDate(v) {
		t.Errorf("stored version %q: want up to date in mode pdf only", v)
	}
	// Not an image, and an image too large: refused before Tesseract.
	if _, err := r.Extract(context.Background(), "fake.png", []byte("not a png")); ReasonOf(err) != ReasonInvalid {
		t.Errorf("fake image: %v", err)
	}
	if _, err := r.Extract(context.Background(), "huge.png", hugePNG(t)); ReasonOf(err) != ReasonTooLarge {
		t.Errorf("huge image: %v", err)
	}
}

// hugePNG is the header of a PNG of 100,000 × 100,000 pixels.
func hugePNG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := pngEncode(&buf, mustGray(1, 1)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// IHDR's width and height (bytes 16-23), and its checksum.
	copy(b[16:24], []byte{0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0})
	binary.BigEndian.PutUint32(b[29:33], crc32.ChecksumIEEE(b[12:29]))
	return b
}

var pngEncode = png.Encode

// TestWireOCRBlocks: the OCR marks (in block_info) and the OCR report survive the trip from
// the child, a derived document's (a scanned attachment's) too, and a child's answer with
// OCR marks on no block, or a report that could not have been made (an unknown pending
// reason would be stored as the extraction version), is refused.
func TestWireOCRBlocks(t *testing.T) {
	var b builder
	b.add(chunk.Paragraph, 0, 1, "read")
	b.addOCR(chunk.Paragraph, 2, "recognised")
	doc := Document{Document: b.document("t"), Metadata: map[string]any{}, OCR: OCRReport{Pages: []int{2}, Millis: 5}}
	doc.Parts = []Part{{Fragment: "attachment/1/scan.pdf", Document: Document{Document: b.document("a"), Metadata: map[string]any{},
		OCR: OCRReport{Pages: []int{2}, Deferred: []int{3}, Pending: pendingDeferred}}}}
	payload, err := encodeDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeDocument(payload)
	if err != nil {
		t.Fatal(err)
	}
	if got.Blocks[0].OCR || !got.Blocks[1].OCR || !slices.Equal(got.OCR.Pages, []int{2}) {
		t.Errorf("blocks %+v, OCR %+v", got.Blocks, got.OCR)
	}
	if len(got.Parts) != 1 {
		t.Fatalf("parts %+v", got.Parts)
	}
	if p := got.Parts[0]; p.Blocks[0].OCR || !p.Blocks[1].OCR || p.OCR.Pending != pendingDeferred || !slices.Equal(p.OCR.Deferred, []int{3}) {
		t.Errorf("part: blocks %+v, OCR %+v", p.Blocks, p.OCR)
	}
	doc.Parts = nil
	if payload, err = encodeDocument(doc); err != nil {
		t.Fatal(err)
	}
	const good = `"block_info":[{"b":1,"o":true}]`
	if !bytes.Contains(payload, []byte(good)) {
		t.Fatalf("no %s in the payload %q", good, payload)
	}
	for _, bad := range []struct{ old, new string }{
		{good, `"block_info":[{"b":2,"o":true}]`},
		{good, `"block_info":[{"b":-1,"o":true}]`},
		{good, `"block_info":[{"b":1,"o":true},{"b":1,"o":true}]`},
		{`"ocr":{"pages":[2],`, `"ocr":{"pending":"evil","pages":[2],`},
		{`"ocr":{"pages":[2],`, `"ocr":{"pending":"mode:","pages":[2],`},
		{`"ocr":{"pages":[2],`, `"ocr":{"pages":[-2],`},
		{`"ms":5`, `"ms":-5`},
	} {
		p := bytes.Replace(slices.Clone(payload), []byte(bad.old), []byte(bad.new), 1)
		if bytes.Equal(p, payload) {
			t.Fatalf("no %s in the payload %q", bad.old, payload)
		}
		p = fixLength(p, len(bad.new)-len(bad.old))
		if _, err := decodeDocument(p); err == nil {
			t.Errorf("%s accepted", bad.new)
		}
	}
}

// mailWith builds an e-mail whose attachments (file name → content) are base64-encoded.
func mailWith(attachments ...[2]string) []byte {
	var b strings.Builder
	b.WriteString("Subject: scans\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSee the scans.\r\n")
	for _, a := range attachments {
		fmt.Fprintf(&b, "--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=%s\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			a[0], base64.StdEncoding.EncodeToString([]byte(a[1])))
	}
	b.WriteString("--B--\r\n")
	return []byte(b.String())
}

// TestOCRAttachments: scanned PDFs attached to an e-mail (or in a mailbox) are recognised in
// the child as a scan on its own is: their blocks are marked OCR, and each attachment has
// its own report. The run's budget spans the file's attachments: beyond it they are
// deferred, which makes the message's file pending (never up to date) too, so that the next
// run extracts the file again. An image attachment left out because images are not
// recognised in this mode makes the message pending for that mode.
func TestOCRAttachments(t *testing.T) {
	requireOCR(t)
	// One page at 100 dpi, large type: quick to recognise.
	pdf := string(scan(t, "Scanned attachment: the signed delivery note.", ScanOptionsAlias{DPI: 100, FontSize: 14}))
	eml := mailWith([2]string{"a.pdf", pdf}, [2]string{"b.pdf", pdf})

	r := ocrRunner(t, OCRConfig{})
	doc, err := r.Extract(context.Background(), "m.eml", eml)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Parts) != 2 {
		t.Fatalf("%d parts, want 2", len(doc.Parts))
	}
	for _, p := range doc.Parts {
		if p.Err != nil || !strings.Contains(p.Text, "delivery note") || !slices.Equal(p.OCR.Pages, []int{1}) || p.OCR.Pending != "" {
			t.Errorf("%s: err %v, OCR %+v, text %q: want its page recognised", p.Fragment, p.Err, p.OCR, p.Text)
		}
		for _, b := range p.Blocks {
			if !b.OCR {
				t.Errorf("%s: block %+v not marked OCR", p.Fragment, b)
			}
		}
		if !slices.Equal(anyInts(p.Metadata["ocr_pages"]), []int64{1}) {
			t.Errorf("%s: metadata %v: want ocr_pages [1]", p.Fragment, p.Metadata)
		}
	}
	if len(doc.OCR.Pages) != 0 || StoredVersion(doc) != Version || !r.UpToDate(StoredVersion(doc)) {
		t.Errorf("message: OCR %+v, stored as %q: want nothing pending", doc.OCR, StoredVersion(doc))
	}

	// A budget of 1 page: a.pdf gets it, b.pdf is deferred.
	r = ocrRunner(t, OCRConfig{MaxPages: 1})
	doc, err = r.Extract(context.Background(), "m.eml", eml)
	if err != nil {
		t.Fatal(err)
	}
	a, b := doc.Parts[0], doc.Parts[1]
	if !slices.Equal(a.OCR.Pages, []int{1}) || a.OCR.Pending != "" || len(b.OCR.Pages) != 0 || !slices.Equal(b.OCR.Deferred, []int{1}) ||
		b.OCR.Pending != pendingDeferred || b.Skip != SkipOCRDeferred {
		t.Fatalf("a.pdf OCR %+v, b.pdf OCR %+v (skip %q): want a.pdf recognised, b.pdf deferred", a.OCR, b.OCR, b.Skip)
	}
	if v := StoredVersion(doc); r.UpToDate(v) {
		t.Errorf("the message of a deferred attachment is stored as %q, up to date", v)
	}
	if r.ocrLeft != 0 {
		t.Errorf("budget left %d, want 0", r.ocrLeft)
	}

	// In a mailbox, through the same path.
	box := "From a@b Mon Jun  2 10:00:00 2025\n" + strings.ReplaceAll(string(mailWith([2]string{"scan.pdf", pdf})), "\r\n", "\n")
	doc, err = ocrRunner(t, OCRConfig{}).Extract(context.Background(), "box.mbox", []byte(box))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Parts) != 2 || doc.Parts[1].Fragment != "message/1/attachment/1/scan.pdf" || len(doc.Parts[1].OCR.Pages) != 1 {
		t.Fatalf("mailbox parts %+v: want the message and its recognised attachment", doc.Parts)
	}

	// An image attachment: recognised with DOCENT_OCR=all, else left out and the message
	// pending for the mode, so that turning images on extracts it again.
	imgs, err := pdfgen.ScanImages("Whiteboard photo: deploy on Friday.", pdfgen.ScanOptions{DPI: 200, FontSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	var png bytes.Buffer
	if err := pngEncode(&png, imgs[0]); err != nil {
		t.Fatal(err)
	}
	eml = mailWith([2]string{"photo.png", png.String()})
	pdfMode := ocrRunner(t, OCRConfig{})
	doc, err = pdfMode.Extract(context.Background(), "m.eml", eml)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Parts) != 0 || doc.OCR.Pending != pendingMode+string(OCRPDF) {
		t.Errorf("mode pdf: parts %+v, OCR %+v: want the image left out, the message pending for the mode", doc.Parts, doc.OCR)
	}
	all := ocrRunner(t, OCRConfig{Mode: OCRAll})
	if v := StoredVersion(doc); !pdfMode.UpToDate(v) || all.UpToDate(v) {
		t.Errorf("stored as %q: want up to date in mode pdf only", v)
	}
	doc, err = all.Extract(context.Background(), "m.eml", eml)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Parts) != 1 || !strings.Contains(doc.Parts[0].Text, "Friday") || !doc.Parts[0].Blocks[0].OCR || doc.OCR.Pending != "" {
		t.Errorf("mode all: parts %+v, OCR %+v: want the image recognised", doc.Parts, doc.OCR)
	}
}

// TestToolLimitsHoldFromItsFirstInstruction: a tool runs under its limits from the start,
// not from some moment after it has begun (a program that reads its input at once would
// otherwise read it unbounded).
func TestToolLimitsHoldFromItsFirstInstruction(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("resource limits are Linux's here")
	}
	t.Parallel()
	limits := toolLimits{memory: 512 << 20, fileSize: 3 << 20, output: 64 << 10}
	for i := range 40 {
		out, err := runTool(t.Context(), limits, "cat", "/proc/self/limits")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(out)) {
			for name, want := range map[string]string{
				"Max address space":  strconv.FormatInt(limits.memory, 10),
				"Max file size":      strconv.FormatInt(limits.fileSize, 10),
				"Max core file size": "0",
			} {
				if rest, ok := strings.CutPrefix(line, name); ok {
					if f := strings.Fields(rest); len(f) < 2 || f[0] != want || f[1] != want {
						t.Fatalf("run %d: %s %q, want %s (soft and hard)", i, name, strings.TrimSpace(rest), want)
					}
				}
			}
		}
	}
}

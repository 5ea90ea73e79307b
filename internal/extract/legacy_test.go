package extract

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/chunk"
)

// oleFile returns an OLE compound file (version 3, 512-byte sectors) holding streams at its
// root, each padded to 4,096 bytes (so that none is in the mini stream): what a legacy
// office file looks like to legacyInspect. At most three streams.
func oleFile(t testing.TB, streams ...oleStream) []byte {
	t.Helper()
	if len(streams) > 3 {
		t.Fatal("oleFile: at most three streams")
	}
	const sector = 512
	const endOfChain, freeSect, fatSect, noStream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
	le := binary.LittleEndian
	header := make([]byte, sector)
	copy(header, oleMagic)
	le.PutUint16(header[24:], 0x3E)
	le.PutUint16(header[26:], 3)
	le.PutUint16(header[28:], 0xFFFE)
	le.PutUint16(header[30:], 9)
	le.PutUint16(header[32:], 6)
	le.PutUint32(header[44:], 1) // one FAT sector: sector 0
	le.PutUint32(header[48:], 1) // the directory: sector 1
	le.PutUint32(header[56:], 4096)
	le.PutUint32(header[60:], endOfChain)
	le.PutUint32(header[68:], endOfChain)
	for i := range 109 {
		le.PutUint32(header[76+4*i:], freeSect)
	}
	le.PutUint32(header[76:], 0)

	fat := make([]byte, sector)
	for i := range sector / 4 {
		le.PutUint32(fat[4*i:], freeSect)
	}
	le.PutUint32(fat[0:], fatSect)
	le.PutUint32(fat[4:], endOfChain)
	dir := make([]byte, sector)
	entry := func(i int, name string, typ byte, right, child uint32, start uint32, size int) {
		e := dir[128*i : 128*(i+1)]
		for j, c := range name {
			le.PutUint16(e[2*j:], uint16(c))
		}
		le.PutUint16(e[64:], uint16(2*len(name)+2))
		e[66], e[67] = typ, 1
		le.PutUint32(e[68:], noStream)
		le.PutUint32(e[72:], right)
		le.PutUint32(e[76:], child)
		le.PutUint32(e[116:], start)
		le.PutUint32(e[120:], uint32(size))
	}
	for i := len(streams) + 1; i < 4; i++ {
		le.PutUint32(dir[128*i+68:], noStream)
		le.PutUint32(dir[128*i+72:], noStream)
		le.PutUint32(dir[128*i+76:], noStream)
	}
	child := uint32(noStream)
	if len(streams) > 0 {
		child = 1
	}
	entry(0, "Root Entry", 5, noStream, child, endOfChain, 0)
	var data []byte
	next := uint32(2)
	for i, s := range streams {
		body := append([]byte{}, s.data...)
		if len(body) < 4096 {
			body = append(body, make([]byte, 4096-len(body))...)
		}
		body = append(body, make([]byte, (sector-len(body)%sector)%sector)...)
		n := uint32(len(body) / sector)
		for k := range n {
			v := next + k + 1
			if k == n-1 {
				v = endOfChain
			}
			le.PutUint32(fat[4*(next+k):], v)
		}
		right := uint32(noStream)
		if i+1 < len(streams) {
			right = uint32(i + 2)
		}
		entry(i+1, s.name, 2, right, noStream, next, len(body))
		data = append(data, body...)
		next += n
	}
	if next > sector/4 {
		t.Fatal("oleFile: streams too large for one FAT sector")
	}
	out := append(header, fat...)
	out = append(out, dir...)
	return append(out, data...)
}

type oleStream struct {
	name string
	data []byte
}

// wordFIB is the start of a WordDocument stream: its FIB, encrypted or not.
func wordFIB(encrypted bool) []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint16(b, wordIdent)
	binary.LittleEndian.PutUint16(b[2:], 0xC1)
	if encrypted {
		binary.LittleEndian.PutUint16(b[10:], wordEncrypted)
	}
	return b
}

// biffRecords is a BIFF8 workbook stream of records (type, payload size).
func biffRecords(types ...uint16) []byte {
	var b []byte
	for _, typ := range types {
		b = binary.LittleEndian.AppendUint16(b, typ)
		b = binary.LittleEndian.AppendUint16(b, 16)
		b = append(b, make([]byte, 16)...)
	}
	return b
}

// pptCurrentUser is a PowerPoint "Current User" stream with the given header token.
func pptCurrentUser(token uint32) []byte {
	b := make([]byte, 32)
	binary.LittleEndian.PutUint32(b[12:], token)
	return b
}

// Encrypted legacy files are found from their content without LibreOffice (which cannot
// open them), corrupt ones too; a readable one without LibreOffice is converter_missing.
func TestLegacyInspect(t *testing.T) {
	t.Parallel()
	const pptPlain = 0xE391C05F
	for _, tc := range []struct {
		name, file string
		data       []byte
		reason     string
	}{
		{"word", "a.doc", oleFile(t, oleStream{"WordDocument", wordFIB(false)}, oleStream{"1Table", nil}), ReasonConverterMissing},
		{"word encrypted", "a.doc", oleFile(t, oleStream{"WordDocument", wordFIB(true)}, oleStream{"1Table", nil}), ReasonEncrypted},
		{"word without a FIB", "a.doc", oleFile(t, oleStream{"WordDocument", []byte("garbage")}), ReasonCorrupt},
		{"excel", "a.xls", oleFile(t, oleStream{"Workbook", biffRecords(xlsBOF, 0x00E1, xlsEOF, xlsFilePass)}), ReasonConverterMissing},
		{"excel encrypted", "a.xls", oleFile(t, oleStream{"Workbook", biffRecords(xlsBOF, xlsFilePass, xlsEOF)}), ReasonEncrypted},
		{"excel encrypted after other records", "a.xls", oleFile(t, oleStream{"Workbook", biffRecords(xlsBOF, 0x00E1, xlsFilePass, xlsEOF)}), ReasonEncrypted},
		{"excel 5", "a.xls", oleFile(t, oleStream{"Book", biffRecords(xlsBOF, xlsEOF)}), ReasonConverterMissing},
		{"powerpoint", "a.ppt", oleFile(t, oleStream{"PowerPoint Document", nil}, oleStream{"Current User", pptCurrentUser(pptPlain)}), ReasonConverterMissing},
		{"powerpoint encrypted", "a.ppt", oleFile(t, oleStream{"PowerPoint Document", nil}, oleStream{"Current User", pptCurrentUser(pptTokenEncrypted)}), ReasonEncrypted},
		{"powerpoint encrypted summary", "a.ppt", oleFile(t, oleStream{"PowerPoint Document", nil}, oleStream{"EncryptedSummary", nil}), ReasonEncrypted},
		{"encrypted ooxml named doc", "a.doc", oleFile(t, oleStream{"EncryptionInfo", nil}, oleStream{"EncryptedPackage", nil}), ReasonEncrypted},
		{"ole without office streams", "a.xls", oleFile(t, oleStream{"Contents", nil}), ReasonCorrupt},
		{"ole header only", "a.ppt", append(append([]byte{}, oleMagic...), make([]byte, 2048)...), ReasonCorrupt},
		{"truncated", "a.doc", oleFile(t, oleStream{"WordDocument", wordFIB(false)})[:700], ReasonCorrupt},
		{"not ole", "a.doc", []byte("hello, this is not a Word file"), ReasonCorrupt},
		{"empty", "a.xls", nil, ReasonCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := legacyExtract(t.Context(), tc.data, nil, nil)
			if got := ReasonOf(err); got != tc.reason {
				t.Errorf("%s: %q (%v), want %q", tc.name, got, err, tc.reason)
			}
		})
	}
	// Through a Runner without LibreOffice: the same, in the child.
	r := testRunner(t, Config{Workers: 1, Legacy: LegacyConfig{Soffice: "/nonexistent/soffice"}})
	if why, _ := r.LegacyStatus(); !strings.Contains(why, "scripts/libreoffice.sh") {
		t.Errorf("LegacyStatus %q, want the way to install it", why)
	}
	_, err := r.Extract(t.Context(), "a.doc", oleFile(t, oleStream{"WordDocument", wordFIB(false)}))
	if ReasonOf(err) != ReasonConverterMissing || !strings.Contains(err.Error(), "Word") {
		t.Errorf("without LibreOffice: %v, want converter_missing", err)
	}
	_, err = r.Extract(t.Context(), "a.doc", oleFile(t, oleStream{"WordDocument", wordFIB(true)}))
	if ReasonOf(err) != ReasonEncrypted {
		t.Errorf("encrypted without LibreOffice: %v, want encrypted", err)
	}
}

// A .doc that is RTF or a DOCX package is read as what it is.
func TestLegacyMisnamed(t *testing.T) {
	t.Parallel()
	doc, err := legacyExtract(t.Context(), []byte(`{\rtf1\ansi Hello from RTF.\par}`), nil, nil)
	if err != nil || !strings.Contains(doc.Text, "Hello from RTF.") {
		t.Errorf("RTF under .doc: %q, %v", doc.Text, err)
	}
	doc, err = legacyExtract(t.Context(), testDOCX(t), nil, nil)
	if err != nil || doc.Title != "Quarterly report" {
		t.Errorf("DOCX under .doc: %q, %v", doc.Title, err)
	}
	doc, err = legacyExtract(t.Context(), testXLSX(t, 3), nil, nil)
	if err != nil || !strings.Contains(doc.Text, "Budget") {
		t.Errorf("XLSX under .xls: %q, %v", doc.Text, err)
	}
}

// fakeSoffice writes a shell script that acts as soffice.bin: `--version` answers, and a
// conversion runs script with $out set to the file LibreOffice would write. The script
// appends its process id to the file pids (script adds those of what it starts), and its
// HOME (the conversion's temporary directory) to the file homes beside it.
func fakeSoffice(t *testing.T, script string) (program, pids string) {
	t.Helper()
	dir := t.TempDir()
	pids = filepath.Join(dir, "pids")
	program = filepath.Join(dir, "soffice.bin")
	body := `#!/bin/sh
[ "$1" = --version ] && { echo "LibreOffice 0.0 (fake)"; exit 0; }
outdir= prev= in=
for a in "$@"; do
	[ "$prev" = --outdir ] && outdir=$a
	prev=$a in=$a
done
base=$(basename "$in"); base=${base%.*}
case $in in *.doc) ext=docx;; *.xls) ext=xlsx;; *.ppt) ext=pptx;; esac
out="$outdir/$base.$ext"
echo $$ >> ` + pids + `
echo "$HOME" >> ` + filepath.Join(dir, "homes") + `
` + script + "\n"
	if err := os.WriteFile(program, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return program, pids
}

// alive reports whether any of the processes listed in the file pids is still running.
func alive(t *testing.T, pids string) []int {
	t.Helper()
	data, err := os.ReadFile(pids)
	if err != nil {
		t.Fatalf("the fake soffice did not run: %v", err)
	}
	var live []int
	for f := range strings.FieldsSeq(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		// A zombie has been killed; only its reaping is pending.
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(stat), ") Z ") {
			live = append(live, pid)
		}
	}
	return live
}

// A converter that misbehaves (hangs with a child of its own, writes garbage, writes without
// end, fails) costs the file its bounded time and a clear reason, and leaves no process and
// no temporary file behind.
func TestLegacyFakeSoffice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the limits and the network namespace are Linux's")
	}
	t.Parallel()
	word := oleFile(t, oleStream{"WordDocument", wordFIB(false)})
	valid := filepath.Join(t.TempDir(), "valid.docx")
	if err := os.WriteFile(valid, testDOCX(t), 0o600); err != nil {
		t.Fatal(err)
	}
	validXLSX := filepath.Join(t.TempDir(), "valid.xlsx")
	if err := os.WriteFile(validXLSX, testXLSX(t, 3), 0o600); err != nil {
		t.Fatal(err)
	}
	// An Excel workbook with FILEPASS: encrypted, perhaps with the default password.
	workbook := oleFile(t, oleStream{"Workbook", biffRecords(xlsBOF, xlsFilePass, xlsEOF)})
	for _, tc := range []struct {
		name, script string
		reason       string // "" for success
		maxTime      time.Duration
	}{
		{"converts", `cat /proc/net/dev > "$outdir/../net"; [ -d "$HOME" ] && [ "$TMPDIR" = "$HOME" ] || exit 9; cp ` + valid + ` "$out"`, "", 0},
		{"restarts once after making its profile", `[ -e "$HOME/restarted" ] || { touch "$HOME/restarted"; exit 81; }; cp ` + valid + ` "$out"`, "", 0},
		{"always restarts", `exit 81`, ReasonConverterFailed, 0},
		{"hangs with a child", `sleep 600 & echo $! >> $(dirname "$0")/pids; sleep 600`, ReasonTimeout, 6 * time.Second},
		{"garbage", `head -c 5000 /dev/urandom > "$out"`, ReasonConverterFailed, 0},
		{"huge output", `exec head -c 300M /dev/zero > "$out"`, ReasonTooLarge, 0},
		{"fails", `echo "it broke" >&2; exit 3`, ReasonConverterFailed, 0},
		{"cannot load", `echo "Error: source file could not be loaded"`, ReasonCorrupt, 0},
		{"cannot load an encrypted workbook", `echo "Error: source file could not be loaded"`, ReasonEncrypted, 0},
		{"opens a workbook with the default password", `cp ` + validXLSX + ` "$out"`, "", 0},
		{"writes a directory", `mkdir "$out"`, ReasonConverterFailed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			program, pids := fakeSoffice(t, tc.script)
			r := testRunner(t, Config{Workers: 1, Timeout: 4 * time.Second, Legacy: LegacyConfig{Soffice: program}})
			start := time.Now()
			name, file := "report.doc", word
			if strings.Contains(tc.name, "workbook") {
				name, file = "budget.xls", workbook
			}
			doc, err := r.Extract(t.Context(), name, file)
			elapsed := time.Since(start)
			if got := ReasonOf(err); err != nil && got != tc.reason || err == nil && tc.reason != "" {
				t.Fatalf("%v, want %q", err, cmp.Or(tc.reason, "success"))
			}
			if tc.maxTime > 0 && elapsed > tc.maxTime {
				t.Errorf("took %v, want at most %v", elapsed, tc.maxTime)
			}
			if err == nil && name == "budget.xls" {
				if doc.ContentType != "application/vnd.ms-excel" || !strings.Contains(doc.Text, "Budget") {
					t.Errorf("content type %q, text %.60q", doc.ContentType, doc.Text)
				}
			} else if err == nil {
				if doc.ContentType != "application/msword" || doc.Title != "Quarterly report" || doc.Metadata["converted_by"] != "LibreOffice" {
					t.Errorf("content type %q, title %q, metadata %v", doc.ContentType, doc.Title, doc.Metadata)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for len(alive(t, pids)) > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if live := alive(t, pids); len(live) > 0 {
				for _, pid := range live {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				t.Errorf("processes %v of the converter outlived the file", live)
			}
			homes, err := os.ReadFile(filepath.Join(filepath.Dir(pids), "homes"))
			if err != nil {
				t.Fatal(err)
			}
			for home := range strings.FieldsSeq(string(homes)) {
				if !strings.Contains(home, "docent-legacy-") {
					t.Errorf("HOME %q, want the conversion's temporary directory", home)
				}
				if _, err := os.Stat(home); !os.IsNotExist(err) {
					t.Errorf("temporary directory %s left behind (%v)", home, err)
				}
			}
		})
	}
}

// The converter runs without network: its network namespace has only the loopback
// interface.
func TestLegacyNoNetwork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("network namespaces are Linux's")
	}
	t.Parallel()
	program, _ := fakeSoffice(t, `cat /proc/net/dev > "$out"; exit 0`)
	c := LegacyConfig{Soffice: program}
	req, why, note := c.setup()
	if req == nil {
		t.Fatalf("setup: %s", why)
	}
	if !req.Isolate {
		t.Skipf("this system refuses network namespaces: %s", note)
	}
	conv := &legacyConverter{req: *req, memory: DefaultMemoryLimit}
	out, err := conv.convert(t.Context(), []byte("x"), legacyWord)
	if err != nil {
		t.Fatal(err)
	}
	var ifaces []string
	for line := range strings.Lines(string(out)) {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
			ifaces = append(ifaces, strings.TrimSpace(name))
		}
	}
	if len(ifaces) != 1 || ifaces[0] != "lo" {
		t.Errorf("interfaces %v seen by the converter, want only lo", ifaces)
	}
	// Without isolation the same script sees the machine's interfaces: the check above can fail.
	conv.req.Isolate = false
	out, err = conv.convert(t.Context(), []byte("x"), legacyWord)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), ":"); n < 1 {
		t.Errorf("no interface at all without isolation: %q", out)
	}
}

// soffice returns the real LibreOffice, or skips the test (fails under CI, which installs it).
func soffice(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("soffice")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("LibreOffice (soffice) is not installed; CI installs it with scripts/libreoffice.sh")
		}
		t.Skip("LibreOffice (soffice) is not installed: scripts/libreoffice.sh installs it")
	}
	return p
}

// makeLegacy converts a file to a legacy format with the real LibreOffice (the test's
// fixture: legacy files are made, not stored).
func makeLegacy(t *testing.T, name string, data []byte, to string) []byte {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, name)
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), soffice(t), "-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
		"--headless", "--norestore", "--convert-to", to, "--outdir", filepath.Join(dir, "out"), in)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("soffice: %v: %s", err, out)
	}
	ext := to[:strings.IndexByte(to+":", ':')]
	out, err := os.ReadFile(filepath.Join(dir, "out", strings.TrimSuffix(name, filepath.Ext(name))+"."+ext))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// With the real LibreOffice, a Word 97 document and an Excel 97 workbook keep their
// structure: headings, a table with its header row, sheets; they are their own format.
func TestLegacyLibreOffice(t *testing.T) {
	soffice(t)
	t.Parallel()
	r := testRunner(t, Config{Workers: 2, Timeout: 60 * time.Second})
	if why, note := r.LegacyStatus(); why != "" {
		t.Fatalf("LibreOffice unavailable: %s", why)
	} else if note != "" {
		t.Log(note)
	}
	html := `<html><body><h1>Quarterly report</h1><p>Revenue grew in Europe.</p><h2>By region</h2>
<table><thead><tr><th>Region</th><th>Q1</th></tr></thead><tbody><tr><td>North</td><td>10</td></tr><tr><td>South</td><td>12</td></tr></tbody></table></body></html>`
	doc, err := r.Extract(t.Context(), "report.doc", makeLegacy(t, "report.html", []byte(html), "doc:MS Word 97"))
	if err != nil {
		t.Fatal(err)
	}
	want := []blockView{
		{Kind: chunk.Heading, Level: 1, Text: "Quarterly report"},
		{Kind: chunk.Paragraph, Text: "Revenue grew in Europe."},
		{Kind: chunk.Heading, Level: 2, Text: "By region"},
		{Kind: chunk.Table, HeaderRows: 1, Text: "Region | Q1\nNorth | 10\nSouth | 12"},
	}
	checkBlocks(t, doc, want)
	if doc.ContentType != "application/msword" {
		t.Errorf("content type %q", doc.ContentType)
	}

	csv := "Name,Price\nApple,3\nPear,4\n"
	doc, err = r.Extract(t.Context(), "prices.xls", makeLegacy(t, "prices.csv", []byte(csv), "xls:MS Excel 97"))
	if err != nil {
		t.Fatal(err)
	}
	if doc.ContentType != "application/vnd.ms-excel" || !strings.Contains(doc.Text, "Apple | 3") {
		t.Errorf("workbook: %s %q", doc.ContentType, doc.Text)
	}
	var tables int
	for _, b := range doc.Blocks {
		if b.Kind == chunk.Table {
			tables++
			if !strings.HasPrefix(b.Locator, "prices!A1") {
				t.Errorf("table locator %q, want the sheet and its range", b.Locator)
			}
		}
	}
	if tables != 1 {
		t.Errorf("%d tables in %q", tables, doc.Text)
	}
}

// A Word 97 file attached to an e-mail is converted like the file on its own, in the
// message's child; without LibreOffice the attachment fails with converter_missing and the
// message is still extracted.
func TestLegacyAttachment(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fake converter is a shell script")
	}
	t.Parallel()
	valid := filepath.Join(t.TempDir(), "valid.docx")
	if err := os.WriteFile(valid, testDOCX(t), 0o600); err != nil {
		t.Fatal(err)
	}
	program, _ := fakeSoffice(t, `cp `+valid+` "$out"`)
	eml := "Subject: report\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--B\r\nContent-Type: application/msword\r\nContent-Disposition: attachment; filename=report.doc\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(oleFile(t, oleStream{"WordDocument", wordFIB(false)})) + "\r\n--B--\r\n"
	for _, tc := range []struct {
		soffice, reason string
	}{{program, ""}, {"/nonexistent/soffice", ReasonConverterMissing}} {
		r := testRunner(t, Config{Workers: 1, Legacy: LegacyConfig{Soffice: tc.soffice}})
		doc, err := r.Extract(t.Context(), "m.eml", []byte(eml))
		if err != nil {
			t.Fatal(err)
		}
		if len(doc.Parts) != 1 || !strings.Contains(doc.Text, "See attached.") {
			t.Fatalf("%d parts, text %q", len(doc.Parts), doc.Text)
		}
		p := doc.Parts[0]
		if got := ReasonOf(p.Err); p.Err != nil && got != tc.reason || p.Err == nil && tc.reason != "" {
			t.Errorf("soffice %s: attachment error %v, want %q", tc.soffice, p.Err, tc.reason)
		}
		if p.Err == nil && (p.ContentType != "application/msword" || !strings.Contains(p.Text, "Quarterly report")) {
			t.Errorf("attachment %s: %.60q", p.ContentType, p.Text)
		}
	}
}

// The converter runs under the file's limits: its address space and the size of any file
// it writes are capped.
func TestLegacyLimits(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("prlimit is Linux's")
	}
	t.Parallel()
	program, _ := fakeSoffice(t, `cat /proc/self/limits > "$out"`)
	c := LegacyConfig{Soffice: program}
	req, why, _ := c.setup()
	if req == nil {
		t.Fatal(why)
	}
	for _, tc := range []struct{ memory, min, max int64 }{
		{2 << 30, legacyMinAddressSpace, 2 << 30},                 // the file's limit, less the child's memory
		{300 << 20, legacyMinAddressSpace, legacyMinAddressSpace}, // never below what LibreOffice needs
	} {
		conv := &legacyConverter{req: *req, memory: tc.memory}
		out, err := conv.convert(t.Context(), []byte("x"), legacyExcel)
		if err != nil {
			t.Fatal(err)
		}
		limit := func(name string) string {
			for line := range strings.Lines(string(out)) {
				if strings.HasPrefix(line, name) {
					return strings.Fields(strings.TrimPrefix(line, name))[0]
				}
			}
			return ""
		}
		as, err := strconv.ParseInt(limit("Max address space"), 10, 64)
		if err != nil || as > tc.max || as < tc.min {
			t.Errorf("memory limit %d MiB: address space limit %q, want %d to %d MiB", tc.memory>>20, limit("Max address space"), tc.min>>20, tc.max>>20)
		}
		if fs := limit("Max file size"); fs != strconv.Itoa(legacyMaxOutput) {
			t.Errorf("file size limit %q, want %d", fs, legacyMaxOutput)
		}
	}
}

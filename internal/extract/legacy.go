package extract

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/richardlehane/mscfb"
)

// Legacy binary office files (Word 97-2003 .doc, Excel 97-2003 .xls, PowerPoint 97-2003
// .ppt) are converted by LibreOffice in headless mode to their OOXML successors (DOCX, XLSX,
// PPTX), which the office extractors read with their structure: headings, tables, sheets,
// slides and notes. LibreOffice is optional: NewRunner looks for `soffice` on PATH and,
// when it is missing, such files fail with ReasonConverterMissing.
//
// The conversion runs in the extraction child, under the file's limits: LibreOffice's
// soffice.bin (started directly, so that it is the process the limits and the kill reach)
// runs in its own process group, with a private profile, HOME and TMPDIR in a temporary
// directory removed afterwards, without network (a network namespace of its own, where the
// system allows one), with the file's remaining memory as its address space limit, a bound
// on the size of any file it writes, and a time limit a little shorter than the file's;
// the group is killed when the time is up, and the child's own death kills it
// (Pdeathsig). What the converted package holds is then extracted like any DOCX, XLSX or
// PPTX, within their own bounds.
//
// Which converter to run, and the encryption check, come from the file's content, not its
// name: an OLE compound file is a Word document (a WordDocument stream), a workbook
// (Workbook, or Book for Excel 5) or a presentation (PowerPoint Document). Word's FIB
// fEncrypted flag, PowerPoint's encrypted CurrentUserAtom and an encrypted OOXML package
// inside the OLE file make the file ReasonEncrypted without running LibreOffice (which would
// fail on them: it cannot ask for a password); an Excel workbook with a FILEPASS record is
// given to LibreOffice, which opens those protected with Excel's default password only, and
// is ReasonEncrypted when it cannot load it. A file that is not
// an OLE compound file but RTF (Word saves RTF under .doc) is read as RTF, and an OOXML
// package misnamed .doc, .xls or .ppt as what it is.

// LegacyConfig configures the conversion of legacy binary office files.
type LegacyConfig struct {
	// Soffice is LibreOffice's program: soffice (the soffice.bin beside it is what runs),
	// or soffice.bin. Default: soffice found on PATH by NewRunner. Tests set it to a fake,
	// or to a missing path to simulate a machine without LibreOffice.
	Soffice string
}

// Bounds of legacy conversion.
const (
	// legacyMaxOutput bounds any file LibreOffice writes (RLIMIT_FSIZE), the converted
	// package first: a package this large already holds more text than a document's limits.
	legacyMaxOutput = 256 << 20
	// legacyExitRestart is soffice.bin's exit status when it has just made a new profile
	// and wants to be started again (what the soffice script does).
	legacyExitRestart = 81
	// legacyMinAddressSpace is the least address space LibreOffice gets: it needs about
	// 450 MB to start and convert a small file (of which about 220 MB resident), and aborts
	// below that; thread stacks and address randomisation make the figure vary.
	legacyMinAddressSpace = 768 << 20
	// legacyMargin is the part of the file's time kept for extracting the converted package
	// after the conversion (at most a quarter of the file's time).
	legacyMargin = 5 * time.Second
)

// legacyRequest is what a child needs to convert a legacy file.
type legacyRequest struct {
	Soffice string `json:"soffice"`
	// Isolate runs LibreOffice without network (a new network namespace); false where the
	// system refused one when the Runner started.
	Isolate bool `json:"isolate,omitempty"`
}

// setup finds LibreOffice and checks that it runs. It returns the request children
// get, or the reason the converter is unavailable, and a note for the operator ("" when
// all is well) when LibreOffice runs without network isolation.
func (c *LegacyConfig) setup() (req *legacyRequest, unavailable, note string) {
	missing := "soffice (LibreOffice) not found (install Debian's libreoffice-core-nogui, libreoffice-writer-nogui, libreoffice-calc-nogui and libreoffice-impress-nogui: scripts/libreoffice.sh)"
	p, err := exec.LookPath(cmp.Or(c.Soffice, "soffice"))
	if err != nil {
		return nil, missing, ""
	}
	if p, err = filepath.Abs(p); err != nil {
		return nil, missing, ""
	}
	// soffice is a shell script that starts oosplash, which starts soffice.bin: run the
	// latter directly, so that the time, memory and parent-death limits reach it.
	if real, err := filepath.EvalSymlinks(p); err == nil {
		if bin := filepath.Join(filepath.Dir(real), "soffice.bin"); filepath.Base(real) == "soffice" && isExecutable(bin) {
			p = bin
		}
	}
	req = &legacyRequest{Soffice: p, Isolate: true}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = req.version(ctx)
	if err != nil && errors.Is(err, errIsolation) {
		req.Isolate = false
		note = "LibreOffice runs with network access: this system refused a network namespace (" + err.Error() + ")"
		_, err = req.version(ctx)
	}
	if err != nil {
		return nil, "soffice (LibreOffice) does not run: " + truncate(err.Error(), 256), ""
	}
	return req, "", note
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// version runs `soffice.bin --version` (with a throwaway HOME, where it writes).
func (l *legacyRequest) version(ctx context.Context) (string, error) {
	home, err := os.MkdirTemp("", "docent-soffice-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(home)
	out, err := runTool(ctx, toolLimits{memory: 2 << 30, output: 64 << 10, fileSize: 16 << 20,
		env: []string{"HOME=" + home, "TMPDIR=" + home, "SAL_USE_VCLPLUGIN=svp"}, noNetwork: l.Isolate}, l.Soffice, "--version")
	return strings.TrimSpace(string(out)), err
}

// LegacyStatus reports the Runner's converter of legacy office files: why it is unavailable
// ("" when LibreOffice was found and runs), and a note for the operator (network isolation
// unavailable).
func (r *Runner) LegacyStatus() (unavailable, note string) {
	return r.legacyUnavailable, r.legacyNote
}

// legacyKind is what an OLE compound file holds.
type legacyKind struct {
	name        string // "Word", "Excel", "PowerPoint"
	ext         string // of the input file given to LibreOffice
	filter      string // --convert-to argument
	out         string // extension of the converted file
	contentType string
	extract     func(ctx context.Context, data []byte, ocr *OCR) (Document, error) // of the converted file
	// encrypted: the file is encrypted but may open without a password anyway (an Excel
	// workbook protected with Excel's default password, which LibreOffice knows); if
	// LibreOffice cannot load it, it is ReasonEncrypted rather than ReasonCorrupt.
	encrypted bool
}

var (
	legacyWord       = legacyKind{"Word", ".doc", "docx:MS Word 2007 XML", ".docx", "application/msword", docxExtract, false}
	legacyExcel      = legacyKind{"Excel", ".xls", "xlsx:Calc Office Open XML", ".xlsx", "application/vnd.ms-excel", xlsxWithoutPictures, false}
	legacyPowerPoint = legacyKind{"PowerPoint", ".ppt", "pptx:Impress MS PowerPoint 2007 XML", ".pptx", "application/vnd.ms-powerpoint", pptxExtract, false}
)

// xlsxWithoutPictures is xlsxExtract as a legacyKind's extract: pictures in workbooks are
// not read.
func xlsxWithoutPictures(_ context.Context, data []byte, _ *OCR) (Document, error) {
	return xlsxExtract(data)
}

// legacyExtract extracts a legacy binary office file (see the top of this file), converting
// it with conv (nil: LibreOffice is not installed) within ctx; the converted file's pictures
// are read as the office file's would be (ocr).
func legacyExtract(ctx context.Context, data []byte, conv *legacyConverter, ocr *OCR) (Document, error) {
	switch {
	case bytes.HasPrefix(data, []byte(`{\rtf`)):
		return RTF(data) // Word's "save as RTF" under a .doc name
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return legacyZip(ctx, data, ocr)
	case !bytes.HasPrefix(data, oleMagic):
		return Document{}, &Error{Reason: ReasonCorrupt, Err: errors.New("not a legacy office file: no OLE compound file header")}
	}
	kind, err := legacyInspect(data)
	if err != nil {
		return Document{}, err
	}
	if conv == nil {
		if kind.encrypted {
			return Document{}, &Error{Reason: ReasonEncrypted, Err: fmt.Errorf("the %s file is encrypted (perhaps only with Excel's default password, which LibreOffice would try, but it is not installed)", kind.name)}
		}
		return Document{}, &Error{Reason: ReasonConverterMissing, Err: fmt.Errorf("a %s 97-2003 file needs LibreOffice to be converted, and it is not installed", kind.name)}
	}
	converted, err := conv.convert(ctx, data, kind)
	if err != nil {
		return Document{}, err
	}
	doc, err := kind.extract(ctx, converted, ocr)
	if err != nil {
		if ReasonOf(err) == ReasonCorrupt {
			return Document{}, &Error{Reason: ReasonConverterFailed, Err: fmt.Errorf("LibreOffice's %s is not readable: %w", kind.out, err)}
		}
		return Document{}, err
	}
	doc.ContentType = kind.contentType
	doc.Metadata["converted_by"] = "LibreOffice"
	return doc, nil
}

// legacyZip extracts an OOXML package saved under a legacy name, as the package it is.
func legacyZip(ctx context.Context, data []byte, ocr *OCR) (Document, error) {
	p, err := openOffice(data)
	if err != nil {
		return Document{}, err
	}
	switch {
	case p.has("word/document.xml"):
		return docxExtract(ctx, data, ocr)
	case p.has("xl/workbook.xml"):
		return xlsxExtract(data)
	case p.has("ppt/presentation.xml"):
		return pptxExtract(ctx, data, ocr)
	}
	return Document{}, &Error{Reason: ReasonCorrupt, Err: errors.New("a zip package that is not a Word, Excel or PowerPoint file")}
}

// OLE stream names and markers of encryption.
const (
	// Word: the FIB starts the WordDocument stream: wIdent, then fEncrypted in its flags.
	wordIdent     = 0xA5EC
	wordEncrypted = 0x0100
	// Excel: FILEPASS in the workbook globals, before their EOF record.
	xlsBOF      = 0x0809
	xlsEOF      = 0x000A
	xlsFilePass = 0x002F
	// PowerPoint: the CurrentUserAtom's headerToken.
	pptTokenEncrypted = 0xF3D1C4DF
	// legacyMaxScan bounds the bytes of a stream read to look for these markers.
	legacyMaxScan = 4 << 20
)

// legacyInspect reads an OLE compound file's directory and says what it holds, or why it
// cannot be converted: ReasonEncrypted, ReasonCorrupt.
func legacyInspect(data []byte) (legacyKind, error) {
	r, err := mscfb.New(bytes.NewReader(data))
	if err != nil {
		return legacyKind{}, &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("not a readable OLE compound file: %w", err)}
	}
	streams := map[string]*mscfb.File{}
	for _, f := range r.File {
		if len(f.Path) == 0 && f.FileInfo().Mode().IsRegular() { // a stream at the root
			if _, dup := streams[f.Name]; !dup {
				streams[f.Name] = f
			}
		}
	}
	encrypted := func(what string) error {
		return &Error{Reason: ReasonEncrypted, Err: fmt.Errorf("the %s file is encrypted with a password", what)}
	}
	if streams["EncryptionInfo"] != nil || streams["EncryptedPackage"] != nil {
		return legacyKind{}, encrypted("OOXML")
	}
	switch {
	case streams["WordDocument"] != nil:
		fib, err := readStream(streams["WordDocument"], 12)
		if err != nil || len(fib) < 12 || binary.LittleEndian.Uint16(fib) != wordIdent {
			return legacyKind{}, &Error{Reason: ReasonCorrupt, Err: errors.New("a Word file whose WordDocument stream does not start with a FIB")}
		}
		if binary.LittleEndian.Uint16(fib[10:])&wordEncrypted != 0 {
			return legacyKind{}, encrypted("Word")
		}
		return legacyWord, nil
	case streams["Workbook"] != nil || streams["Book"] != nil:
		wb := cmp.Or(streams["Workbook"], streams["Book"])
		b, err := readStream(wb, legacyMaxScan)
		if err != nil {
			return legacyKind{}, &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("an Excel file whose workbook stream cannot be read: %w", err)}
		}
		kind := legacyExcel
		// Excel encrypts workbooks whose structure is protected with a default password
		// (VelvetSweatshop), which LibreOffice tries: let it.
		kind.encrypted = xlsFilePassed(b)
		return kind, nil
	case streams["PowerPoint Document"] != nil:
		if streams["EncryptedSummary"] != nil {
			return legacyKind{}, encrypted("PowerPoint")
		}
		if cu := streams["Current User"]; cu != nil {
			b, err := readStream(cu, 16)
			if err == nil && len(b) >= 16 && binary.LittleEndian.Uint32(b[12:]) == pptTokenEncrypted {
				return legacyKind{}, encrypted("PowerPoint")
			}
		}
		return legacyPowerPoint, nil
	}
	return legacyKind{}, &Error{Reason: ReasonCorrupt, Err: errors.New("an OLE compound file without a Word, Excel or PowerPoint stream")}
}

// readStream reads at most n bytes from the start of an OLE stream.
func readStream(f *mscfb.File, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, min(n, max(f.Size, 0))))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// xlsFilePassed reports whether a BIFF workbook stream has a FILEPASS record among its
// globals (the records before the first EOF): the workbook is encrypted.
func xlsFilePassed(b []byte) bool {
	for len(b) >= 4 {
		typ, size := binary.LittleEndian.Uint16(b), int(binary.LittleEndian.Uint16(b[2:]))
		switch typ {
		case xlsFilePass:
			return true
		case xlsEOF:
			return false
		}
		if 4+size > len(b) {
			return false
		}
		b = b[4+size:]
	}
	return false
}

// legacyConverter converts files with LibreOffice in a child, within the file's time.
type legacyConverter struct {
	req      legacyRequest
	memory   int64     // the file's memory limit
	deadline time.Time // the conversion's end: a little before the file's
}

// newLegacyConverter returns the converter of a request, nil when LibreOffice is missing.
func newLegacyConverter(req childRequest, start time.Time) *legacyConverter {
	if req.Legacy == nil {
		return nil
	}
	c := &legacyConverter{req: *req.Legacy, memory: cmp.Or(req.MemoryLimit, DefaultMemoryLimit)}
	if req.TimeoutMS > 0 {
		timeout := time.Duration(req.TimeoutMS) * time.Millisecond
		c.deadline = start.Add(timeout - min(legacyMargin, timeout/4))
	}
	return c
}

// errSofficeNoOutput: LibreOffice ended without writing the converted file, which it does
// when it cannot load the input (and it exits 0 then).
var errSofficeNoOutput = errors.New("LibreOffice could not load the file")

// convert converts data, a file of kind, and returns the converted package.
func (c *legacyConverter) convert(ctx context.Context, data []byte, kind legacyKind) ([]byte, error) {
	if !c.deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, c.deadline)
		defer cancel()
	}
	dir, err := os.MkdirTemp("", "docent-legacy-")
	if err != nil {
		return nil, fmt.Errorf("legacy conversion: temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "input"+kind.ext)
	outDir := filepath.Join(dir, "out")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		return nil, fmt.Errorf("legacy conversion: write the file: %w", err)
	}
	if err := os.Mkdir(outDir, 0o700); err != nil {
		return nil, fmt.Errorf("legacy conversion: %w", err)
	}
	args := []string{
		"-env:UserInstallation=file://" + filepath.ToSlash(filepath.Join(dir, "profile")),
		"--headless", "--invisible", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
		"--convert-to", kind.filter, "--outdir", outDir, in,
	}
	limits := toolLimits{output: 64 << 10, fileSize: legacyMaxOutput, noNetwork: c.req.Isolate,
		env: []string{"HOME=" + dir, "TMPDIR=" + dir, "SAL_USE_VCLPLUGIN=svp"}}
	// A new profile makes soffice.bin exit with legacyExitRestart once: start it again.
	for attempt := 0; ; attempt++ {
		limits.memory = max(toolMemory(c.memory), legacyMinAddressSpace)
		_, err = runTool(ctx, limits, c.req.Soffice, args...)
		if attempt == 0 && exitCode(err) == legacyExitRestart {
			continue
		}
		break
	}
	out := filepath.Join(outDir, "input"+kind.out)
	switch {
	case ctx.Err() != nil:
		return nil, &Error{Reason: ReasonTimeout, Err: fmt.Errorf("LibreOffice did not convert the %s file in time", kind.name)}
	case errors.Is(err, errIsolation):
		return nil, &Error{Reason: ReasonConverterFailed, Err: err}
	case isFileSizeSignal(err):
		return nil, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("LibreOffice's conversion of the %s file wrote more than %d MiB", kind.name, legacyMaxOutput>>20)}
	case err != nil:
		return nil, &Error{Reason: ReasonConverterFailed, Err: fmt.Errorf("LibreOffice failed on the %s file: %w", kind.name, err)}
	}
	fi, err := os.Lstat(out)
	switch {
	case errors.Is(err, os.ErrNotExist) && kind.encrypted:
		return nil, &Error{Reason: ReasonEncrypted, Err: fmt.Errorf("the %s file is encrypted with a password", kind.name)}
	case errors.Is(err, os.ErrNotExist):
		return nil, &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("%w (a damaged %s file)", errSofficeNoOutput, kind.name)}
	case err != nil:
		return nil, &Error{Reason: ReasonConverterFailed, Err: err}
	case !fi.Mode().IsRegular():
		return nil, &Error{Reason: ReasonConverterFailed, Err: errors.New("LibreOffice's output is not a regular file")}
	case fi.Size() > legacyMaxOutput:
		return nil, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("LibreOffice's conversion of the %s file is over %d MiB", kind.name, legacyMaxOutput>>20)}
	}
	return os.ReadFile(out)
}

// toolMemory is the address space an external program may use: what the file's memory
// limit leaves beside this process's resident memory, and at least MinMemoryLimit.
func toolMemory(limit int64) int64 {
	rss, err := processRSS(os.Getpid())
	if err != nil {
		rss = 0
	}
	return max(limit-rss, MinMemoryLimit)
}

// exitCode returns the exit status in a runTool error, -1 for none.
func exitCode(err error) int {
	var e *exec.ExitError
	if errors.As(err, &e) {
		return e.ExitCode()
	}
	return -1
}

// legacyKey is the context key of a file's legacyConverter: the child's dispatch
// (extractFormat) passes it to the legacy files it meets, the file itself or an e-mail's
// attachments, as it passes the file's OCR.
type legacyKey struct{}

func withLegacyConverter(ctx context.Context, c *legacyConverter) context.Context {
	if c == nil {
		return ctx
	}
	return context.WithValue(ctx, legacyKey{}, c)
}

func legacyConverterFrom(ctx context.Context) *legacyConverter {
	c, _ := ctx.Value(legacyKey{}).(*legacyConverter)
	return c
}

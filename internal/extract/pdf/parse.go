package pdf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unicode"

	"github.com/docent-rag/docent/internal/extract/textnorm"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// Reading a file: the two extraction paths (PathPrimary, PathPdfcpu) and the choice between
// their results.

// attempt is the outcome of one extraction path.
type attempt struct {
	res       result
	err       error // the file could not be opened or its page tree read
	encrypted bool
	score     int // textScore of the pages
	visible   int // non-space runes
	pageErrs  int
}

// good reports whether the attempt needs no second opinion: it read every page without
// error and its text is mostly letters, digits and punctuation.
func (a attempt) good() bool {
	return a.err == nil && a.pageErrs == 0 && a.score*2 >= a.visible && !(a.encrypted && a.visible == 0)
}

// better reports whether a is a better result than b.
func (a attempt) better(b attempt) bool {
	if (a.err == nil) != (b.err == nil) {
		return a.err == nil
	}
	if a.score != b.score {
		return a.score > b.score
	}
	return a.pageErrs < b.pageErrs
}

// parse reads the lines of data's pages: with ledongthuc/pdf first, and when that fails, reports
// page errors or yields no text from an encrypted file, again after pdfcpu has rewritten
// the file (decrypted, with a rebuilt cross-reference table). Measured on the reference
// corpus (docs/ingestion.md), the second path adds one of the 20 files with a text layer
// (an RC4-40 file that ledongthuc decrypts wrongly) and turns three files it cannot open
// into results. A file that no path can read yields an *Error.
func parse(data []byte, password string) (result, error) {
	data = normalize(data)
	best := try(PathPrimary, data, password)
	if best.good() {
		return best.res, nil
	}
	encrypted := best.encrypted
	firstErr := best.err
	rewritten, decrypted, stamped, err := pdfcpuRewrite(data, password)
	switch {
	case err == nil && encrypted && !decrypted:
		// pdfcpu did not see the encryption (e.g. an /Encrypt dictionary given directly in
		// the trailer) and copied the encrypted streams: nothing to gain.
	case err == nil:
		if a := try(PathPdfcpu, rewritten, ""); a.better(best) {
			best = a
			best.encrypted = encrypted || decrypted
			best.res.Info.Producer, best.res.Info.CreationDate = stamped.Producer, stamped.CreationDate
		}
	case errors.Is(err, pdfcpu.ErrWrongPassword):
		encrypted = true
	}
	if best.err == nil {
		best.res.Encrypted = best.res.Encrypted || best.encrypted
		return best.res, nil
	}
	// Nothing could read the file: report the primary parser's reason.
	switch {
	case encrypted:
		msg := "needs a password"
		if password != "" {
			msg = "cannot decrypt it with the password given"
		}
		return result{}, &Error{Kind: FailEncrypted, Message: msg + ": " + firstLine(firstErr.Error())}
	case isAllocPanic(firstErr):
		return result{}, &Error{Kind: FailMemory, Message: firstLine(firstErr.Error())}
	default:
		kind := FailInvalid
		if _, ok := errors.AsType[*panicError](firstErr); ok {
			kind = FailPanic
		}
		return result{}, &Error{Kind: kind, Message: firstLine(firstErr.Error())}
	}
}

// try runs one extraction path over data.
func try(path string, data []byte, password string) attempt {
	var a attempt
	r, encrypted, err := open(data, password)
	a.encrypted = encrypted
	if err != nil {
		a.err = err
		return a
	}
	pages, err := collectPages(r)
	if err != nil {
		a.err = err
		return a
	}
	a.res.Info, _ = readInfo(r) // the information dictionary is optional
	a.res.Pages, a.res.Truncated = extractPages(pages)
	a.res.Path = path
	a.res.Encrypted = encrypted
	a.score = textScore(a.res.Pages)
	for _, p := range a.res.Pages {
		if p.Err != "" {
			a.pageErrs++
		}
		for _, l := range p.Lines {
			for _, r := range l.Text {
				if r != ' ' {
					a.visible++
				}
			}
		}
	}
	return a
}

// normalize fixes, without moving any byte offset, header and trailer quirks that
// ledongthuc/pdf rejects but readers accept: a version other than 1.0-1.7 ("%PDF-2.0"), a
// header line not ended right after the version ("%PDF-1.3 \n"), and data after the last
// "%%EOF". data is not modified; a changed copy is returned.
func normalize(data []byte) []byte {
	if len(data) < 9 || !bytes.HasPrefix(data, []byte("%PDF-")) {
		return data
	}
	out := data
	edit := func() {
		if &out[0] == &data[0] {
			out = bytes.Clone(data)
		}
	}
	if v := data[5:8]; v[0] != '1' || v[1] != '.' || v[2] < '0' || v[2] > '7' {
		edit()
		copy(out[5:8], "1.7")
	}
	if c := out[8]; c != '\r' && c != '\n' {
		edit()
		out[8] = '\n'
	}
	if i := bytes.LastIndex(out, []byte("%%EOF")); i > 0 && len(out)-(i+5) > 32 {
		out = out[:i+5]
	}
	return out
}

// pdfcpuRewrite reads data with pdfcpu, which decrypts it (with password or the empty
// password) and rebuilds a damaged cross-reference table, and writes it out again
// unencrypted for ledongthuc/pdf to read. decrypted reports whether pdfcpu found the file
// encrypted and decrypted it. Writing stamps the information dictionary with pdfcpu as its
// producer and the time of writing as its dates: stamped holds the producer and creation
// date the file had (empty when it had none), to be reported instead.
func pdfcpuRewrite(data []byte, password string) (out []byte, decrypted bool, stamped Info, err error) {
	defer recoverPanic(&err)
	pdfcpuDisableConfigDir()
	read := func(cmd model.CommandMode) (*model.Context, error) {
		conf := model.NewDefaultConfiguration()
		conf.UserPW, conf.OwnerPW = password, password
		conf.Cmd = cmd
		conf.ValidationMode = model.ValidationRelaxed
		return pdfcpu.Read(bytes.NewReader(data), conf)
	}
	decrypted = true
	ctx, err := read(model.DECRYPT)
	if errors.Is(err, pdfcpu.ErrNotEncrypted) {
		decrypted = false
		ctx, err = read(model.OPTIMIZE)
	}
	if err != nil {
		return nil, false, Info{}, fmt.Errorf("pdfcpu read: %w", err)
	}
	stamped = pdfcpuStampedInfo(ctx)
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	ctx.Write.Writer = w
	if err := pdfcpu.WriteContext(ctx); err != nil {
		return nil, false, Info{}, fmt.Errorf("pdfcpu write: %w", err)
	}
	if err := w.Flush(); err != nil {
		return nil, false, Info{}, fmt.Errorf("pdfcpu write: %w", err)
	}
	return normalize(buf.Bytes()), decrypted, stamped, nil
}

// pdfcpuStampedInfo returns the entries of the information dictionary that pdfcpu replaces
// when it writes a file (Producer, CreationDate), as the file has them, decoded as
// readInfo decodes them.
func pdfcpuStampedInfo(ctx *model.Context) Info {
	if ctx.Info == nil {
		return Info{}
	}
	d, err := ctx.DereferenceDict(*ctx.Info)
	if err != nil || d == nil {
		return Info{}
	}
	entry := func(key string) string {
		b, err := ctx.DereferenceStringEntryBytes(d, key)
		if err != nil {
			return ""
		}
		return string(b)
	}
	producer := entry("Producer")
	if strings.HasPrefix(producer, "\xfe\xff") {
		producer = decodeUTF16(producer[2:])
	}
	return Info{Producer: textnorm.CollapseLine(producer), CreationDate: strings.TrimSpace(entry("CreationDate"))}
}

// pdfcpuDisableConfigDir keeps pdfcpu from creating its configuration directory (fonts,
// certificates) under the user's config directory, which it does on first use otherwise.
// pdfcpu keeps this setting in a package variable.
var pdfcpuDisableConfigDir = sync.OnceFunc(func() { model.ConfigPath = "disable" })

// result is what parse read from a file: each page's lines, before layout.
type result struct {
	Pages     []page
	Info      Info
	Encrypted bool
	Path      string // which extraction path produced the pages
	Truncated bool
}

// page is one page's text as lines in content-stream order.
type page struct {
	Lines []line
	// Err is the error that stopped reading the page; the lines before it are kept.
	Err string
}

// line is a run of text on one baseline. Coordinates are in points in the line's own
// frame: X along the writing direction, Y across it (up is positive), so that lines of a
// rotated page compare like those of an upright one.
type line struct {
	Text string
	X    float64 // start along the writing direction
	X1   float64 // end along the writing direction
	Y    float64 // baseline position across the writing direction
	Size float64 // font size in points, as drawn
	Dir  int     // writing direction in degrees counter-clockwise, 0 = left to right
}

// panicError is a recovered panic from a parser.
type panicError struct {
	Value any
	Stack string
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// recoverPanic turns a panic into *panicError in *err. Use as `defer recoverPanic(&err)`.
func recoverPanic(err *error) {
	if v := recover(); v != nil {
		buf := make([]byte, 8<<10)
		buf = buf[:runtime.Stack(buf, false)]
		*err = &panicError{Value: v, Stack: string(buf)}
	}
}

// isAllocPanic reports whether a recovered panic is an allocation the runtime refused
// (a size computed from hostile input), which we report as a memory failure.
func isAllocPanic(err error) bool {
	var pe *panicError
	if !errors.As(err, &pe) {
		return false
	}
	msg := fmt.Sprint(pe.Value)
	return strings.Contains(msg, "out of range") && strings.Contains(msg, "make") ||
		strings.Contains(msg, "out of memory")
}

// textScore measures how much real text pages hold: letters, digits and punctuation,
// not counting spaces, replacement characters or private-use code points (what a font
// without a usable mapping yields). Used to choose between extraction paths.
func textScore(pages []page) int {
	n := 0
	for _, p := range pages {
		for _, l := range p.Lines {
			for _, r := range l.Text {
				if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsPunct(r) {
					if !unicode.Is(unicode.Co, r) {
						n++
					}
				}
			}
		}
	}
	return n
}

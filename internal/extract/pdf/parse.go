package extract

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// The parsing half of PDF extraction, which runs in a Runner's child (see pdf.go).

// Extraction paths, reported per file (Metadata["pdf_extractor"]).
const (
	pdfPathPrimary = "ledongthuc"        // ledongthuc/pdf on the file as it is
	pdfPathPdfcpu  = "pdfcpu+ledongthuc" // pdfcpu rewrites the file (decrypts, rebuilds the xref), then ledongthuc
)

// pdfAttempt is the outcome of one extraction path.
type pdfAttempt struct {
	res       pdfResult
	err       error // the file could not be opened or its page tree read
	encrypted bool
	score     int // pdfTextScore of the pages
	visible   int // non-space runes
	pageErrs  int
}

// good reports whether the attempt needs no second opinion: it read every page without
// error and its text is mostly letters, digits and punctuation.
func (a pdfAttempt) good() bool {
	return a.err == nil && a.pageErrs == 0 && a.score*2 >= a.visible && !(a.encrypted && a.visible == 0)
}

// better reports whether a is a better result than b.
func (a pdfAttempt) better(b pdfAttempt) bool {
	if (a.err == nil) != (b.err == nil) {
		return a.err == nil
	}
	if a.score != b.score {
		return a.score > b.score
	}
	return a.pageErrs < b.pageErrs
}

// pdfParse extracts data's text: with ledongthuc/pdf first, and when that fails, reports
// page errors or yields no text from an encrypted file, again after pdfcpu has rewritten
// the file (decrypted, with a rebuilt cross-reference table). Measured on the reference
// corpus (docs/ingestion.md), the second path adds one of the 20 files with a text layer
// (an RC4-40 file that ledongthuc decrypts wrongly) and turns three files it cannot open
// into results.
func pdfParse(data []byte, password string) pdfResult {
	data = pdfNormalize(data)
	best := pdfTry(pdfPathPrimary, data, password)
	if best.good() {
		return best.res
	}
	encrypted := best.encrypted
	firstErr := best.err
	rewritten, decrypted, err := pdfcpuRewrite(data, password)
	switch {
	case err == nil && encrypted && !decrypted:
		// pdfcpu did not see the encryption (e.g. an /Encrypt dictionary given directly in
		// the trailer) and copied the encrypted streams: nothing to gain.
	case err == nil:
		if a := pdfTry(pdfPathPdfcpu, rewritten, ""); a.better(best) {
			best = a
			best.encrypted = encrypted || decrypted
		}
	case errors.Is(err, pdfcpu.ErrWrongPassword):
		encrypted = true
	}
	if best.err == nil {
		best.res.Encrypted = best.res.Encrypted || best.encrypted
		return best.res
	}
	// Nothing could read the file: report the primary parser's reason.
	var res pdfResult
	res.Encrypted = encrypted
	switch {
	case encrypted:
		msg := "needs a password"
		if password != "" {
			msg = "cannot decrypt it with the password given"
		}
		res.Failure = &pdfFailure{Kind: pdfFailEncrypted, Message: msg + ": " + pdfFirstLine(firstErr.Error())}
	case pdfIsAllocPanic(firstErr):
		res.Failure = &pdfFailure{Kind: pdfFailMemory, Message: pdfFirstLine(firstErr.Error())}
	default:
		kind := pdfFailInvalid
		if _, ok := errors.AsType[*pdfPanicError](firstErr); ok {
			kind = pdfFailPanic
		}
		res.Failure = &pdfFailure{Kind: kind, Message: pdfFirstLine(firstErr.Error())}
	}
	return res
}

// pdfTry runs one extraction path over data.
func pdfTry(path string, data []byte, password string) pdfAttempt {
	var a pdfAttempt
	r, encrypted, err := pdfOpen(data, password)
	a.encrypted = encrypted
	if err != nil {
		a.err = err
		return a
	}
	pages, err := pdfCollectPages(r)
	if err != nil {
		a.err = err
		return a
	}
	a.res.Info, _ = pdfReadInfo(r) // the information dictionary is optional
	a.res.Pages, a.res.Truncated = pdfExtractPages(pages)
	a.res.Path = path
	a.res.Encrypted = encrypted
	a.score = pdfTextScore(a.res.Pages)
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

// pdfNormalize fixes, without moving any byte offset, header and trailer quirks that
// ledongthuc/pdf rejects but readers accept: a version other than 1.0-1.7 ("%PDF-2.0"), a
// header line not ended right after the version ("%PDF-1.3 \n"), and data after the last
// "%%EOF". data is not modified; a changed copy is returned.
func pdfNormalize(data []byte) []byte {
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
// encrypted and decrypted it.
func pdfcpuRewrite(data []byte, password string) (out []byte, decrypted bool, err error) {
	defer pdfRecover(&err)
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
		return nil, false, fmt.Errorf("pdfcpu read: %w", err)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	ctx.Write.Writer = w
	if err := pdfcpu.WriteContext(ctx); err != nil {
		return nil, false, fmt.Errorf("pdfcpu write: %w", err)
	}
	if err := w.Flush(); err != nil {
		return nil, false, fmt.Errorf("pdfcpu write: %w", err)
	}
	return pdfNormalize(buf.Bytes()), decrypted, nil
}

// pdfcpuDisableConfigDir keeps pdfcpu from creating its configuration directory (fonts,
// certificates) under the user's config directory, which it does on first use otherwise.
// pdfcpu keeps this setting in a package variable.
var pdfcpuDisableConfigDir = sync.OnceFunc(func() { model.ConfigPath = "disable" })

package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	lpdf "github.com/ledongthuc/pdf"

	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// Opening a file and reading its structure: the information dictionary and the page tree;
// each page's text is read by the content-stream interpreter (content.go).

// open opens data with ledongthuc/pdf, trying the empty password and then password.
// encrypted reports whether the file has an /Encrypt dictionary (as far as could be seen).
func open(data []byte, password string) (r *lpdf.Reader, encrypted bool, err error) {
	defer recoverPanic(&err)
	tried := false
	r, err = lpdf.NewReaderEncrypted(bytes.NewReader(data), int64(len(data)), func() string {
		if tried {
			return ""
		}
		tried = true
		return password
	})
	if err != nil {
		msg := err.Error()
		encrypted = errors.Is(err, lpdf.ErrInvalidPassword) || strings.Contains(msg, "encrypt")
		return nil, encrypted, err
	}
	enc := r.Trailer().Key("Encrypt")
	if enc.IsNull() {
		return r, false, nil
	}
	// ledongthuc/pdf derives 40-bit RC4 object keys with the wrong length and yields noise
	// without an error: leave such files to the pdfcpu path.
	if v := enc.Key("V").Int64(); v <= 2 && (enc.Key("Length").IsNull() || enc.Key("Length").Int64() == 40) {
		return nil, true, errRC440
	}
	return r, true, nil
}

// errRC440 rejects a file encrypted with 40-bit RC4 from the primary parser.
var errRC440 = errors.New("40-bit RC4 encryption, which ledongthuc/pdf decrypts wrongly")

// readInfo reads the document information dictionary.
func readInfo(r *lpdf.Reader) (info Info, err error) {
	defer recoverPanic(&err)
	d := r.Trailer().Key("Info")
	if d.Kind() != lpdf.Dict {
		return info, nil
	}
	get := func(key string) string {
		v := d.Key(key)
		if v.Kind() != lpdf.String {
			return ""
		}
		return textnorm.CollapseLine(v.Text())
	}
	info = Info{
		Title: get("Title"), Author: get("Author"), Subject: get("Subject"),
		Creator: get("Creator"), Producer: get("Producer"),
	}
	if v := d.Key("CreationDate"); v.Kind() == lpdf.String {
		info.CreationDate = strings.TrimSpace(v.RawString())
	}
	return info, nil
}

// collectPages walks the page tree. Unlike the library's Page(n), it is bounded: a cyclic
// or absurdly deep tree is an error rather than an endless loop.
func collectPages(r *lpdf.Reader) (pages []lpdf.Value, err error) {
	defer recoverPanic(&err)
	root := r.Trailer().Key("Root").Key("Pages")
	if root.Kind() != lpdf.Dict {
		return nil, errors.New("no page tree")
	}
	visited := 0
	var walk func(node lpdf.Value, depth int) error
	walk = func(node lpdf.Value, depth int) error {
		visited++
		if visited > maxTreeNodes {
			return fmt.Errorf("page tree has more than %d nodes (cyclic?)", maxTreeNodes)
		}
		if depth > maxTreeDepth {
			return fmt.Errorf("page tree deeper than %d levels (cyclic?)", maxTreeDepth)
		}
		kids := node.Key("Kids")
		typ := node.Key("Type").Name()
		if typ == "Page" || typ != "Pages" && kids.Kind() != lpdf.Array {
			if len(pages) >= maxPages {
				return fmt.Errorf("more than %d pages", maxPages)
			}
			pages = append(pages, node)
			return nil
		}
		for i := 0; i < kids.Len(); i++ {
			kid := kids.Index(i)
			if kid.Kind() != lpdf.Dict {
				continue
			}
			if err := walk(kid, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, 0); err != nil {
		return nil, err
	}
	return pages, nil
}

// inherited returns key from the page or the nearest ancestor that has it.
func inherited(page lpdf.Value, key string) lpdf.Value {
	v := page
	for i := 0; i < maxInherit && v.Kind() == lpdf.Dict; i++ {
		if x := v.Key(key); !x.IsNull() {
			return x
		}
		v = v.Key("Parent")
	}
	return lpdf.Value{}
}

// extractPages reads the text of every page. A page that fails keeps the text read
// before the failure and records the error; the other pages are unaffected.
func extractPages(pages []lpdf.Value) (out []page, truncated bool) {
	fonts := map[string]*font{} // shared across pages: keyed by the font dictionary's text
	total := 0
	for _, pv := range pages {
		var pg page
		if total >= maxTextBytes {
			truncated = true
			out = append(out, pg)
			continue
		}
		lines, err := pageLines(pv, fonts)
		pg.Lines = lines
		if err != nil {
			pg.Err = firstLine(err.Error())
		}
		for _, l := range pg.Lines {
			total += len(l.Text)
		}
		out = append(out, pg)
	}
	return out, truncated
}

// firstLine returns the first line of s, shortened to a readable length.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

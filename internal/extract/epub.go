package extract

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// EPUB: a zip of XHTML chapters. META-INF/container.xml names the package document (OPF),
// whose spine gives the chapters in reading order; each chapter goes through the HTML
// extractor, and its blocks carry the chapter as their Locator (its title: the chapter's
// first heading, else its <title> when it is not the book's, else its file name). A chapter that starts without a heading
// gets its title as one, so that the chunker's heading path names the chapter.
//
// Bounds: the number of entries, the decompressed size of each file read and of all of them,
// the number of chapters.

// Bounds of EPUB extraction.
const (
	epubMaxEntries  = 10_000
	epubMaxFile     = 16 << 20  // bytes of one decompressed file
	epubMaxTotal    = 256 << 20 // bytes decompressed in all
	epubMaxChapters = 2_000
)

// EPUB extracts an e-book.
func EPUB(data []byte) (Document, error) {
	doc := newDocument("application/epub+zip")
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Document{}, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("not an EPUB (zip): %w", err)}
	}
	if len(zr.File) > epubMaxEntries {
		return Document{}, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("an EPUB of %d entries, over %d", len(zr.File), epubMaxEntries)}
	}
	z := &zipBudget{files: map[string]*zip.File{}, left: epubMaxTotal}
	for _, f := range zr.File {
		z.files[f.Name] = f
	}
	var container struct {
		Rootfiles []struct {
			FullPath string `xml:"full-path,attr"`
		} `xml:"rootfiles>rootfile"`
	}
	if err := z.xml("META-INF/container.xml", &container); err != nil {
		return Document{}, err
	}
	if len(container.Rootfiles) == 0 {
		return Document{}, &Error{Reason: ReasonInvalid, Err: errors.New("EPUB: container.xml names no package document")}
	}
	opfPath := container.Rootfiles[0].FullPath
	var opf struct {
		Title    []string `xml:"metadata>title"`
		Creator  []string `xml:"metadata>creator"`
		Language []string `xml:"metadata>language"`
		Items    []struct {
			ID        string `xml:"id,attr"`
			Href      string `xml:"href,attr"`
			MediaType string `xml:"media-type,attr"`
		} `xml:"manifest>item"`
		Spine []struct {
			IDRef string `xml:"idref,attr"`
		} `xml:"spine>itemref"`
	}
	if err := z.xml(opfPath, &opf); err != nil {
		return Document{}, err
	}
	if len(opf.Title) > 0 {
		doc.Title = textnorm.CollapseLine(opf.Title[0])
		doc.Metadata["title"] = doc.Title
	}
	if len(opf.Creator) > 0 {
		doc.Metadata["author"] = textnorm.CollapseLine(strings.Join(opf.Creator, "; "))
	}
	if len(opf.Language) > 0 {
		doc.Metadata["language"] = textnorm.CollapseLine(opf.Language[0])
	}
	hrefs := map[string]string{}
	for _, it := range opf.Items {
		hrefs[it.ID] = it.Href
	}
	dir := path.Dir(opfPath)
	var b builder
	chapters := 0
	for _, ref := range opf.Spine {
		href, ok := hrefs[ref.IDRef]
		if !ok {
			continue
		}
		if chapters == epubMaxChapters {
			doc.Metadata["truncated"] = true
			addNote(&doc, fmt.Sprintf("truncated: only the first %d chapters are read", epubMaxChapters))
			break
		}
		if u, err := url.PathUnescape(href); err == nil {
			href = u
		}
		name := path.Join(dir, href)
		raw, err := z.read(name)
		if err != nil {
			if IsReason(err, ReasonTooLarge) {
				return Document{}, err
			}
			addNote(&doc, fmt.Sprintf("chapter %s not read: %v", href, err))
			continue
		}
		chapters++
		ch, err := HTML(raw)
		if err != nil {
			addNote(&doc, fmt.Sprintf("chapter %s not read: %v", href, err))
			continue
		}
		label := ""
		for _, blk := range ch.Blocks {
			if blk.Kind == chunk.Heading {
				label = ch.Text[blk.Start:blk.End]
				break
			}
		}
		if label == "" && ch.Title != doc.Title {
			label = ch.Title
		}
		if label == "" {
			label = path.Base(href)
		}
		label = truncate(textnorm.CollapseLine(label), maxLocator-8)
		if len(ch.Blocks) > 0 && ch.Blocks[0].Kind != chunk.Heading && ch.Title != "" && ch.Title != doc.Title {
			b.addLocated(chunk.Heading, 1, ch.Title, label)
		}
		for _, blk := range ch.Blocks {
			b.addLocated(blk.Kind, blk.Level, ch.Text[blk.Start:blk.End], label)
			if blk.HeaderRows > 0 && len(b.blocks) > 0 {
				b.blocks[len(b.blocks)-1].HeaderRows = blk.HeaderRows
			}
		}
	}
	doc.Metadata["chapters"] = int64(chapters)
	doc.Document = b.document(doc.Title)
	return finish(doc), nil
}

// IsReason reports whether err is an *Error with the given reason.
func IsReason(err error, reason string) bool {
	var e *Error
	return errors.As(err, &e) && e.Reason == reason
}

// zipBudget reads files of a zip within a budget of decompressed bytes.
type zipBudget struct {
	files map[string]*zip.File
	left  int64
}

// read returns a file's decompressed content: at most epubMaxFile bytes, and within what
// is left of the budget (else an *Error ReasonTooLarge).
func (z *zipBudget) read(name string) ([]byte, error) {
	f, ok := z.files[name]
	if !ok {
		return nil, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("%s: not in the archive", name)}
	}
	rc, err := f.Open()
	if err != nil {
		return nil, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("%s: %w", name, err)}
	}
	defer rc.Close()
	limit := min(int64(epubMaxFile), z.left)
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("%s: %w", name, err)}
	}
	if int64(len(data)) > limit {
		return nil, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("%s: decompresses to more than %d MiB (a zip bomb?)", name, limit>>20)}
	}
	z.left -= int64(len(data))
	return data, nil
}

// xml decodes a file of the archive as XML into v (no entity expansion: encoding/xml knows
// only the predefined entities).
func (z *zipBudget) xml(name string, v any) error {
	data, err := z.read(name)
	if err != nil {
		return err
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = false
	dec.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := dec.Decode(v); err != nil {
		return &Error{Reason: ReasonInvalid, Err: fmt.Errorf("%s: %w", name, err)}
	}
	return nil
}

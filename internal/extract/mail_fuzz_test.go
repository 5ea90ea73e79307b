package extract

import (
	"bytes"
	"testing"
)

// checkParts asserts what every derived document promises: a valid, unique fragment, a
// document that satisfies checkDocument or an *Error, no permission tags of its own.
func checkParts(t *testing.T, doc Document) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range doc.Parts {
		if !validFragment(p.Fragment) || seen[p.Fragment] {
			t.Fatalf("bad or repeated fragment %q", p.Fragment)
		}
		seen[p.Fragment] = true
		if p.Err != nil {
			continue
		}
		if p.ACL != nil || p.URL != "" {
			t.Fatalf("part %s declares tags %v or url %q", p.Fragment, p.ACL, p.URL)
		}
		checkDocument(t, p.Fragment, p.Document)
	}
	if _, err := decodeDocumentRoundTrip(doc); err != nil {
		t.Fatalf("the document does not survive the wire: %v", err)
	}
}

func decodeDocumentRoundTrip(doc Document) (Document, error) {
	p, err := encodeDocument(doc)
	if err != nil {
		return Document{}, err
	}
	return decodeDocument(p)
}

func FuzzEML(f *testing.F) {
	f.Add([]byte(simpleMail))
	for _, data := range sharedSeeds(f, "office/files", []string{".eml"}, 1<<20) {
		f.Add(data)
	}
	f.Add([]byte("Subject: x\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a--\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := EML(data)
		if err != nil {
			checkResult(t, doc, err)
			return
		}
		checkDocument(t, "eml", doc)
		checkParts(t, doc)
	})
}

func FuzzMBOX(f *testing.F) {
	f.Add([]byte("From a Mon\nSubject: one\n\n>From x\nFrom b Tue\nSubject: two\n\nbody\n"))
	f.Add([]byte("From \n\nFrom \nA: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _ := SplitMBOX(data)
		for _, m := range msgs {
			if len(m) > len(data) {
				t.Fatalf("a message of %d bytes from %d", len(m), len(data))
			}
		}
		doc, err := MBOX(data)
		if err != nil {
			checkResult(t, doc, err)
			return
		}
		checkParts(t, doc)
	})
}

func FuzzRTF(f *testing.F) {
	for _, data := range sharedSeeds(f, "office/files", []string{".rtf"}, 1<<20) {
		f.Add(data)
	}
	f.Add([]byte(`{\rtf1\ansi\ansicpg932\uc2{\fonttbl{\f1\fcharset128 x;}}{\f1 \'82\'a0}\u-3913??\trowd\trhdr\intbl a\cell\row}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := RTF(data)
		checkResult(t, doc, err)
		if err == nil && len(doc.Text) > 4*len(data)+16 {
			t.Fatalf("%d bytes of text from %d of RTF", len(doc.Text), len(data))
		}
	})
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"), false)
	f.Add([]byte("a\tb\n\"x\ny\"\tz\n"), true)
	f.Add([]byte("\"unterminated,\n,,\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, tab bool) {
		doc, err := CSV(data, tab)
		checkResult(t, doc, err)
		for _, b := range doc.Blocks {
			if lines := bytes.Count([]byte(doc.Text[b.Start:b.End]), []byte("\n")) + 1; b.HeaderRows >= lines && b.HeaderRows > 0 {
				t.Fatalf("block of %d lines with %d header rows", lines, b.HeaderRows)
			}
		}
	})
}

func FuzzEPUB(f *testing.F) {
	f.Add(epubFile(f, [][2]string{{"a.xhtml", "<p>x</p>"}}, nil))
	for _, data := range sharedSeeds(f, "office/files", []string{".epub"}, 256<<10) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := EPUB(data)
		if err != nil && ReasonOf(err) == ReasonTooLarge {
			return
		}
		checkResult(t, doc, err)
	})
}

package pdfgen

import (
	"bytes"
	"fmt"
)

// Hostile PDFs for tests of the extraction's isolation: each makes a naive parser exhaust
// memory or loop forever. They are not valid documents and are not written by Write.

// HugeXref is a hostile PDF: it has a cross-reference subsection that starts at object 4294967295: the
// parser grows its table to 2^32 entries of 32 bytes, a single 137 GB allocation, which the
// Go runtime answers with a fatal out-of-memory error.
func HugeXref() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	o1 := b.Len()
	b.WriteString("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	o2 := b.Len()
	b.WriteString("2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 3\n0000000000 65535 f \n%010d 00000 n \n%010d 00000 n \n", o1, o2)
	fmt.Fprintf(&b, "4294967295 1\n%010d 00000 n \n", o1)
	fmt.Fprintf(&b, "trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", xref)
	return b.Bytes()
}

// HugeXrefStream is a hostile PDF: it has a cross-reference stream whose /Size claims 2^32 objects.
func HugeXrefStream() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n")
	xref := b.Len()
	b.WriteString("1 0 obj\n<< /Type /XRef /Size 4294967296 /W [1 2 1] /Root 1 0 R /Length 0 >>\nstream\n\nendstream\nendobj\n")
	fmt.Fprintf(&b, "startxref\n%d\n%%%%EOF\n", xref)
	return b.Bytes()
}

// CyclicPageTree is a hostile PDF: it has a page tree whose Pages node lists itself (selfKid) or its parent among its
// kids.
func CyclicPageTree(selfKid bool) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 4 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 612 792] /Contents 5 0 R /Resources << >> >>",
		"<< /Length 0 >>\nstream\n\nendstream",
	}
	if selfKid {
		objs[1] = "<< /Type /Pages /Kids [2 0 R] /Count 1 >>"
	}
	return Objects(objs)
}

// Objects writes a PDF 1.4 file of the objects given, numbered from 1 (object 1 is the
// catalog), with a correct cross-reference table: for hand-made structures that Write does
// not produce.
func Objects(objs []string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	var offs []int
	for i, o := range objs {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

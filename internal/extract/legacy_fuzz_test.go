package extract

import (
	"testing"
)

// FuzzLegacyInspect feeds legacyExtract (without a converter: the OLE reading and the
// encryption checks, and the RTF and zip paths) arbitrary files: it must fail with a
// reason code or succeed, never panic or hang.
func FuzzLegacyInspect(f *testing.F) {
	f.Add(oleFile(f, oleStream{"WordDocument", wordFIB(false)}, oleStream{"1Table", nil}))
	f.Add(oleFile(f, oleStream{"WordDocument", wordFIB(true)}))
	f.Add(oleFile(f, oleStream{"Workbook", biffRecords(xlsBOF, xlsFilePass, xlsEOF)}))
	f.Add(oleFile(f, oleStream{"PowerPoint Document", nil}, oleStream{"Current User", pptCurrentUser(pptTokenEncrypted)}))
	f.Add(oleFile(f, oleStream{"EncryptionInfo", nil}, oleStream{"EncryptedPackage", nil}))
	f.Add([]byte(`{\rtf1 x}`))
	f.Add(testDOCX(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := legacyExtract(t.Context(), data, nil, nil)
		if err != nil {
			switch ReasonOf(err) {
			case ReasonCorrupt, ReasonEncrypted, ReasonConverterMissing, ReasonTooLarge, ReasonInvalid:
			default:
				t.Fatalf("error without a reason code: %v", err)
			}
			return
		}
		if doc.Metadata == nil {
			t.Fatal("a document without metadata")
		}
	})
}

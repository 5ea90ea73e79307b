package api_test

import (
	"os"
	"testing"

	"github.com/docent-rag/docent/internal/extract"
)

// TestMain lets this test binary parse PDFs for the ingestion of the demo corpus: PDFs are
// parsed by the running binary re-executed as a child.
func TestMain(m *testing.M) {
	extract.RunChildIfRequested()
	os.Exit(m.Run())
}

package ask_test

import (
	"os"
	"testing"

	"github.com/docent-rag/docent/internal/extract"
)

// TestMain lets this test binary extract files: ingestion extracts each file in a child
// process, which is the running binary re-executed.
func TestMain(m *testing.M) {
	extract.RunChildIfRequested()
	os.Exit(m.Run())
}

package extract

import (
	"os"
	"testing"
)

// TestMain lets the test binary act as the PDF child: PDF re-executes the running binary.
func TestMain(m *testing.M) {
	RunChildIfRequested()
	os.Exit(m.Run())
}

package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// TestOfficeCorpus ingests the office files of the shared evaluation data (real files from
// public test suites: encrypted, corrupt and hostile ones among them) with every other
// format the corpus holds. The run finishes; every office file is added or listed with a
// reason (encrypted, corrupt); the hostile sheet that declares 999,999,999 rows is stored
// cut, with a `truncated` warning; decks are stored with slides as their page unit, and
// workbook chunks with their sheet and cell range.
func TestOfficeCorpus(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(filepath.Dir(evaldata.Path(t, "office/manifest.json")), "files")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{".docent-acl": "public\n"}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(data)
	}
	h := newHarness(t, files)
	s, outcomes := h.mustRun()
	for name, outcome := range outcomes {
		ext := strings.ToLower(filepath.Ext(name))
		if !slices.Contains([]string{".docx", ".pptx", ".xlsx", ".odt", ".ods", ".odp"}, ext) {
			continue
		}
		switch {
		case strings.HasPrefix(outcome, "added"):
		case outcome == "failed:encrypted" || outcome == "failed:corrupt":
		default:
			t.Errorf("%s: %s", name, outcome)
		}
	}
	for _, want := range []string{"tika__testWORD_protected_passtika.docx", "tika__testODTEncrypted.odt", "tika__testPPT_protected_passtika.pptx"} {
		if outcomes[want] != "failed:encrypted" {
			t.Errorf("%s: %q, want failed:encrypted", want, outcomes[want])
		}
	}
	truncated := false
	for _, w := range s.Warnings {
		truncated = truncated || w.URI == "calamine__issue_594_dos.ods" && w.Reason == "truncated"
	}
	if !truncated {
		t.Errorf("no truncated warning for the sheet of 999,999,999 rows: %+v", s.Warnings)
	}
	ctx := context.Background()
	var slides, ranges int
	if err := h.db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE page_unit = 'slide' AND uri LIKE '%.pptx'`).Scan(&slides); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Pool.QueryRow(ctx, `SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id
		WHERE d.uri = 'poi__bug62181.xlsx' AND c.locator ~ '^List 2!A[0-9]+:I[0-9]+$'`).Scan(&ranges); err != nil {
		t.Fatal(err)
	}
	if slides < 3 || ranges < 100 {
		t.Errorf("%d decks stored with slides, %d chunks of the large sheet with a cell range", slides, ranges)
	}
}

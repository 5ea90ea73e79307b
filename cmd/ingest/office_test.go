package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// TestIngestOfficeCorpus runs the real `ingest run` over the 55 files of the office corpus
// (../shared/data/office/files: office formats, e-mail, EPUB, RTF, legacy DOC/XLS/PPT, and
// encrypted, corrupt and hostile files): it never dies, exits 0 or 3, reports every file,
// and every file it skips or fails has a reason. With LibreOffice installed the legacy
// files that are neither encrypted nor corrupt are added; without it they are
// converter_missing, with a note saying how to install it (the run without soffice on its
// PATH).
func TestIngestOfficeCorpus(t *testing.T) {
	dir := evaldata.Path(t, "office/files")
	t.Parallel()
	_, sofficeErr := exec.LookPath("soffice")
	t.Run("as installed", func(t *testing.T) {
		t.Parallel()
		ingestOfficeCorpus(t, dir, nil, sofficeErr == nil)
	})
	t.Run("without LibreOffice", func(t *testing.T) {
		t.Parallel()
		ingestOfficeCorpus(t, dir, []string{"PATH=" + t.TempDir()}, false)
	})
}

func ingestOfficeCorpus(t *testing.T, dir string, env []string, libreOffice bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	db := dbtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	report := filepath.Join(t.TempDir(), "report.jsonl")
	cmd := ingestCmd(ctx, db.URL, "run", "--source", "office", "--acl", "public", "--json", "--report", report, dir)
	cmd.Env = append(cmd.Env, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := exitCode(err)
	if code != exitOK && code != exitPartial {
		t.Fatalf("exit %d (%v), want %d or %d; stderr:\n%s", code, err, exitOK, exitPartial, truncateLog(stderr.String()))
	}
	var s struct {
		Status    string
		Documents struct{ Added, Failed, Skipped int }
		Failures  []struct{ URI, Reason, Message string }
		Notes     []string
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("--json summary: %v\n%s", err, out)
	}
	for _, f := range s.Failures {
		if f.Reason == "" || f.Reason == "error" || f.Message == "" {
			t.Errorf("failure without a reason: %+v", f)
		}
	}
	lines, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{} // file name → outcome[:reason] of its own document
	for line := range strings.Lines(strings.TrimSpace(string(lines))) {
		var l struct{ URI, Outcome, Reason string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("report line %q: %v", line, err)
		}
		if (l.Outcome == "failed" || l.Outcome == "skipped") && l.Reason == "" {
			t.Errorf("%s: %s without a reason", l.URI, l.Outcome)
		}
		if !strings.Contains(l.URI, "#") {
			files[filepath.Base(l.URI)] = l.Outcome + ":" + l.Reason
		}
	}
	if len(files) != len(entries) {
		t.Errorf("%d files reported, want the %d in %s", len(files), len(entries), dir)
	}
	for name, want := range map[string]string{
		"poi__SampleDoc.doc": "added:", "poi__SampleSS.xls": "added:", "poi__SampleShow.ppt": "added:",
		"poi__password_tika_binaryrc4.doc": "failed:encrypted", "poi__Password_Protected-hello.ppt": "failed:encrypted",
		"nwe__badfile-01-bad-header.doc": "failed:corrupt", "tika__testWORD_truncated.docx": "failed:corrupt",
	} {
		if !libreOffice && want == "added:" {
			want = "failed:converter_missing"
		}
		if got := files[name]; got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if !libreOffice && !strings.Contains(strings.Join(s.Notes, "\n"), "scripts/libreoffice.sh") {
		t.Errorf("no note on how to install LibreOffice: %q", s.Notes)
	}
	t.Logf("status %s (exit %d): %d added, %d skipped, %d failed", s.Status, code, s.Documents.Added, s.Documents.Skipped, s.Documents.Failed)
	for _, f := range s.Failures {
		t.Logf("failed %s: %s: %s", filepath.Base(f.URI), f.Reason, f.Message)
	}
	for _, n := range s.Notes {
		t.Logf("note: %s", n)
	}
}

// truncateLog keeps the end of a long log.
func truncateLog(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

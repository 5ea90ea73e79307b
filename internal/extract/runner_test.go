package extract

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/testing/pdfgen"
)

// testRunner returns a Runner closed at the end of the test.
func testRunner(t testing.TB, cfg Config) *Runner {
	t.Helper()
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// extractFile reads the file at path and extracts it with r, as ingestion does.
func extractFile(t testing.TB, r *Runner, path string) (Document, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return r.Extract(t.Context(), path, data)
}

// extractPDF extracts the PDF at path with a Runner of its own.
func extractPDF(t testing.TB, path string, cfg Config) (Document, error) {
	t.Helper()
	cfg.Workers = cmpOr(cfg.Workers, 1)
	return extractFile(t, testRunner(t, cfg), path)
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// TestRunnerMatchesInProcess extracts the golden documents in children and in this process:
// the trip through the child changes nothing.
func TestRunnerMatchesInProcess(t *testing.T) {
	t.Parallel()
	r := testRunner(t, Config{Workers: 2})
	files, err := filepath.Glob("testdata/text/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	var wg sync.WaitGroup
	for _, file := range files {
		if strings.HasSuffix(file, ".golden") || strings.HasSuffix(file, ".jsonl") {
			continue
		}
		wg.Go(func() {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Error(err)
				return
			}
			want, wantErr := Text(file, data)
			got, err := r.Extract(t.Context(), file, data)
			if (err != nil) != (wantErr != nil) || err != nil && ReasonOf(err) != ReasonOf(wantErr) {
				t.Errorf("%s: error %v, in process %v", file, err, wantErr)
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: child and in-process extraction differ (-in process +child):\n%s", file, diff)
			}
		})
	}
	wg.Wait()
	if n := len(r.childPIDs()); n > 2 {
		t.Errorf("%d children for 2 workers", n)
	}
}

// TestRunnerReplacesFailedChildren has one child extract file after file, some of which
// make it hang, grow, crash or break the protocol: each of those fails with its reason
// within its budget, the child is replaced, and the next file is extracted as usual.
func TestRunnerReplacesFailedChildren(t *testing.T) {
	t.Parallel()
	modes := map[string]string{}
	var mu sync.Mutex
	r := testRunner(t, Config{Workers: 1, Timeout: 2 * time.Second, MemoryLimit: 128 << 20,
		testMode: func(name string) string {
			mu.Lock()
			defer mu.Unlock()
			return modes[name]
		}})
	good := []byte("# Fleet\n\nRobot 7 completed 412 deliveries.\n")
	steps := []struct {
		mode   string
		reason string // "" for success
		inMsg  string
	}{
		{"", "", ""},
		{"", "", ""}, // the same child
		{"hang", ReasonTimeout, "within 2s"},
		{"", "", ""},
		{"grow", ReasonMemory, "more than 128 MiB"},
		{"", "", ""},
		{"crash", ReasonCrash, "panic: extract child test crash"},
		{"", "", ""},
		{"exit", ReasonCrash, "exit status 7"},
		{"", "", ""},
		{"garbage", ReasonCrash, "answer"},
		{"", "", ""},
		{"big", ReasonMemory, "larger than"},
		{"", "", ""},
	}
	var prev []int
	for i, s := range steps {
		name := fmt.Sprintf("file%02d.md", i)
		mu.Lock()
		modes[name] = s.mode
		mu.Unlock()
		start := time.Now()
		doc, err := r.Extract(t.Context(), name, good)
		elapsed := time.Since(start)
		if s.reason == "" {
			if err != nil || !strings.Contains(doc.Text, "412 deliveries") {
				t.Fatalf("step %d: %v, text %q", i, err, doc.Text)
			}
		} else {
			if ReasonOf(err) != s.reason || !strings.Contains(err.Error(), s.inMsg) {
				t.Fatalf("step %d (%s): err = %v (reason %s), want reason %s mentioning %q", i, s.mode, err, ReasonOf(err), s.reason, s.inMsg)
			}
			if strings.Contains(err.Error(), "goroutine ") || strings.Contains(err.Error(), "second line") {
				t.Errorf("step %d: %q carries more than the first line of the crash", i, err)
			}
			if elapsed > 2*time.Second+5*time.Second {
				t.Errorf("step %d (%s) took %v, over its 2s budget", i, s.mode, elapsed)
			}
			t.Logf("%s: %s after %v: %v", s.mode, s.reason, elapsed.Round(time.Millisecond), err)
		}
		pids := r.childPIDs()
		switch {
		case s.reason == "" && len(pids) != 1:
			t.Fatalf("step %d: children %v, want one", i, pids)
		case s.reason != "" && len(pids) != 0:
			t.Fatalf("step %d: children %v after a failure, want none until the next file", i, pids)
		case s.reason == "" && i > 0 && steps[i-1].reason == "" && !slices.Equal(pids, prev):
			t.Errorf("step %d: child %v replaced after a good file (was %v)", i, pids, prev)
		case s.reason == "" && i > 0 && steps[i-1].reason != "" && slices.Equal(pids, prev):
			t.Errorf("step %d: child %v reused after a failure", i, pids)
		}
		if len(pids) > 0 {
			prev = pids
		}
	}
}

// TestRunnerRecycles replaces children after FilesPerChild files, and after a file that
// left them bigger than RecycleMemory.
func TestRunnerRecycles(t *testing.T) {
	t.Parallel()
	doc := []byte("Plain text.\n")
	pidsOf := func(r *Runner, n int) []int {
		var out []int
		for i := range n {
			if _, err := r.Extract(t.Context(), fmt.Sprintf("f%d.txt", i), doc); err != nil {
				t.Fatal(err)
			}
			out = append(out, r.childPIDs()...)
		}
		return out
	}
	// A child is replaced after its second file: files 1-2, 3-4 and 5 have their own, and
	// after files 2 and 4 none is left.
	pids := pidsOf(testRunner(t, Config{Workers: 1, FilesPerChild: 2}), 5)
	if len(pids) != 3 || pids[0] == pids[1] || pids[1] == pids[2] || pids[0] == pids[2] {
		t.Errorf("children after each file %v: want three different ones, none after files 2 and 4", pids)
	}
	pids = pidsOf(testRunner(t, Config{Workers: 1, RecycleMemory: 1}), 3)
	if len(pids) != 0 {
		t.Errorf("children %v left although every child is over RecycleMemory after its file", pids)
	}
}

func TestRunnerContextCanceled(t *testing.T) {
	t.Parallel()
	r := testRunner(t, Config{Workers: 1, Timeout: 20 * time.Second, testMode: func(string) string { return "hang" }})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Extract(ctx, "x.md", []byte("x"))
	if !errors.Is(err, context.DeadlineExceeded) || ReasonOf(err) != "error" {
		t.Errorf("err = %v (reason %s), want the context's error, not a reason", err, ReasonOf(err))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v", d)
	}
}

// TestRunnerClose ends every child, idle or busy, and refuses files afterwards.
func TestRunnerClose(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	r, err := NewRunner(Config{Workers: 2, Timeout: time.Minute, testMode: func(name string) string {
		if name == "hang.md" {
			close(hang)
			return "hang"
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Extract(t.Context(), "hang.md", []byte("# B\n"))
		done <- err
	}()
	<-hang
	if _, err := r.Extract(t.Context(), "a.md", []byte("# A\n")); err != nil { // the other child, idle after
		t.Fatal(err)
	}
	var pids []int
	for deadline := time.Now().Add(10 * time.Second); len(pids) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		pids = r.childPIDs()
	}
	if len(pids) != 2 {
		t.Fatalf("children %v, want an idle and a busy one", pids)
	}
	time.Sleep(100 * time.Millisecond) // let the request reach the busy child
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("busy Extract returned %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("busy Extract did not return after Close")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("child %d still exists after Close", pid)
		}
	}
	if _, err := r.Extract(t.Context(), "c.md", []byte("# C\n")); !errors.Is(err, ErrClosed) {
		t.Errorf("Extract after Close: %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestRunnerConcurrent extracts many files at once with two workers.
func TestRunnerConcurrent(t *testing.T) {
	t.Parallel()
	r := testRunner(t, Config{Workers: 2})
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			name := fmt.Sprintf("doc%d.md", i)
			doc, err := r.Extract(t.Context(), name, fmt.Appendf(nil, "# Doc %d\n\nBody %d.\n", i, i))
			if err != nil || doc.Title != fmt.Sprintf("Doc %d", i) {
				t.Errorf("%s: %v, title %q", name, err, doc.Title)
			}
		})
	}
	wg.Wait()
	if n := len(r.childPIDs()); n > 2 {
		t.Errorf("%d children for 2 workers", n)
	}
}

// TestRunnerFormats: binary files need no child, JSON Lines are not extracted here, and a
// PDF gets the PDF budget.
func TestRunnerFormats(t *testing.T) {
	t.Parallel()
	r := testRunner(t, Config{Workers: 1, Timeout: 20 * time.Second, PDF: PDFOptions{Timeout: time.Second},
		testMode: func(name string) string {
			if strings.HasSuffix(name, ".pdf") {
				return "hang"
			}
			return ""
		}})
	doc, err := r.Extract(t.Context(), "logo.png", []byte("\x89PNG\r\n\x1a\n\x00\x00"))
	if err != nil || doc.Skip != SkipBinary || len(r.childPIDs()) != 0 {
		t.Errorf("binary: %v, skip %q, children %v", err, doc.Skip, r.childPIDs())
	}
	if _, err := r.Extract(t.Context(), "c.jsonl", []byte(`{"id":1}`)); err == nil || ReasonOf(err) != "error" {
		t.Errorf("JSON Lines: %v, want a plain error", err)
	}
	_, err = r.Extract(t.Context(), "scan.pdf", []byte("%PDF-1.4\n"))
	if ReasonOf(err) != ReasonTimeout || !strings.Contains(err.Error(), "within 1s") {
		t.Errorf("PDF: %v, want a timeout after the PDF budget of 1s", err)
	}
}

// TestChildEnvironment: a child gets no credentials, only the Go runtime's settings.
func TestChildEnvironment(t *testing.T) {
	t.Setenv("DOCENT_OPENAI_API_KEY", "sk-secret")
	t.Setenv("GOGC", "150")
	r := testRunner(t, Config{Workers: 1})
	if _, err := r.Extract(t.Context(), "a.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	pids := r.childPIDs()
	if len(pids) != 1 {
		t.Fatalf("children %v", pids)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pids[0]))
	if err != nil {
		t.Skipf("cannot read a child's environment: %v", err)
	}
	env := strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00")
	if !slices.Contains(env, "GOGC=150") || !slices.Contains(env, childEnv+"="+childProtocol) {
		t.Errorf("environment %q lacks GOGC or %s", env, childEnv)
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "DOCENT_") && !strings.HasPrefix(kv, childEnv+"=") || strings.Contains(kv, "secret") {
			t.Errorf("the child has %s", kv)
		}
	}
}

func TestRunnerConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Timeout: -time.Second},
		{PDF: PDFOptions{Timeout: -time.Second}},
		{MemoryLimit: 1 << 20},
		{PDF: PDFOptions{MemoryLimit: 1 << 20}},
		{Workers: -1},
		{FilesPerChild: -1},
		{RecycleMemory: -1},
	} {
		if _, err := NewRunner(cfg); err == nil {
			t.Errorf("NewRunner(%+v) accepted", cfg)
		}
	}
}

func TestRunnerWrongExecutable(t *testing.T) {
	t.Parallel()
	// A program that does not act as a child: a plain error with a hint, not a hang.
	r := testRunner(t, Config{Workers: 1, Executable: "/bin/true"})
	_, err := r.Extract(t.Context(), "a.md", []byte("# A\n"))
	if err == nil || ReasonOf(err) != "error" || !strings.Contains(err.Error(), "RunChildIfRequested") {
		t.Errorf("err = %v (reason %s), want a plain error with a hint", err, ReasonOf(err))
	}
	// No program at all: not the file's fault either.
	r = testRunner(t, Config{Workers: 1, Executable: filepath.Join(t.TempDir(), "missing")})
	if _, err = r.Extract(t.Context(), "a.md", []byte("# A\n")); err == nil || ReasonOf(err) != "error" {
		t.Errorf("err = %v (reason %s), want a plain error", err, ReasonOf(err))
	}
}

func TestCrashLine(t *testing.T) {
	output := "some log\npanic: runtime error: index out of range [3] with length 2\n\ngoroutine 1 [running]:\nmain.main()\n"
	got := crashLine(output, errors.New("exit status 2"))
	if want := "panic: runtime error: index out of range [3] with length 2 (exit status 2)"; got != want {
		t.Errorf("crashLine = %q, want %q", got, want)
	}
	if got := crashLine("", errors.New("signal: segmentation fault")); got != "signal: segmentation fault" {
		t.Errorf("crashLine = %q", got)
	}
}

// wirePayload is a document as a child sends it: the structure as JSON, then the text.
func wirePayload(structure, text string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(structure))), structure+text...)
}

// TestDecodeDocumentRejects: what a child sends is checked before the chunker sees it.
func TestDecodeDocumentRejects(t *testing.T) {
	for _, p := range [][]byte{
		wirePayload(`{"blocks":[[0,0,0,4,0]]}`, "abc"),             // beyond the text
		wirePayload(`{"blocks":[[0,0,2,3,0],[0,0,0,1,0]]}`, "abc"), // out of order
		wirePayload(`{"blocks":[[0,0,1,1,0]]}`, "abc"),             // empty
		wirePayload(`{"blocks":[[9,0,0,1,0]]}`, "abc"),             // unknown kind
		wirePayload(`{"blocks":[[1,7,0,1,0]]}`, "abc"),             // heading level 7
		wirePayload(`{"pages":1,"page_starts":[0,1]}`, "abc"),      // more starts than pages
		wirePayload(`{"pages":2,"page_starts":[2,1]}`, "abc"),      // out of order
		wirePayload(`{"pages":1,"page_starts":[4]}`, "abc"),        // beyond the text
		wirePayload(`{} {}`, "abc"),                                // trailing data
		wirePayload(`{}`, "\xff"),                                  // not UTF-8
		wirePayload(`[1,2]`, ""),
		wirePayload(`{"blocks":[[4,0,0,2,0]],"block_info":[{"b":1,"h":1}]}`, "ab"),               // no such block
		wirePayload(`{"blocks":[[4,0,0,1,0],[4,0,1,2,0]],"block_info":[{"b":1},{"b":0}]}`, "ab"), // out of order
		wirePayload(`{"blocks":[[0,0,0,2,0]],"block_info":[{"b":0,"h":1}]}`, "ab"),               // header rows of a paragraph
		wirePayload(`{"blocks":[[4,0,0,2,0]],"block_info":[{"b":0,"h":-1}]}`, "ab"),              // negative
		wirePayload(`{"blocks":[[4,0,0,2,0]],"block_info":[{"b":0,"l":"a\nb"}]}`, "ab"),          // control character
		wirePayload(`{"blocks":[[4,0,0,2,0]],"block_info":[{"b":0,"l":"`+strings.Repeat("x", 257)+`"}]}`, "ab"),
		wirePayload(`{"page_unit":"chapter"}`, "ab"),                             // unknown page unit
		wirePayload(`{"blocks":[[4,0,0,3,0]],"extras":[{"b":0,"h":1}]}`, "a\nb"), // a field this program does not send
		wirePayload(`{"warnings":[{"reason":"secret","message":"x"}]}`, "ab"),    // unknown warning
		wirePayload(`{"warnings":`+strings.Repeat(`[{"reason":"truncated"}`, 1)+strings.Repeat(`,{"reason":"truncated"}`, maxWarnings)+`]}`, "ab"), // too many
		wirePayload(`{"blocks":[[4,0,0,3,0]],"block_info":[{"b":0,"h":2}]}`, "a\nb"),                                                               // the whole table is header
		append(binary.BigEndian.AppendUint32(nil, 99), `{}`...),                                                                                    // longer than the payload
		{0, 0},
	} {
		if doc, err := decodeDocument(p); err == nil {
			t.Errorf("decodeDocument(%q) accepted: %+v", p, doc)
		}
	}
	doc, err := decodeDocument(wirePayload(`{"blocks":[[4,0,0,3,2]],"pages":2,"page_unit":"slide","block_info":[{"b":0,"h":1,"l":"S!A1:B2","o":true}]}`, "a\nb"))
	if err != nil {
		t.Fatal(err)
	}
	if b := doc.Blocks[0]; b.HeaderRows != 1 || b.Locator != "S!A1:B2" || !b.OCR || doc.PageUnit != PageUnitSlide {
		t.Errorf("block info lost on the way: %+v, page unit %q", b, doc.PageUnit)
	}
	doc, err = decodeDocument(wirePayload(`{"blocks":[[0,0,0,2,0]],"metadata":{"n":12,"u":18446744073709551615,"f":1.5,"l":[1,{"x":2}],"big":1e999},"acl":[]}`, "ab"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"n": int64(12), "u": uint64(18446744073709551615), "f": 1.5, "l": []any{int64(1), map[string]any{"x": int64(2)}}, "big": "1e999"}
	if diff := cmp.Diff(want, doc.Metadata); diff != "" || doc.ACL == nil || len(doc.ACL) != 0 || doc.Text != "ab" {
		t.Errorf("metadata (-want +got):\n%s\nACL %#v (want an empty, non-nil list), text %q", diff, doc.ACL, doc.Text)
	}
}

// BenchmarkRunnerMarkdown extracts a small Markdown file through a warm child: the cost of a
// trip to the child and back.
func BenchmarkRunnerMarkdown(b *testing.B) {
	r := testRunner(b, Config{Workers: 1})
	data := []byte("# Fleet\n\nRobot 7 completed 412 deliveries in March.\n\n- one\n- two\n")
	for b.Loop() {
		if _, err := r.Extract(b.Context(), "a.md", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunnerPDFOnePage extracts a one-page PDF through a warm child.
func BenchmarkRunnerPDFOnePage(b *testing.B) {
	path := pdfWriteDoc(b, pdfgen.Document{Pages: []pdfgen.Page{{Lines: []string{"One line of text."}}}})
	r := testRunner(b, Config{Workers: 1})
	for b.Loop() {
		if _, err := extractFile(b, r, path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChildStart starts a child for every file (FilesPerChild 1): the cost that the
// pool saves.
func BenchmarkChildStart(b *testing.B) {
	r := testRunner(b, Config{Workers: 1, FilesPerChild: 1})
	data := []byte("# Fleet\n\nRobot 7 completed 412 deliveries in March.\n")
	for b.Loop() {
		if _, err := r.Extract(b.Context(), "a.md", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestChildrenDieWithTheirParent kills a parent with SIGKILL, which gives it no chance to
// close its Runner: its children, the idle one and the busy one, die with it.
func TestChildrenDieWithTheirParent(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), parentEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	line, err := bufio.NewReader(out).ReadString('\n')
	if err == nil {
		for f := range strings.FieldsSeq(strings.Trim(line, "[]\n")) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	if len(pids) != 2 {
		_ = cmd.Process.Kill()
		t.Fatalf("the parent said %q (%v), want two child pids", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for _, pid := range pids {
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			// Gone, or a zombie waiting for init to reap it.
			if err != nil || strings.Contains(string(st), ") Z ") {
				break
			}
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("child %d outlived its parent by 10 s", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestRunnerKeepsACLErrors: a file that tries to declare its tags and cannot be read
// exactly fails as an *ACLError through a child as it does in process, so that ingestion
// hides it (invalid_acl) rather than treating it as an ordinary extraction failure.
func TestRunnerKeepsACLErrors(t *testing.T) {
	t.Parallel()
	r := testRunner(t, Config{Workers: 1})
	for name, data := range map[string]string{
		"upper.md":    "---\ntitle: T\nACL: [group:hr]\n---\n\nText.\n",
		"unclosed.md": "---\ntitle: T\nacl: [group:hr]\n\nText.\n",
		"plain.md":    "---\ntitle: [unclosed\n---\n\nText.\n",
	} {
		_, want := Text(name, []byte(data))
		_, got := r.Extract(t.Context(), name, []byte(data))
		if want == nil || got == nil {
			t.Fatalf("%s: in process %v, through a child %v: want errors", name, want, got)
		}
		if IsACLError(got) != IsACLError(want) || ReasonOf(got) != ReasonOf(want) {
			t.Errorf("%s: through a child %v (ACL error %v), in process %v (ACL error %v)", name, got, IsACLError(got), want, IsACLError(want))
		}
	}
}

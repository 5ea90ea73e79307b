package ingest

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestReadChecksWhatTheWalkSaw closes the race between the walk and the read: a file
// swapped after the walk for a link out of the root, a link inside it or a FIFO, or whose
// folder is swapped for a link out, is not read. (A regular file replaced by another at the
// same path is a modification: read, whatever its inode.)
func TestReadChecksWhatTheWalkSaw(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	if err := os.WriteFile(secret, []byte("root:$6$hash"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "x.txt"), []byte("outside x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"a.txt", "b.txt", "c.txt", "other.txt", "sub/x.txt"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("inside "+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := &walker{}
	if err := w.open([]string{dir}); err != nil {
		t.Fatal(err)
	}
	defer w.close()
	files, err := w.walk()
	if err != nil {
		t.Fatal(err)
	}
	byURI := map[string]file{}
	for _, f := range files {
		byURI[f.uri] = f
	}
	swap := func(name string, replace func(p string) error) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		if err := replace(p); err != nil {
			t.Fatal(err)
		}
	}
	swap("a.txt", func(p string) error { return os.Symlink(secret, p) })
	swap("b.txt", func(p string) error { return os.Symlink("other.txt", p) })
	swap("c.txt", func(p string) error { return syscall.Mkfifo(p, 0o644) })
	swap("sub", func(p string) error { return os.Symlink(outside, p) })

	for _, uri := range []string{"a.txt", "b.txt", "c.txt", "sub/x.txt"} {
		done := make(chan struct{})
		var data []byte
		var err error
		go func() {
			defer close(done)
			data, err = readFile(byURI[uri], 1<<20, &dirCache{})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the read blocked", uri)
		}
		if err == nil {
			t.Errorf("%s: read %q, want an error", uri, data)
		}
	}
	if data, err := readFile(byURI["other.txt"], 1<<20, &dirCache{}); err != nil || string(data) != "inside other.txt" {
		t.Errorf("an unchanged file: %q, %v", data, err)
	}
	if _, err := readFile(byURI["b.txt"], 1<<20, &dirCache{}); !errors.Is(err, errChanged) {
		t.Errorf("a file replaced by a link inside the root: %v, want errChanged", err)
	}
}

func TestEscapeName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"bad\xff\xfename.md": `bad\xff\xfename.md`, "café.md": "café.md", "\xc3": `\xc3`} {
		if got := escapeName(in); got != want {
			t.Errorf("escapeName(%q) = %q, want %q", in, got, want)
		}
	}
}

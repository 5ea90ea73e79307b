package ingest

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/docent-rag/docent/internal/acl"
)

// Names of the permission tag files.
const (
	dirACLFile    = ".docent-acl" // tags for a directory tree, one per line
	sidecarSuffix = ".acl"        // <file>.acl: tags for one file
)

// Where a document's tags came from, in order of precedence (index.DocumentWrite.ACLSource).
const (
	tagsFromDocument  = "document"  // front matter or a JSON Lines record
	tagsFromSidecar   = "sidecar"   // <file>.acl
	tagsFromDirectory = "directory" // the nearest .docent-acl
	tagsFromRun       = "run"       // --acl
	tagsFromNowhere   = "none"      // no tags: visible to no one
)

// file is one file found under a root.
type file struct {
	path    string // as found on disk
	uri     string // slash-separated path relative to its root: the document's identity
	size    int64
	modTime time.Time
	// Tags from outside the file (sidecar, .docent-acl, --acl), resolved during the walk, and
	// where they came from. tagErr is set when one of those files is invalid.
	tags      []string
	tagSource string
	tagErr    error
}

// walker finds the files to ingest under the roots and resolves their outside tags.
type walker struct {
	include, exclude []string
	runTags          []string
	dirTags          map[string]dirTags // directory -> tags that apply in it, cached
}

type dirTags struct {
	tags   []string
	source string // tagsFromDirectory or tagsFromRun (or none)
	err    error
}

// walk returns the files under roots, sorted by URI. A root may be a file (its URI is its
// name) or a directory (walked recursively, not following symbolic links to directories).
// Hidden files and directories (a leading dot) and tag files are not documents. With
// several roots, each root's URIs are prefixed with the root's name, so that they stay
// unique.
func (w *walker) walk(roots []string) ([]file, error) {
	var files []file
	for _, root := range roots {
		info, err := os.Stat(root)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", root, err)
		}
		prefix := ""
		if len(roots) > 1 {
			prefix = filepath.Base(filepath.Clean(root)) + "/"
		}
		if !info.IsDir() {
			f := w.file(root, prefix+filepath.Base(root), info, filepath.Dir(root), filepath.Dir(root))
			files = append(files, f)
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("walk %s: %w", p, err)
			}
			name := d.Name()
			if p != root && strings.HasPrefix(name, ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || strings.HasSuffix(name, sidecarSuffix) {
				return nil
			}
			info, err := os.Stat(p) // follows a symbolic link to a file
			if err != nil || !info.Mode().IsRegular() {
				return nil // dangling link, socket, link to a directory ...
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return fmt.Errorf("walk %s: %w", p, err)
			}
			rel = filepath.ToSlash(rel)
			if !w.selected(rel) {
				return nil
			}
			files = append(files, w.file(p, prefix+rel, info, root, filepath.Dir(p)))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].uri < files[j].uri })
	return files, nil
}

// selected applies --include and --exclude to a path relative to its root. A pattern without
// a slash also matches the file's base name, so `--exclude '*.tmp'` works at any depth.
func (w *walker) selected(rel string) bool {
	match := func(patterns []string) bool {
		for _, p := range patterns {
			if ok, _ := doublestar.Match(p, rel); ok {
				return true
			}
			if !strings.Contains(p, "/") {
				if ok, _ := doublestar.Match(p, path.Base(rel)); ok {
					return true
				}
			}
		}
		return false
	}
	if len(w.include) > 0 && !match(w.include) {
		return false
	}
	return !match(w.exclude)
}

func (w *walker) file(p, uri string, info fs.FileInfo, root, dir string) file {
	f := file{path: p, uri: uri, size: info.Size(), modTime: info.ModTime()}
	// A sidecar beats the directory's tags.
	if data, err := os.ReadFile(p + sidecarSuffix); err == nil {
		f.tags, f.tagErr = acl.ParseFile(data)
		f.tagSource = tagsFromSidecar
		if f.tagErr != nil {
			f.tagErr = fmt.Errorf("%s: %w", filepath.Base(p)+sidecarSuffix, f.tagErr)
		}
		return f
	} else if !os.IsNotExist(err) {
		f.tagErr = fmt.Errorf("read %s: %w", p+sidecarSuffix, err)
		return f
	}
	d := w.tagsOf(dir, root)
	f.tags, f.tagSource, f.tagErr = d.tags, d.source, d.err
	return f
}

// tagsOf returns the tags that apply in dir: those of the nearest .docent-acl in dir or an
// ancestor up to root, else the run's.
func (w *walker) tagsOf(dir, root string) dirTags {
	if t, ok := w.dirTags[dir]; ok {
		return t
	}
	var t dirTags
	data, err := os.ReadFile(filepath.Join(dir, dirACLFile))
	switch {
	case err == nil:
		t.tags, t.err = acl.ParseFile(data)
		t.source = tagsFromDirectory
		if t.err != nil {
			t.err = fmt.Errorf("%s: %w", filepath.Join(dir, dirACLFile), t.err)
		}
	case !os.IsNotExist(err):
		t.err = fmt.Errorf("read %s: %w", filepath.Join(dir, dirACLFile), err)
	case filepath.Clean(dir) == filepath.Clean(root) || filepath.Dir(dir) == dir:
		t.tags, t.source = w.runTags, tagsFromRun
		if len(t.tags) == 0 {
			t.source = tagsFromNowhere
		}
	default:
		t = w.tagsOf(filepath.Dir(dir), root)
	}
	w.dirTags[dir] = t
	return t
}

package ingest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/docent-rag/docent/internal/acl"
)

// Names of the permission tag files.
const (
	dirACLFile    = ".docent-acl" // tags for a directory tree, one per line
	sidecarSuffix = ".acl"        // <file>.acl: tags for one file
	// maxTagFile bounds a tag file; real ones are a few lines.
	maxTagFile = 64 << 10
)

// Where a document's tags came from, in order of precedence (index.DocumentWrite.ACLSource).
const (
	tagsFromDocument  = "document"  // front matter or a JSON Lines record
	tagsFromSidecar   = "sidecar"   // <file>.acl
	tagsFromDirectory = "directory" // the nearest .docent-acl
	tagsFromRun       = "run"       // --acl
	tagsFromNowhere   = "none"      // no tags: visible to no one
	// tagsHidden marks a stored document shown to no one because its tags cannot be known
	// (invalid tags, its file refused or unreadable, or a self-tagging file that failed to
	// extract). The next run reads it again whatever its hash.
	tagsHidden = "hidden"
)

// Reasons for paths the walk finds but does not read. They are listed in the summary
// (Refused) and recorded with the run; a document stored at such a path is hidden.
const (
	reasonOutsideRoot   = "outside_root"   // a symbolic link whose target is outside the run's PATHs
	reasonSymlinkLoop   = "symlink_loop"   // a symbolic link that loops, or a link to a folder that contains it
	reasonBrokenSymlink = "broken_symlink" // a symbolic link to nothing
	reasonNotRegular    = "not_regular"    // a FIFO, socket or device: never opened
	reasonInvalidName   = "invalid_name"   // a name that is not valid UTF-8
	// reasonSymlink: a link whose target is inside the PATHs is not read through (its
	// target is read under its own path, with its own tags). Reported, not listed.
	reasonSymlink = "symlink"
)

// root is one PATH of a run.
type root struct {
	given  string   // as given
	real   string   // absolute, with symbolic links resolved
	isFile bool     // a file given as a PATH, rather than a directory
	base   string   // the directory that dir is: real, or a file PATH's directory
	prefix string   // URI prefix: the PATH's name when there are several, else ""
	dir    *os.Root // the directory (a file PATH's directory): every open goes through it
}

// file is one path found under a root: a regular file to read, or a path refused.
type file struct {
	root    *root
	rel     string // path relative to root.dir, slash-separated
	uri     string // the document's identity: prefix + path relative to the PATH
	size    int64
	modTime time.Time
	info    fs.FileInfo // from lstat during the walk: what the read must find again
	// Tags from outside the file (sidecar, .docent-acl, --acl), resolved during the walk, and
	// where they came from. tagErr is set when one of those files is invalid or unreadable.
	tags      []string
	tagSource string
	tagErr    error
	// refused, when set, is why the path is not read (reasonOutsideRoot ...); message says
	// more.
	refused string
	message string
}

// walker finds the files to ingest under the roots and resolves their outside tags.
type walker struct {
	include, exclude []string
	runTags          []string
	roots            []*root
}

// dirTags are the tags that apply in a directory: its .docent-acl's, else its parent's.
type dirTags struct {
	tags   []string
	source string // tagsFromDirectory or tagsFromRun (or none)
	err    error
}

// open resolves and opens the roots. A PATH that does not exist, is not a file or a
// directory, or shares its name with another PATH is an error.
func (w *walker) open(paths []string) error {
	names := map[string]string{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		info, err := os.Stat(real)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		r := &root{given: p, real: real}
		if len(paths) > 1 {
			name := filepath.Base(filepath.Clean(p))
			if other, dup := names[name]; dup {
				return fmt.Errorf("%s and %s have the same name %q: their documents would have the same paths; give PATHs with different names", other, p, name)
			}
			names[name] = p
			r.prefix = name + "/"
		}
		dir := real
		switch {
		case info.IsDir():
		case info.Mode().IsRegular():
			r.isFile = true
			dir = filepath.Dir(real)
		default:
			return fmt.Errorf("read %s: not a regular file or a directory", p)
		}
		r.base = dir
		if r.dir, err = os.OpenRoot(dir); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		w.roots = append(w.roots, r)
	}
	return nil
}

// close closes the roots.
func (w *walker) close() {
	for _, r := range w.roots {
		r.dir.Close()
	}
}

// inside reports whether a resolved absolute path is one of the roots or under one.
func (w *walker) inside(real string) bool {
	for _, r := range w.roots {
		if real == r.real || !r.isFile && strings.HasPrefix(real, r.real+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// walk returns the files under the roots, sorted by URI, and the paths refused. A root may
// be a file (its URI is its name) or a directory, walked recursively through r.dir (so
// that a folder swapped for a link during the walk cannot lead it outside). Hidden files and
// directories (a leading dot) and tag files are not documents. Symbolic links are never
// followed (see classifyLink); FIFOs, sockets and devices are never opened.
func (w *walker) walk() ([]file, error) {
	var files []file
	for _, r := range w.roots {
		if r.isFile {
			name := filepath.Base(r.real)
			info, err := r.dir.Lstat(name)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", r.given, err)
			}
			tags := w.dirTags(r, r.dir, "", dirTags{tags: w.runTags, source: runSource(w.runTags)})
			files = append(files, w.file(r, r.dir, name, r.prefix+filepath.Base(r.given), info, tags))
			continue
		}
		if err := w.walkDir(r, "", dirTags{tags: w.runTags, source: runSource(w.runTags)}, &files); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.uri, b.uri) })
	return files, nil
}

func runSource(tags []string) string {
	if len(tags) == 0 {
		return tagsFromNowhere
	}
	return tagsFromRun
}

// walkDir walks the directory rel of r, whose parent's tags are inherited. The directory is
// opened as a root of its own (through r.dir, so that it cannot lead outside), and its
// entries are looked at through it.
func (w *walker) walkDir(r *root, rel string, inherited dirTags, files *[]file) error {
	dr, err := r.dir.OpenRoot(dirOrDot(rel))
	if err != nil {
		return fmt.Errorf("walk %s: %w", filepath.Join(r.base, rel), err)
	}
	defer dr.Close()
	tags := w.dirTags(r, dr, rel, inherited)
	d, err := dr.Open(".")
	if err != nil {
		return fmt.Errorf("walk %s: %w", filepath.Join(r.base, rel), err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("walk %s: %w", filepath.Join(r.base, rel), err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue // hidden, and the tag files
		}
		p := path.Join(rel, name)
		uri := r.prefix + p
		if !utf8.ValidString(name) {
			// PostgreSQL stores text as UTF-8: such a name cannot be a document's identity.
			*files = append(*files, file{root: r, rel: p, uri: escapeName(uri), refused: reasonInvalidName,
				message: "the name is not valid UTF-8: rename it (nothing under it is read)"})
			continue
		}
		t := e.Type()
		switch {
		case t.IsDir():
			if err := w.walkDir(r, p, tags, files); err != nil {
				return err
			}
			continue
		case t.IsRegular() && strings.HasSuffix(name, sidecarSuffix):
			continue
		}
		if !w.selected(p) {
			continue
		}
		switch {
		case t&fs.ModeSymlink != 0:
			reason, msg := w.classifyLink(filepath.Join(r.base, filepath.FromSlash(p)))
			*files = append(*files, file{root: r, rel: p, uri: uri, refused: reason, message: msg})
		case t.IsRegular():
			info, err := dr.Lstat(name)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				continue // gone since the directory was read
			case err != nil:
				*files = append(*files, file{root: r, rel: p, uri: uri, tags: tags.tags, tagSource: tags.source,
					tagErr: fmt.Errorf("read %s: %w", uri, err)})
				continue
			case !info.Mode().IsRegular():
				*files = append(*files, file{root: r, rel: p, uri: uri, refused: reasonNotRegular,
					message: "replaced by something else than a regular file during the run"})
				continue
			}
			*files = append(*files, w.file(r, dr, p, uri, info, tags))
		default:
			*files = append(*files, file{root: r, rel: p, uri: uri, refused: reasonNotRegular,
				message: fmt.Sprintf("a %s, not a regular file: never opened", describeMode(t))})
		}
	}
	return nil
}

func dirOrDot(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

// describeMode names a file type for messages.
func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}

// classifyLink says why a symbolic link (absolute path, found by the walk) is not read:
// symbolic links are never followed. One whose target is inside the roots is skipped
// quietly (reasonSymlink): the target is read under its own path, with its own tags, and
// reading it through the link would give it the tags of the link's folder (anyone who can
// write a link into a public folder could publish any file of the share). The others are
// refused and listed: outside the roots, loops, links to nothing, to a FIFO or a device.
func (w *walker) classifyLink(abs string) (reason, message string) {
	target, err := filepath.EvalSymlinks(abs)
	switch {
	case err != nil && (errors.Is(err, syscall.ELOOP) || strings.Contains(err.Error(), "too many links")):
		return reasonSymlinkLoop, "a symbolic link that loops"
	case errors.Is(err, fs.ErrNotExist):
		return reasonBrokenSymlink, "a symbolic link to nothing"
	case err != nil:
		return reasonBrokenSymlink, fmt.Sprintf("a symbolic link that cannot be resolved: %v", err)
	case !w.inside(target):
		return reasonOutsideRoot, "a symbolic link to a path outside the folders of the run: not read"
	}
	info, err := os.Stat(target)
	switch {
	case err != nil:
		return reasonBrokenSymlink, fmt.Sprintf("a symbolic link that cannot be resolved: %v", err)
	case info.IsDir() && (target == filepath.Dir(abs) || strings.HasPrefix(filepath.Dir(abs), target+string(filepath.Separator))):
		return reasonSymlinkLoop, "a symbolic link to a folder that contains it"
	case info.IsDir():
		return reasonSymlink, "a symbolic link to a folder of the run: not followed (the folder is read under its own path)"
	case !info.Mode().IsRegular():
		return reasonNotRegular, fmt.Sprintf("a symbolic link to a %s: never opened", describeMode(info.Mode()))
	}
	return reasonSymlink, "a symbolic link to a file of the run: not followed (the file is read under its own path, with its own tags)"
}

// escapeName makes a name that is not valid UTF-8 printable and storable: each invalid
// byte becomes \xNN. Only for listing a refused path; never a document's identity.
func escapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
			i++
			continue
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
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

// file returns the file at rel (found regular by lstat) in the directory dr with its
// outside tags: its sidecar's, else those of its directory.
func (w *walker) file(r *root, dr *os.Root, rel, uri string, info fs.FileInfo, dir dirTags) file {
	f := file{root: r, rel: rel, uri: uri, size: info.Size(), modTime: info.ModTime(), info: info}
	data, ok, err := w.readTagFile(r, dr, rel+sidecarSuffix)
	switch {
	case err != nil:
		f.tagSource, f.tagErr = tagsFromSidecar, err
	case ok:
		f.tags, f.tagErr = acl.ParseFile(data)
		f.tagSource = tagsFromSidecar
		if f.tagErr != nil {
			f.tagErr = fmt.Errorf("%s: %w", path.Base(rel)+sidecarSuffix, f.tagErr)
		}
	default:
		f.tags, f.tagSource, f.tagErr = dir.tags, dir.source, dir.err
		return f
	}
	// A sidecar beats the directory's tags, but an invalid .docent-acl above it still
	// fails the file: which tags the folder meant cannot be known.
	if f.tagErr == nil && dir.err != nil {
		f.tagErr = dir.err
	}
	return f
}

// dirTags returns the tags that apply in the directory rel of r: its .docent-acl's, else
// the inherited ones. An invalid .docent-acl fails every file below it (it is not skipped
// in favour of an ancestor's).
func (w *walker) dirTags(r *root, dr *os.Root, rel string, inherited dirTags) dirTags {
	name := path.Join(rel, dirACLFile)
	data, ok, err := w.readTagFile(r, dr, name)
	switch {
	case err != nil:
		return dirTags{source: tagsFromDirectory, err: err}
	case !ok:
		return inherited
	}
	tags, err := acl.ParseFile(data)
	if err != nil {
		return dirTags{source: tagsFromDirectory, err: fmt.Errorf("%s: %w", filepath.Join(r.base, filepath.FromSlash(name)), err)}
	}
	return dirTags{tags: tags, source: tagsFromDirectory}
}

// readTagFile reads the tag file rel of r, in the directory dr, if it exists, under the
// same confinement as documents: a link to a file inside the roots is read, anything else
// (a link outside, a loop, a FIFO, a device, an unreadable or oversized file) is an error:
// the files it applies to are failed (invalid_acl) and hidden. A name too long for the file
// system (ENAMETOOLONG: a sidecar of a 252-255 byte name) means that no such file can
// exist.
func (w *walker) readTagFile(r *root, dr *os.Root, rel string) (data []byte, ok bool, err error) {
	display := filepath.Join(r.base, filepath.FromSlash(rel))
	name := path.Base(rel)
	info, err := dr.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENAMETOOLONG), errors.Is(err, syscall.ENOTDIR):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("read %s: %w", display, err)
	case info.Mode()&fs.ModeSymlink != 0:
		if reason, msg := w.classifyLink(display); reason != reasonSymlink {
			return nil, false, fmt.Errorf("tag file %s: %s (%s)", display, msg, reason)
		}
	case !info.Mode().IsRegular():
		return nil, false, fmt.Errorf("tag file %s: a %s, not a regular file (%s)", display, describeMode(info.Mode()), reasonNotRegular)
	}
	// Opened through the root (a link swapped in since cannot lead outside it; a link
	// inside the roots is followed from the PATH's root), without blocking (a FIFO swapped
	// in cannot hang the run), and checked again once open.
	var f *os.File
	if info.Mode()&fs.ModeSymlink != 0 {
		f, err = r.dir.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	} else {
		f, err = dr.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	}
	if err != nil {
		return nil, false, fmt.Errorf("read tag file %s: %w", display, err)
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, false, fmt.Errorf("read tag file %s: %w", display, err)
	case !st.Mode().IsRegular():
		return nil, false, fmt.Errorf("tag file %s: a %s, not a regular file (%s)", display, describeMode(st.Mode()), reasonNotRegular)
	}
	data, err = io.ReadAll(io.LimitReader(f, maxTagFile+1))
	switch {
	case err != nil:
		return nil, false, fmt.Errorf("read tag file %s: %w", display, err)
	case len(data) > maxTagFile:
		return nil, false, fmt.Errorf("tag file %s: larger than %d bytes", display, maxTagFile)
	}
	return data, true, nil
}

// dirCache keeps the directory of the last file a worker read open, as a root of its own
// (opened through the PATH's root): files are read in path order, so most reads then open
// one name in an open directory instead of walking every component from the PATH's root.
type dirCache struct {
	root *root
	dir  string
	dr   *os.Root
}

// open returns the directory dir of r, opened through r.dir.
func (c *dirCache) open(r *root, dir string) (*os.Root, error) {
	if c.dr != nil && c.root == r && c.dir == dir {
		return c.dr, nil
	}
	c.close()
	dr, err := r.dir.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	c.root, c.dir, c.dr = r, dir, dr
	return dr, nil
}

func (c *dirCache) close() {
	if c.dr != nil {
		c.dr.Close()
		c.dr = nil
	}
}

// readFile reads a file found by the walk: through its root, without blocking, and only if
// the file opened is the one the walk saw (same device and inode, still a regular file), so
// that a path swapped for a link, a FIFO or another file since the walk is not read. It
// reads at most limit+1 bytes.
func readFile(f file, limit int64, cache *dirCache) ([]byte, error) {
	dr, err := cache.open(f.root, dirOrDot(path.Dir(f.rel)))
	if err != nil {
		return nil, err
	}
	h, err := dr.OpenFile(path.Base(f.rel), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	st, err := h.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || !os.SameFile(st, f.info) {
		return nil, errChanged
	}
	// Read into a buffer of the file's size (plus one byte, to see growth), as os.ReadFile
	// does, up to limit+1 bytes.
	buf := make([]byte, 0, min(max(st.Size(), 0)+1, limit+1))
	for int64(len(buf)) <= limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := h.Read(buf[len(buf):min(int64(cap(buf)), limit+1)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// errChanged says that a path changed between the walk and its read.
var errChanged = errors.New("the file was replaced during the run (by a link, a FIFO or another file): not read")

// IsRefusal reports whether a reason recorded with a run's failures names a path the walk
// refused to read (an outside_root link, a loop, a FIFO ...) rather than a failed file.
func IsRefusal(reason string) bool {
	switch reason {
	case reasonOutsideRoot, reasonSymlinkLoop, reasonBrokenSymlink, reasonNotRegular, reasonInvalidName:
		return true
	}
	return false
}

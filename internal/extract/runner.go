package extract

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Every file is extracted in a child process, under a budget: the parsers (goldmark, the
// YAML and TOML readers, x/net/html, the PDF parsers) have inputs that make them run for
// minutes, allocate gigabytes or panic in a goroutine, and a goroutine cannot be stopped,
// capped or recovered from in all of those cases. A child can: the parent kills it.
//
// A Runner keeps a small pool of long-lived children (at most Workers), each taking file
// after file, because starting one costs about 5-7 ms (25-40 ms under the race detector)
// and most files take far less to extract. For each file the parent
//
//   - kills the child (its whole process group) when the file's wall-clock Timeout passes;
//   - samples the child's resident memory every 20 ms and kills it above MemoryLimit;
//     outside race-detector builds the child also caps the growth of its own address space
//     (RLIMIT_AS) for the file, so that a single absurd allocation fails at once;
//   - reads the answer with a size limit proportional to the file, and checks it.
//
// A killed or crashed child is replaced by a fresh one for the next file; so is a child
// whose memory stays high after a file (RecycleMemory) or that has served FilesPerChild
// files. A child dies with its parent (Pdeathsig, and the end of its request pipe) and
// never opens a path: the parent sends it the file's bytes.

// Defaults of Config.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultMemoryLimit   = 1 << 30
	DefaultFilesPerChild = 500
	// MinMemoryLimit is the smallest memory limit accepted: a child starts at about 15 MB
	// resident (40 MB under the race detector).
	MinMemoryLimit = 64 << 20
)

// watchInterval is how often the parent samples a busy child's resident memory.
const watchInterval = 20 * time.Millisecond

// ErrClosed is returned by Extract once the Runner is closed.
var ErrClosed = errors.New("extract: runner closed")

// Config configures a Runner. The zero value is ready to use.
type Config struct {
	// Executable is the program started as a child; default this program. Its main (or
	// TestMain) must call RunChildIfRequested first.
	Executable string
	// Workers is the number of children, and so of files extracted at once; default the
	// number of CPUs. Extract waits for a free child beyond that.
	Workers int
	// Timeout bounds the extraction of one file, wall clock; default 30s.
	Timeout time.Duration
	// MemoryLimit bounds a child's resident memory while it extracts one file, in bytes;
	// default 1 GiB, at least MinMemoryLimit. It includes the child's own start-up memory
	// (about 15 MB, 40 MB under the race detector) and the file's bytes.
	MemoryLimit int64
	// PDF holds what is particular to PDFs: their budget (zero values take Timeout and
	// MemoryLimit) and a password.
	PDF PDFOptions
	// OCR configures the recognition of scanned pages and images (see OCRConfig).
	OCR OCRConfig
	// Legacy configures the conversion of DOC, XLS and PPT files by LibreOffice (see
	// LegacyConfig).
	Legacy LegacyConfig
	// FilesPerChild is how many files a child extracts before it is replaced; default 500.
	FilesPerChild int
	// RecycleMemory: a child whose resident memory has grown by more than this since it
	// started is replaced after its file, so that every file starts from a small process;
	// default a quarter of the smaller memory limit (and never more than half of it).
	RecycleMemory int64

	// testMode, when set, names the misbehaviour a child acts out for a file (see
	// childRequest.TestMode); tests only.
	testMode func(name string) string
}

// PDFOptions are the settings of PDF extraction.
type PDFOptions struct {
	// Password is tried when the empty password does not open an encrypted file.
	Password string
	// Timeout and MemoryLimit, when set, replace Config's for PDFs (in the reference
	// corpus the largest files take under a second and peak below 30 MB resident).
	Timeout     time.Duration
	MemoryLimit int64
}

// Runner extracts files in child processes, each file under its budget. It is safe for
// concurrent use. Close it when done: that ends its children.
type Runner struct {
	cfg       Config
	tokens    chan struct{} // one per worker: a free slot to run a child
	recycleAt int64         // a child that has grown more than this after a file is replaced
	// ocrUnavailable says why OCR cannot run ("" when it can, or is off).
	ocrUnavailable string
	ocrMu          sync.Mutex
	ocrLeft        int // pages the run may still recognise (guarded by ocrMu)
	// legacy is what children need to convert legacy office files; nil when LibreOffice is
	// unavailable, for the reason in legacyUnavailable. legacyNote is a caveat for the
	// operator (no network isolation).
	legacy                        *legacyRequest
	legacyUnavailable, legacyNote string

	mu       sync.Mutex // guards what follows
	idle     []*child
	children map[*child]bool
	closed   bool
	retiring sync.WaitGroup // children being ended in the background
}

// NewRunner returns a Runner. No child starts before the first file.
func NewRunner(cfg Config) (*Runner, error) {
	cfg.Workers = cmp.Or(cfg.Workers, runtime.NumCPU())
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.MemoryLimit = cmp.Or(cfg.MemoryLimit, DefaultMemoryLimit)
	cfg.PDF.Timeout = cmp.Or(cfg.PDF.Timeout, cfg.Timeout)
	cfg.PDF.MemoryLimit = cmp.Or(cfg.PDF.MemoryLimit, cfg.MemoryLimit)
	cfg.FilesPerChild = cmp.Or(cfg.FilesPerChild, DefaultFilesPerChild)
	cfg.RecycleMemory = cmp.Or(cfg.RecycleMemory, min(cfg.MemoryLimit, cfg.PDF.MemoryLimit)/4)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ocrUnavailable, err := cfg.OCR.setup()
	if err != nil {
		return nil, err
	}
	legacy, legacyUnavailable, legacyNote := cfg.Legacy.setup()
	if cfg.Executable == "" {
		if !hookCalled.Load() {
			return nil, errors.New("extract: this program's main (or TestMain) must call extract.RunChildIfRequested first: files are extracted by the program itself, re-executed as a child")
		}
		exe, err := defaultExecutable()
		if err != nil {
			return nil, fmt.Errorf("extract: find this program: %w", err)
		}
		cfg.Executable = exe
	}
	// A child kept for the next file must leave that file most of its budget, whatever its
	// format.
	recycleAt := min(cfg.RecycleMemory, min(cfg.MemoryLimit, cfg.PDF.MemoryLimit)/2)
	r := &Runner{cfg: cfg, tokens: make(chan struct{}, cfg.Workers), recycleAt: recycleAt, children: map[*child]bool{},
		ocrUnavailable: ocrUnavailable, ocrLeft: cfg.OCR.MaxPages,
		legacy: legacy, legacyUnavailable: legacyUnavailable, legacyNote: legacyNote}
	for range cfg.Workers {
		r.tokens <- struct{}{}
	}
	return r, nil
}

func (c *Config) validate() error {
	switch {
	case c.Workers < 0:
		return fmt.Errorf("extract: Workers %d is negative", c.Workers)
	case c.Timeout < 0 || c.PDF.Timeout < 0:
		return fmt.Errorf("extract: a Timeout (%v, PDF %v) is negative", c.Timeout, c.PDF.Timeout)
	case c.MemoryLimit < MinMemoryLimit || c.PDF.MemoryLimit < MinMemoryLimit:
		return fmt.Errorf("extract: a MemoryLimit (%d MiB, PDF %d MiB) is below the minimum of %d MiB",
			c.MemoryLimit>>20, c.PDF.MemoryLimit>>20, MinMemoryLimit>>20)
	case c.FilesPerChild < 0:
		return fmt.Errorf("extract: FilesPerChild %d is negative", c.FilesPerChild)
	case c.RecycleMemory < 0:
		return fmt.Errorf("extract: RecycleMemory %d is negative", c.RecycleMemory)
	}
	return nil
}

// Extract extracts one file, given its name (only its extension is used, to choose the
// format with Detect) and its content. Markdown, HTML, plain text, PDF and the office
// formats (DOCX, PPTX, XLSX, ODT, ODS, ODP; DOC, XLS, PPT converted by LibreOffice) are
// extracted in a child under the format's budget; a binary file is returned at once with
// Skip = SkipBinary; JSON Lines collections are not extracted here (see SplitJSONL and
// JSONLRecord).
//
// A file that cannot be extracted yields an *Error with its reason: ReasonTimeout,
// ReasonMemory, ReasonCrash, ReasonInvalid, ReasonPDFEncrypted, ReasonPDFInvalid,
// ReasonEncrypted, ReasonCorrupt, ReasonTooLarge, ReasonConverterMissing,
// ReasonConverterFailed (legacy DOC, XLS, PPT: see LegacyConfig). Other
// errors are not the file's fault: ctx is done (its error is returned), the Runner is
// closed (ErrClosed), or a child cannot be started.
func (r *Runner) Extract(ctx context.Context, name string, data []byte) (Document, error) {
	format := Detect(name, data)
	req := childRequest{Format: format, Size: int64(len(data)),
		TimeoutMS: r.cfg.Timeout.Milliseconds(), MemoryLimit: r.cfg.MemoryLimit}
	switch format {
	case FormatBinary:
		doc := newDocument("application/octet-stream")
		doc.Skip = SkipBinary
		return doc, nil
	case FormatJSONL:
		return Document{}, fmt.Errorf("extract %s: a JSON Lines collection is read with SplitJSONL and JSONLRecord", filepath.Base(name))
	case FormatLegacy, FormatEML, FormatMBOX:
		// DOC, XLS and PPT files, also as e-mail attachments, are converted by LibreOffice
		// in the child (without it, they fail there with ReasonConverterMissing, after the
		// checks for encrypted and corrupt files).
		req.Legacy = r.legacy
	case FormatPDF:
		req.TimeoutMS, req.MemoryLimit, req.Password = r.cfg.PDF.Timeout.Milliseconds(), r.cfg.PDF.MemoryLimit, r.cfg.PDF.Password
	case FormatImage:
		if r.cfg.OCR.Mode != OCRAll {
			doc := newDocument("application/octet-stream")
			doc.Skip = SkipBinary
			doc.OCR.Pending = pendingMode + string(r.cfg.OCR.Mode) // extracted again when images are recognised
			return doc, nil
		}
		req.TimeoutMS, req.MemoryLimit = r.cfg.PDF.Timeout.Milliseconds(), r.cfg.PDF.MemoryLimit
	}
	if r.cfg.testMode != nil {
		req.TestMode = r.cfg.testMode(name)
	}
	select {
	case <-ctx.Done():
		return Document{}, context.Cause(ctx)
	case <-r.tokens:
	}
	defer func() { r.tokens <- struct{}{} }()
	c, err := r.get(ctx)
	if err != nil {
		return Document{}, err
	}
	switch {
	case r.cfg.OCR.Mode == OCROff:
	case ocrFormat(format) || pictureFormat(format) && r.cfg.OCR.Mode == OCRAll:
		// The file's share of the run's OCR budget, and the time to use it: one share for
		// the file and the documents in it (an e-mail's attachments). The file's time grows
		// by a page's time limit for each page the child starts to recognise (it asks
		// before each), up to the pages reserved.
		req.OCR = r.reserveOCR()
	case pictureFormat(format):
		// Pictures are not recognised in this mode: the child only needs the mode, to store
		// a document with pictures pending for it.
		req.OCR = &ocrRequest{Mode: r.cfg.OCR.Mode}
	}
	doc, keep, err := r.run(ctx, c, req, data)
	r.put(c, keep)
	used := len(doc.OCR.Pages) + len(doc.OCR.Failed)
	for i := range doc.Parts {
		p := &doc.Parts[i].Document
		used += len(p.OCR.Pages) + len(p.OCR.Failed)
		r.pendingOff(p)
	}
	r.releaseOCR(req.OCR, used)
	if err == nil {
		r.pendingOff(&doc)
		doc.OCR.Pending = filePending(doc)
	}
	return doc, err
}

// filePending is the Pending of a file's document: its own, or else its derived documents'
// (an attachment deferred, an image left out in this OCR mode), so that a run extracts the
// file again, and with it every document in it (also those it did not yield before), when
// any of them needs it. Deferred goes first (always extracted again), then a mode (which
// may yield new documents), then unavailable.
func filePending(doc Document) string {
	rank := func(p string) int {
		switch {
		case p == pendingDeferred:
			return 3
		case strings.HasPrefix(p, pendingMode):
			return 2
		case p == pendingUnavailable:
			return 1
		}
		return 0
	}
	best := doc.OCR.Pending
	for _, p := range doc.Parts {
		if rank(p.OCR.Pending) > rank(best) {
			best = p.OCR.Pending
		}
	}
	return best
}

// ocrFormat reports whether files of a format may need OCR: scans, images, and e-mails
// (their attachments).
func ocrFormat(f Format) bool {
	switch f {
	case FormatPDF, FormatImage, FormatEML, FormatMBOX:
		return true
	}
	return false
}

// pictureFormat reports whether files of a format show pictures that OCR recognises in
// mode OCRAll (office documents other than spreadsheets).
func pictureFormat(f Format) bool {
	switch f {
	case FormatDOCX, FormatPPTX, FormatODT, FormatODP:
		return true
	}
	return false
}

// pendingOff marks a PDF with pages without text, extracted with OCR off, to be extracted
// again when OCR is turned on.
func (r *Runner) pendingOff(doc *Document) {
	if r.cfg.OCR.Mode == OCROff && doc.ContentType == "application/pdf" && len(doc.NoTextPages) > 0 && doc.OCR.Pending == "" {
		doc.OCR.Pending = pendingMode + string(OCROff)
	}
}

// Close ends every child and waits for them to exit. Extract calls in progress return
// ErrClosed. Close is idempotent.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	idle := r.idle
	r.idle = nil
	var busy []*child
	for c := range r.children {
		if !c.idle {
			busy = append(busy, c)
		}
	}
	r.mu.Unlock()
	for _, c := range busy {
		c.kill()
	}
	for _, c := range idle {
		r.retire(c)
	}
	r.retiring.Wait()
	for _, c := range busy {
		<-c.exited
	}
	return nil
}

// isClosed reports whether Close has been called.
func (r *Runner) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// get returns an idle child, or starts one.
func (r *Runner) get(ctx context.Context) (*child, error) {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, ErrClosed
		}
		n := len(r.idle)
		if n == 0 {
			r.mu.Unlock()
			break
		}
		c := r.idle[n-1]
		r.idle = r.idle[:n-1]
		c.idle = false
		r.mu.Unlock()
		select {
		case <-c.exited: // died while idle (killed from outside): take another
			r.retire(c)
		default:
			return c, nil
		}
	}
	c, err := r.start(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	closed := r.closed
	if !closed {
		r.children[c] = true
	}
	r.mu.Unlock()
	if closed {
		c.end()
		return nil, ErrClosed
	}
	return c, nil
}

// put takes a child back after a file: idle for the next one if keep, else ended.
func (r *Runner) put(c *child, keep bool) {
	r.mu.Lock()
	if keep && !r.closed {
		c.idle = true
		r.idle = append(r.idle, c)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.retire(c)
}

// retire ends a child in the background: it exits when its request pipe closes, or is
// killed after a grace period.
func (r *Runner) retire(c *child) {
	r.mu.Lock()
	delete(r.children, c)
	closed := r.closed
	if !closed {
		r.retiring.Add(1)
	}
	r.mu.Unlock()
	if closed { // Close is waiting for the children: end this one now
		c.end()
		return
	}
	go func() {
		defer r.retiring.Done()
		c.end()
	}()
}

// childPIDs returns the process ids of the live children; tests only.
func (r *Runner) childPIDs() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var pids []int
	for c := range r.children {
		pids = append(pids, c.cmd.Process.Pid)
	}
	return pids
}

// child is one child process.
type child struct {
	cmd    *exec.Cmd
	reqW   *os.File // the write end of its request pipe
	respR  *os.File // the read end of its response pipe
	in     *bufio.Reader
	out    *bufio.Writer
	output *cappedBuffer // its standard output and error, for crash reports
	exited chan struct{} // closed once the process has exited and been reaped
	err    error         // cmd.Wait's result, once exited is closed
	files  int           // files extracted
	// startRSS is its resident memory once started: about 15 MB, 40-70 MB under the race
	// detector. What a file leaves beyond that decides whether it is kept.
	startRSS int64
	idle     bool // in the Runner's idle list (guarded by the Runner's mu)

	killMu    sync.Mutex
	killed    bool // killed by the parent (not by the kernel or itself)
	closeOnce sync.Once
}

// start starts a child and waits for its hello.
func (r *Runner) start(ctx context.Context) (*child, error) {
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("extract: start child: %w", err)
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, fmt.Errorf("extract: start child: %w", err)
	}
	cmd := exec.Command(r.cfg.Executable)
	cmd.Env = childEnviron()
	cmd.ExtraFiles = []*os.File{reqR, respW} // descriptors 3 and 4
	output := &cappedBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = output, output
	cmd.SysProcAttr = childSysProcAttr()
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Start()
	reqR.Close() // the child's ends
	respW.Close()
	if err != nil {
		reqW.Close()
		respR.Close()
		return nil, fmt.Errorf("extract: start child %s: %w", r.cfg.Executable, err)
	}
	c := &child{cmd: cmd, reqW: reqW, respR: respR, in: bufio.NewReaderSize(respR, 64<<10),
		out: bufio.NewWriterSize(reqW, 64<<10), output: output, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()

	// The hello: a program that is not a child (its main does not call
	// RunChildIfRequested) exits or does its own work, and says nothing.
	wait := max(r.cfg.Timeout, r.cfg.PDF.Timeout, 10*time.Second)
	stop := context.AfterFunc(ctx, func() { c.kill() })
	defer stop()
	_ = respR.SetReadDeadline(time.Now().Add(wait))
	var hello childResponse
	err = readFrameHeader(c.in, &hello)
	_ = respR.SetReadDeadline(time.Time{})
	if err == nil && hello.Hello != childProtocol {
		err = fmt.Errorf("protocol %q, want %q", hello.Hello, childProtocol)
	}
	c.startRSS = hello.RSS
	if err != nil {
		c.kill()
		c.wait()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("extract: child %s did not start (does its main call extract.RunChildIfRequested first?): %v: %s",
			r.cfg.Executable, err, crashLine(c.output.String(), c.err))
	}
	return c, nil
}

// childEnviron is a child's environment: the Go runtime's settings and the locale, nothing
// else. A child parses hostile files and has no use for the parent's credentials (the
// database URL, API keys).
func childEnviron() []string {
	env := []string{childEnv + "=" + childProtocol}
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GODEBUG", "GOGC", "GOMAXPROCS", "GOMEMLIMIT", "GOTRACEBACK", "GOCOVERDIR", "TMPDIR", "TZ", "LANG", "LC_ALL", "LC_CTYPE", "TESSDATA_PREFIX":
			env = append(env, kv)
		}
	}
	if raceEnabled {
		// The race runtime sleeps a second at exit by default (atexit_sleep_ms=1000).
		env = append(env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	return env
}

// kill kills the child's process group.
func (c *child) kill() {
	c.killMu.Lock()
	c.killed = true
	c.killMu.Unlock()
	_ = childKill(c.cmd)
}

func (c *child) killedByParent() bool {
	c.killMu.Lock()
	defer c.killMu.Unlock()
	return c.killed
}

// end ends the child: closing its request pipe makes it exit; it is killed if it has not
// after a second.
func (c *child) end() {
	c.reqW.Close()
	select {
	case <-c.exited:
	case <-time.After(time.Second):
		c.kill()
	}
	c.wait()
}

// wait waits for the child to have exited and closes the parent's ends of its pipes.
func (c *child) wait() {
	<-c.exited
	c.closeOnce.Do(func() {
		c.reqW.Close()
		c.respR.Close()
	})
}

// Causes of a kill by the watchdog.
const (
	killTimeout  = "timeout"
	killMemory   = "memory"
	killCanceled = "canceled"
)

// run has the child extract one file and says whether the child can take another.
func (r *Runner) run(ctx context.Context, c *child, req childRequest, data []byte) (doc Document, keep bool, err error) {
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	c.output.Reset()
	c.files++

	// The watchdog: it kills the child when the file's time is up, when the child's memory
	// passes the limit, or when ctx is done; the pipes then end, and so does the exchange.
	var cause string // written by the watchdog, read after it has stopped
	stop, stopped := make(chan struct{}), make(chan struct{})
	extend := make(chan time.Duration, 1) // more time for an OCR page, granted below
	go func() {
		defer close(stopped)
		deadline := time.Now().Add(timeout)
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		tick := time.NewTicker(watchInterval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case d := <-extend:
				deadline = deadline.Add(d)
				timer.Reset(time.Until(deadline))
				continue
			case <-ctx.Done():
				cause = killCanceled
			case <-timer.C:
				cause = killTimeout
			case <-tick.C:
				if rss, err := processRSS(c.cmd.Process.Pid); err != nil || rss <= req.MemoryLimit {
					continue
				}
				cause = killMemory
			}
			c.kill()
			return
		}
	}()
	// A backstop for a child that would hold its pipes open after the kill.
	deadline := time.Now().Add(timeout + 5*time.Second)
	_ = c.reqW.SetWriteDeadline(deadline)
	_ = c.respR.SetReadDeadline(deadline)

	var resp childResponse
	var payload []byte
	limit := responseLimit(len(data))
	tooLarge := false
	err = writeFrame(c.out, req, data)
	if err == nil {
		err = c.out.Flush()
	}
	if err == nil {
		err = readFrameHeader(c.in, &resp)
	}
	// Before each page it recognises, the child asks for the page's time: granted up to
	// the pages reserved for the file.
	var allowance time.Duration
	if req.OCR != nil {
		allowance = time.Duration(req.OCR.Pages) * time.Duration(req.OCR.PageTimeoutMS) * time.Millisecond
	}
	for err == nil && resp.ExtendMS > 0 {
		d := min(time.Duration(resp.ExtendMS)*time.Millisecond, allowance)
		allowance -= d
		if d > 0 {
			select {
			case extend <- d:
			case <-stopped: // the watchdog has killed the child: the read below fails
			}
			deadline = deadline.Add(d)
			_ = c.reqW.SetWriteDeadline(deadline)
			_ = c.respR.SetReadDeadline(deadline)
		}
		resp = childResponse{}
		err = readFrameHeader(c.in, &resp)
	}
	if err == nil && resp.Size > limit {
		tooLarge = true
	} else if err == nil {
		payload, err = readPayload(c.in, resp.Size, limit)
	}
	close(stop)
	<-stopped

	switch {
	case tooLarge && cause == "":
		c.kill()
		c.wait()
		return Document{}, false, &Error{Reason: ReasonMemory,
			Err: fmt.Errorf("the extracted document is larger than %d MiB, the limit for a file of this size", limit>>20)}
	case cause != "" || err != nil:
		return Document{}, false, r.failure(ctx, c, cause, err, req, timeout)
	}
	keep = c.files < r.cfg.FilesPerChild && resp.RSS-c.startRSS <= r.recycleAt
	if resp.Reason != "" {
		// A recovered panic may have left the child's state broken: replace it.
		var cause error = errors.New(resp.Message)
		if resp.ACL {
			cause = &ACLError{Err: cause}
		}
		return Document{}, keep && resp.Reason != ReasonCrash, &Error{Reason: resp.Reason, Err: cause}
	}
	if doc, err = decodeDocument(payload); err != nil {
		return Document{}, false, &Error{Reason: ReasonCrash, Err: fmt.Errorf("the child's answer: %w", err)}
	}
	return doc, keep, nil
}

// failure explains why a child gave no answer, after making sure it is gone.
func (r *Runner) failure(ctx context.Context, c *child, cause string, ioErr error, req childRequest, timeout time.Duration) error {
	if cause == "" {
		// The child closed its pipes (it is dying), or broke the protocol. Let a dying child
		// finish, so that its exit status and last words are known; kill one that lives on.
		dying := errors.Is(ioErr, io.EOF) || errors.Is(ioErr, io.ErrUnexpectedEOF) || errors.Is(ioErr, syscall.EPIPE)
		if !dying {
			c.kill()
		}
		select {
		case <-c.exited:
		case <-time.After(time.Second):
			c.kill()
		}
	}
	c.wait()
	limitMiB := req.MemoryLimit >> 20
	switch {
	case cause == killCanceled:
		return context.Cause(ctx)
	case r.isClosed():
		return ErrClosed
	case cause == killTimeout:
		return &Error{Reason: ReasonTimeout, Err: fmt.Errorf("extraction did not finish within %v", timeout)}
	case cause == killMemory:
		return &Error{Reason: ReasonMemory, Err: fmt.Errorf("extraction used more than %d MiB of memory", limitMiB)}
	}
	output := c.output.String()
	var exitErr *exec.ExitError
	isExit := errors.As(c.err, &exitErr)
	switch {
	case strings.Contains(output, "out of memory"):
		return &Error{Reason: ReasonMemory, Err: fmt.Errorf("extraction ran out of memory (limit %d MiB): %s", limitMiB, crashLine(output, c.err))}
	case isExit && exitErr.ExitCode() == childExitTimeout:
		return &Error{Reason: ReasonTimeout, Err: fmt.Errorf("extraction did not finish within %v", timeout)}
	case isExit && killedBySIGKILL(exitErr) && !c.killedByParent():
		// Not killed by us: the kernel's out-of-memory killer is the usual sender.
		return &Error{Reason: ReasonMemory, Err: errors.New("the child was killed by SIGKILL (out of memory?)")}
	case c.err == nil || c.killedByParent():
		// It exited cleanly or lived on: it broke the protocol.
		return &Error{Reason: ReasonCrash, Err: fmt.Errorf("the child's answer: %v", ioErr)}
	}
	return &Error{Reason: ReasonCrash, Err: fmt.Errorf("the child died: %s", crashLine(output, c.err))}
}

// responseLimit is the largest answer accepted for a file of n bytes: a document's text is
// about as long as its file (a PDF's can be longer: its streams are compressed), and the
// JSON around it adds a fraction.
func responseLimit(n int) int64 {
	return 64<<20 + 4*int64(n)
}

// killedBySIGKILL reports whether a process died of SIGKILL.
func killedBySIGKILL(e *exec.ExitError) bool {
	ws, ok := e.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// crashLine returns the line of a child's output that says what went wrong: the first
// "panic:" or "fatal error:" line (not the goroutine traces after it), else the first
// line, else the exit status.
func crashLine(output string, waitErr error) string {
	status := "exited"
	if waitErr != nil {
		status = waitErr.Error()
	}
	first := ""
	for line := range strings.Lines(output) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") {
			return truncate(line, maxMessage) + " (" + status + ")"
		}
		if first == "" {
			first = line
		}
	}
	if first != "" {
		return truncate(first, maxMessage) + " (" + status + ")"
	}
	return status
}

// cappedBuffer keeps the first max bytes written to it, so that a child cannot make the
// parent buffer without bound. It is written by os/exec's copying goroutine.
type cappedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (b *cappedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = b.buf[:0]
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

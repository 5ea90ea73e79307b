package extract

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// PDF extraction runs the parser (github.com/ledongthuc/pdf, with pdfcpu as a second path)
// in a child process: on hostile files the parser panics, loops forever on a cyclic
// structure, or asks the runtime for an allocation so large that the Go runtime aborts
// with a fatal error that recover cannot catch. The child is the running binary itself,
// re-executed with DOCENT_EXTRACT_CHILD=pdf (see RunChildIfRequested); it caps its own
// memory and time, and the parent enforces both from outside:
//
//   - a wall-clock timeout (PDFOptions.Timeout): the child's process group is killed;
//   - a resident-memory watchdog polling /proc/<pid>/status: killed above MemoryLimit;
//   - in builds without the race detector, RLIMIT_AS in the child as a hard cap, so a
//     single huge allocation fails at once (the race detector's shadow memory needs
//     terabytes of address space, so race builds rely on the watchdog).
//
// Whatever the child does, the parent gets a Document or an *Error with a reason code.

// PDFOptions configures PDF extraction. The zero value is ready to use.
type PDFOptions struct {
	// Executable is the program run as the child; default os.Executable(). Its main (or
	// TestMain) must call RunChildIfRequested first.
	Executable string
	// Password is tried when the empty password does not open an encrypted file.
	Password string
	// Timeout bounds the parsing of one file, wall clock; default 30s.
	Timeout time.Duration
	// MemoryLimit bounds the child's memory in bytes; default 1 GiB. The child's resident
	// memory is watched in all builds, and the growth of its address space is capped in
	// builds without the race detector. A child starts at about 15 MB resident (40 MB
	// under the race detector); the largest reference files peak below 30 MB (75 MB).
	MemoryLimit int64

	testMode string // see pdfRequest.TestMode; tests only
}

// Defaults of PDFOptions.
const (
	DefaultPDFTimeout     = 30 * time.Second
	DefaultPDFMemoryLimit = 1 << 30
)

// pdfWatchInterval is how often the parent samples the child's resident memory.
const pdfWatchInterval = 20 * time.Millisecond

func (o PDFOptions) withDefaults() (PDFOptions, error) {
	o.Timeout = cmp.Or(o.Timeout, DefaultPDFTimeout)
	o.MemoryLimit = cmp.Or(o.MemoryLimit, DefaultPDFMemoryLimit)
	if o.Timeout < 0 {
		return o, fmt.Errorf("pdf options: Timeout %v is negative", o.Timeout)
	}
	if o.MemoryLimit < 0 {
		return o, fmt.Errorf("pdf options: MemoryLimit %d is negative", o.MemoryLimit)
	}
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("pdf options: find executable: %w", err)
		}
		o.Executable = exe
	}
	return o, nil
}

// PDF extracts the text of the PDF file at path, page by page, in a child process (see
// above). Each page's text is split into paragraphs (Block.Page set); running headers and
// footers repeated on most pages are removed; pages without text are listed in
// NoTextPages, and a file without any text is returned with Skip = SkipNoText.
//
// A file the parsers cannot read yields an *Error with reason ReasonPDFCrash,
// ReasonPDFTimeout, ReasonPDFMemory, ReasonPDFEncrypted or ReasonPDFInvalid. Other errors
// (the file cannot be opened, the child cannot be started, ctx is done) are returned as
// they are. PDF is safe for concurrent use; each call runs its own child.
func PDF(ctx context.Context, path string, opts PDFOptions) (Document, error) {
	if os.Getenv(pdfChildEnv) == pdfChildValue {
		// This process was started as a PDF child but went on to do its normal work: its
		// main does not call RunChildIfRequested. Stop here rather than recurse.
		return Document{}, errors.New("pdf: this process was started as a PDF extraction child but did not act as one: main (or TestMain) must call extract.RunChildIfRequested first")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return Document{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Document{}, fmt.Errorf("pdf: %w", err)
	}
	f, err := os.Open(abs) // report a missing or unreadable file as such, not as a bad PDF
	if err != nil {
		return Document{}, fmt.Errorf("pdf: %w", err)
	}
	if err := f.Close(); err != nil {
		return Document{}, fmt.Errorf("pdf: %w", err)
	}
	res, err := pdfRunChild(ctx, abs, opts)
	if err != nil {
		return Document{}, err
	}
	if res.Failure != nil {
		reason := ReasonPDFInvalid
		switch res.Failure.Kind {
		case pdfFailEncrypted:
			reason = ReasonPDFEncrypted
		case pdfFailPanic:
			reason = ReasonPDFCrash
		case pdfFailMemory:
			reason = ReasonPDFMemory
		}
		return Document{}, &Error{Reason: reason, Err: errors.New(res.Failure.Message)}
	}
	return pdfSafeDocument(res)
}

// pdfSafeDocument builds the Document from the child's result. The layout code runs in
// this process on what the child sent; a bug in it must fail the file, not the caller.
func pdfSafeDocument(res pdfResult) (doc Document, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &Error{Reason: ReasonPDFCrash, Err: fmt.Errorf("layout: panic: %v", v)}
		}
	}()
	return pdfDocument(res), nil
}

// pdfRunChild runs the child on path and returns its result, or an error that says why
// there is none.
func pdfRunChild(ctx context.Context, path string, opts PDFOptions) (pdfResult, error) {
	req, err := json.Marshal(pdfRequest{
		Path: path, Password: opts.Password, MemoryLimit: opts.MemoryLimit,
		TimeoutMS: opts.Timeout.Milliseconds(), TestMode: opts.testMode,
	})
	if err != nil {
		return pdfResult{}, fmt.Errorf("pdf: encode request: %w", err)
	}
	runCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	cmd := exec.CommandContext(runCtx, opts.Executable)
	cmd.Env = append(os.Environ(), pdfChildEnv+"="+pdfChildValue)
	if pdfRaceEnabled {
		// The race runtime sleeps a second at exit by default (atexit_sleep_ms=1000).
		cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	cmd.Stdin = bytes.NewReader(req)
	stdout := &pdfCappedBuffer{max: 256 << 20}
	stderr := &pdfCappedBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = pdfSysProcAttr()
	cmd.Cancel = func() error { return pdfKill(cmd) }
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return pdfResult{}, fmt.Errorf("pdf: start child %s: %w", opts.Executable, err)
	}

	var memHit atomic.Bool
	watchDone := make(chan struct{})
	stopWatch := make(chan struct{})
	go func() {
		defer close(watchDone)
		pdfWatchMemory(cmd.Process.Pid, opts.MemoryLimit, stopWatch, func() {
			memHit.Store(true)
			cancel()
		})
	}()
	waitErr := cmd.Wait()
	close(stopWatch)
	<-watchDone

	limitMiB := opts.MemoryLimit >> 20
	switch {
	case ctx.Err() != nil:
		return pdfResult{}, fmt.Errorf("pdf: %w", context.Cause(ctx))
	case memHit.Load():
		return pdfResult{}, &Error{Reason: ReasonPDFMemory, Err: fmt.Errorf("parser used more than %d MiB of memory", limitMiB)}
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		return pdfResult{}, &Error{Reason: ReasonPDFTimeout, Err: fmt.Errorf("parser did not finish within %v", opts.Timeout)}
	}
	if waitErr != nil {
		errText := stderr.String()
		var exitErr *exec.ExitError
		isExit := errors.As(waitErr, &exitErr)
		switch {
		case strings.Contains(errText, "out of memory"):
			return pdfResult{}, &Error{Reason: ReasonPDFMemory, Err: fmt.Errorf("parser ran out of memory (limit %d MiB): %s", limitMiB, pdfCrashLine(errText, waitErr))}
		case isExit && exitErr.ExitCode() == pdfExitTimeout:
			return pdfResult{}, &Error{Reason: ReasonPDFTimeout, Err: fmt.Errorf("parser did not finish within %v", opts.Timeout)}
		case isExit && pdfKilledBySIGKILL(exitErr):
			// Not killed by us: the kernel's out-of-memory killer is the usual sender.
			return pdfResult{}, &Error{Reason: ReasonPDFMemory, Err: fmt.Errorf("child killed by SIGKILL (out of memory?)")}
		}
		return pdfResult{}, &Error{Reason: ReasonPDFCrash, Err: fmt.Errorf("child failed: %s", pdfCrashLine(errText, waitErr))}
	}
	if stdout.overflow {
		return pdfResult{}, &Error{Reason: ReasonPDFCrash, Err: fmt.Errorf("child result larger than %d MiB", stdout.max>>20)}
	}
	var res pdfResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return pdfResult{}, &Error{Reason: ReasonPDFCrash, Err: fmt.Errorf("child result (does %s call extract.RunChildIfRequested first?): %w", filepath.Base(opts.Executable), err)}
	}
	return res, nil
}

// pdfWatchMemory polls the resident memory of pid until stop is closed, and calls kill once
// if it exceeds limit.
func pdfWatchMemory(pid int, limit int64, stop <-chan struct{}, kill func()) {
	t := time.NewTicker(pdfWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		rss, err := pdfRSS(pid)
		if err != nil {
			continue // not started yet, or already gone: Wait will tell
		}
		if rss > limit {
			kill()
			return
		}
	}
}

// pdfKilledBySIGKILL reports whether the child died of SIGKILL.
func pdfKilledBySIGKILL(e *exec.ExitError) bool {
	ws, ok := e.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// pdfCrashLine returns the line of the child's stderr that says what went wrong: the first
// "panic:" or "fatal error:" line (not the goroutine traces after it), else the first line,
// else the exit status.
func pdfCrashLine(stderr string, waitErr error) string {
	first := ""
	for line := range strings.Lines(stderr) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") {
			return pdfFirstLine(line) + " (" + waitErr.Error() + ")"
		}
		if first == "" {
			first = line
		}
	}
	if first != "" {
		return pdfFirstLine(first) + " (" + waitErr.Error() + ")"
	}
	return waitErr.Error()
}

// pdfCappedBuffer keeps the first max bytes written to it and counts the rest as overflow,
// so that a child cannot make the parent buffer without bound.
type pdfCappedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *pdfCappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

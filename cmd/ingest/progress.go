package main

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/docent-rag/docent/internal/ingest"
)

// progress shows a run's progress: a bar redrawn in place on a terminal, a structured log line
// every logEvery otherwise (under cron, the log is what someone reads the next morning).
type progress struct {
	e        env
	logger   *slog.Logger
	terminal bool
	mu       sync.Mutex
	last     time.Time
	lastP    ingest.Progress
	drawn    bool
}

const (
	drawEvery = 100 * time.Millisecond
	logEvery  = 10 * time.Second
)

func newProgress(e env, logger *slog.Logger, dryRun bool) *progress {
	return &progress{e: e, logger: logger, terminal: e.stderrTerminal && !dryRun}
}

func (p *progress) update(s ingest.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastP = s
	every := logEvery
	if p.terminal {
		every = drawEvery
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	if p.terminal {
		fmt.Fprintf(p.e.stderr, "\r%s\x1b[K", bar(s))
		p.drawn = true
		return
	}
	p.logger.Info("progress", "files", s.Files, "files_total", s.FilesTotal, "documents", s.Documents,
		"chunks_written", s.Chunks, "failed", s.Failed, "elapsed_s", int(s.Elapsed.Seconds()), "eta_s", int(eta(s).Seconds()))
}

// done draws the bar's final state and ends its line. (In log mode the summary that follows
// says the rest.)
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintf(p.e.stderr, "\r%s\x1b[K\n", bar(p.lastP))
		p.drawn = false
	}
}

// bar renders "[=======>      ]  1234/5183 files  23%  5120 chunks  2 failed  ETA 12s".
func bar(s ingest.Progress) string {
	const width = 30
	frac := 1.0
	if s.FilesTotal > 0 {
		frac = float64(s.Files) / float64(s.FilesTotal)
	}
	filled := int(frac * width)
	b := strings.Repeat("=", filled)
	if filled < width {
		b += ">" + strings.Repeat(" ", width-filled-1)
	}
	line := fmt.Sprintf("[%s] %d/%d files %3.0f%%  %d documents  %d chunks", b, s.Files, s.FilesTotal, frac*100, s.Documents, s.Chunks)
	if s.Failed > 0 {
		line += fmt.Sprintf("  %d failed", s.Failed)
	}
	if s.Files < s.FilesTotal && s.Files > 0 {
		line += fmt.Sprintf("  ETA %s", eta(s).Round(time.Second))
	}
	return line
}

// eta extrapolates the time left from the rate so far.
func eta(s ingest.Progress) time.Duration {
	if s.Files == 0 || s.Files >= s.FilesTotal {
		return 0
	}
	return time.Duration(float64(s.Elapsed) / float64(s.Files) * float64(s.FilesTotal-s.Files))
}

package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"

	"github.com/docent-rag/docent/internal/acl"
	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/index"
)

// Reasons for failures and skips that come from ingestion rather than extraction.
const (
	reasonInvalidACL = "invalid_acl"
	reasonRead       = "read_error"
	reasonWrite      = "write_error"
	reasonTooLarge   = extract.ReasonTooLarge
)

// item is one document's result from a worker: its outcome so far and, when it has to be
// written, what to write.
type item struct {
	uri       string
	outcome   string
	reason    string
	message   string
	stored    *index.DocumentState // what the index holds, nil for a new document
	doc       *index.DocumentWrite // to write: added, updated, or skipped (stored without chunks)
	texts     []string             // the text to embed for each of doc.Chunks
	retag     bool                 // apply tags/tagSource to the stored document
	tags      []string             // the new tags
	tagSource string
	pages     int
	chars     int
}

// batch is what one write transaction writes.
type batch struct {
	writes []item // documents with their chunks
	tags   []item // tag-only changes
	chunks int
}

// pipeline processes every file: workers → batcher → embedders → writer.
func (r *run) pipeline(ctx context.Context, files []file) error {
	g, gctx := errgroup.WithContext(ctx)
	fileCh := make(chan file)
	itemCh := make(chan item, 4*r.cfg.Concurrency)
	batchCh := make(chan *batch, 2)
	writeCh := make(chan *batch, 2)

	g.Go(func() error {
		defer close(fileCh)
		for _, f := range files {
			select {
			case fileCh <- f:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	workers, _ := errgroup.WithContext(gctx)
	for range r.cfg.Concurrency {
		workers.Go(func() error {
			for f := range fileCh {
				r.processFile(gctx, f, itemCh)
				r.fileDone()
			}
			return nil
		})
	}
	g.Go(func() error {
		err := workers.Wait()
		close(itemCh)
		return err
	})
	g.Go(func() error {
		defer close(batchCh)
		return r.batch(gctx, itemCh, batchCh)
	})
	embedders, _ := errgroup.WithContext(gctx)
	for range max(1, r.cfg.Concurrency/2) {
		embedders.Go(func() error {
			for b := range batchCh {
				if gctx.Err() != nil {
					continue // interrupted: drop what is not written yet
				}
				if err := r.embed(gctx, b); err != nil {
					return err
				}
				writeCh <- b
			}
			return nil
		})
	}
	g.Go(func() error {
		err := embedders.Wait()
		close(writeCh)
		return err
	})
	// Two writers: each write transaction runs in one PostgreSQL backend, mostly computing
	// lexemes in the chunk trigger, so a second connection uses the second core. Their
	// statistics upserts take row locks in key order, so they can wait for each other but
	// not deadlock.
	for range r.cfg.Writers {
		g.Go(func() error {
			for b := range writeCh {
				if gctx.Err() != nil {
					continue
				}
				if err := r.write(gctx, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// processFile reads one file and sends an item for each document in it.
func (r *run) processFile(ctx context.Context, f file, out chan<- item) {
	send := func(it item) {
		select {
		case out <- it:
		case <-ctx.Done():
		}
	}
	r.markSeen(f.uri)
	if f.size > r.cfg.MaxFileSize {
		r.markSeenPrefix(f.uri + "#")
		send(item{uri: f.uri, outcome: OutcomeSkipped, reason: reasonTooLarge,
			message: fmt.Sprintf("%d bytes, over the limit of %d (--max-file-size)", f.size, r.cfg.MaxFileSize)})
		return
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		r.markSeenPrefix(f.uri + "#")
		send(item{uri: f.uri, outcome: OutcomeFailed, reason: reasonRead, message: err.Error()})
		return
	}
	r.addBytes(int64(len(data)))
	format := extract.Detect(f.path, data[:min(len(data), 4096)])
	if format == extract.FormatJSONL {
		r.processCollection(ctx, f, data, send)
		return
	}
	send(r.process(ctx, f, f.uri, hash(data), func() (extract.Document, error) {
		return r.extractor.Extract(ctx, f.path, data)
	}))
}

// processCollection handles a JSON Lines collection: each record is a document of its own,
// named <file>#<id>, hashed, tagged and deleted on its own.
func (r *run) processCollection(ctx context.Context, f file, data []byte, send func(item)) {
	for _, rec := range extract.SplitJSONL(data) {
		uri := f.uri + "#" + rec.ID
		if rec.ID == "" {
			uri = fmt.Sprintf("%s#line-%d", f.uri, rec.Line)
		}
		r.markSeen(uri)
		if rec.Err != nil {
			send(item{uri: uri, outcome: OutcomeFailed, reason: extract.ReasonOf(rec.Err), message: rec.Err.Error()})
			continue
		}
		send(r.process(ctx, f, uri, hash(rec.Raw), func() (extract.Document, error) {
			return extract.JSONLRecord(rec.Raw)
		}))
	}
}

// process decides what to do with one document and prepares it: compare with the index,
// extract and chunk when the content changed.
func (r *run) process(ctx context.Context, f file, uri string, sum []byte, extractFn func() (extract.Document, error)) item {
	it := item{uri: uri}
	if st, ok := r.states[uri]; ok {
		it.stored = &st
	}
	if st := it.stored; st != nil && bytes.Equal(st.ContentHash, sum) && st.ExtractVersion == extract.Version {
		// The content is unchanged. Tags the document declares itself cannot have changed;
		// tags from outside it may have.
		switch {
		case st.ACLSource == tagsFromDocument:
			it.outcome = OutcomeUnchanged
		case f.tagErr != nil:
			it.outcome, it.reason, it.message = OutcomeFailed, reasonInvalidACL, f.tagErr.Error()
		case acl.Equal(st.ACL, f.tags) && st.ACLSource == f.tagSource:
			it.outcome = OutcomeUnchanged
		default:
			it.outcome, it.retag, it.tags, it.tagSource = OutcomeACLChanged, true, f.tags, f.tagSource
		}
		it.chars = -1 // unknown without extracting: not reported
		return it
	}
	it.outcome = OutcomeAdded
	if it.stored != nil {
		it.outcome = OutcomeUpdated
	}
	if r.cfg.DryRun {
		return it
	}
	if ctx.Err() != nil {
		return item{uri: uri, outcome: OutcomeFailed, reason: "interrupted", message: "the run was interrupted"}
	}

	doc, err := extractFn()
	if err != nil {
		msg := err.Error()
		if xe := (*extract.Error)(nil); errors.As(err, &xe) {
			msg = xe.Err.Error() // the reason is reported beside it
		}
		return r.failed(it, f, extract.ReasonOf(err), msg)
	}
	tags, source := f.tags, f.tagSource
	if doc.ACL != nil {
		if tags, err = acl.Parse(doc.ACL); err != nil {
			return r.failed(it, f, reasonInvalidACL, err.Error())
		}
		source = tagsFromDocument
		if len(tags) == 0 {
			source = tagsFromNowhere
		}
	} else if f.tagErr != nil {
		return r.failed(it, f, reasonInvalidACL, f.tagErr.Error())
	}

	var chunks []chunk.Chunk
	if doc.Skip == "" {
		chunks = r.chunker.Split(doc.Document)
		if len(chunks) == 0 {
			doc.Skip = extract.SkipEmpty
		}
	}
	if doc.Skip != "" {
		// Stored without chunks, so that a re-run sees it unchanged.
		it.outcome, it.reason = OutcomeSkipped, doc.Skip
	}
	it.pages = doc.Pages
	it.chars = utf8.RuneCountInString(doc.Text)
	w := &index.DocumentWrite{
		SourceID: r.sourceID, URI: uri, Title: doc.Title, ContentType: doc.ContentType, ContentHash: sum,
		ExtractVersion: extract.Version, Size: f.size, Pages: doc.Pages, Text: doc.Text,
		PageOffsets: charOffsets(doc.Text, doc.PageStarts), Metadata: doc.Metadata,
		ACL: tags, ACLSource: source, ModifiedAt: f.modTime,
		Chunks: make([]index.ChunkWrite, len(chunks)),
	}
	if len(doc.NoTextPages) > 0 {
		if w.Metadata == nil {
			w.Metadata = map[string]any{}
		}
		w.Metadata["no_text_pages"] = doc.NoTextPages
	}
	it.texts = make([]string, len(chunks))
	for i, c := range chunks {
		w.Chunks[i] = index.ChunkWrite{Ordinal: c.Ordinal, Text: c.Text, HeadingPath: c.HeadingPath,
			PageStart: c.PageStart, PageEnd: c.PageEnd, CharStart: c.CharStart, CharEnd: c.CharEnd, Tokens: c.Tokens}
		it.texts[i] = chunk.EmbeddingText(doc.Title, c)
	}
	it.doc = w
	return it
}

// failed turns it into a failure. When the document is stored with tags from outside it that
// have since changed, the new tags are applied all the same: a revocation must not wait for
// the file to become readable again.
func (r *run) failed(it item, f file, reason, message string) item {
	it.outcome, it.reason, it.message, it.doc = OutcomeFailed, reason, message, nil
	if st := it.stored; st != nil && f.tagErr == nil && st.ACLSource != tagsFromDocument &&
		(!acl.Equal(st.ACL, f.tags) || st.ACLSource != f.tagSource) {
		it.retag, it.tags, it.tagSource = true, f.tags, f.tagSource
	}
	return it
}

// batch groups items into write batches; items with nothing to write are recorded at once.
func (r *run) batch(ctx context.Context, in <-chan item, out chan<- *batch) error {
	b := &batch{}
	flush := func() bool {
		if len(b.writes) == 0 && len(b.tags) == 0 {
			return true
		}
		select {
		case out <- b:
			b = &batch{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for it := range in {
		switch {
		case it.doc != nil:
			b.writes = append(b.writes, it)
			b.chunks += len(it.doc.Chunks)
		case it.retag:
			b.tags = append(b.tags, it)
		default:
			r.record(it)
			continue
		}
		if len(b.writes) >= r.cfg.BatchDocs || b.chunks >= r.cfg.BatchChunks || len(b.tags) >= 256 {
			if !flush() {
				return nil
			}
		}
	}
	flush()
	return nil
}

// embed gives every chunk of the batch its vector: the stored vector when an identical chunk
// (same title, headings and text) is already in the index, else a new one from the embedder.
func (r *run) embed(ctx context.Context, b *batch) error {
	reuse := map[string][]float32{}
	var ids []int64
	for _, it := range b.writes {
		if it.stored != nil && it.stored.Chunks > 0 && len(it.texts) > 0 {
			ids = append(ids, it.stored.ID)
		}
	}
	if len(ids) > 0 {
		stored, err := index.ChunksWithVectors(ctx, r.db, r.gen, r.chunking, ids)
		if err != nil {
			return err
		}
		for _, c := range stored {
			reuse[chunk.EmbeddingText(c.Title, chunk.Chunk{HeadingPath: c.HeadingPath, Text: c.Text})] = c.Vector
		}
	}
	var texts []string
	pending := map[string]int{} // text -> index in texts
	for _, it := range b.writes {
		for _, t := range it.texts {
			if _, ok := reuse[t]; ok {
				continue
			}
			if _, ok := pending[t]; !ok {
				pending[t] = len(texts)
				texts = append(texts, t)
			}
		}
	}
	var vectors [][]float32
	if len(texts) > 0 {
		var err error
		if vectors, err = r.emb.Embed(ctx, texts); err != nil {
			return fmt.Errorf("embed: %w", err)
		}
		if len(vectors) != len(texts) {
			return fmt.Errorf("embed: the embedder returned %d vectors for %d texts", len(vectors), len(texts))
		}
	}
	for _, it := range b.writes {
		for i, t := range it.texts {
			v, ok := reuse[t]
			if !ok {
				v = vectors[pending[t]]
			}
			if len(v) != r.gen.Dimension {
				return fmt.Errorf("embed: a vector of %d dimensions, the index has %d", len(v), r.gen.Dimension)
			}
			it.doc.Chunks[i].Vectors = map[int][]float32{r.gen.ID: v}
		}
	}
	return nil
}

// write writes a batch in one transaction. When the transaction fails, each document is
// retried alone, so that one bad document fails alone; a connection failure is fatal.
func (r *run) write(ctx context.Context, b *batch) error {
	// The transaction in progress finishes even when the run is interrupted (bounded), so
	// the interruption never leaves work half-done on the client side either.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	stats, err := r.writeTx(wctx, b.writes, b.tags)
	for attempt := 1; index.IsDeadlock(err) && attempt < 4; attempt++ {
		// A reindex writing vectors of the same documents can deadlock with this
		// transaction; PostgreSQL aborts one of the two. Retry the batch as it was.
		time.Sleep(time.Duration(attempt*attempt) * 20 * time.Millisecond)
		stats, err = r.writeTx(wctx, b.writes, b.tags)
	}
	if err == nil {
		r.recordBatch(b, stats)
		return nil
	}
	if !isStatementError(err) {
		return fmt.Errorf("write: %w", err)
	}
	r.logger.Warn("a write transaction failed; retrying its documents one by one", "err", err)
	for _, it := range b.writes {
		one := &batch{writes: []item{it}}
		stats, err := r.writeTx(wctx, one.writes, nil)
		if err != nil {
			if !isStatementError(err) {
				return fmt.Errorf("write: %w", err)
			}
			it.outcome, it.reason, it.message, it.doc = OutcomeFailed, reasonWrite, err.Error(), nil
			r.record(it)
			continue
		}
		r.recordBatch(one, stats)
	}
	for _, it := range b.tags {
		one := &batch{tags: []item{it}}
		stats, err := r.writeTx(wctx, nil, one.tags)
		if err != nil {
			if !isStatementError(err) {
				return fmt.Errorf("write: %w", err)
			}
			it.outcome, it.reason, it.message = OutcomeFailed, reasonWrite, err.Error()
			r.record(it)
			continue
		}
		r.recordBatch(one, stats)
	}
	return nil
}

func (r *run) writeTx(ctx context.Context, writes, tags []item) (index.WriteStats, error) {
	var stats index.WriteStats
	err := index.InTx(ctx, r.db, func(tx pgx.Tx) error {
		// A crash may lose the last few commits of an ingest run, never corrupt anything, and
		// the next run redoes them; waiting for each commit to reach the disk is not worth it.
		// (The run's final record commits synchronously, which also flushes these.)
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		if len(writes) > 0 {
			// A reindex's cutover waits for this transaction, or this one finds the
			// generation replaced and the run fails (the next run writes to the new one).
			if err := index.LockGenerationWrites(ctx, tx, r.gen.ID, r.cfg.Target != nil); err != nil {
				return err
			}
		}
		docs := make([]index.DocumentWrite, len(writes))
		for i, it := range writes {
			docs[i] = *it.doc
		}
		var err error
		if stats, err = index.WriteDocuments(ctx, tx, r.chunking, []index.Generation{r.gen}, docs); err != nil {
			return err
		}
		for _, it := range tags {
			if err := index.SetACL(ctx, tx, it.stored.ID, it.tags, it.tagSource); err != nil {
				return err
			}
		}
		return nil
	})
	return stats, err
}

// isStatementError reports whether err came from a statement the server rejected (the
// transaction failed, the connection is fine), as opposed to a lost connection.
func isStatementError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

// recordBatch records a written batch.
func (r *run) recordBatch(b *batch, stats index.WriteStats) {
	r.mu.Lock()
	r.summary.Chunks.Written += stats.ChunksWritten
	r.summary.Chunks.Deleted += stats.ChunksDeleted
	r.mu.Unlock()
	for _, it := range b.writes {
		r.record(it)
	}
	for _, it := range b.tags {
		r.record(it)
	}
}

// record counts a document's final outcome and reports it.
func (r *run) record(it item) {
	r.mu.Lock()
	d := &r.summary.Documents
	switch it.outcome {
	case OutcomeAdded:
		d.Added++
	case OutcomeUpdated:
		d.Updated++
	case OutcomeUnchanged:
		d.Unchanged++
	case OutcomeACLChanged:
		d.ACLChanged++
	case OutcomeSkipped:
		d.Skipped++
	case OutcomeFailed:
		d.Failed++
		r.summary.Failures = append(r.summary.Failures, index.Failure{URI: it.uri, Reason: it.reason, Message: it.message})
	}
	if it.doc != nil {
		r.summary.Pages += int64(it.pages)
		if len(it.doc.ACL) == 0 && len(it.doc.Chunks) > 0 {
			r.summary.Untagged = append(r.summary.Untagged, it.uri)
		}
	}
	r.mu.Unlock()
	line := reportLine{URI: it.uri, Outcome: it.outcome, Reason: it.reason, Pages: it.pages, Chars: max(it.chars, 0)}
	if it.doc != nil {
		line.Chunks = len(it.doc.Chunks)
	} else if it.stored != nil {
		line.Chunks = it.stored.Chunks
	}
	r.writeReport(line)
	r.progress()
}

func (r *run) markSeen(uri string) {
	r.mu.Lock()
	r.seen[uri] = true
	r.mu.Unlock()
}

// markSeenPrefix keeps the stored records of a collection that could not be read.
func (r *run) markSeenPrefix(prefix string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for uri := range r.states {
		if strings.HasPrefix(uri, prefix) {
			r.seen[uri] = true
		}
	}
}

func (r *run) addBytes(n int64) {
	r.mu.Lock()
	r.summary.Bytes += n
	r.mu.Unlock()
}

func (r *run) fileDone() {
	r.mu.Lock()
	r.files++
	r.mu.Unlock()
	r.progress()
}

func (r *run) progress() {
	if r.cfg.Progress == nil {
		return
	}
	r.mu.Lock()
	d := r.summary.Documents
	p := Progress{Files: r.files, FilesTotal: r.total, Chunks: r.summary.Chunks.Written, Failed: d.Failed,
		Documents: d.Added + d.Updated + d.Unchanged + d.ACLChanged + d.Failed + d.Skipped,
		Elapsed:   r.cfg.Now().Sub(r.start)}
	r.mu.Unlock()
	r.cfg.Progress(p)
}

// charOffsets converts ascending byte offsets into text to character offsets.
func charOffsets(text string, byteOffsets []int) []int {
	if len(byteOffsets) == 0 {
		return nil
	}
	out := make([]int, len(byteOffsets))
	chars, last := 0, 0
	for i, off := range byteOffsets {
		off = min(max(off, last), len(text))
		chars += utf8.RuneCountInString(text[last:off])
		last = off
		out[i] = chars
	}
	return out
}

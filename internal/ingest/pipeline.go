package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
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
	reasonCrash      = "crash" // a panic while processing the file
	reasonTooLarge   = extract.ReasonTooLarge
	reasonUnsafeURL  = "invalid_url" // a warning: the document's url was dropped
	reasonGone       = "gone"        // a derived document (attachment, message) its file no longer yields
)

// item is one document's result from a worker: its outcome so far and, when it has to be
// written, what to write.
type item struct {
	uri       string
	outcome   string
	reason    string
	message   string
	refused   bool                 // a path not read (see walk.go): listed in Summary.Refused
	stored    *index.DocumentState // what the index holds, nil for a new document
	doc       *index.DocumentWrite // to write: added, updated, or skipped (stored without chunks)
	texts     []string             // the text to embed for each of doc.Chunks
	retag     bool                 // apply tags/tagSource to the stored document
	tags      []string             // the new tags
	tagSource string
	reurl     bool   // apply url/urlSource to the stored document (a new --url-prefix)
	url       string // the new URL, "" for none
	urlSource string
	warning   string // why the document's own url was dropped, for Summary.Warnings
	// extractWarnings: what extraction left out (a sheet cut at its row limit, a hidden
	// sheet), for Summary.Warnings.
	extractWarnings []extract.Warning
	ocr             extract.OCRReport
	pages           int
	chars           int
}

// batch is what one write transaction writes.
type batch struct {
	writes []item // documents with their chunks
	tags   []item // tag-only changes
	chunks int
}

// pipeline processes every file: workers → batcher → embedders → writer. Every send and
// receive also waits on the context, so that when one stage fails (a lost database
// connection ends the writers) the others stop instead of blocking for ever; a panic in any
// stage ends the run with an error, in a worker only that file fails.
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
	var workers sync.WaitGroup
	for range r.cfg.Concurrency {
		workers.Go(func() {
			var dirs dirCache
			defer dirs.close()
			for f := range fileCh {
				r.processFile(gctx, f, itemCh, &dirs)
				r.fileDone()
			}
		})
	}
	g.Go(func() error {
		workers.Wait()
		close(itemCh)
		return nil
	})
	g.Go(safe("batcher", func() error {
		defer close(batchCh)
		return r.batch(gctx, itemCh, batchCh)
	}))
	// Embedders report to g directly: the first error cancels gctx and stops every stage.
	var embedders sync.WaitGroup
	for range max(1, r.cfg.Concurrency/2) {
		embedders.Add(1)
		g.Go(safe("embedder", func() error {
			defer embedders.Done()
			for b := range batchCh {
				if gctx.Err() != nil {
					continue // interrupted or failed: drop what is not written yet
				}
				if err := r.embed(gctx, b); err != nil {
					return err
				}
				select {
				case writeCh <- b:
				case <-gctx.Done():
				}
			}
			return nil
		}))
	}
	g.Go(func() error {
		embedders.Wait()
		close(writeCh)
		return nil
	})
	// Two writers: each write transaction runs in one PostgreSQL backend, mostly computing
	// lexemes in the chunk trigger, so a second connection uses the second core. Their
	// statistics upserts take row locks in key order, so they can wait for each other but
	// not deadlock.
	for range r.cfg.Writers {
		g.Go(safe("writer", func() error {
			for b := range writeCh {
				if gctx.Err() != nil {
					continue
				}
				if err := r.write(gctx, b); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	return g.Wait()
}

// safe turns a panic in fn into an error, so that a bug ends the run with a recorded
// failure instead of killing the process with the run left "running".
func safe(stage string, fn func() error) func() error {
	return func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%s: panic: %v", stage, p)
			}
		}()
		return fn()
	}
}

// processFile reads one file and sends an item for each document in it. A panic fails the
// file, not the run.
func (r *run) processFile(ctx context.Context, f file, out chan<- item, dirs *dirCache) {
	send := func(it item) {
		select {
		case out <- it:
		case <-ctx.Done():
		}
	}
	defer func() {
		if p := recover(); p != nil {
			r.logger.Error("panic while processing a file", "uri", f.uri, "panic", p)
			it := item{uri: f.uri}
			r.unwritten(&it, f, OutcomeFailed, reasonCrash, fmt.Sprintf("panic: %v", p), true)
			send(it)
		}
	}()
	if f.refused != "" {
		r.refuse(f, send)
		return
	}
	r.markSeen(f.uri)
	if f.size > r.cfg.MaxFileSize {
		r.unreadable(f, OutcomeSkipped, reasonTooLarge, fmt.Sprintf("%d bytes, over the limit of %d (--max-file-size)", f.size, r.cfg.MaxFileSize), send)
		return
	}
	data, err := readFile(f, r.cfg.MaxFileSize, dirs)
	if err != nil {
		r.unreadable(f, OutcomeFailed, reasonRead, err.Error(), send)
		return
	}
	r.addBytes(int64(len(data)))
	if int64(len(data)) > r.cfg.MaxFileSize {
		r.unreadable(f, OutcomeSkipped, reasonTooLarge, fmt.Sprintf("over the limit of %d bytes (--max-file-size)", r.cfg.MaxFileSize), send)
		return
	}
	format := extract.Detect(f.rel, data[:min(len(data), extract.SniffLen)])
	if format == extract.FormatJSONL {
		r.processCollection(ctx, f, data, send)
		return
	}
	r.processFileDocuments(ctx, f, data, format, send)
}

// processFileDocuments extracts a file (once, and only when something must be rewritten)
// and sends an item for its document and for each document derived from it (an e-mail's
// attachments, a mailbox's messages: extract.Part), stored as <file>#<fragment>.
//
// Derived documents always take the file's tags (and never a URL of their own): what they
// declare themselves is ignored, so that an attachment is never visible to more people
// than its message. They are stored with the file's content hash, so that an unchanged
// file leaves them unchanged too; when a derived document failed, the file's document is
// stored with another hash, so that the next run extracts the file again and reports the
// failure again. Stored derived documents that the file no longer yields are hidden (and
// deleted by --prune).
func (r *run) processFileDocuments(ctx context.Context, f file, data []byte, format extract.Format, send func(item)) {
	sum := hash(data)
	var extracted bool
	var doc extract.Document
	var xerr error
	extractOnce := func() (extract.Document, error) {
		if !extracted {
			extracted = true
			// The bytes read, never the path: the file may have changed since.
			doc, xerr = r.extractor.Extract(ctx, f.rel, data)
		}
		return doc, xerr
	}
	main := r.process(ctx, f, f.uri, sum, selfTagging(format), extractOnce)
	stored := r.storedUnder(f.uri + "#")
	if !extracted {
		// The file is unchanged (or was not extracted: a dry run, bad tags): so are the
		// documents derived from it, unless one of them must be written again.
		send(main)
		for _, uri := range stored {
			r.markSeen(uri)
			send(r.process(ctx, f, uri, sum, false, func() (extract.Document, error) {
				d, err := extractOnce()
				if err != nil {
					return extract.Document{}, err
				}
				for _, p := range d.Parts {
					if f.uri+"#"+p.Fragment == uri {
						return p.Document, p.Err
					}
				}
				return extract.Document{}, &extract.Error{Reason: extract.ReasonInvalid, Err: errors.New("no longer in its file")}
			}))
		}
		return
	}
	if xerr != nil {
		send(main)
		// The file's failure is its derived documents' too: they are kept with the file's
		// tags (hidden when the file's tags can no longer be known), as the file's is.
		for _, uri := range stored {
			r.markSeen(uri)
			it := item{uri: uri}
			send(r.failed(it, f, extract.ReasonOf(xerr), errorMessage(xerr), selfTagging(format) || extract.IsACLError(xerr)))
		}
		return
	}
	produced := map[string]bool{}
	failedParts := false
	var items []item
	for _, p := range doc.Parts {
		uri := f.uri + "#" + p.Fragment
		produced[uri] = true
		r.markSeen(uri)
		if p.Err != nil {
			failedParts = true
			items = append(items, r.failed(item{uri: uri}, f, extract.ReasonOf(p.Err), errorMessage(p.Err), false))
			continue
		}
		items = append(items, r.process(ctx, f, uri, sum, false, func() (extract.Document, error) { return p.Document, nil }))
	}
	if failedParts && main.doc != nil {
		main.doc.ContentHash = hash(append(slices.Clip(sum), "derived documents failed"...))
	}
	send(main)
	for _, it := range items {
		send(it)
	}
	for _, uri := range stored {
		if produced[uri] {
			continue
		}
		// Gone from the file: hidden now, deleted by --prune (not marked seen).
		it := item{uri: uri}
		r.unwritten(&it, f, OutcomeSkipped, reasonGone, "no longer in its file", true)
		if it.retag {
			send(it)
		}
	}
}

// selfTagging reports whether files of a format can declare their own permission tags
// (front matter, a JSON Lines record's "acl"): when such a file cannot be read or
// extracted, its tags cannot be known.
func selfTagging(format extract.Format) bool {
	switch format {
	case extract.FormatMarkdown, extract.FormatHTML, extract.FormatJSONL:
		return true
	}
	return false
}

// refuse reports a path the walk does not read (walk.go). A document stored at that path
// (or records of a collection stored there) is hidden: its file is no longer what was
// read, and reading through a link would have given it the wrong tags. The path is not
// marked seen, so pruning deletes such documents.
func (r *run) refuse(f file, send func(item)) {
	listed := f.refused != reasonSymlink
	it := item{uri: f.uri, outcome: OutcomeSkipped, reason: f.refused, message: f.message, refused: listed}
	r.unwritten(&it, f, OutcomeSkipped, f.refused, f.message, true)
	send(it)
	for _, uri := range r.storedUnder(f.uri + "#") {
		rec := item{uri: uri, outcome: OutcomeSkipped, reason: f.refused, message: f.message}
		r.unwritten(&rec, f, OutcomeSkipped, f.refused, f.message, true)
		if rec.retag {
			send(rec)
		}
	}
}

// unreadable reports a file that exists but whose content could not be read (too large,
// a read error, replaced during the run): its stored version is hidden if its tags could
// depend on that content, else kept with its outside tags. The records of a collection
// stored from it are kept (seen) and treated alike.
func (r *run) unreadable(f file, outcome, reason, message string, send func(item)) {
	hide := reason != reasonTooLarge || selfTagging(extract.Detect(f.rel, nil))
	it := item{uri: f.uri}
	r.unwritten(&it, f, outcome, reason, message, hide)
	send(it)
	for _, uri := range r.storedUnder(f.uri + "#") {
		r.markSeen(uri)
		rec := item{uri: uri}
		r.unwritten(&rec, f, outcome, reason, message, true)
		send(rec)
	}
}

// storedUnder returns the stored URIs that start with prefix.
func (r *run) storedUnder(prefix string) []string {
	var uris []string
	for uri := range r.states {
		if strings.HasPrefix(uri, prefix) {
			uris = append(uris, uri)
		}
	}
	slices.Sort(uris)
	return uris
}

// processCollection handles a JSON Lines collection: each record is a document of its own,
// named <file>#<id>, hashed, tagged and deleted on its own. A record that cannot be read
// exactly fails, and the stored version with its id (when the id can be read) is hidden;
// records sharing an id all fail.
func (r *run) processCollection(ctx context.Context, f file, data []byte, send func(item)) {
	ids := map[string]bool{}
	unidentified := false
	for _, rec := range extract.SplitJSONL(data) {
		uri := f.uri + "#" + rec.ID
		if rec.ID == "" || ids[rec.ID] {
			uri = fmt.Sprintf("%s#line-%d", f.uri, rec.Line)
		}
		ids[rec.ID] = true
		unidentified = unidentified || rec.ID == ""
		r.markSeen(uri)
		if rec.Err != nil {
			it := item{uri: uri}
			if st, ok := r.states[uri]; ok {
				it.stored = &st
			}
			reason := extract.ReasonOf(rec.Err)
			if extract.IsACLError(rec.Err) {
				reason = reasonInvalidACL
			}
			send(r.failed(it, f, reason, errorMessage(rec.Err), true))
			continue
		}
		send(r.process(ctx, f, uri, hash(rec.Raw), true, func() (extract.Document, error) {
			return extract.JSONLRecord(rec.Raw)
		}))
	}
	if unidentified && !r.cfg.Prune {
		// A line whose id cannot be read may be any stored record of the file: those not
		// found are hidden rather than kept with their old tags (pruning deletes them).
		for _, uri := range r.storedUnder(f.uri + "#") {
			if r.isSeen(uri) {
				continue
			}
			r.markSeen(uri)
			it := item{uri: uri}
			r.unwritten(&it, f, OutcomeFailed, extract.ReasonInvalid, "not found in the file, which has lines whose id cannot be read: hidden until the file is fixed", true)
			send(it)
		}
	}
}

// errorMessage is an error's text without the extraction reason (reported beside it).
func errorMessage(err error) string {
	if xe := (*extract.Error)(nil); errors.As(err, &xe) {
		return xe.Err.Error()
	}
	return err.Error()
}

// process decides what to do with one document and prepares it: compare with the index,
// extract and chunk when the content changed. selfTags says that the document can declare
// its own tags (see selfTagging).
//
// The tags are decided here, failing closed: tags from a sidecar, a .docent-acl or the
// document itself that cannot be read exactly fail the document (invalid_acl) and hide its
// stored version; so does a failed extraction of a document that can declare its own tags.
func (r *run) process(ctx context.Context, f file, uri string, sum []byte, selfTags bool, extractFn func() (extract.Document, error)) item {
	it := item{uri: uri}
	if st, ok := r.states[uri]; ok {
		it.stored = &st
	}
	if st := it.stored; st != nil && bytes.Equal(st.ContentHash, sum) && r.extractor.UpToDate(st.ExtractVersion) && st.ACLSource != tagsHidden {
		// The content is unchanged. Tags the document declares itself cannot have changed;
		// tags from outside it may have.
		switch {
		case f.tagErr != nil:
			return r.failed(it, f, reasonInvalidACL, f.tagErr.Error(), true)
		case st.ACLSource == tagsFromDocument:
			it.outcome = OutcomeUnchanged
		case acl.Equal(st.ACL, f.tags) && st.ACLSource == f.tagSource:
			it.outcome = OutcomeUnchanged
		default:
			it.outcome, it.retag, it.tags, it.tagSource = OutcomeACLChanged, true, f.tags, f.tagSource
		}
		// The URL the document declares itself cannot have changed; one from the prefix may.
		if st.URLSource != urlFromDocument {
			if u, src := r.prefixURL(f, uri); u != st.URL {
				it.reurl, it.url, it.urlSource = !r.cfg.DryRun, u, src
				if it.outcome == OutcomeUnchanged {
					it.outcome = OutcomeURLChanged
				}
			}
		}
		it.chars = -1 // unknown without extracting: not reported
		return it
	}
	if f.tagErr != nil {
		return r.failed(it, f, reasonInvalidACL, f.tagErr.Error(), true)
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
		reason := extract.ReasonOf(err)
		if extract.IsACLError(err) {
			reason = reasonInvalidACL
		}
		return r.failed(it, f, reason, errorMessage(err), selfTags || extract.IsACLError(err))
	}
	tags, source := f.tags, f.tagSource
	if !selfTags {
		// A document that cannot declare its own tags (a PDF, an e-mail, an attachment)
		// gets its file's, whatever it says; nor does it give itself a URL.
		doc.ACL, doc.URL, doc.URLRefused = nil, "", ""
	}
	if doc.ACL != nil {
		// The document's own tags, an empty list included ("acl: []": visible to no one),
		// beat its folder's, now and in every later run of the unchanged file.
		if tags, err = acl.Parse(doc.ACL); err != nil {
			return r.failed(it, f, reasonInvalidACL, err.Error(), true)
		}
		source = tagsFromDocument
	}
	url, urlSource := doc.URL, urlFromDocument
	if url == "" {
		url, urlSource = r.prefixURL(f, uri)
	}
	if doc.URLRefused != "" {
		it.warning = "url dropped: " + doc.URLRefused
	}
	it.extractWarnings = doc.Warnings

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
	it.ocr = doc.OCR
	w := &index.DocumentWrite{
		SourceID: r.sourceID, URI: uri, Title: doc.Title, ContentType: doc.ContentType, ContentHash: sum,
		ExtractVersion: extract.StoredVersion(doc), Size: f.size, Pages: doc.Pages, PageUnit: doc.PageUnit, Text: doc.Text,
		PageOffsets: charOffsets(doc.Text, doc.PageStarts), Metadata: doc.Metadata,
		ACL: tags, ACLSource: source, URL: url, URLSource: urlSource, ModifiedAt: f.modTime,
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
		w.Chunks[i] = index.ChunkWrite{Ordinal: c.Ordinal, Text: c.Content(), HeadingPath: c.HeadingPath,
			PageStart: c.PageStart, PageEnd: c.PageEnd, CharStart: c.CharStart, CharEnd: c.CharEnd, Tokens: c.Tokens,
			Locator: c.Locator, OCR: c.OCR, HeaderChars: c.HeaderChars()}
		it.texts[i] = chunk.EmbeddingText(doc.Title, c)
	}
	it.doc = w
	return it
}

// Where a document's URL comes from (documents.url_source).
const (
	urlFromDocument = "document" // front matter, a JSON Lines record's "url", a canonical link
	urlFromPrefix   = "prefix"   // --url-prefix and the file's path
	urlFromNowhere  = "none"
)

// prefixURL returns the URL --url-prefix gives the document uri of file f, and its source:
// ("", none) without a prefix and for the records of a collection (one file, many
// documents: the file's URL is none of theirs).
func (r *run) prefixURL(f file, uri string) (string, string) {
	if r.cfg.URLPrefix == "" || uri != f.uri {
		return "", urlFromNowhere
	}
	u, err := extract.JoinURLPath(r.cfg.URLPrefix, f.rel)
	if err != nil { // too long, say: the document has no URL rather than a wrong one
		return "", urlFromNowhere
	}
	return u, urlFromPrefix
}

// failed turns it into a failure, deciding the fate of its stored version (unwritten).
func (r *run) failed(it item, f file, reason, message string, hide bool) item {
	r.unwritten(&it, f, OutcomeFailed, reason, message, hide)
	return it
}

// unwritten sets the outcome of a document whose new version is not written (failed,
// skipped unread, refused) and decides what happens to its stored version, failing
// closed. It is hidden (no tags, acl_source hidden, read again by the next run) when hide
// is set, when the file's outside tags are invalid, or when its tags came from the
// document itself: in each case its tags can no longer be known. Otherwise its tags came
// from outside the file, which are known: the stored version is kept, and a change of those
// tags is applied all the same (a revocation must not wait for the file to become readable
// again). A hidden document stays hidden until a version of it is written.
func (r *run) unwritten(it *item, f file, outcome, reason, message string, hide bool) {
	it.outcome, it.reason, it.message, it.doc = outcome, reason, message, nil
	if it.stored == nil {
		if st, ok := r.states[it.uri]; ok {
			it.stored = &st
		}
	}
	st := it.stored
	if st == nil || r.cfg.DryRun {
		return
	}
	switch {
	case st.ACLSource == tagsHidden:
		if len(st.ACL) > 0 { // cannot happen (a check constraint): fail closed all the same
			it.retag, it.tags, it.tagSource = true, nil, tagsHidden
		}
	case hide || f.tagErr != nil || st.ACLSource == tagsFromDocument || f.refused != "":
		it.retag, it.tags, it.tagSource = true, nil, tagsHidden
	case !acl.Equal(st.ACL, f.tags) || st.ACLSource != f.tagSource:
		it.retag, it.tags, it.tagSource = true, f.tags, f.tagSource
	}
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
		case it.retag || it.reurl:
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
	if !index.IsStatementError(err) {
		return fmt.Errorf("write: lost the connection to the database: %w", err)
	}
	r.logger.Warn("a write transaction failed; retrying its documents one by one", "err", err)
	for _, it := range b.writes {
		one := &batch{writes: []item{it}}
		stats, err := r.writeTx(wctx, one.writes, nil)
		if err != nil {
			if !index.IsStatementError(err) {
				return fmt.Errorf("write: lost the connection to the database: %w", err)
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
			if !index.IsStatementError(err) {
				return fmt.Errorf("write: lost the connection to the database: %w", err)
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
		if err := index.CommitWithoutWaiting(ctx, tx); err != nil {
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
			if it.retag {
				if err := index.SetACL(ctx, tx, it.stored.ID, it.tags, it.tagSource); err != nil {
					return err
				}
			}
			if it.reurl {
				if err := index.SetURL(ctx, tx, it.stored.ID, it.url, it.urlSource); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return stats, err
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
	case OutcomeURLChanged:
		d.URLChanged++
	case OutcomeSkipped:
		d.Skipped++
	case OutcomeFailed:
		d.Failed++
		r.summary.Failures = append(r.summary.Failures, index.Failure{URI: it.uri, Reason: it.reason, Message: it.message})
	}
	if it.refused {
		r.summary.Refused = append(r.summary.Refused, index.Failure{URI: it.uri, Reason: it.reason, Message: it.message})
	}
	if it.warning != "" && it.doc != nil {
		r.summary.Warnings = append(r.summary.Warnings, index.Failure{URI: it.uri, Reason: reasonUnsafeURL, Message: it.warning})
	}
	if it.doc != nil {
		for _, w := range it.extractWarnings {
			r.summary.Warnings = append(r.summary.Warnings, index.Failure{URI: it.uri, Reason: w.Reason, Message: w.Message})
		}
	}
	if it.retag && it.tagSource == tagsHidden {
		r.summary.Hidden = append(r.summary.Hidden, it.uri)
	}
	if it.doc != nil {
		r.recordOCR(it)
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

// recordOCR counts a written document's OCR in the summary and lists its pages left
// without text as warnings (r.mu held). A document skipped for its OCR says so in its
// outcome's reason instead.
func (r *run) recordOCR(it item) {
	o := it.ocr
	s := &r.summary.OCR
	s.Pages += int64(len(o.Pages))
	s.Failed += int64(len(o.Failed))
	s.Unavailable += int64(len(o.Unavailable))
	s.Deferred += int64(len(o.Deferred))
	s.Truncated += int64(len(o.Truncated))
	s.Millis += o.Millis
	if len(o.Deferred) > 0 {
		s.DeferredDocuments++
	}
	for _, w := range []struct {
		reason string
		pages  []int
		what   string
	}{
		{extract.SkipOCRUnavailable, o.Unavailable, "need OCR, which is unavailable (tesseract or pdftoppm is not installed)"},
		{extract.SkipOCRDeferred, o.Deferred, "need OCR and the run's OCR budget (DOCENT_OCR_MAX_PAGES) is spent: the next run recognises them"},
		{extract.WarnOCRFailed, o.Failed, "could not be recognised (see the document's ocr_errors metadata)"},
		{extract.WarnOCRTruncated, o.Truncated, "are beyond the file's OCR page limit: left without text"},
	} {
		if len(w.pages) > 0 && it.reason != w.reason {
			r.summary.Warnings = append(r.summary.Warnings, index.Failure{URI: it.uri, Reason: w.reason,
				Message: fmt.Sprintf("pages %s %s", pageList(w.pages), w.what)})
		}
	}
}

// pageList writes page numbers for a message: "3, 4, 7", or the first ten and a count.
func pageList(pages []int) string {
	var b strings.Builder
	for i, p := range pages[:min(len(pages), 10)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, p)
	}
	if len(pages) > 10 {
		fmt.Fprintf(&b, " and %d more", len(pages)-10)
	}
	return b.String()
}

func (r *run) markSeen(uri string) {
	r.mu.Lock()
	r.seen[uri] = true
	r.mu.Unlock()
}

func (r *run) isSeen(uri string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[uri]
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

// progress reports progress to cfg.Progress. A callback that panics is logged and not
// called again: a progress bar must not end a run.
func (r *run) progress() {
	if r.cfg.Progress == nil || r.progressBroken.Load() {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			if !r.progressBroken.Swap(true) {
				r.logger.Error("the progress callback panicked; progress is no longer reported", "panic", p)
			}
		}
	}()
	r.mu.Lock()
	d := r.summary.Documents
	p := Progress{Files: r.files, FilesTotal: r.total, Chunks: r.summary.Chunks.Written, Failed: d.Failed,
		Documents: d.Added + d.Updated + d.Unchanged + d.ACLChanged + d.URLChanged + d.Failed + d.Skipped,
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

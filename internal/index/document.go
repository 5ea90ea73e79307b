package index

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
)

// EnsureSource returns the id of the source with this name, creating it if needed.
func EnsureSource(ctx context.Context, db DBTX, name string) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `
		INSERT INTO sources (name) VALUES ($1)
		ON CONFLICT (name) DO UPDATE SET updated_at = now()
		RETURNING id`, name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("ensure source %q: %w", name, err)
	}
	return id, nil
}

// SourceID returns the id of the named source, or ErrNotFound.
func SourceID(ctx context.Context, db DBTX, name string) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `SELECT id FROM sources WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("source %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("look up source %q: %w", name, err)
	}
	return id, nil
}

// DocumentState is what ingestion compares a file with to decide what to do.
type DocumentState struct {
	ID             int64
	ContentHash    []byte
	ExtractVersion string
	ACL            []string
	ACLSource      string
	URL            string // "" when none
	URLSource      string // document, prefix or none
	Chunks         int    // chunks in the chunking being written
}

// DocumentStates returns the state of every document of a source, by URI, as the given
// chunking knows it: the content hash and extractor version its chunks were made from (empty
// when the chunking has none of the document yet, so that it never looks unchanged), and its
// number of chunks there. One query: ingestion calls it once per run.
func DocumentStates(ctx context.Context, db DBTX, sourceID int64, chunkingID int) (map[string]DocumentState, error) {
	rows, err := db.Query(ctx, `
		SELECT d.uri, d.id, coalesce(dc.content_hash, ''::bytea), coalesce(dc.extract_version, ''), d.acl, d.acl_source,
		       coalesce(d.url, ''), d.url_source,
		       (SELECT count(*) FROM chunks c WHERE c.document_id = d.id AND c.chunking_id = $2)
		FROM documents d
		LEFT JOIN document_chunkings dc ON dc.document_id = d.id AND dc.chunking_id = $2
		WHERE d.source_id = $1`, sourceID, chunkingID)
	if err != nil {
		return nil, fmt.Errorf("read document states: %w", err)
	}
	states := map[string]DocumentState{}
	for rows.Next() {
		var uri string
		var s DocumentState
		if err := rows.Scan(&uri, &s.ID, &s.ContentHash, &s.ExtractVersion, &s.ACL, &s.ACLSource, &s.URL, &s.URLSource, &s.Chunks); err != nil {
			return nil, fmt.Errorf("read document states: %w", err)
		}
		states[uri] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read document states: %w", err)
	}
	return states, nil
}

// DocumentWrite is a document as ingestion writes it: the row and all its chunks.
type DocumentWrite struct {
	SourceID       int64
	URI            string
	Title          string
	ContentType    string
	ContentHash    []byte
	ExtractVersion string
	Size           int64
	Pages          int    // 0: the format has no pages
	PageUnit       string // what a page is: "page" ("" means the same) or "slide"
	Text           string
	PageOffsets    []int // character offset of each page's start
	Metadata       map[string]any
	ACL            []string
	ACLSource      string // document, sidecar, directory, run or none
	URL            string // an http(s) URL (extract.SourceURL), or "" for none
	URLSource      string // document or prefix; ignored without a URL
	ModifiedAt     time.Time
	Chunks         []ChunkWrite
}

// ChunkWrite is one chunk of a DocumentWrite with its vector in each generation written to.
type ChunkWrite struct {
	Ordinal     int
	Text        string
	HeadingPath []string
	PageStart   int // 0: no pages
	PageEnd     int
	CharStart   int
	CharEnd     int
	Tokens      int
	Locator     string // "" for none
	OCR         bool
	HeaderChars int               // Text starts with this many characters of repeated table header
	Vectors     map[int][]float32 // generation id -> vector
}

// WriteStats counts what WriteDocuments did.
type WriteStats struct {
	ChunksWritten int64
	ChunksDeleted int64
}

// WriteDocuments replaces each document (its row, its chunks of the chunking, and their
// vectors in the given generations) inside tx. The caller commits: everything in one
// transaction, so a crash leaves each document either fully old or fully new. Chunks and
// vectors are written with COPY. The triggers of the schema copy the tags and compute the
// lexical data and statistics.
func WriteDocuments(ctx context.Context, tx pgx.Tx, chunkingID int, gens []Generation, docs []DocumentWrite) (WriteStats, error) {
	var stats WriteStats
	if len(docs) == 0 {
		return stats, nil
	}
	// Upsert the document rows, pipelined in one round trip.
	batch := &pgx.Batch{}
	for _, d := range docs {
		meta, err := json.Marshal(nonNilMap(d.Metadata))
		if err != nil {
			return stats, fmt.Errorf("encode metadata of %s: %w", d.URI, err)
		}
		batch.Queue(`
			INSERT INTO documents (source_id, uri, title, content_type, content_hash, extract_version,
			                       size_bytes, page_count, text, page_offsets, metadata, acl, acl_source, modified_at,
			                       url, url_source, page_unit)
			VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, 0), $9, $10, $11, $12, $13, $14, $15, $16, $17)
			ON CONFLICT (source_id, uri) DO UPDATE SET
			  title = EXCLUDED.title, content_type = EXCLUDED.content_type,
			  content_hash = EXCLUDED.content_hash, extract_version = EXCLUDED.extract_version,
			  size_bytes = EXCLUDED.size_bytes, page_count = EXCLUDED.page_count, text = EXCLUDED.text,
			  page_offsets = EXCLUDED.page_offsets, metadata = EXCLUDED.metadata, acl = EXCLUDED.acl,
			  acl_source = EXCLUDED.acl_source, modified_at = EXCLUDED.modified_at,
			  url = EXCLUDED.url, url_source = EXCLUDED.url_source, page_unit = EXCLUDED.page_unit, updated_at = now()
			RETURNING id`,
			d.SourceID, d.URI, d.Title, d.ContentType, d.ContentHash, d.ExtractVersion,
			d.Size, d.Pages, d.Text, pageOffsets(d.PageOffsets), meta, nonNilSlice(d.ACL), cmp.Or(d.ACLSource, "none"), nullTime(d.ModifiedAt),
			nullString(d.URL), urlSource(d.URL, d.URLSource), cmp.Or(d.PageUnit, "page"))
	}
	ids := make([]int64, len(docs))
	results := tx.SendBatch(ctx, batch)
	for i := range docs {
		if err := results.QueryRow().Scan(&ids[i]); err != nil {
			results.Close()
			return stats, fmt.Errorf("write document %s: %w", docs[i].URI, err)
		}
	}
	if err := results.Close(); err != nil {
		return stats, fmt.Errorf("write documents: %w", err)
	}

	// Record what this chunking's chunks are made from (see DocumentStates).
	hashes, versions := make([][]byte, len(docs)), make([]string, len(docs))
	for i, d := range docs {
		hashes[i], versions[i] = d.ContentHash, d.ExtractVersion
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO document_chunkings (document_id, chunking_id, content_hash, extract_version)
		SELECT u.id, $2, u.hash, u.version FROM unnest($1::bigint[], $3::bytea[], $4::text[]) AS u(id, hash, version)
		ORDER BY u.id
		ON CONFLICT (document_id, chunking_id) DO UPDATE
		  SET content_hash = EXCLUDED.content_hash, extract_version = EXCLUDED.extract_version`,
		ids, chunkingID, hashes, versions); err != nil {
		return stats, fmt.Errorf("record document chunkings: %w", err)
	}

	// Replace the chunks (their vectors go with them, ON DELETE CASCADE).
	tag, err := tx.Exec(ctx, `DELETE FROM chunks WHERE document_id = ANY($1) AND chunking_id = $2`, ids, chunkingID)
	if err != nil {
		return stats, fmt.Errorf("delete old chunks: %w", err)
	}
	stats.ChunksDeleted = tag.RowsAffected()

	total := 0
	for _, d := range docs {
		total += len(d.Chunks)
	}
	if total == 0 {
		return stats, nil
	}
	// Take the new chunks' ids from the sequence, so that chunks and vectors can both be
	// COPYed (COPY returns no ids).
	rows, err := tx.Query(ctx, `SELECT nextval(pg_get_serial_sequence('chunks', 'id')) FROM generate_series(1, $1)`, total)
	if err != nil {
		return stats, fmt.Errorf("allocate chunk ids: %w", err)
	}
	chunkIDs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return stats, fmt.Errorf("allocate chunk ids: %w", err)
	}

	chunkRows := make([][]any, 0, total)
	vectorRows := make(map[int][][]any, len(gens))
	n := 0
	for i, d := range docs {
		for _, c := range d.Chunks {
			id := chunkIDs[n]
			n++
			chunkRows = append(chunkRows, []any{id, ids[i], chunkingID, c.Ordinal, c.Text, nonNilSlice(c.HeadingPath),
				nullInt(c.PageStart), nullInt(c.PageEnd), c.CharStart, c.CharEnd, c.Tokens,
				nullString(c.Locator), c.OCR, c.HeaderChars})
			for _, g := range gens {
				v, ok := c.Vectors[g.ID]
				if !ok {
					return stats, fmt.Errorf("chunk %d of %s has no vector for generation %d", c.Ordinal, d.URI, g.ID)
				}
				if len(v) != g.Dimension {
					return stats, fmt.Errorf("chunk %d of %s: vector of %d dimensions for generation %d of %d", c.Ordinal, d.URI, len(v), g.ID, g.Dimension)
				}
				vectorRows[g.ID] = append(vectorRows[g.ID], []any{id, vectorValue(g, v)})
			}
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"chunks"},
		[]string{"id", "document_id", "chunking_id", "ordinal", "text", "heading_path", "page_start", "page_end", "char_start", "char_end", "token_count",
			"locator", "ocr", "header_chars"},
		pgx.CopyFromRows(chunkRows)); err != nil {
		return stats, fmt.Errorf("copy chunks: %w", err)
	}
	stats.ChunksWritten = int64(total)
	for _, g := range gens {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{g.Table}, []string{"chunk_id", "embedding"}, pgx.CopyFromRows(vectorRows[g.ID])); err != nil {
			return stats, fmt.Errorf("copy vectors of generation %d: %w", g.ID, err)
		}
	}
	return stats, nil
}

// SetACL changes the permission tags of a document (by id); the schema's triggers carry the
// change to its chunks and vectors in the same transaction.
func SetACL(ctx context.Context, db DBTX, docID int64, tags []string, source string) error {
	if _, err := db.Exec(ctx, `UPDATE documents SET acl = $2, acl_source = $3, updated_at = now() WHERE id = $1`,
		docID, nonNilSlice(tags), cmp.Or(source, "none")); err != nil {
		return fmt.Errorf("set tags of document %d: %w", docID, err)
	}
	return nil
}

// SetURL changes the URL of a document (by id): a change of the source's URL prefix, which
// does not change the document's content. url "" removes it.
func SetURL(ctx context.Context, db DBTX, docID int64, url, source string) error {
	if _, err := db.Exec(ctx, `UPDATE documents SET url = $2, url_source = $3, updated_at = now() WHERE id = $1`,
		docID, nullString(url), urlSource(url, source)); err != nil {
		return fmt.Errorf("set url of document %d: %w", docID, err)
	}
	return nil
}

// urlSource is the url_source stored with url: none without one.
func urlSource(url, source string) string {
	if url == "" {
		return "none"
	}
	return cmp.Or(source, "document")
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// DeleteDocuments deletes documents of a source by URI, with their chunks and vectors, and
// returns how many documents and chunks went.
func DeleteDocuments(ctx context.Context, db DBTX, sourceID int64, uris []string) (docs, chunks int64, err error) {
	err = db.QueryRow(ctx, `
		WITH gone AS (
			DELETE FROM documents WHERE source_id = $1 AND uri = ANY($2) RETURNING id
		)
		SELECT (SELECT count(*) FROM gone),
		       (SELECT count(*) FROM chunks WHERE document_id IN (SELECT id FROM gone))`,
		sourceID, uris).Scan(&docs, &chunks)
	if err != nil {
		return 0, 0, fmt.Errorf("delete documents: %w", err)
	}
	return docs, chunks, nil
}

// StoredChunk is a chunk as stored, with its vector in one generation: what ingestion reuses
// when a changed document still contains some identical chunks.
type StoredChunk struct {
	DocumentID  int64
	Title       string
	HeadingPath []string
	Text        string
	Vector      []float32
}

// ChunksWithVectors returns the chunks of the given documents in a chunking with their vectors
// in generation g.
func ChunksWithVectors(ctx context.Context, db DBTX, g Generation, chunkingID int, docIDs []int64) ([]StoredChunk, error) {
	table, err := g.TableIdent()
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, `
		SELECT c.document_id, d.title, c.heading_path, c.text, e.embedding::real[]
		FROM chunks c
		JOIN documents d ON d.id = c.document_id
		JOIN `+table+` e ON e.chunk_id = c.id
		WHERE c.document_id = ANY($1) AND c.chunking_id = $2`, docIDs, chunkingID)
	if err != nil {
		return nil, fmt.Errorf("read stored chunks: %w", err)
	}
	chunks, err := pgx.CollectRows(rows, pgx.RowToStructByPos[StoredChunk])
	if err != nil {
		return nil, fmt.Errorf("read stored chunks: %w", err)
	}
	return chunks, nil
}

// vectorValue encodes v for the generation's column type.
func vectorValue(g Generation, v []float32) any {
	if g.VectorType() == "halfvec" {
		return pgvector.NewHalfVector(v)
	}
	return pgvector.NewVector(v)
}

func pageOffsets(offsets []int) []int32 {
	if len(offsets) == 0 {
		return nil
	}
	out := make([]int32, len(offsets))
	for i, o := range offsets {
		out[i] = int32(o)
	}
	return out
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// nonNilSlice turns nil into an empty slice: a NULL array would violate NOT NULL.
func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nullInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// StatisticsMismatches recomputes the BM25 statistics from the chunks and returns how many
// stored rows are wrong: per tag, a lexeme whose document frequency differs or whose
// term-frequency bound is below the truth (tag_lexeme_stats), a tag whose chunk count or
// total length differs (acl_stats); per chunking, a chunk count or total length that differs
// (corpus_stats). A tag listed twice on a chunk counts once. Zero means the triggers kept
// them consistent. A chunking whose statistics are deferred (DeferStatistics) has none being
// kept and is left out. It reads every chunk: a check for tests and for an operator's
// investigation, not for the request path.
func StatisticsMismatches(ctx context.Context, db DBTX) (int, error) {
	var lexemes, tags, corpus int
	err := db.QueryRow(ctx, `
		WITH tagged AS (
			SELECT c.chunking_id, t.tag, c.tsv, c.lexical_length
			FROM chunks c, unnest(c.acl) WITH ORDINALITY AS t(tag, i)
			WHERE array_position(c.acl, t.tag) = t.i AND `+notDeferred+`
		), truth AS (
			SELECT chunking_id, tag, u.lexeme, count(*)::int AS df,
			       max(coalesce(array_length(u.positions, 1), 1)) AS max_tf,
			       max(coalesce(array_length(u.positions, 1), 1)::float8 / greatest(lexical_length, 1)) AS max_tf_ratio
			FROM tagged, unnest(tsv) AS u GROUP BY 1, 2, 3
		)
		SELECT count(*) FROM truth FULL JOIN (SELECT * FROM tag_lexeme_stats WHERE df <> 0 AND `+notDeferred+`) s USING (chunking_id, tag, lexeme)
		WHERE truth.df IS DISTINCT FROM s.df OR s.max_tf < truth.max_tf OR s.max_tf_ratio < truth.max_tf_ratio`).Scan(&lexemes)
	if err != nil {
		return 0, fmt.Errorf("check lexeme statistics: %w", err)
	}
	err = db.QueryRow(ctx, `
		WITH truth AS (
			SELECT c.chunking_id, t.tag, count(*) AS chunk_count, sum(c.lexical_length) AS total_length
			FROM chunks c, unnest(c.acl) WITH ORDINALITY AS t(tag, i)
			WHERE array_position(c.acl, t.tag) = t.i AND `+notDeferred+`
			GROUP BY 1, 2
		)
		SELECT count(*) FROM truth
		FULL JOIN (SELECT * FROM acl_stats WHERE (chunk_count <> 0 OR total_length <> 0) AND `+notDeferred+`) s USING (chunking_id, tag)
		WHERE (truth.chunk_count, truth.total_length) IS DISTINCT FROM (s.chunk_count, s.total_length)`).Scan(&tags)
	if err != nil {
		return 0, fmt.Errorf("check tag statistics: %w", err)
	}
	err = db.QueryRow(ctx, `
		WITH truth AS (
			SELECT chunking_id, count(*) AS chunk_count, sum(lexical_length) AS total_length FROM chunks WHERE `+notDeferred+` GROUP BY 1
		)
		SELECT count(*) FROM truth FULL JOIN (SELECT * FROM corpus_stats WHERE chunk_count <> 0 AND `+notDeferred+`) s USING (chunking_id)
		WHERE (truth.chunk_count, truth.total_length) IS DISTINCT FROM (s.chunk_count, s.total_length)`).Scan(&corpus)
	if err != nil {
		return 0, fmt.Errorf("check corpus statistics: %w", err)
	}
	return lexemes + tags + corpus, nil
}

// notDeferred is StatisticsMismatches' condition on a row's chunking_id.
const notDeferred = `chunking_id NOT IN (SELECT chunking_id FROM statistics_deferred)`

// CorpusVersion returns the counter the database bumps on every change to chunks (see
// corpus_version in the schema). Equal values mean no chunk changed in between.
func CorpusVersion(ctx context.Context, db DBTX) (int64, error) {
	var v int64
	if err := db.QueryRow(ctx, `SELECT version FROM corpus_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("corpus version: %w", err)
	}
	return v, nil
}

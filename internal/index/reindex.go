package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The rule that keeps a reindexed generation complete while ingestion goes on:
//
//   - ingestion writes vectors only for the generation it resolved at its start (the active
//     one), and every write transaction first takes the generation-writes lock in shared mode
//     and checks that this generation is still current (LockGenerationWrites);
//   - a reindex embeds every chunk of its chunking that has no vector in the new generation,
//     in passes, until none is left (MissingChunks); chunks that ingestion deletes take
//     their vectors with them (ON DELETE CASCADE);
//   - the cutover takes the same lock exclusively, embeds the chunks still missing inside
//     that transaction, and activates there (ActivateLocked): no ingest write can commit
//     between the last pass and the activation, and one that comes after finds its
//     generation retired and fails, to be redone by the next run against the new one.
//
// So at cutover the new generation has a vector for every chunk, and no later write can add a
// chunk without one.
const generationWritesLock = "docent.generation-writes"

// ErrGenerationRetired is returned to an ingest write whose generation is no longer the one
// queries use (a reindex cut over during the run).
var ErrGenerationRetired = errors.New("the index generation this run writes to was replaced (a reindex cut over): run again to write to the new one")

// LockGenerationWrites takes the generation-writes lock in shared mode for the rest of tx and
// checks that generation id may still be written: active, or the first building generation
// of a database that has no active one; or, with targeted (a rechunking reindex or activation,
// under the reindex lock, bringing the generation it is about to activate up to date), any
// generation with vectors. A reindex's cutover takes the lock exclusively.
func LockGenerationWrites(ctx context.Context, tx pgx.Tx, id int, targeted bool) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))`, generationWritesLock); err != nil {
		return fmt.Errorf("lock generation writes: %w", err)
	}
	var ok bool
	err := tx.QueryRow(ctx, `
		SELECT status = 'active' OR ($2 AND table_name IS NOT NULL)
		       OR (status = 'building' AND NOT EXISTS (SELECT FROM index_generations WHERE status = 'active'))
		FROM index_generations WHERE id = $1`, id, targeted).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		ok, err = false, nil
	}
	if err != nil {
		return fmt.Errorf("check generation %d: %w", id, err)
	}
	if !ok {
		return ErrGenerationRetired
	}
	return nil
}

// lockGenerationWritesExclusive waits for the ingest transactions in flight and keeps new
// ones out until tx ends.
func lockGenerationWritesExclusive(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, generationWritesLock); err != nil {
		return fmt.Errorf("lock generation writes: %w", err)
	}
	return nil
}

// BuildingGeneration returns the generation being built, or ErrNotFound.
func BuildingGeneration(ctx context.Context, db DBTX) (Generation, error) {
	g, err := scanGeneration(db.QueryRow(ctx, `SELECT `+generationColumns+` FROM index_generations WHERE status = 'building'`))
	if err != nil {
		return Generation{}, fmt.Errorf("building generation: %w", err)
	}
	return g, nil
}

// ChunkToEmbed is a chunk without a vector in a generation, with what its embedding text is
// made of.
type ChunkToEmbed struct {
	ID          int64
	Title       string
	HeadingPath []string
	Text        string
}

// MissingChunks returns up to limit chunks of g's chunking with id > after that have no
// vector in g, in id order.
func MissingChunks(ctx context.Context, db DBTX, g Generation, after int64, limit int) ([]ChunkToEmbed, error) {
	tbl, err := g.TableIdent()
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, `
		SELECT c.id, d.title, c.heading_path, c.text
		FROM chunks c JOIN documents d ON d.id = c.document_id
		WHERE c.chunking_id = $1 AND c.id > $2
		  AND NOT EXISTS (SELECT FROM `+tbl+` e WHERE e.chunk_id = c.id)
		ORDER BY c.id LIMIT $3`, g.ChunkingID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("chunks missing from generation %d: %w", g.ID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ChunkToEmbed, error) {
		var c ChunkToEmbed
		err := row.Scan(&c.ID, &c.Title, &c.HeadingPath, &c.Text)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("chunks missing from generation %d: %w", g.ID, err)
	}
	return out, nil
}

// Coverage counts the chunks of g's chunking and those with a vector in g.
func Coverage(ctx context.Context, db DBTX, g Generation) (chunks, embedded int64, err error) {
	tbl, err := g.TableIdent()
	if err != nil {
		return 0, 0, err
	}
	err = db.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM chunks WHERE chunking_id = $1),
		       (SELECT count(*) FROM `+tbl+` e JOIN chunks c ON c.id = e.chunk_id WHERE c.chunking_id = $1)`,
		g.ChunkingID).Scan(&chunks, &embedded)
	if err != nil {
		return 0, 0, fmt.Errorf("coverage of generation %d: %w", g.ID, err)
	}
	return chunks, embedded, nil
}

// WriteVectors stores the vectors of chunks ids in g inside tx and returns how many it
// wrote. The chunks are locked against deletion first (FOR KEY SHARE); those deleted
// meanwhile are skipped, so a concurrent ingest never makes the write fail.
func WriteVectors(ctx context.Context, tx pgx.Tx, g Generation, ids []int64, vecs [][]float32) (int64, error) {
	if len(ids) != len(vecs) {
		return 0, fmt.Errorf("write vectors: %d chunks, %d vectors", len(ids), len(vecs))
	}
	// The embeddings trigger takes the documents FOR SHARE; take them first, in id order,
	// then the chunks, so that this transaction waits for an ingest write rather than holds
	// half of what it needs.
	if _, err := tx.Exec(ctx, `
		SELECT FROM documents WHERE id IN (SELECT document_id FROM chunks WHERE id = ANY($1))
		ORDER BY id FOR SHARE`, ids); err != nil {
		return 0, fmt.Errorf("lock documents: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT id FROM chunks WHERE id = ANY($1) ORDER BY id FOR KEY SHARE`, ids)
	if err != nil {
		return 0, fmt.Errorf("lock chunks: %w", err)
	}
	alive, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("lock chunks: %w", err)
	}
	keep := make(map[int64]bool, len(alive))
	for _, id := range alive {
		keep[id] = true
	}
	out := make([][]any, 0, len(alive))
	for i, id := range ids {
		if !keep[id] {
			continue
		}
		if len(vecs[i]) != g.Dimension {
			return 0, fmt.Errorf("write vectors: chunk %d has %d dimensions, generation %d has %d", id, len(vecs[i]), g.ID, g.Dimension)
		}
		out = append(out, []any{id, vectorValue(g, vecs[i])})
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{g.Table}, []string{"chunk_id", "embedding"}, pgx.CopyFromRows(out))
	if err != nil {
		return 0, fmt.Errorf("copy vectors of generation %d: %w", g.ID, err)
	}
	return n, nil
}

// ActivateLocked activates generation id inside tx as Activate does, after taking the
// generation-writes lock exclusively (no ingest write commits meanwhile) and running
// catchUp, which must give every chunk still missing a vector (see the rule above). It
// returns what catchUp wrote.
func ActivateLocked(ctx context.Context, tx pgx.Tx, id int, catchUp func(tx pgx.Tx, g Generation) (int64, error)) (int64, error) {
	if err := lockGenerationWritesExclusive(ctx, tx); err != nil {
		return 0, err
	}
	g, err := scanGeneration(tx.QueryRow(ctx, `SELECT `+generationColumns+` FROM index_generations WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return 0, fmt.Errorf("activate generation %d: %w", id, err)
	}
	if g.Status == StatusActive {
		return 0, nil
	}
	var n int64
	if catchUp != nil && g.Table != "" {
		if n, err = catchUp(tx, g); err != nil {
			return 0, err
		}
	}
	return n, activate(ctx, tx, g)
}

// SizeBytes is the disk size of g's embeddings table with its indexes (0 once dropped).
func (g Generation) SizeBytes(ctx context.Context, db DBTX) (int64, error) {
	if g.Table == "" {
		return 0, nil
	}
	var n int64
	if err := db.QueryRow(ctx, `SELECT coalesce(pg_total_relation_size(to_regclass($1)), 0)`, g.Table).Scan(&n); err != nil {
		return 0, fmt.Errorf("size of generation %d: %w", g.ID, err)
	}
	return n, nil
}

// Generations returns every generation, newest first.
func Generations(ctx context.Context, db DBTX) ([]Generation, error) {
	rows, err := db.Query(ctx, `SELECT `+generationColumns+` FROM index_generations ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list generations: %w", err)
	}
	gens, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Generation, error) { return scanGeneration(row) })
	if err != nil {
		return nil, fmt.Errorf("list generations: %w", err)
	}
	return gens, nil
}

// Eval is one run of a reindex's evaluation gate: the same queries against a baseline (the
// active generation) and a candidate.
type Eval struct {
	ID           int64          `json:"id"`
	GenerationID int            `json:"generation_id"`
	BaselineID   int            `json:"baseline_id"`
	Dataset      string         `json:"dataset"`
	Queries      int            `json:"queries"`
	NDCG         float64        `json:"ndcg_at_10"`
	BaselineNDCG float64        `json:"baseline_ndcg_at_10"`
	Tolerance    float64        `json:"tolerance"`
	Passed       bool           `json:"passed"`
	Forced       bool           `json:"forced"`
	Details      map[string]any `json:"details"`
	CreatedAt    time.Time      `json:"created_at"`
}

// RecordEval stores e and returns its id.
func RecordEval(ctx context.Context, db DBTX, e Eval) (int64, error) {
	details, err := json.Marshal(nonNilMap(e.Details))
	if err != nil {
		return 0, fmt.Errorf("encode evaluation details: %w", err)
	}
	var id int64
	err = db.QueryRow(ctx, `
		INSERT INTO generation_evals (generation_id, baseline_id, dataset, queries, ndcg_at_10, baseline_ndcg_at_10,
		                              tolerance, passed, forced, details)
		VALUES ($1, nullif($2, 0), $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		e.GenerationID, e.BaselineID, e.Dataset, e.Queries, e.NDCG, e.BaselineNDCG, e.Tolerance, e.Passed, e.Forced, details).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record evaluation: %w", err)
	}
	return id, nil
}

// LatestEvals returns the newest evaluation of each generation that has one.
func LatestEvals(ctx context.Context, db DBTX) (map[int]Eval, error) {
	rows, err := db.Query(ctx, `
		SELECT DISTINCT ON (generation_id) id, generation_id, coalesce(baseline_id, 0), dataset, queries, ndcg_at_10,
		       coalesce(baseline_ndcg_at_10, 0), tolerance, passed, forced, details, created_at
		FROM generation_evals ORDER BY generation_id, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list evaluations: %w", err)
	}
	evals, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Eval, error) {
		var e Eval
		err := row.Scan(&e.ID, &e.GenerationID, &e.BaselineID, &e.Dataset, &e.Queries, &e.NDCG, &e.BaselineNDCG,
			&e.Tolerance, &e.Passed, &e.Forced, &e.Details, &e.CreatedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list evaluations: %w", err)
	}
	out := make(map[int]Eval, len(evals))
	for _, e := range evals {
		out[e.GenerationID] = e
	}
	return out, nil
}

// DropGeneration drops generation id's embeddings table: a retired one, or an unfinished
// building one (abandoned: it is marked retired). The active generation cannot be dropped.
func DropGeneration(ctx context.Context, db Beginner, id int) error {
	return InTx(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT docent_drop_embedding_table($1)`, id); err != nil {
			return fmt.Errorf("drop generation %d: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE index_generations SET status = 'retired', retired_at = coalesce(retired_at, now())
			WHERE id = $1 AND status = 'building'`, id); err != nil {
			return fmt.Errorf("drop generation %d: %w", id, err)
		}
		return nil
	})
}

// VisibleTags returns every permission tag that some chunk of the chunking carries: the
// principals of a caller who sees everything (the evaluation gate).
func VisibleTags(ctx context.Context, db DBTX, chunkingID int) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT tag FROM acl_stats WHERE chunking_id = $1 AND chunk_count > 0 ORDER BY tag`, chunkingID)
	if err != nil {
		return nil, fmt.Errorf("tags of chunking %d: %w", chunkingID, err)
	}
	tags, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("tags of chunking %d: %w", chunkingID, err)
	}
	return tags, nil
}

// DocumentURIs returns the URIs of documents ids.
func DocumentURIs(ctx context.Context, db DBTX, ids []int64) (map[int64]string, error) {
	rows, err := db.Query(ctx, `SELECT id, uri FROM documents WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("document URIs: %w", err)
	}
	out := map[int64]string{}
	var id int64
	var uri string
	_, err = pgx.ForEachRow(rows, []any{&id, &uri}, func() error {
		out[id] = uri
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("document URIs: %w", err)
	}
	return out, nil
}

// ReindexLock is the held lock of a reindex (or activation): one at a time.
type ReindexLock struct{ l *SourceLock }

// LockReindex takes the reindex lock without waiting; ErrLocked when another process holds it.
func LockReindex(ctx context.Context, pool *pgxpool.Pool) (*ReindexLock, error) {
	l, ok, err := tryLock(ctx, pool, "docent.reindex")
	if err != nil {
		return nil, fmt.Errorf("lock reindex: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("another reindex or activation is running: %w", ErrLocked)
	}
	return &ReindexLock{l: l}, nil
}

// Unlock releases the lock. Safe on nil.
func (l *ReindexLock) Unlock(ctx context.Context) error {
	if l == nil {
		return nil
	}
	return l.l.Unlock(ctx)
}

// Source is an ingestion source with the folders and settings of its latest run.
type Source struct {
	ID      int64
	Name    string
	Roots   []string
	Options json.RawMessage
}

// RecordSourceConfig stores the folders and settings of a source's run (see Sources).
func RecordSourceConfig(ctx context.Context, db DBTX, sourceID int64, roots []string, options any) error {
	raw, err := json.Marshal(options)
	if err != nil {
		return fmt.Errorf("encode source options: %w", err)
	}
	if _, err := db.Exec(ctx, `UPDATE sources SET roots = $2, options = $3, updated_at = now() WHERE id = $1`,
		sourceID, nonNilSlice(roots), raw); err != nil {
		return fmt.Errorf("record source configuration: %w", err)
	}
	return nil
}

// Sources returns every source that has documents, by name.
func Sources(ctx context.Context, db DBTX) ([]Source, error) {
	rows, err := db.Query(ctx, `
		SELECT s.id, s.name, s.roots, s.options FROM sources s
		WHERE EXISTS (SELECT FROM documents d WHERE d.source_id = s.id) ORDER BY s.name`)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Source, error) {
		var s Source
		err := row.Scan(&s.ID, &s.Name, &s.Roots, &s.Options)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	return out, nil
}

// ChunkingConfig returns the configuration a chunking was made with and its text search
// configuration.
func ChunkingConfig(ctx context.Context, db DBTX, id int) (json.RawMessage, string, error) {
	var raw json.RawMessage
	var ts string
	err := db.QueryRow(ctx, `SELECT config, ts_config::text FROM chunkings WHERE id = $1`, id).Scan(&raw, &ts)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", fmt.Errorf("chunking %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("chunking %d: %w", id, err)
	}
	return raw, ts, nil
}

// DropUnusedChunks deletes the chunks (and what is recorded of them) of every chunking that
// no generation with vectors uses any more: after a rechunking reindex and the gc of the
// generations of the old chunking. It returns the chunks deleted.
func DropUnusedChunks(ctx context.Context, db Beginner) (int64, error) {
	var n int64
	err := InTx(ctx, db, func(tx pgx.Tx) error {
		const unused = `SELECT id FROM chunkings WHERE id NOT IN (SELECT chunking_id FROM index_generations WHERE table_name IS NOT NULL)`
		tag, err := tx.Exec(ctx, `DELETE FROM chunks WHERE chunking_id IN (`+unused+`)`)
		if err != nil {
			return fmt.Errorf("drop unused chunks: %w", err)
		}
		n = tag.RowsAffected()
		if _, err := tx.Exec(ctx, `DELETE FROM document_chunkings WHERE chunking_id IN (`+unused+`)`); err != nil {
			return fmt.Errorf("drop unused chunks: %w", err)
		}
		return nil
	})
	return n, err
}

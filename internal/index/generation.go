package index

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Generation statuses.
const (
	StatusBuilding = "building"
	StatusActive   = "active"
	StatusRetired  = "retired"
)

// Distances between vectors, with pgvector's operator for each.
const (
	DistanceCosine       = "cosine"        // <=>
	DistanceL2           = "l2"            // <->
	DistanceInnerProduct = "inner_product" // <#>
)

// Generation is one embedding of one chunking: which embedder and model produced the
// vectors, their dimension, and where they are stored.
type Generation struct {
	ID                 int
	ChunkingID         int
	Embedder           string
	Model              string
	Dimension          int
	Distance           string
	HNSWM              int
	HNSWEfConstruction int
	Table              string // embeddings table; empty once dropped
	Status             string
	CreatedAt          time.Time
	IndexBuiltAt       *time.Time
	ActivatedAt        *time.Time
	RetiredAt          *time.Time
}

// VectorType is the pgvector column type of the generation's embeddings: halfvec above the
// 2,000 dimensions an HNSW index accepts for vector.
func (g Generation) VectorType() string {
	if g.Dimension > 2000 {
		return "halfvec"
	}
	return "vector"
}

// DistanceOperator is the pgvector operator that orders by this generation's distance and
// that its HNSW index serves.
func (g Generation) DistanceOperator() string {
	switch g.Distance {
	case DistanceL2:
		return "<->"
	case DistanceInnerProduct:
		return "<#>"
	default:
		return "<=>"
	}
}

// TableIdent is the embeddings table as a quoted SQL identifier, for the queries that must
// name it (a table cannot be a bind parameter).
func (g Generation) TableIdent() (string, error) {
	if g.Table == "" {
		return "", fmt.Errorf("generation %d has no embeddings table", g.ID)
	}
	return pgx.Identifier{g.Table}.Sanitize(), nil
}

// The HNSW build parameters of a new generation unless its spec says otherwise, the same as
// the schema's column defaults (migrations/00003_hnsw_build_defaults.sql).
const (
	DefaultHNSWM              = 24
	DefaultHNSWEfConstruction = 128
)

// SmallCorpusChunks is the size below which a generation's HNSW index is not worth building:
// every caller then sees fewer chunks than the retriever's exact-scan threshold (20,000 by
// default), so queries scan exactly and never use the graph. The first ingest of a smaller
// corpus activates its generation without the index (ActivateWithoutIndex), and the ingest
// run that takes the corpus past this size builds it.
const SmallCorpusChunks = 20_000

// ChunkCount is the number of chunks of a chunking (from the statistics the triggers keep).
func ChunkCount(ctx context.Context, db DBTX, chunkingID int) (int64, error) {
	var n int64
	if err := db.QueryRow(ctx, `SELECT coalesce((SELECT chunk_count FROM corpus_stats WHERE chunking_id = $1), 0)`, chunkingID).Scan(&n); err != nil {
		return 0, fmt.Errorf("chunks of chunking %d: %w", chunkingID, err)
	}
	return n, nil
}

// GenerationSpec describes a generation to create.
type GenerationSpec struct {
	ChunkingID int
	Embedder   string
	Model      string
	Dimension  int
	Distance   string // default cosine
	// HNSW build parameters; default m 24 and ef_construction 128 (migration 00003 says why).
	HNSWM              int
	HNSWEfConstruction int
}

func (s *GenerationSpec) validate() error {
	switch {
	case s.ChunkingID <= 0:
		return errors.New("generation spec: ChunkingID is required")
	case s.Embedder == "":
		return errors.New("generation spec: Embedder is required")
	case s.Model == "":
		return errors.New("generation spec: Model is required")
	case s.Dimension < 1 || s.Dimension > 4000:
		return fmt.Errorf("generation spec: Dimension %d is outside 1..4000 (pgvector's HNSW limit for halfvec)", s.Dimension)
	}
	switch s.Distance {
	case DistanceCosine, DistanceL2, DistanceInnerProduct:
	default:
		return fmt.Errorf("generation spec: unknown Distance %q", s.Distance)
	}
	return nil
}

const generationColumns = `id, chunking_id, embedder, model, dimension, distance, hnsw_m, hnsw_ef_construction,
	coalesce(table_name, ''), status, created_at, index_built_at, activated_at, retired_at`

func scanGeneration(row pgx.Row) (Generation, error) {
	var g Generation
	err := row.Scan(&g.ID, &g.ChunkingID, &g.Embedder, &g.Model, &g.Dimension, &g.Distance, &g.HNSWM,
		&g.HNSWEfConstruction, &g.Table, &g.Status, &g.CreatedAt, &g.IndexBuiltAt, &g.ActivatedAt, &g.RetiredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Generation{}, ErrNotFound
	}
	return g, err
}

// CreateGeneration records a new building generation and creates its embeddings table (without
// the HNSW index; see BuildVectorIndex). Run it in a transaction so that both happen or neither.
func CreateGeneration(ctx context.Context, db DBTX, spec GenerationSpec) (Generation, error) {
	spec.Distance = cmp.Or(spec.Distance, DistanceCosine)
	spec.HNSWM = cmp.Or(spec.HNSWM, DefaultHNSWM)
	spec.HNSWEfConstruction = cmp.Or(spec.HNSWEfConstruction, DefaultHNSWEfConstruction)
	if err := spec.validate(); err != nil {
		return Generation{}, err
	}
	var id int
	err := db.QueryRow(ctx, `
		INSERT INTO index_generations (chunking_id, embedder, model, dimension, distance, hnsw_m, hnsw_ef_construction)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		spec.ChunkingID, spec.Embedder, spec.Model, spec.Dimension, spec.Distance, spec.HNSWM, spec.HNSWEfConstruction,
	).Scan(&id)
	if err != nil {
		return Generation{}, fmt.Errorf("insert generation: %w", err)
	}
	if _, err := db.Exec(ctx, `SELECT docent_create_embedding_table($1)`, id); err != nil {
		return Generation{}, fmt.Errorf("create embeddings table of generation %d: %w", id, err)
	}
	return GetGeneration(ctx, db, id)
}

// GetGeneration returns the generation with the given id, or ErrNotFound.
func GetGeneration(ctx context.Context, db DBTX, id int) (Generation, error) {
	g, err := scanGeneration(db.QueryRow(ctx, `SELECT `+generationColumns+` FROM index_generations WHERE id = $1`, id))
	if err != nil {
		return Generation{}, fmt.Errorf("get generation %d: %w", id, err)
	}
	return g, nil
}

// ActiveGeneration returns the generation that queries use, or ErrNotFound when there is none.
func ActiveGeneration(ctx context.Context, db DBTX) (Generation, error) {
	g, err := scanGeneration(db.QueryRow(ctx, `SELECT `+generationColumns+` FROM index_generations WHERE status = 'active'`))
	if err != nil {
		return Generation{}, fmt.Errorf("active generation: %w", err)
	}
	return g, nil
}

// BuildVectorIndex builds the generation's HNSW index (a no-op when it exists). It is slow on
// a large table: build it once after a bulk load rather than maintaining it row by row.
//
// When db can begin a transaction (a pool, a connection or a transaction), the build runs in
// one whose maintenance_work_mem is raised (SET LOCAL) to what the graph of the table's
// vectors needs (VectorIndexMemory), never lowered below the server's setting: pgvector builds
// about ten times slower once the graph stops fitting ("hnsw graph no longer fits into
// maintenance_work_mem"), which the 2 GB of scripts/postgresql.conf did past about 800,000
// vectors of 384 dimensions. SET LOCAL lasts for that transaction only, so the setting works
// through a transaction-mode pooler too and never leaks into a pooled connection.
func BuildVectorIndex(ctx context.Context, db DBTX, id int) error {
	b, ok := db.(Beginner)
	if !ok {
		return buildVectorIndex(ctx, db, id)
	}
	return InTx(ctx, b, func(tx pgx.Tx) error {
		var dim, m int
		var vectors int64
		// reltuples is the planner's row count (-1 before the first analyze); the count of
		// the generation's chunking, kept by the triggers, is exact and cheap.
		if err := tx.QueryRow(ctx, `
			SELECT g.dimension, g.hnsw_m, coalesce((SELECT chunk_count FROM corpus_stats s WHERE s.chunking_id = g.chunking_id), 0)
			FROM index_generations g WHERE g.id = $1`, id).Scan(&dim, &m, &vectors); err != nil {
			return fmt.Errorf("build vector index of generation %d: %w", id, err)
		}
		if err := raiseBuildMemory(ctx, tx, vectors, dim, m); err != nil {
			return fmt.Errorf("build vector index of generation %d: %w", id, err)
		}
		return buildVectorIndex(ctx, tx, id)
	})
}

// raiseBuildMemory raises maintenance_work_mem for the rest of transaction tx (SET LOCAL) to
// what the HNSW graph of vectors vectors needs (VectorIndexMemory), never below the server's
// setting.
func raiseBuildMemory(ctx context.Context, tx pgx.Tx, vectors int64, dim, m int) error {
	var current int64 // kB
	if err := tx.QueryRow(ctx, `SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'`).Scan(&current); err != nil {
		return fmt.Errorf("read maintenance_work_mem: %w", err)
	}
	if need := VectorIndexMemory(vectors, dim, m) >> 10; need > current {
		// SET cannot take a bind parameter; need is an integer computed here.
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL maintenance_work_mem = '%dkB'", need)); err != nil {
			return fmt.Errorf("set maintenance_work_mem: %w", err)
		}
	}
	return nil
}

func buildVectorIndex(ctx context.Context, db DBTX, id int) error {
	if _, err := db.Exec(ctx, `SELECT docent_create_vector_index($1)`, id); err != nil {
		return fmt.Errorf("build vector index of generation %d: %w", id, err)
	}
	return nil
}

// MaxVectorIndexMemory bounds the maintenance_work_mem BuildVectorIndex asks for: 8 GiB, the
// graph of about 2.5 million 384-dimension vectors. A larger corpus's build spills (slower, not
// failing); an operator who has the memory raises maintenance_work_mem on the server, which
// BuildVectorIndex never lowers.
const MaxVectorIndexMemory = 8 << 30

// VectorIndexMemory is the memory, in bytes, that pgvector's build of the HNSW graph of
// vectors vectors of dim dimensions with m neighbours needs to keep the graph in memory: per
// node its vector (4 bytes a value; halfvec above 2,000 dimensions, 2), a layer-0 neighbour
// list of 2·m candidates of 16 bytes, its upper layers (about 1/m of that again) and
// pgvector's element header, plus a quarter for the allocator's overhead; at least 64 MiB and
// at most MaxVectorIndexMemory. Measured: 1,000,000 384-dimension vectors, m 24: see
// docs/benchmarks.md ("Retrieval at 1M chunks").
func VectorIndexMemory(vectors int64, dim, m int) int64 {
	perValue := int64(4)
	if dim > 2000 {
		perValue = 2
	}
	node := int64(dim)*perValue + 8 + int64(2*m)*16*(int64(m)+1)/int64(max(m, 1)) + 128
	return min(max(vectors*node*5/4, 64<<20), MaxVectorIndexMemory)
}

// Activate makes generation id the active one and retires the previously active one, in one
// transaction: queries see either the old or the new generation, never neither. Servers are
// told through NOTIFY docent_generations.
func Activate(ctx context.Context, db Beginner, id int) error {
	return InTx(ctx, db, func(tx pgx.Tx) error {
		g, err := scanGeneration(tx.QueryRow(ctx, `SELECT `+generationColumns+` FROM index_generations WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return fmt.Errorf("activate generation %d: %w", id, err)
		}
		if g.Status == StatusActive {
			return nil
		}
		return activate(ctx, tx, g)
	})
}

// ActivateWithoutIndex activates generation id like Activate, without its vector index, when
// its chunking has fewer than below chunks (SmallCorpusChunks, unless configured otherwise:
// queries scan it exactly).
func ActivateWithoutIndex(ctx context.Context, db Beginner, id int, below int64) error {
	return InTx(ctx, db, func(tx pgx.Tx) error {
		g, err := scanGeneration(tx.QueryRow(ctx, `SELECT `+generationColumns+` FROM index_generations WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return fmt.Errorf("activate generation %d: %w", id, err)
		}
		n, err := ChunkCount(ctx, tx, g.ChunkingID)
		if err != nil {
			return err
		}
		if n >= below {
			return fmt.Errorf("activate generation %d: %d chunks need the vector index", id, n)
		}
		if g.Status == StatusActive {
			return nil
		}
		return activateUnindexed(ctx, tx, g)
	})
}

// activate retires the active generation and activates g (locked FOR UPDATE by the caller).
func activate(ctx context.Context, tx pgx.Tx, g Generation) error {
	if g.IndexBuiltAt == nil {
		return fmt.Errorf("activate generation %d: its vector index is not built", g.ID)
	}
	return activateUnindexed(ctx, tx, g)
}

func activateUnindexed(ctx context.Context, tx pgx.Tx, g Generation) error {
	if g.Table == "" {
		return fmt.Errorf("activate generation %d: its embeddings were dropped", g.ID)
	}
	deferred, err := StatisticsDeferred(ctx, tx, g.ChunkingID)
	if err != nil {
		return err
	}
	if deferred { // its lexical leg would find nothing: run the ingestion again to complete them
		return fmt.Errorf("activate generation %d: the statistics of its chunking %d are not computed yet (an ingestion run ended before it completed them): %w",
			g.ID, g.ChunkingID, ErrStatisticsDeferred)
	}
	if _, err := tx.Exec(ctx, `
		UPDATE index_generations SET status = 'retired', retired_at = now()
		WHERE status = 'active'`); err != nil {
		return fmt.Errorf("retire active generation: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		UPDATE index_generations SET status = 'active', activated_at = now(), retired_at = NULL
		WHERE id = $1`, g.ID); err != nil {
		return fmt.Errorf("activate generation %d: %w", g.ID, err)
	}
	return nil
}

// EnsureChunking returns the id of the chunking with this configuration and text search
// configuration, creating it if needed. config is any JSON-encodable value; its canonical
// encoding (Go's encoding/json sorts map keys and keeps struct field order) is hashed.
func EnsureChunking(ctx context.Context, db DBTX, config any, tsConfig string) (int, error) {
	hash, raw, err := chunkingHash(config, tsConfig)
	if err != nil {
		return 0, err
	}
	// A concurrent insert of the same chunking can make both halves of the statement miss
	// (ON CONFLICT waits for it, the SELECT's snapshot predates it): ask again.
	for range 2 {
		var id int
		err = db.QueryRow(ctx, `
			WITH ins AS (
				INSERT INTO chunkings (config_hash, config, ts_config) VALUES ($1, $2, $3::regconfig)
				ON CONFLICT (config_hash) DO NOTHING RETURNING id
			)
			SELECT id FROM ins UNION ALL SELECT id FROM chunkings WHERE config_hash = $1
			LIMIT 1`, hash, raw, tsConfig).Scan(&id)
		if !errors.Is(err, pgx.ErrNoRows) {
			if err != nil {
				return 0, fmt.Errorf("ensure chunking: %w", err)
			}
			return id, nil
		}
	}
	return 0, fmt.Errorf("ensure chunking: %w", err)
}

// MismatchError says that the active generation was built with another embedder, model,
// dimension or chunking than the one configured: writing with the configured one would mix
// incomparable vectors in one index.
type MismatchError struct {
	Active Generation
	Want   GenerationSpec
}

func (e *MismatchError) Error() string {
	a, w := e.Active, e.Want
	var diffs []string
	if a.Embedder != w.Embedder || a.Model != w.Model {
		diffs = append(diffs, fmt.Sprintf("embedder %s:%s, configured %s:%s", a.Embedder, a.Model, w.Embedder, w.Model))
	}
	if a.Dimension != w.Dimension {
		diffs = append(diffs, fmt.Sprintf("%d dimensions, configured %d", a.Dimension, w.Dimension))
	}
	if a.ChunkingID != w.ChunkingID {
		diffs = append(diffs, "other chunking settings (changed by the configuration or by an upgrade of Docent)")
	}
	return fmt.Sprintf("the %s index generation %d was built with %s: rebuild the index with `ingest reindex`, or go back to the configuration it was built with",
		a.Status, a.ID, strings.Join(diffs, "; "))
}

// matches reports whether generation g was built as spec describes.
func (g Generation) matches(spec GenerationSpec) bool {
	return g.Embedder == spec.Embedder && g.Model == spec.Model && g.Dimension == spec.Dimension && g.ChunkingID == spec.ChunkingID
}

// IngestGeneration returns the generation ingestion writes to: the active one when it
// matches spec (a *MismatchError when it does not); otherwise, on a database that has never
// had an active generation, the building generation of the first ingestion, created if
// needed. The caller builds that one's vector index and activates it when its run ends.
// Concurrent callers serialise on a transaction advisory lock.
func IngestGeneration(ctx context.Context, db Beginner, spec GenerationSpec) (Generation, error) {
	var g Generation
	err := InTx(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('docent.generations', 0))`); err != nil {
			return fmt.Errorf("lock generations: %w", err)
		}
		active, err := ActiveGeneration(ctx, tx)
		switch {
		case err == nil:
			if !active.matches(spec) {
				return &MismatchError{Active: active, Want: spec}
			}
			g = active
			return nil
		case !errors.Is(err, ErrNotFound):
			return err
		}
		building, err := scanGeneration(tx.QueryRow(ctx, `SELECT `+generationColumns+` FROM index_generations WHERE status = 'building'`))
		switch {
		case err == nil:
			if !building.matches(spec) {
				return &MismatchError{Active: building, Want: spec}
			}
			g = building
			return nil
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("building generation: %w", err)
		}
		g, err = CreateGeneration(ctx, tx, spec)
		return err
	})
	return g, err
}

// FindChunking returns the id of the chunking with this configuration, or ErrNotFound. It
// creates nothing (for dry runs).
func FindChunking(ctx context.Context, db DBTX, config any, tsConfig string) (int, error) {
	hash, _, err := chunkingHash(config, tsConfig)
	if err != nil {
		return 0, err
	}
	var id int
	err = db.QueryRow(ctx, `SELECT id FROM chunkings WHERE config_hash = $1`, hash).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("chunking: %w", ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("find chunking: %w", err)
	}
	return id, nil
}

// chunkingHash returns the identity of a chunking configuration and its JSON.
func chunkingHash(config any, tsConfig string) (string, []byte, error) {
	raw, err := json.Marshal(config)
	if err != nil {
		return "", nil, fmt.Errorf("encode chunking config: %w", err)
	}
	sum := sha256.Sum256(append(raw, "\x00"+tsConfig...))
	return hex.EncodeToString(sum[:]), raw, nil
}

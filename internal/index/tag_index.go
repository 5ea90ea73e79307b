package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Partial HNSW indexes per large tag (migration 00019).
//
// The shared HNSW graph serves a caller who sees most of the corpus, and an exact scan one
// who sees few chunks. A caller whose tags open a large group that is still a small share of
// the corpus is served by neither: a walk of the shared graph discards the candidates the
// caller cannot see, and an exact scan reads the whole group. BuildTagVectorIndexes gives each
// such tag a graph of its own (an HNSW index of the generation's embeddings WHERE the row
// carries the tag), which the retriever walks for a caller who has the tag (Nearest with
// VectorQuery.Tag).

// Defaults of TagIndexOptions.
const (
	// DefaultTagIndexMinChunks is the fewest chunks a tag's graph is built for: below it the
	// retriever scans a caller's chunks exactly (retrieve.Config.ExactScanBelow).
	DefaultTagIndexMinChunks = SmallCorpusChunks
	// DefaultTagIndexMaxShare is the largest share of the chunking a tag's graph is built
	// for: a caller who sees more walks the shared graph with a candidate list of EfSearch
	// divided by the share, at most four times the unrestricted caller's, and a graph of a
	// quarter of the corpus would cost a quarter of the shared graph's build again.
	DefaultTagIndexMaxShare = 0.25
	// DefaultTagIndexMaxTags bounds the graphs of a generation, the largest tags first: each
	// costs its build and about its share of the shared graph's memory.
	DefaultTagIndexMaxTags = 16
	// DefaultTagHNSWM and DefaultTagHNSWEfConstruction are a tag graph's build parameters:
	// denser than the shared graph's (a tag's graph is a fraction of its size), for the
	// recall a filtered caller needs at a short candidate list. At a million chunks, m 48
	// reached recall@10 0.959 at a list of 300 where m 32 needed 500 for 0.952 (the walk
	// 35 against 40 ms), for 261 MB and 6 min 14 s of build against 203 MB and 3 min 41 s
	// for 100,000 vectors (docs/benchmarks.md, "Graphs per large tag" and "The lexical tail
	// at a million").
	DefaultTagHNSWM              = 48
	DefaultTagHNSWEfConstruction = 256
)

// TagIndexOptions chooses the tags of a generation that get a graph of their own, and how it
// is built. The zero value takes the defaults.
type TagIndexOptions struct {
	MinChunks      int64   // default DefaultTagIndexMinChunks
	MaxShare       float64 // of the chunking's chunks; default DefaultTagIndexMaxShare
	MaxTags        int     // default DefaultTagIndexMaxTags; negative: none
	M              int     // default DefaultTagHNSWM
	EfConstruction int     // default DefaultTagHNSWEfConstruction
}

func (o TagIndexOptions) withDefaults() TagIndexOptions {
	o.MinChunks = cmp.Or(o.MinChunks, DefaultTagIndexMinChunks)
	o.MaxShare = cmp.Or(o.MaxShare, DefaultTagIndexMaxShare)
	o.MaxTags = cmp.Or(o.MaxTags, DefaultTagIndexMaxTags)
	o.M = cmp.Or(o.M, DefaultTagHNSWM)
	o.EfConstruction = cmp.Or(o.EfConstruction, DefaultTagHNSWEfConstruction)
	return o
}

// TagVectorIndex is a tag's graph in a generation.
type TagVectorIndex struct {
	Tag    string
	Index  string // the index's name
	Chunks int64  // chunks carrying the tag when it was built
	Took   time.Duration
}

// BuildTagVectorIndexes builds the graphs of generation id's tags that the options call for
// and that it does not have yet, the largest tags first, each in a transaction of its own
// (with maintenance_work_mem raised for its graph, as BuildVectorIndex does), and returns
// those it built. progress, when not nil, is called before each build with the tag's chunks,
// and after it. A generation without its shared graph (a small corpus) gets none: its
// callers scan exactly.
//
// A build blocks writes to the generation's embeddings (not reads) while it runs, as the
// shared graph's build does; ingestion calls it at the end of a run.
func BuildTagVectorIndexes(ctx context.Context, db Beginner, id int, opt TagIndexOptions, progress func(t TagVectorIndex, done bool)) ([]TagVectorIndex, error) {
	opt = opt.withDefaults()
	if opt.MaxTags < 0 {
		return nil, nil
	}
	if opt.M < 2 || opt.M > 100 || opt.EfConstruction < 2*opt.M || opt.EfConstruction > 1000 {
		return nil, fmt.Errorf("tag vector indexes: m %d and ef_construction %d: want m from 2 to 100 and ef_construction from 2·m to 1000", opt.M, opt.EfConstruction)
	}
	var todo []TagVectorIndex
	var dim int
	err := InTx(ctx, db, func(tx pgx.Tx) error {
		var built bool
		if err := tx.QueryRow(ctx, `SELECT dimension, index_built_at IS NOT NULL AND table_name IS NOT NULL FROM index_generations WHERE id = $1`, id).Scan(&dim, &built); err != nil {
			return err
		}
		if !built {
			return nil
		}
		rows, err := tx.Query(ctx, `
			SELECT s.tag, s.chunk_count
			FROM index_generations g
			JOIN corpus_stats c ON c.chunking_id = g.chunking_id
			JOIN acl_stats s ON s.chunking_id = g.chunking_id
			WHERE g.id = $1 AND s.chunk_count >= $2 AND s.chunk_count <= $3::float8 * c.chunk_count
			  AND NOT EXISTS (SELECT FROM tag_vector_indexes t WHERE t.generation_id = g.id AND t.tag = s.tag)
			ORDER BY s.chunk_count DESC, s.tag
			LIMIT greatest($4 - (SELECT count(*) FROM tag_vector_indexes t WHERE t.generation_id = $1), 0)`,
			id, opt.MinChunks, opt.MaxShare, opt.MaxTags)
		if err != nil {
			return err
		}
		todo, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (TagVectorIndex, error) {
			var t TagVectorIndex
			err := row.Scan(&t.Tag, &t.Chunks)
			return t, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tag vector indexes of generation %d: %w", id, err)
	}
	var done []TagVectorIndex
	for _, t := range todo {
		if progress != nil {
			progress(t, false)
		}
		start := time.Now()
		var name *string
		err := InTx(ctx, db, func(tx pgx.Tx) error {
			if err := raiseBuildMemory(ctx, tx, t.Chunks, dim, opt.M); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT docent_create_tag_vector_index($1, $2, $3, $4)`, id, t.Tag, opt.M, opt.EfConstruction).Scan(&name)
		})
		if err != nil {
			return done, fmt.Errorf("vector index of tag %q of generation %d: %w", t.Tag, id, err)
		}
		if name == nil { // another tag's index has its name: the tag keeps the shared graph
			continue
		}
		t.Index, t.Took = *name, time.Since(start)
		if progress != nil {
			progress(t, true)
		}
		done = append(done, t)
	}
	return done, nil
}

// LogTagVectorIndexBuilds returns a progress function for BuildTagVectorIndexes that logs the
// start and the end of each build of generation id's graphs, each message after prefix.
func LogTagVectorIndexBuilds(logger *slog.Logger, prefix string, id int) func(TagVectorIndex, bool) {
	return func(t TagVectorIndex, done bool) {
		if done {
			logger.Info(prefix+"built the vector index of a large tag", "generation", id, "tag", t.Tag, "chunks", t.Chunks,
				"took", t.Took.Round(time.Millisecond).String())
			return
		}
		logger.Info(prefix+"building the vector index of a large tag", "generation", id, "tag", t.Tag, "chunks", t.Chunks)
	}
}

// TagVectorIndexes returns the graphs of generation id, the largest tags first.
func TagVectorIndexes(ctx context.Context, db DBTX, id int) ([]TagVectorIndex, error) {
	rows, err := db.Query(ctx, `SELECT tag, index_name, chunks FROM tag_vector_indexes WHERE generation_id = $1 ORDER BY chunks DESC, tag`, id)
	if err != nil {
		return nil, fmt.Errorf("tag vector indexes of generation %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TagVectorIndex, error) {
		var t TagVectorIndex
		err := row.Scan(&t.Tag, &t.Index, &t.Chunks)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("tag vector indexes of generation %d: %w", id, err)
	}
	return out, nil
}

// CallerTag is one of a caller's tags as the dense leg's plan sees it.
type CallerTag struct {
	Tag     string
	Chunks  int64 // chunks of the chunking carrying it
	Indexed bool  // the generation has a graph of its own for it
}

// CallerView is what the dense leg's plan knows of a caller: the chunking's size and the
// caller's tags that chunks carry.
type CallerView struct {
	Total int64
	Tags  []CallerTag
}

// Visible estimates how many chunks the caller can see: the sum of its tags' chunks, which
// overcounts chunks carrying several of them, capped at the chunking's size.
func (v CallerView) Visible() int64 {
	var n int64
	for _, t := range v.Tags {
		n += t.Chunks
	}
	return min(n, v.Total)
}

// ViewCaller returns the CallerView of principals in generation g, in one statement. It only
// chooses a query plan and is never shown.
func ViewCaller(ctx context.Context, db DBTX, g Generation, principals []string) (CallerView, error) {
	var v CallerView
	var tags []string
	var counts []int64
	var indexed []bool
	err := db.QueryRow(ctx, `
		SELECT coalesce((SELECT chunk_count FROM corpus_stats WHERE chunking_id = $1), 0),
		       coalesce(array_agg(s.tag ORDER BY s.tag), '{}'),
		       coalesce(array_agg(s.chunk_count ORDER BY s.tag), '{}'),
		       coalesce(array_agg(t.tag IS NOT NULL ORDER BY s.tag), '{}')
		FROM acl_stats s LEFT JOIN tag_vector_indexes t ON t.generation_id = $3 AND t.tag = s.tag
		WHERE s.chunking_id = $1 AND s.tag = ANY($2) AND s.chunk_count > 0`,
		g.ChunkingID, principals, g.ID).Scan(&v.Total, &tags, &counts, &indexed)
	if err != nil {
		return CallerView{}, fmt.Errorf("view caller: %w", err)
	}
	if len(counts) != len(tags) || len(indexed) != len(tags) {
		return CallerView{}, errors.New("view caller: mismatched columns")
	}
	for i, tag := range tags {
		v.Tags = append(v.Tags, CallerTag{Tag: tag, Chunks: counts[i], Indexed: indexed[i]})
	}
	return v, nil
}

// tagLiteral is tag as an SQL string literal in escape syntax (backslashes and quotes
// doubled), which means the same whatever standard_conforming_strings is. Tags are text, and
// PostgreSQL text holds no NUL.
func tagLiteral(tag string) (string, error) {
	if strings.IndexByte(tag, 0) >= 0 {
		return "", errors.New("a tag with a NUL byte")
	}
	return "E'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(tag) + "'", nil
}

package index

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Deferred statistics: the bulk path of a first load (migration 00018).
//
// The triggers of chunks keep a chunking's BM25 statistics exact in the transaction of every
// chunk change, which costs most of an ingestion's database time and grows with the corpus
// (every batch updates the statistics rows of its common lexemes again). A chunking that no
// query reads yet, because no active generation uses it, does not need them until it is
// activated: DeferStatistics stops the triggers from keeping them, and CompleteStatistics
// computes them once from the chunks. A generation whose chunking is deferred cannot be
// activated (activateUnindexed), so no query reads a chunking without its statistics.

// ErrStatisticsDeferred is returned by an activation whose chunking's statistics are deferred.
var ErrStatisticsDeferred = errors.New("statistics deferred")

// DeferStatistics defers the statistics of chunking id when it has no chunks and no active
// generation uses it, and reports whether they are deferred (also when they already were: a
// run interrupted before it completed them). It takes the generation-writes lock exclusively,
// so that no ingest write is in flight when the deferral begins: a write transaction that
// started before it would otherwise count its chunks through the triggers into rows that the
// completion then writes again.
func DeferStatistics(ctx context.Context, db Beginner, id int) (deferred bool, err error) {
	err = InTx(ctx, db, func(tx pgx.Tx) error {
		// Most runs write a chunking that has chunks: they answer here, without the lock.
		var eligible bool
		if err := tx.QueryRow(ctx, `
			SELECT EXISTS (SELECT FROM statistics_deferred WHERE chunking_id = $1),
			       NOT EXISTS (SELECT FROM chunks WHERE chunking_id = $1)
			       AND NOT EXISTS (SELECT FROM index_generations WHERE chunking_id = $1 AND status = 'active')`, id).Scan(&deferred, &eligible); err != nil {
			return err
		}
		if deferred || !eligible {
			return nil
		}
		if err := lockGenerationWritesExclusive(ctx, tx); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			WITH begun AS (
				INSERT INTO statistics_deferred (chunking_id)
				SELECT $1
				WHERE NOT EXISTS (SELECT FROM chunks WHERE chunking_id = $1)
				  AND NOT EXISTS (SELECT FROM index_generations WHERE chunking_id = $1 AND status = 'active')
				ON CONFLICT (chunking_id) DO NOTHING
				RETURNING chunking_id)
			SELECT EXISTS (SELECT FROM begun) OR EXISTS (SELECT FROM statistics_deferred WHERE chunking_id = $1)`, id).Scan(&deferred)
	})
	if err != nil {
		return false, fmt.Errorf("defer the statistics of chunking %d: %w", id, err)
	}
	return deferred, nil
}

// StatisticsDeferred reports whether the statistics of chunking id are deferred.
func StatisticsDeferred(ctx context.Context, db DBTX, id int) (bool, error) {
	var deferred bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT FROM statistics_deferred WHERE chunking_id = $1)`, id).Scan(&deferred); err != nil {
		return false, fmt.Errorf("statistics of chunking %d: %w", id, err)
	}
	return deferred, nil
}

// CompleteStatistics computes the statistics of chunking id from its chunks and ends their
// deferral, in one transaction, and reports whether they were deferred (when not, it does
// nothing). The deletion of the deferral row comes first: it waits for the write transactions
// that left the chunking's chunks out of the statistics (their triggers hold a share lock on
// the row), so the statements after it, each with a new snapshot, see their chunks; a write
// that comes later waits for this transaction and then counts its chunks through the
// triggers.
//
// The aggregation is one GROUP BY over every (chunk, distinct tag, lexeme) of the chunking,
// with the work memory to hash it (completeWorkMem); at a million chunks about 130 million rows.
func CompleteStatistics(ctx context.Context, db Beginner, id int) (completed bool, err error) {
	err = InTx(ctx, db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM statistics_deferred WHERE chunking_id = $1`, id)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		completed = true
		if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '`+completeWorkMem+`'`); err != nil {
			return err
		}
		// Whatever rows the chunking has are from before the deferral (none, as ingestion
		// defers only an empty chunking) or stale: they are replaced.
		for _, table := range []string{"tag_lexeme_stats", "acl_stats", "corpus_stats"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE chunking_id = $1`, id); err != nil {
				return fmt.Errorf("clear %s: %w", table, err)
			}
		}
		// The same aggregates as the triggers' and StatisticsMismatches' (a tag listed twice on
		// a chunk counts once), in key order so that the primary key is built by appending.
		if _, err := tx.Exec(ctx, `
			INSERT INTO tag_lexeme_stats (chunking_id, tag, lexeme, df, max_tf, max_tf_ratio)
			SELECT $1, t.tag, u.lexeme, count(*),
			       max(coalesce(array_length(u.positions, 1), 1)),
			       max(coalesce(array_length(u.positions, 1), 1)::float8 / greatest(c.lexical_length, 1))
			FROM chunks c, unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag), unnest(c.tsv) AS u
			WHERE c.chunking_id = $1
			GROUP BY 2, 3 ORDER BY 2, 3`, id); err != nil {
			return fmt.Errorf("compute tag_lexeme_stats: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO acl_stats (chunking_id, tag, chunk_count, total_length)
			SELECT $1, t.tag, count(*), sum(c.lexical_length)
			FROM chunks c, unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag)
			WHERE c.chunking_id = $1
			GROUP BY 2`, id); err != nil {
			return fmt.Errorf("compute acl_stats: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO corpus_stats (chunking_id, chunk_count, total_length)
			SELECT $1, count(*), coalesce(sum(lexical_length), 0) FROM chunks WHERE chunking_id = $1
			HAVING count(*) > 0`, id); err != nil {
			return fmt.Errorf("compute corpus_stats: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE corpus_version SET version = version + 1`)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("complete the statistics of chunking %d: %w", id, err)
	}
	return completed, nil
}

// completeWorkMem is the work memory of CompleteStatistics' aggregation: a hash table of the
// chunking's (tag, lexeme) pairs, which spills to disk (several times slower) when larger.
const completeWorkMem = "1GB"

package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// BenchmarkIngestBreakdown says where a first ingestion of SciFact (5,183 abstracts, 5,894
// chunks, tagged public) spends its time, by running it in one process, on fresh databases,
// with parts of the work switched off, against a plain loader:
//
//   - docent: the real ingestion (extraction in child processes, chunking, embedding, the
//     document rows, COPY of chunks and vectors, the tsvector of each chunk, the per-tag
//     statistics, the index of tag-qualified lexemes); SciFact is below the 20,000 chunks from
//     which a generation gets an HNSW index;
//   - docent + HNSW: the same with the HNSW index built at the end (IndexFrom 1);
//   - no statistics: the statistics triggers of chunks disabled;
//   - no tag-lexeme index: chunks_tag_lexemes_idx dropped;
//   - neither: both;
//   - plain loader: the chunks Docent wrote (text, tags), embedded again with the same embedder
//     and written with one COPY into a table of text, tags and vector: no statistics, no
//     text search, no index but the primary key (what a vector store's bulk load does);
//   - embedding alone: the built-in embedder over the same chunk texts, in process;
//   - alternatives measured beside them: tag_lexeme_stats with fillfactor 50 (room for HOT
//     updates of the statistics rows), a 64 MB pending list for the tag-lexeme GIN index,
//     and that index without its pending list (fastupdate off).
//
// Each variant runs -breakdown-rounds times (default 2), the variants taking turns, and the
// table gives each one's best and worst time and chunks per second, with the load average.
//
//	go test -run '^$' -bench IngestBreakdown -benchtime 1x ./internal/ingest
func BenchmarkIngestBreakdown(b *testing.B) {
	corpus := evaldata.Path(b, "beir/scifact/corpus.jsonl")
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	type variant struct {
		name    string
		prepare func(db *dbtest.DB) error // before the run
		index   bool
		plain   bool
		embed   bool
	}
	disableStats := func(db *dbtest.DB) error {
		_, err := db.Pool.Exec(ctx, `ALTER TABLE chunks DISABLE TRIGGER chunks_after_insert, DISABLE TRIGGER chunks_after_delete, DISABLE TRIGGER chunks_after_update`)
		return err
	}
	dropTagIndex := func(db *dbtest.DB) error {
		_, err := db.Pool.Exec(ctx, `DROP INDEX chunks_tag_lexemes_idx`)
		return err
	}
	variants := []variant{
		{name: "docent (no HNSW below 20,000 chunks)"},
		{name: "docent + HNSW build (24 / 128)", index: true},
		{name: "no statistics triggers", prepare: disableStats},
		{name: "no tag-lexeme GIN index", prepare: dropTagIndex},
		{name: "neither", prepare: func(db *dbtest.DB) error { return errors.Join(disableStats(db), dropTagIndex(db)) }},
		{name: "plain loader (embed + COPY)", plain: true},
		{name: "alternative: tag_lexeme_stats fillfactor 50", prepare: func(db *dbtest.DB) error {
			_, err := db.Pool.Exec(ctx, `ALTER TABLE tag_lexeme_stats SET (fillfactor = 50)`)
			return err
		}},
		{name: "alternative: GIN pending list 64 MB", prepare: func(db *dbtest.DB) error {
			_, err := db.Pool.Exec(ctx, `ALTER INDEX chunks_tag_lexemes_idx SET (gin_pending_list_limit = 65536)`)
			return err
		}},
		{name: "alternative: GIN fastupdate off", prepare: func(db *dbtest.DB) error {
			_, err := db.Pool.Exec(ctx, `ALTER INDEX chunks_tag_lexemes_idx SET (fastupdate = off)`)
			return err
		}},
		{name: "embedding alone (in process)", embed: true},
	}
	plainVariant := slices.IndexFunc(variants, func(v variant) bool { return v.plain })
	rounds := 2
	if v := os.Getenv("DOCENT_BREAKDOWN_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	times := make([][]time.Duration, len(variants))
	var chunks int64
	var texts []string
	var acls [][]string
	load := [2]string{loadAvg()}
	for b.Loop() {
		for range rounds {
			for i, v := range variants {
				if (v.plain || v.embed) && texts == nil {
					continue // after the first Docent run has given the chunks
				}
				db := dbtest.New(b)
				if v.prepare != nil {
					if err := v.prepare(db); err != nil {
						b.Fatal(err)
					}
				}
				var took time.Duration
				switch {
				case v.embed:
					start := time.Now()
					for k := 0; k < len(texts); k += 256 {
						if _, err := emb.Embed(ctx, texts[k:min(k+256, len(texts))]); err != nil {
							b.Fatal(err)
						}
					}
					took = time.Since(start)
				case v.plain:
					if took, err = plainLoad(ctx, db, emb, texts, acls); err != nil {
						b.Fatal(err)
					}
				default:
					cfg := ingest.Config{Source: "scifact", Roots: []string{corpus}, ACL: []string{"public"}, Prune: true}
					if v.index {
						cfg.IndexFrom = 1
					}
					in, err := ingest.New(cfg, db.Pool, emb, logger)
					if err != nil {
						b.Fatal(err)
					}
					start := time.Now()
					s, err := in.Run(ctx)
					took = time.Since(start)
					if err != nil || s.Documents.Added != 5183 {
						b.Fatalf("%s: %v %+v", v.name, err, s.Documents)
					}
					chunks = s.Chunks.Written
					if texts == nil {
						if texts, acls, err = chunkRows(ctx, db); err != nil {
							b.Fatal(err)
						}
					}
				}
				times[i] = append(times[i], took)
			}
		}
	}
	load[1] = loadAvg()
	var out strings.Builder
	fmt.Fprintf(&out, "\nSciFact first ingestion, %d chunks, %d rounds; load average before / after %s / %s\n\n| variant | best s | worst s | chunks/s (best) | share of docent (best) |\n|---|---:|---:|---:|---:|\n",
		chunks, rounds, load[0], load[1])
	base := slices.Min(times[0])
	for i, v := range variants {
		if len(times[i]) == 0 {
			continue
		}
		best, worst := slices.Min(times[i]), slices.Max(times[i])
		fmt.Fprintf(&out, "| %s | %.2f | %.2f | %.0f | %.2f |\n", v.name, best.Seconds(), worst.Seconds(),
			float64(chunks)/best.Seconds(), best.Seconds()/base.Seconds())
	}
	fmt.Print(out.String())
	b.ReportMetric(float64(chunks)/base.Seconds(), "chunks/s")
	b.ReportMetric(float64(chunks)/slices.Min(times[plainVariant]).Seconds(), "plain-chunks/s")
}

// chunkRows returns the text and tags of every chunk, in id order.
func chunkRows(ctx context.Context, db *dbtest.DB) ([]string, [][]string, error) {
	rows, err := db.Pool.Query(ctx, `SELECT text, acl FROM chunks ORDER BY id`)
	if err != nil {
		return nil, nil, err
	}
	var texts []string
	var acls [][]string
	for rows.Next() {
		var t string
		var a []string
		if err := rows.Scan(&t, &a); err != nil {
			return nil, nil, err
		}
		texts, acls = append(texts, t), append(acls, a)
	}
	return texts, acls, rows.Err()
}

// plainLoad embeds the texts and writes them with their tags and vectors with COPY, in
// batches of 1,024, into a table with a primary key and nothing else.
func plainLoad(ctx context.Context, db *dbtest.DB, emb *embed.Builtin, texts []string, acls [][]string) (time.Duration, error) {
	if _, err := db.Pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE plain_chunks (id bigserial PRIMARY KEY, text text NOT NULL,
		acl text[] NOT NULL, embedding vector(%d) NOT NULL)`, emb.Dimension())); err != nil {
		return 0, err
	}
	start := time.Now()
	for k := 0; k < len(texts); k += 1024 {
		end := min(k+1024, len(texts))
		vecs, err := emb.Embed(ctx, texts[k:end])
		if err != nil {
			return 0, err
		}
		rows := make([][]any, end-k)
		for i := range rows {
			rows[i] = []any{texts[k+i], acls[k+i], pgvector.NewVector(vecs[i])}
		}
		if _, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"plain_chunks"}, []string{"text", "acl", "embedding"}, pgx.CopyFromRows(rows)); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

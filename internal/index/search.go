package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The queries of the retrieval legs. Every one filters on the caller's principals inside the
// statement that finds the candidates (`acl && $principals`), so nothing a caller may not see
// is ever scored, counted or returned.

// Term is one lexeme of a query with the caller's statistics of it (see QueryTerms).
type Term struct {
	Lexeme string
	QTF    int   // occurrences in the query
	DF     int64 // the caller's document frequency: chunks with the lexeme, summed over the caller's tags
	// MaxTF and MaxTFRatio bound the lexeme's term frequency in any chunk the caller can
	// see: no such chunk has more occurrences of it than MaxTF, nor a larger tf/|d| than
	// MaxTFRatio. They are upper bounds, never smaller than the truth (a deletion leaves them
	// as they were), so BM25 can bound what the lexeme adds to any chunk's score (MaxScore).
	MaxTF      int
	MaxTFRatio float64
	// Keys are the entries of the tag-qualified lexeme index (chunks_tag_lexemes_idx) that
	// find the chunks the caller can see containing the lexeme: one for each of the caller's
	// tags whose chunks contain it.
	Keys []string
}

// Match matches the chunks the caller can see that contain the term (through the
// tag-qualified lexeme index; see BM25). Empty (matching nothing) for a term the caller
// cannot find.
func (t Term) Match() TSQuery {
	qs := make([]TSQuery, len(t.Keys))
	for i, k := range t.Keys {
		qs[i] = LexemeQuery(k)
	}
	return AnyOf(qs...)
}

// Corpus is the part of a chunking a caller's BM25 statistics cover (see QueryTerms).
type Corpus struct {
	Chunks    int64   // the chunks carrying one of the caller's tags, summed over the tags
	AvgLength float64 // their average lexical length
}

// QueryTerms returns the lexemes of text under the chunking's text search configuration (the
// same stemming and stop words as the chunks) with the caller's statistics of each, and the
// caller's corpus size, in the order of the lexemes in the query's tsvector. One round trip.
//
// The statistics are computed from the rows of the caller's own tags only (tag_lexeme_stats,
// acl_stats), never from chunks the caller cannot see: a lexeme is in the caller's view iff
// one of the caller's tags has it, its document frequency and the corpus size and total
// length are sums over the caller's tags, and its tf bounds the largest over them. A lexeme
// that only chunks of other tags contain therefore comes back with DF 0, exactly like one
// that no chunk contains, and both lookups cost the same: one index probe per caller tag,
// that misses. (A chunk carrying several of the caller's tags is counted once per tag, in
// the document frequencies and in the corpus size alike; docs/retrieval.md says why that is
// accepted.) The principals must be the caller's: they decide which chunks' statistics are
// read.
//
// Each term also comes with the keys that find the chunks the caller can see containing it
// in the tag-qualified lexeme index: the candidates of BM25 are found through the postings of
// the caller's own tags only.
func QueryTerms(ctx context.Context, db DBTX, chunkingID int, text string, principals []string) ([]Term, Corpus, error) {
	rows, err := db.Query(ctx, `
		WITH q AS (
			SELECT u.lexeme, coalesce(array_length(u.positions, 1), 1) AS qtf, u.i
			FROM chunkings c, unnest(to_tsvector(c.ts_config, $2)) WITH ORDINALITY AS u(lexeme, positions, weights, i)
			WHERE c.id = $1
		), cs AS (
			SELECT coalesce(sum(a.chunk_count), 0)::bigint AS chunks, coalesce(sum(a.total_length), 0)::bigint AS total
			FROM acl_stats a WHERE a.chunking_id = $1 AND a.tag = ANY($3)
		)
		SELECT q.lexeme, q.qtf, coalesce(s.df, 0), coalesce(s.max_tf, 0), coalesce(s.max_tf_ratio, 0),
		       coalesce(s.keys, '{}'), cs.chunks, cs.total
		FROM q
		CROSS JOIN LATERAL (
			SELECT sum(t.df)::bigint AS df, max(t.max_tf) AS max_tf, max(t.max_tf_ratio) AS max_tf_ratio,
			       array_agg(docent_tag_key(t.tag) || ' ' || docent_lexeme_key(t.lexeme) ORDER BY t.tag) AS keys
			FROM tag_lexeme_stats t
			WHERE t.chunking_id = $1 AND t.tag = ANY($3) AND t.lexeme = q.lexeme AND t.df > 0
		) s
		CROSS JOIN cs
		ORDER BY q.i`, chunkingID, text, nonNilSlice(principals))
	if err != nil {
		return nil, Corpus{}, fmt.Errorf("query terms: %w", err)
	}
	var terms []Term
	var chunks, total int64
	for rows.Next() {
		var t Term
		if err := rows.Scan(&t.Lexeme, &t.QTF, &t.DF, &t.MaxTF, &t.MaxTFRatio, &t.Keys, &chunks, &total); err != nil {
			return nil, Corpus{}, fmt.Errorf("query terms: %w", err)
		}
		terms = append(terms, t)
	}
	if err := rows.Err(); err != nil {
		return nil, Corpus{}, fmt.Errorf("query terms: %w", err)
	}
	if len(terms) == 0 {
		// A query without lexemes (only stop words): the caller's corpus size is not needed.
		return nil, Corpus{}, nil
	}
	c := Corpus{Chunks: chunks}
	if chunks > 0 {
		c.AvgLength = float64(total) / float64(chunks)
	}
	return terms, c, nil
}

// WordLexemes returns the lexemes of each word under the chunking's text search
// configuration (none for a stop word; several for a compound such as "on-call"), in the
// order of words. It reads no chunk and no statistics: retrieval pairs it with QueryTerms
// to choose the most informative words of a query too long to run whole.
func WordLexemes(ctx context.Context, db DBTX, chunkingID int, words []string) ([][]string, error) {
	out := make([][]string, len(words))
	if len(words) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `
		SELECT w.i, array(SELECT l.lexeme FROM unnest(to_tsvector(c.ts_config, w.word)) AS l)
		FROM chunkings c, unnest($2::text[]) WITH ORDINALITY AS w(word, i)
		WHERE c.id = $1`, chunkingID, words)
	if err != nil {
		return nil, fmt.Errorf("word lexemes: %w", err)
	}
	n := 0
	for rows.Next() {
		var i int
		var lexemes []string
		if err := rows.Scan(&i, &lexemes); err != nil {
			return nil, fmt.Errorf("word lexemes: %w", err)
		}
		if i < 1 || i > len(words) {
			return nil, fmt.Errorf("word lexemes: row %d of %d words", i, len(words))
		}
		out[i-1] = lexemes
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("word lexemes: %w", err)
	}
	if n != len(words) {
		return nil, fmt.Errorf("word lexemes: %d rows for %d words (chunking %d)", n, len(words), chunkingID)
	}
	return out, nil
}

// BM25Query is one scoring pass of the lexical leg.
type BM25Query struct {
	ChunkingID int
	Principals []string
	Sources    []string  // restrict to these sources; empty for all
	Candidates TSQuery   // what a chunk's tag-qualified lexemes must match to be a candidate (Term.Match)
	Lexemes    []string  // lexemes scored (a superset of Candidates)
	Weights    []float64 // per lexeme: IDF times its occurrences in the query
	// Context, per lexeme, marks the lexemes that are context (a conversation's terms the
	// question lacks) rather than the question's own: they count in Score but not in
	// Scored.Own. Nil, or shorter than Lexemes, for lexemes that are all the question's own.
	Context   []bool
	Phrases   []string // quoted phrases a candidate must contain, as written
	K1, B     float64
	AvgLength float64
	Limit     int
	// MaxCandidates, when > 0, is the most candidates the statement scores: past it, the
	// best Limit of the first MaxCandidates found (in the table's order) are returned, and
	// BM25Capped says so. A budget, for conditions whose matches are only estimated.
	MaxCandidates int
}

// Scored is a chunk with a score.
type Scored struct {
	ChunkID    int64
	DocumentID int64
	Score      float64
	// Own is, for BM25, the part of Score that the question's own lexemes contribute (Score
	// without the context lexemes, BM25Query.Context). 0 for the dense leg.
	Own float64
}

// BM25 scores the candidate chunks visible to the principals and returns the best Limit.
// (The numeric parameters are cast explicitly: left to inference, PostgreSQL types them
// integer from the literals around them, and 0.9 would silently become 1.)
// Candidates are found through the GIN index of tag-qualified lexemes
// (docent_tag_lexemes(acl, tsv), whose entries pair each tag of a chunk with each of its
// lexemes): q.Candidates names the entries of the caller's tags (Term.Match), so the index
// scan reads no posting of a chunk the caller cannot see. That index is the only one the
// statement can use: the permission filter (acl && principals) and the chunking are checked
// on each candidate row, in forms the planner cannot match to the tag or chunking indexes.
// Otherwise a planner without statistics (in the minutes after a first bulk load) took them
// for selective, read every visible chunk through them and computed the tag-qualified
// lexemes (tens of µs) of each: 0.5 s a SciFact query; and with statistics a BitmapAnd only
// re-read all of the caller's tag postings. Each
// candidate's term frequencies come from its tsvector, cut down to the query's lexemes by
// setweight/ts_filter (binary searches, not a scan of all its lexemes).
func BM25(ctx context.Context, db DBTX, q BM25Query) ([]Scored, error) {
	hits, _, err := BM25Capped(ctx, db, q)
	return hits, err
}

// BM25Capped is BM25, also saying whether the candidates reached q.MaxCandidates (and so
// whether chunks matching q.Candidates may have gone unscored).
func BM25Capped(ctx context.Context, db DBTX, q BM25Query) ([]Scored, bool, error) {
	if q.Candidates == "" || len(q.Lexemes) != len(q.Weights) || len(q.Context) > len(q.Lexemes) {
		return nil, false, nil
	}
	capped := false
	scan := func(rows pgx.Rows) ([]Scored, error) {
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Scored, error) {
			var s Scored
			var candidates int64
			err := row.Scan(&s.ChunkID, &s.DocumentID, &s.Score, &s.Own, &candidates)
			if q.MaxCandidates > 0 && candidates >= int64(q.MaxCandidates) {
				capped = true
			}
			return s, err
		})
	}
	batcher, ok := db.(interface {
		SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	})
	if _, inTx := db.(pgx.Tx); !ok || inTx {
		rows, err := db.Query(ctx, bm25SQL, q.args()...)
		if err != nil {
			return nil, false, fmt.Errorf("bm25: %w", err)
		}
		scored, err := scan(rows)
		if err != nil {
			return nil, false, fmt.Errorf("bm25: %w", err)
		}
		return scored, capped, nil
	}
	// Without parallel workers, in one round trip: a transaction of its own, pipelined. The
	// planner prices the tag-lexeme index's candidates high (docent_tag_lexemes' declared
	// cost, meant to keep it from computing the expression row by row) and so often plans a
	// parallel scan for a statement that scores a few dozen chunks: starting the worker then
	// costs more than the work (1–3 ms on an idle machine; 40 ms measured under load 18 for
	// a caller whose statement took 0.4 ms in the leader). A failed statement leaves the
	// connection in an aborted transaction, which the pool then closes rather than reuses.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL max_parallel_workers_per_gather = 0")
	b.Queue(bm25SQL, q.args()...)
	b.Queue("COMMIT")
	res := batcher.SendBatch(ctx, b)
	var scored []Scored
	_, err := res.Exec()
	if err == nil {
		_, err = res.Exec()
	}
	if err == nil {
		var rows pgx.Rows
		if rows, err = res.Query(); err == nil {
			scored, err = scan(rows)
		}
	}
	if err == nil {
		_, err = res.Exec()
	}
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("bm25: %w", err)
	}
	return scored, capped, nil
}

// ExplainBM25 returns the plan of BM25's statement for q (EXPLAIN, as JSON), for tests and
// for investigating a slow query.
func ExplainBM25(ctx context.Context, db DBTX, q BM25Query) (string, error) {
	var plan string
	if err := db.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+bm25SQL, q.args()...).Scan(&plan); err != nil {
		return "", fmt.Errorf("explain bm25: %w", err)
	}
	return plan, nil
}

func (q BM25Query) args() []any {
	own := make([]float64, len(q.Lexemes))
	for i := range own {
		if i >= len(q.Context) || !q.Context[i] {
			own[i] = 1
		}
	}
	var most *int // NULL: LIMIT ALL
	if q.MaxCandidates > 0 {
		most = &q.MaxCandidates
	}
	return []any{q.ChunkingID, string(q.Candidates), q.Principals, q.Lexemes, q.Weights, q.K1, q.B, q.AvgLength,
		nonNilSlice(q.Phrases), q.Limit, nonNilSlice(q.Sources), own, most}
}

const bm25SQL = `
		SELECT c.id, c.document_id,
		       sum(t.weight * u.tf * ($6::float8 + 1) / (u.tf + $6::float8 * (1 - $7::float8 + $7::float8 * c.lexical_length / $8::float8))) AS score,
		       sum(t.own * t.weight * u.tf * ($6::float8 + 1) / (u.tf + $6::float8 * (1 - $7::float8 + $7::float8 * c.lexical_length / $8::float8))) AS own,
		       count(*) OVER () AS candidates
		FROM (
			SELECT c.id, c.document_id, c.tsv, c.lexical_length
			FROM chunks c
			WHERE docent_tag_lexemes(c.acl, c.tsv) @@ $2::tsquery
			  -- The permission filter and the chunking, written so that the planner cannot
			  -- match them to an index: candidates come from chunks_tag_lexemes_idx alone.
			  AND coalesce(c.acl, '{}') && $3 AND c.chunking_id + 0 = $1
			  AND (cardinality($9::text[]) = 0 OR c.tsv @@ ALL (
			        SELECT phraseto_tsquery(k.ts_config, p) FROM chunkings k, unnest($9::text[]) AS p WHERE k.id = $1))
			  AND (cardinality($11::text[]) = 0 OR c.document_id IN (
			        SELECT d.id FROM documents d JOIN sources s ON s.id = d.source_id WHERE s.name = ANY($11)))
			LIMIT $13::int
		) c
		CROSS JOIN LATERAL (
			SELECT x.lexeme, coalesce(array_length(x.positions, 1), 1) AS tf
			FROM unnest(ts_filter(setweight(c.tsv, 'A', $4), '{a}')) AS x
		) u
		JOIN unnest($4::text[], $5::float8[], $12::float8[]) AS t(lexeme, weight, own) ON t.lexeme = u.lexeme
		GROUP BY c.id, c.document_id
		ORDER BY score DESC, c.id
		LIMIT $10`

// TSQuery is the text of a tsquery over lexemes, made only by the functions below: each
// lexeme is quoted as tsquery syntax requires (a backslash escapes, a quote is doubled), so no
// lexeme can change the query's structure, and the text goes to the server as a bind
// parameter. The empty TSQuery matches nothing.
type TSQuery string

// LexemeQuery matches the chunks containing the lexeme (as is: not stemmed again).
func LexemeQuery(lexeme string) TSQuery {
	l := strings.ReplaceAll(lexeme, `\`, `\\`)
	return TSQuery("'" + strings.ReplaceAll(l, "'", "''") + "'")
}

// AnyOf matches the chunks that match one of qs.
func AnyOf(qs ...TSQuery) TSQuery { return join(qs, " | ") }

// AllOf matches the chunks that match every one of qs.
func AllOf(qs ...TSQuery) TSQuery {
	if slices.Contains(qs, "") {
		return ""
	}
	return join(qs, " & ")
}

// Without matches the chunks that match q and none of the others.
func Without(q TSQuery, others ...TSQuery) TSQuery {
	if q == "" {
		return q
	}
	parts := []TSQuery{q}
	for _, o := range others {
		if o != "" {
			parts = append(parts, "!"+o) // o is a quoted lexeme or parenthesised
		}
	}
	return AllOf(parts...)
}

func join(qs []TSQuery, op string) TSQuery {
	var parts []string
	for _, q := range qs {
		if q != "" {
			parts = append(parts, string(q))
		}
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return TSQuery(parts[0])
	}
	return TSQuery("(" + strings.Join(parts, op) + ")")
}

// VectorPlan is how the dense leg searches.
type VectorPlan int

// Dense search plans.
const (
	// ExactScan computes the distance to every visible vector (found through the tag GIN
	// index) and sorts: exact, and fast when few chunks are visible.
	ExactScan VectorPlan = iota
	// HNSWScan walks the HNSW index with pgvector's iterative scan, filtering on the tags
	// in the same scan, until it has found Limit visible rows (or ran out of budget).
	HNSWScan
)

// VectorQuery is one dense search.
type VectorQuery struct {
	Generation    Generation
	Vector        []float32
	Principals    []string
	Sources       []string
	Limit         int
	Plan          VectorPlan
	EfSearch      int // HNSW candidate list; 0 for pgvector's default
	MaxScanTuples int // iterative scan budget; 0 for pgvector's default
	// Candidates is how many visible rows an HNSW scan takes before the nearest Limit are
	// kept (at least Limit): with an iterative scan, asking for more rows makes it walk on,
	// so the rows it returns first come from a wider search (higher recall).
	Candidates int
	// Tag, when not empty, restricts the search to the rows carrying it, with the predicate of
	// the tag's own graph (BuildTagVectorIndexes) written as a literal, so that the planner
	// can walk that graph. The caller's Principals filter the rows as always.
	Tag string
}

// Nearest returns the visible chunks nearest to the vector, nearest first, with their
// distances as scores (smaller is nearer). It runs in its own transaction so that the plan
// settings (SET LOCAL) apply to this statement only; they go to the server in one round trip
// with the query.
func Nearest(ctx context.Context, db Beginner, q VectorQuery) ([]Scored, error) {
	var out []Scored
	err := q.run(ctx, db, "", func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Scored, error) {
			var s Scored
			err := row.Scan(&s.ChunkID, &s.DocumentID, &s.Score)
			return s, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nearest (generation %d): %w", q.Generation.ID, err)
	}
	return out, nil
}

// ExplainNearest returns the plan of Nearest's statement for q, with its plan settings
// (EXPLAIN, as JSON).
func ExplainNearest(ctx context.Context, db Beginner, q VectorQuery) (string, error) {
	var plan string
	err := q.run(ctx, db, "EXPLAIN (FORMAT JSON) ", func(rows pgx.Rows) error {
		defer rows.Close()
		if rows.Next() {
			return rows.Scan(&plan)
		}
		return rows.Err()
	})
	if err != nil {
		return "", fmt.Errorf("explain nearest: %w", err)
	}
	return plan, nil
}

// run executes the search (prefixed, e.g. by EXPLAIN) in its own transaction so that the
// plan settings (SET LOCAL) apply to it only; they go to the server in one round trip with
// the query. A search without settings (the exact scan) is one statement, outside a
// transaction when db can run it.
func (q VectorQuery) run(ctx context.Context, db Beginner, prefix string, read func(pgx.Rows) error) error {
	table, err := q.Generation.TableIdent()
	if err != nil {
		return err
	}
	if len(q.Vector) != q.Generation.Dimension {
		return fmt.Errorf("a vector of %d dimensions for generation %d of %d", len(q.Vector), q.Generation.ID, q.Generation.Dimension)
	}
	op := q.Generation.DistanceOperator()
	sourceFilter := `AND (cardinality($4::text[]) = 0 OR e.chunk_id IN (
		SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id JOIN sources s ON s.id = d.source_id
		WHERE s.name = ANY($4)))`
	tagFilter := ""
	if q.Tag != "" {
		lit, err := tagLiteral(q.Tag)
		if err != nil {
			return err
		}
		tagFilter = `AND e.acl && ARRAY[` + lit + `]::text[] `
	}
	var settings []string
	scan := q.Limit // rows the inner scan takes
	order := `e.embedding ` + op + ` $1`
	switch q.Plan {
	case ExactScan:
		// "+ 0" makes the sort key an expression the HNSW index does not serve, so the
		// visible rows are found through the tag GIN index and sorted exactly.
		order = `(e.embedding ` + op + ` $1) + 0, e.chunk_id`
	default:
		// Iterative scan with relaxed order returns rows slightly out of order; the outer
		// query sorts them. Sequential and bitmap scans are off so that the planner takes the
		// HNSW index whatever it estimates. (SET cannot take bind parameters; the values are
		// integers of the configuration.)
		settings = []string{`SET LOCAL hnsw.iterative_scan = relaxed_order`,
			`SET LOCAL enable_seqscan = off`, `SET LOCAL enable_bitmapscan = off`}
		if q.EfSearch > 0 {
			settings = append(settings, fmt.Sprintf(`SET LOCAL hnsw.ef_search = %d`, q.EfSearch))
		}
		scan = max(q.Limit, q.Candidates)
		if q.MaxScanTuples > 0 {
			settings = append(settings, fmt.Sprintf(`SET LOCAL hnsw.max_scan_tuples = %d`, q.MaxScanTuples))
		}
	}
	query := prefix + `WITH nn AS MATERIALIZED (
			SELECT e.chunk_id, e.embedding ` + op + ` $1 AS distance
			FROM ` + table + ` e
			WHERE e.acl && $2 ` + tagFilter + sourceFilter + `
			ORDER BY ` + order + ` LIMIT $3
		)
		SELECT nn.chunk_id, c.document_id, nn.distance FROM nn JOIN chunks c ON c.id = nn.chunk_id
		ORDER BY nn.distance, nn.chunk_id LIMIT $5`
	args := []any{vectorValue(q.Generation, q.Vector), q.Principals, scan, nonNilSlice(q.Sources), q.Limit}
	if direct, ok := db.(interface {
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	}); ok && len(settings) == 0 {
		// No plan settings (the exact scan): one statement, one round trip, instead of a
		// transaction's three (BEGIN, the query, COMMIT).
		rows, err := direct.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		return read(rows)
	}
	return InTx(ctx, db, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		for _, s := range settings {
			batch.Queue(s)
		}
		batch.Queue(query, args...)
		res := tx.SendBatch(ctx, batch)
		for range settings {
			if _, err := res.Exec(); err != nil {
				res.Close()
				return err
			}
		}
		rows, err := res.Query()
		if err == nil {
			err = read(rows)
		}
		if cerr := res.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// Evidence is a chunk with what a citation needs.
type Evidence struct {
	ChunkID     int64
	DocumentID  int64
	Ordinal     int
	Text        string
	HeadingPath []string
	PageStart   *int
	PageEnd     *int
	CharStart   int
	CharEnd     int
	Tokens      int
	URI         string
	Title       string
	Source      string
	URL         string // the document's source URL, "" when none
	Locator     string // where the chunk is beyond its pages ("Budget!A1:F40"); "" when none
	OCR         bool   // some of its text was recognised from an image
	HeaderChars int    // Text starts with this many characters of repeated table header
	PageUnit    string // what the document's pages are: "page" or "slide"
}

const evidenceColumns = `c.id, c.document_id, c.ordinal, c.text, c.heading_path, c.page_start, c.page_end,
	c.char_start, c.char_end, c.token_count, d.uri, d.title, s.name, coalesce(d.url, ''),
	coalesce(c.locator, ''), c.ocr, c.header_chars, d.page_unit`

// ChunkEvidence returns the chunks with the given ids that the principals can see (the
// filter is applied again: ids come from the caller), in no particular order.
func ChunkEvidence(ctx context.Context, db DBTX, ids []int64, principals []string) ([]Evidence, error) {
	rows, err := db.Query(ctx, `
		SELECT `+evidenceColumns+`
		FROM chunks c JOIN documents d ON d.id = c.document_id JOIN sources s ON s.id = d.source_id
		WHERE c.id = ANY($1) AND c.acl && $2`, ids, principals)
	if err != nil {
		return nil, fmt.Errorf("chunk evidence: %w", err)
	}
	ev, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Evidence])
	if err != nil {
		return nil, fmt.Errorf("chunk evidence: %w", err)
	}
	return ev, nil
}

// Neighbours returns, for each (document, ordinal) pair, the chunk at that position in the
// chunking, if the principals can see it.
func Neighbours(ctx context.Context, db DBTX, chunkingID int, docIDs []int64, ordinals []int32, principals []string) ([]Evidence, error) {
	rows, err := db.Query(ctx, `
		SELECT `+evidenceColumns+`
		FROM unnest($2::bigint[], $3::int[]) AS n(document_id, ordinal)
		JOIN chunks c ON c.document_id = n.document_id AND c.ordinal = n.ordinal AND c.chunking_id = $1
		JOIN documents d ON d.id = c.document_id JOIN sources s ON s.id = d.source_id
		WHERE c.acl && $4`, chunkingID, docIDs, ordinals, principals)
	if err != nil {
		return nil, fmt.Errorf("neighbours: %w", err)
	}
	ev, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Evidence])
	if err != nil {
		return nil, fmt.Errorf("neighbours: %w", err)
	}
	return ev, nil
}

// Passage is a chunk with its neighbours and its document, for a passage view
// (GET /v1/chunks/{id}).
type Passage struct {
	Chunk         PassageChunk
	Before, After []PassageChunk // in document order; only those the principals can see
	DocumentID    int64
	URI           string
	Title         string
	Source        string
	URL           string // "" when none
	ContentType   string
	Pages         int    // the document's page count; 0 without pages
	PageUnit      string // what its pages are: "page" or "slide"
}

// PassageChunk is one chunk of a Passage.
type PassageChunk struct {
	ID          int64
	Ordinal     int
	Text        string
	HeadingPath []string
	PageStart   int // 0 without pages
	PageEnd     int
	Locator     string // "" when none
	OCR         bool
}

// ChunkPassage returns the chunk with this id and up to `around` chunks either side of it in
// the same document and chunking, if the principals can see it: a chunk they cannot see is
// ErrNotFound exactly like one that does not exist, and a neighbour they cannot see is left
// out. Every row is filtered by the tags in SQL, never after.
func ChunkPassage(ctx context.Context, db DBTX, id int64, around int, principals []string) (Passage, error) {
	var p Passage
	var pageStart, pageEnd *int
	var pages *int
	var chunkingID int
	err := db.QueryRow(ctx, `
		SELECT c.id, c.ordinal, c.text, c.heading_path, c.page_start, c.page_end, coalesce(c.locator, ''), c.ocr, c.chunking_id,
		       d.id, d.uri, d.title, s.name, coalesce(d.url, ''), d.content_type, d.page_count, d.page_unit
		FROM chunks c JOIN documents d ON d.id = c.document_id JOIN sources s ON s.id = d.source_id
		WHERE c.id = $1 AND c.acl && $2`, id, principals).Scan(
		&p.Chunk.ID, &p.Chunk.Ordinal, &p.Chunk.Text, &p.Chunk.HeadingPath, &pageStart, &pageEnd, &p.Chunk.Locator, &p.Chunk.OCR, &chunkingID,
		&p.DocumentID, &p.URI, &p.Title, &p.Source, &p.URL, &p.ContentType, &pages, &p.PageUnit)
	if errors.Is(err, pgx.ErrNoRows) {
		return Passage{}, fmt.Errorf("chunk %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Passage{}, fmt.Errorf("read chunk %d: %w", id, err)
	}
	p.Chunk.PageStart, p.Chunk.PageEnd, p.Pages = deref(pageStart), deref(pageEnd), deref(pages)
	if around <= 0 {
		return p, nil
	}
	rows, err := db.Query(ctx, `
		SELECT c.id, c.ordinal, c.text, c.heading_path, coalesce(c.page_start, 0), coalesce(c.page_end, 0),
		       coalesce(c.locator, ''), c.ocr
		FROM chunks c
		WHERE c.document_id = $1 AND c.chunking_id = $2 AND c.ordinal BETWEEN $3::int - $4::int AND $3::int + $4::int
		  AND c.ordinal <> $3::int AND c.acl && $5
		ORDER BY c.ordinal`, p.DocumentID, chunkingID, p.Chunk.Ordinal, around, principals)
	if err != nil {
		return Passage{}, fmt.Errorf("read the neighbours of chunk %d: %w", id, err)
	}
	near, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PassageChunk])
	if err != nil {
		return Passage{}, fmt.Errorf("read the neighbours of chunk %d: %w", id, err)
	}
	for _, n := range near {
		if n.Ordinal < p.Chunk.Ordinal {
			p.Before = append(p.Before, n)
		} else {
			p.After = append(p.After, n)
		}
	}
	return p, nil
}

func deref(n *int) int {
	if n == nil {
		return 0
	}
	return *n
}

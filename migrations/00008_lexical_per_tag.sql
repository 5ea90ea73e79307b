-- The lexical leg per permission tag: BM25 statistics per tag and an index of tag-qualified
-- lexemes, so that a caller's scores, and the work the lexical leg does, depend only on chunks
-- the caller can see.
--
-- Until now the lexical leg read corpus-wide statistics: lexeme_stats counted every chunk,
-- visible or not. A term found only in chunks the caller cannot see therefore had df > 0: its
-- BM25 statements ran (and read its hidden postings) where an absent term's were skipped, and
-- a caller could time /v1/search to learn whether a word occurs in another group's documents
-- (issue 9, finding 6). The hidden chunks also shifted every score the caller saw (IDF, N,
-- the average length, the MaxScore bounds).
--
-- Now the statistics are kept per (chunking, tag):
--   * tag_lexeme_stats: df, max_tf and max_tf_ratio of each lexeme over the chunks carrying
--     the tag;
--   * acl_stats: the chunks carrying the tag (chunk_count, as before) and their total
--     lexical length (new).
-- A caller's statistics are sums over the caller's own tags (docs/retrieval.md): a term is in
-- the caller's view iff one of the caller's tags has it. A chunk with no tags (visible to no
-- one) is in no tag's statistics. lexeme_stats is dropped: nothing reads corpus-wide document
-- frequencies any more, and ingestion would pay for its rows. corpus_stats stays (the chunk
-- count of a chunking: generation sizes, the dense leg's visible share).
--
-- Invariant, as for the statistics of 00001: tag_lexeme_stats.df, acl_stats.chunk_count and
-- acl_stats.total_length always equal aggregates over chunks (per chunking and tag), and
-- max_tf and max_tf_ratio are never below the truth, in the same transaction as the chunk
-- change, whether chunks are inserted, deleted, re-tagged (a document's tag change moves its
-- chunks' statistics from the tags it lost to the tags it gained) or rewritten.
-- index.StatisticsMismatches recomputes them from the chunks.
--
-- And the candidates are found through chunks_tag_lexemes_idx, a GIN index whose entries are
-- (tag, lexeme) pairs, instead of chunks_tsv_idx, whose entries were lexemes: a caller's query
-- names the pairs of its own tags, so the index scan reads the postings of chunks the caller
-- can see and no others. With chunks_tsv_idx, a word the caller can see (in one public
-- chunk, say) still made the scan read its postings in every hidden chunk, and the time of a
-- search grew with how often other groups' documents use it.

-- +goose Up
CREATE TABLE tag_lexeme_stats (
  -- No foreign key to chunkings: the rows are made from chunks, whose chunking is checked,
  -- and checking each of them again cost about 50 µs a chunk of ingestion (an eighth of it,
  -- on SciFact). A chunking cannot be deleted while it has chunks, and deleting its chunks
  -- brings its rows to zero.
  chunking_id  int NOT NULL,
  tag          text NOT NULL,
  lexeme       text NOT NULL,
  -- Chunks of the chunking carrying the tag and containing the lexeme. No CHECK (>= 0), for
  -- the reason given at lexeme_stats in 00001: the trigger checks instead.
  df           int NOT NULL,
  -- Upper bounds of the lexeme's term frequency (max_tf) and share of a chunk's length
  -- (max_tf_ratio) in those chunks, for MaxScore (00002). They only grow: a deletion or a
  -- re-tag leaves them larger than needed, still bounds.
  max_tf       int NOT NULL DEFAULT 0,
  max_tf_ratio double precision NOT NULL DEFAULT 0,
  -- Lookups are by (chunking, one of the caller's tags, lexeme): one probe per caller tag and
  -- query lexeme, which misses in the same way for an absent lexeme and for one that only
  -- other tags have.
  PRIMARY KEY (chunking_id, tag, lexeme)
);

INSERT INTO tag_lexeme_stats (chunking_id, tag, lexeme, df, max_tf, max_tf_ratio)
SELECT c.chunking_id, t.tag, u.lexeme, count(*),
       max(coalesce(array_length(u.positions, 1), 1)),
       max(coalesce(array_length(u.positions, 1), 1)::float8 / greatest(c.lexical_length, 1))
FROM chunks c, unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag), unnest(c.tsv) AS u -- a tag listed twice counts once
GROUP BY 1, 2, 3;

-- The total lexical length of a tag's chunks: with chunk_count, the caller's average chunk
-- length. The counts are recomputed too: a tag listed twice on a document now counts once
-- (00001 counted it twice).
ALTER TABLE acl_stats ADD COLUMN total_length bigint NOT NULL DEFAULT 0;
DELETE FROM acl_stats;
INSERT INTO acl_stats (chunking_id, tag, chunk_count, total_length)
SELECT c.chunking_id, t.tag, count(*), sum(c.lexical_length)
FROM chunks c, unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag)
GROUP BY 1, 2;

DROP TABLE lexeme_stats;

-- The entries of chunks_tag_lexemes_idx are "<tag key> <lexeme key>" for every distinct tag
-- and every lexeme of a chunk (a chunk without tags has none: no caller finds it). The tag key
-- is the tag's 64-bit hash in hex (hashtextextended, the hash of hash partitioning), so that
-- long tags do not make long entries; the lexeme key is the lexeme, or its hash when the entry
-- would pass tsvector's limit of 2,047 bytes a lexeme. Every key is computed by these
-- functions on the server, for the index and for the queries (index.QueryTerms) alike. Two
-- tags with the same hash would make a caller's scan read the other tag's postings (the
-- permission filter still drops them); two long lexemes with the same hash, make a chunk a
-- candidate that scoring then finds without the lexeme.
CREATE FUNCTION docent_tag_key(tag text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN to_hex(hashtextextended(tag, 0));

-- (Not STRICT, so that the planner can inline it: its body is not strict.)
CREATE FUNCTION docent_lexeme_key(lexeme text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN octet_length(lexeme) > 1000 THEN '#' || to_hex(hashtextextended(lexeme, 0)) ELSE lexeme END;

-- docent_tag_lexemes is the indexed expression. In plpgsql rather than SQL so that the planner
-- never inlines it: the lexical leg's queries name it exactly as the index does. It takes a
-- few tens of µs a chunk (each tag hashed once: five to ten times faster than a join of tags
-- and lexemes); its declared cost (2,000 operators) tells the planner to find candidates
-- through the index rather than compute it row by row.
-- +goose StatementBegin
CREATE FUNCTION docent_tag_lexemes(acl text[], tsv tsvector) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 2000 AS $$
DECLARE
  lexemes text[] := tsvector_to_array(tsv);
  entries text[] := '{}';
  k text;
BEGIN
  FOR i IN 1 .. coalesce(cardinality(acl), 0) LOOP
    CONTINUE WHEN array_position(acl, acl[i]) < i; -- a tag listed twice counts once
    k := docent_tag_key(acl[i]) || ' ';
    entries := entries || ARRAY(SELECT k || docent_lexeme_key(l) FROM unnest(lexemes) AS l);
  END LOOP;
  RETURN array_to_tsvector(entries);
END
$$;
-- +goose StatementEnd
CREATE INDEX chunks_tag_lexemes_idx ON chunks USING gin (docent_tag_lexemes(acl, tsv));
DROP INDEX chunks_tsv_idx;

-- The statistics trigger of 00002, now per tag. The deltas are computed per (chunk, distinct
-- tag; deduplicated by a subquery rather than a filter, whose selectivity the planner
-- guessed at 0.5% and then sorted every lexeme of a batch instead of hashing them: 40%
-- slower):
-- on an update, a pair whose chunk kept its chunking and its lexemes and kept the tag
-- cancels out, so re-tagging a document touches only the statistics of the tags it gained
-- (+1) and lost (-1), and a change of title touches every tag of the document's chunks. An
-- update that changes a chunk's id pairs nothing and counts the old row out and the new one
-- in.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION docent_chunks_after_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  delta text;  -- per chunk: chunking_id, tsv, acl, lexical_length, n (+1 in, -1 out)
  tagged text; -- per (chunk, tag): chunking_id, tag, tsv, lexical_length, n
  lexemes_changed boolean := true;
  lowest bigint;
  tbl text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    delta := 'SELECT chunking_id, tsv, acl, lexical_length, 1 AS n FROM new_chunks';
    tagged := 'SELECT c.chunking_id, t.tag, c.tsv, c.lexical_length, 1 AS n
               FROM new_chunks c, unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag)';
  ELSIF TG_OP = 'DELETE' THEN
    delta := 'SELECT chunking_id, tsv, acl, lexical_length, -1 AS n FROM old_chunks';
    tagged := 'SELECT c.chunking_id, t.tag, c.tsv, c.lexical_length, -1 AS n
               FROM old_chunks c, unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag)';
  ELSE
    delta := 'SELECT chunking_id, tsv, acl, lexical_length, 1 AS n FROM new_chunks
              UNION ALL SELECT chunking_id, tsv, acl, lexical_length, -1 FROM old_chunks';
    tagged := 'SELECT c.chunking_id, t.tag, c.tsv, c.lexical_length, 1 AS n
               FROM new_chunks c LEFT JOIN old_chunks o USING (id), unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag)
               WHERE (o.id IS NULL OR c.tsv IS DISTINCT FROM o.tsv OR c.chunking_id IS DISTINCT FROM o.chunking_id
                  OR NOT t.tag = ANY(o.acl))
               UNION ALL
               SELECT c.chunking_id, t.tag, c.tsv, c.lexical_length, -1
               FROM old_chunks c LEFT JOIN new_chunks n USING (id), unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag)
               WHERE (n.id IS NULL OR c.tsv IS DISTINCT FROM n.tsv OR c.chunking_id IS DISTINCT FROM n.chunking_id
                  OR NOT t.tag = ANY(n.acl))';
    SELECT EXISTS (SELECT FROM new_chunks n LEFT JOIN old_chunks o USING (id)
                   WHERE o.id IS NULL OR n.tsv IS DISTINCT FROM o.tsv OR n.chunking_id IS DISTINCT FROM o.chunking_id)
      INTO lexemes_changed;
  END IF;

  -- The tf bounds take the largest of the incoming chunks' values (a lexeme whose df does not
  -- change may still occur more often in a rewritten chunk).
  EXECUTE 'WITH d AS (' || tagged || '), up AS (
      INSERT INTO tag_lexeme_stats AS s (chunking_id, tag, lexeme, df, max_tf, max_tf_ratio)
      SELECT d.chunking_id, d.tag, l.lexeme, sum(d.n),
             coalesce(max(coalesce(array_length(l.positions, 1), 1)) FILTER (WHERE d.n > 0), 0),
             coalesce(max(coalesce(array_length(l.positions, 1), 1)::float8 / greatest(d.lexical_length, 1))
                      FILTER (WHERE d.n > 0), 0)
      FROM d, unnest(d.tsv) AS l
      GROUP BY 1, 2, 3 HAVING sum(d.n) <> 0 OR bool_or(d.n > 0) ORDER BY 1, 2, 3
      ON CONFLICT (chunking_id, tag, lexeme) DO UPDATE
        SET df = s.df + EXCLUDED.df,
            max_tf = greatest(s.max_tf, EXCLUDED.max_tf),
            max_tf_ratio = greatest(s.max_tf_ratio, EXCLUDED.max_tf_ratio)
      RETURNING s.df)
    SELECT min(df) FROM up' INTO lowest;
  IF lowest < 0 THEN
    RAISE EXCEPTION 'tag_lexeme_stats would go negative (%): statistics and chunks disagree', lowest;
  END IF;
  EXECUTE 'WITH d AS (' || tagged || '), up AS (
      INSERT INTO acl_stats AS s (chunking_id, tag, chunk_count, total_length)
      SELECT d.chunking_id, d.tag, sum(d.n), sum(d.n * d.lexical_length)
      FROM d
      GROUP BY 1, 2 HAVING sum(d.n) <> 0 OR sum(d.n * d.lexical_length) <> 0 ORDER BY 1, 2
      ON CONFLICT (chunking_id, tag) DO UPDATE
        SET chunk_count = s.chunk_count + EXCLUDED.chunk_count,
            total_length = s.total_length + EXCLUDED.total_length
      RETURNING least(s.chunk_count, s.total_length) AS v)
    SELECT min(v) FROM up' INTO lowest;
  IF lowest < 0 THEN
    RAISE EXCEPTION 'acl_stats would go negative (%): statistics and chunks disagree', lowest;
  END IF;
  IF lexemes_changed THEN
    EXECUTE 'WITH d AS (' || delta || '), up AS (
        INSERT INTO corpus_stats AS s (chunking_id, chunk_count, total_length)
        SELECT d.chunking_id, sum(d.n), sum(d.n * d.lexical_length)
        FROM d GROUP BY 1 ORDER BY 1
        ON CONFLICT (chunking_id) DO UPDATE
          SET chunk_count = s.chunk_count + EXCLUDED.chunk_count,
              total_length = s.total_length + EXCLUDED.total_length
        RETURNING least(s.chunk_count, s.total_length) AS v)
      SELECT min(v) FROM up' INTO lowest;
    IF lowest < 0 THEN
      RAISE EXCEPTION 'corpus_stats would go negative (%): statistics and chunks disagree', lowest;
    END IF;
  END IF;

  UPDATE corpus_version SET version = version + 1;

  IF TG_OP = 'UPDATE' THEN
    FOR tbl IN SELECT g.table_name FROM index_generations g WHERE g.table_name IS NOT NULL ORDER BY g.id LOOP
      EXECUTE format('UPDATE %I e SET acl = n.acl FROM new_chunks n
                      WHERE e.chunk_id = n.id AND e.acl IS DISTINCT FROM n.acl', tbl);
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
CREATE INDEX chunks_tsv_idx ON chunks USING gin (tsv);
DROP INDEX chunks_tag_lexemes_idx;
DROP FUNCTION docent_tag_lexemes, docent_lexeme_key, docent_tag_key;

CREATE TABLE lexeme_stats (
  chunking_id  int NOT NULL REFERENCES chunkings ON DELETE CASCADE,
  lexeme       text NOT NULL,
  df           int NOT NULL,
  max_tf       int NOT NULL DEFAULT 0,
  max_tf_ratio double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (chunking_id, lexeme)
);
INSERT INTO lexeme_stats (chunking_id, lexeme, df, max_tf, max_tf_ratio)
SELECT c.chunking_id, u.lexeme, count(*),
       max(coalesce(array_length(u.positions, 1), 1)),
       max(coalesce(array_length(u.positions, 1), 1)::float8 / greatest(c.lexical_length, 1))
FROM chunks c, unnest(c.tsv) AS u
GROUP BY 1, 2;

-- The trigger of 00002.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION docent_chunks_after_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  delta text;
  lexemes_changed boolean := true;
  lowest bigint;
  tbl text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    delta := 'SELECT chunking_id, tsv, acl, lexical_length, 1 AS n FROM new_chunks';
  ELSIF TG_OP = 'DELETE' THEN
    delta := 'SELECT chunking_id, tsv, acl, lexical_length, -1 AS n FROM old_chunks';
  ELSE
    delta := 'SELECT chunking_id, tsv, acl, lexical_length, 1 AS n FROM new_chunks
              UNION ALL SELECT chunking_id, tsv, acl, lexical_length, -1 FROM old_chunks';
    SELECT EXISTS (SELECT FROM new_chunks n JOIN old_chunks o USING (id)
                   WHERE n.tsv IS DISTINCT FROM o.tsv OR n.chunking_id IS DISTINCT FROM o.chunking_id)
      INTO lexemes_changed;
  END IF;

  IF lexemes_changed THEN
    EXECUTE 'WITH d AS (' || delta || '), up AS (
        INSERT INTO lexeme_stats AS s (chunking_id, lexeme, df, max_tf, max_tf_ratio)
        SELECT d.chunking_id, l.lexeme, sum(d.n),
               coalesce(max(coalesce(array_length(l.positions, 1), 1)) FILTER (WHERE d.n > 0), 0),
               coalesce(max(coalesce(array_length(l.positions, 1), 1)::float8 / greatest(d.lexical_length, 1))
                        FILTER (WHERE d.n > 0), 0)
        FROM d, unnest(d.tsv) AS l
        GROUP BY 1, 2 HAVING sum(d.n) <> 0 OR bool_or(d.n > 0) ORDER BY 1, 2
        ON CONFLICT (chunking_id, lexeme) DO UPDATE
          SET df = s.df + EXCLUDED.df,
              max_tf = greatest(s.max_tf, EXCLUDED.max_tf),
              max_tf_ratio = greatest(s.max_tf_ratio, EXCLUDED.max_tf_ratio)
        RETURNING s.df)
      SELECT min(df) FROM up' INTO lowest;
    IF lowest < 0 THEN
      RAISE EXCEPTION 'lexeme_stats would go negative (%): statistics and chunks disagree', lowest;
    END IF;
    EXECUTE 'WITH d AS (' || delta || '), up AS (
        INSERT INTO corpus_stats AS s (chunking_id, chunk_count, total_length)
        SELECT d.chunking_id, sum(d.n), sum(d.n * d.lexical_length)
        FROM d GROUP BY 1 ORDER BY 1
        ON CONFLICT (chunking_id) DO UPDATE
          SET chunk_count = s.chunk_count + EXCLUDED.chunk_count,
              total_length = s.total_length + EXCLUDED.total_length
        RETURNING least(s.chunk_count, s.total_length) AS v)
      SELECT min(v) FROM up' INTO lowest;
    IF lowest < 0 THEN
      RAISE EXCEPTION 'corpus_stats would go negative (%): statistics and chunks disagree', lowest;
    END IF;
  END IF;
  EXECUTE 'WITH d AS (' || delta || '), up AS (
      INSERT INTO acl_stats AS s (chunking_id, tag, chunk_count)
      SELECT d.chunking_id, t.tag, sum(d.n)
      FROM d, unnest(d.acl) AS t(tag)
      GROUP BY 1, 2 HAVING sum(d.n) <> 0 ORDER BY 1, 2
      ON CONFLICT (chunking_id, tag) DO UPDATE SET chunk_count = s.chunk_count + EXCLUDED.chunk_count
      RETURNING s.chunk_count)
    SELECT min(chunk_count) FROM up' INTO lowest;
  IF lowest < 0 THEN
    RAISE EXCEPTION 'acl_stats would go negative (%): statistics and chunks disagree', lowest;
  END IF;

  UPDATE corpus_version SET version = version + 1;

  IF TG_OP = 'UPDATE' THEN
    FOR tbl IN SELECT g.table_name FROM index_generations g WHERE g.table_name IS NOT NULL ORDER BY g.id LOOP
      EXECUTE format('UPDATE %I e SET acl = n.acl FROM new_chunks n
                      WHERE e.chunk_id = n.id AND e.acl IS DISTINCT FROM n.acl', tbl);
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
DROP TABLE tag_lexeme_stats;
ALTER TABLE acl_stats DROP COLUMN total_length;
-- 00001's trigger counts a tag listed twice twice.
DELETE FROM acl_stats;
INSERT INTO acl_stats (chunking_id, tag, chunk_count)
SELECT c.chunking_id, t.tag, count(*) FROM chunks c, unnest(c.acl) AS t(tag) GROUP BY 1, 2;

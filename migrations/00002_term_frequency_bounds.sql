-- Term-frequency bounds for MaxScore: lexeme_stats keeps, per lexeme, the largest number of
-- occurrences in one chunk (max_tf) and the largest share of a chunk's length
-- (max_tf_ratio). With them the lexical leg bounds what a term can add to any chunk's BM25
-- score much more tightly than the limit w·(k1+1), so its second pass scores far fewer
-- chunks (docs/retrieval.md). They are upper bounds that only grow: a deletion leaves them
-- as they were, larger than needed but still bounds; index.StatisticsMismatches checks that
-- no bound is below the truth.

-- +goose Up
ALTER TABLE lexeme_stats
  ADD COLUMN max_tf int NOT NULL DEFAULT 0,
  ADD COLUMN max_tf_ratio double precision NOT NULL DEFAULT 0;

-- Existing statistics: the bounds from the chunks as they are (0 would also be safe: the
-- lexical leg then falls back to w·(k1+1) for that lexeme).
UPDATE lexeme_stats s SET max_tf = t.max_tf, max_tf_ratio = t.max_tf_ratio
FROM (SELECT c.chunking_id, u.lexeme,
             max(coalesce(array_length(u.positions, 1), 1)) AS max_tf,
             max(coalesce(array_length(u.positions, 1), 1)::float8 / greatest(c.lexical_length, 1)) AS max_tf_ratio
      FROM chunks c, unnest(c.tsv) AS u GROUP BY 1, 2) t
WHERE s.chunking_id = t.chunking_id AND s.lexeme = t.lexeme;

-- The statistics trigger of 00001, now also raising the bounds.
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
    -- The tf bounds take the largest of the new chunks' values (a lexeme whose df does not
    -- change may still occur more often in an updated chunk).
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

-- +goose Down
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
        INSERT INTO lexeme_stats AS s (chunking_id, lexeme, df)
        SELECT d.chunking_id, l.lexeme, sum(d.n)
        FROM d, unnest(tsvector_to_array(d.tsv)) AS l(lexeme)
        GROUP BY 1, 2 HAVING sum(d.n) <> 0 ORDER BY 1, 2
        ON CONFLICT (chunking_id, lexeme) DO UPDATE SET df = s.df + EXCLUDED.df
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
ALTER TABLE lexeme_stats DROP COLUMN max_tf, DROP COLUMN max_tf_ratio;

-- Deferred statistics: the bulk path of a first load.
--
-- The statement triggers of chunks keep the per-tag BM25 statistics (00008) exact in the same
-- transaction as every chunk change. That is what a chunking being read needs; a chunking that
-- nobody reads yet (the first load of an empty index, a rechunking reindex filling a new
-- chunking before its evaluation) pays for it without a reader. And it pays more the larger
-- the load: each batch upserts its (tag, lexeme) rows, every update of a row that already
-- exists is a new row version and a new index entry (measured at 10k chunks: 390,565 updates
-- of tag_lexeme_stats, 753 of them heap-only), and the table and its index grow with the
-- updates rather than with the rows: 100k chunks went in at ~600 chunks/s at the start and
-- under 200 at the end (issue 14).
--
-- A chunking listed in statistics_deferred has no statistics being kept: the triggers leave
-- its chunks out (the other chunkings of the same statement are counted as before; the tags
-- of re-tagged chunks still reach the embeddings of every generation), and
-- index.CompleteStatistics computes its statistics once from its chunks, with one GROUP BY,
-- and removes the row, in one transaction. Ingestion defers only a chunking with no chunks
-- that no active generation uses (index.DeferStatistics, under the generation-writes lock
-- taken exclusively, so no write is in flight), and completes it at the end of its run; a
-- generation whose chunking is deferred cannot be activated (index.activateUnindexed), so no
-- query ever reads a chunking without its statistics.
--
-- Why this is exact when writers run alongside: a trigger that leaves a deferred chunking out
-- holds a share lock on its statistics_deferred row until its transaction ends; the
-- completion deletes that row first, which waits for those transactions to commit, and its
-- next statement, with a snapshot taken after they did, reads their chunks. A writer that
-- comes after the delete waits on the row, finds it gone once the completion commits, and
-- counts its own chunks through the triggers, on top of the rows the completion wrote.

-- +goose Up
CREATE TABLE statistics_deferred (
  chunking_id int PRIMARY KEY REFERENCES chunkings ON DELETE CASCADE,
  since       timestamptz NOT NULL DEFAULT now()
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION docent_chunks_after_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  delta text;  -- per chunk: chunking_id, tsv, acl, lexical_length, n (+1 in, -1 out)
  tagged text; -- per (chunk, tag): chunking_id, tag, tsv, lexical_length, n
  new_rows text := 'new_chunks'; -- the transition tables, less the chunks of deferred chunkings
  old_rows text := 'old_chunks';
  touched text;
  deferred int[];
  counted boolean;
  lexemes_changed boolean := true;
  lowest bigint;
  tbl text;
BEGIN
  touched := CASE TG_OP WHEN 'INSERT' THEN 'SELECT chunking_id FROM new_chunks'
                        WHEN 'DELETE' THEN 'SELECT chunking_id FROM old_chunks'
                        ELSE 'SELECT chunking_id FROM new_chunks UNION SELECT chunking_id FROM old_chunks' END;
  -- FOR SHARE: index.CompleteStatistics waits for this transaction before it reads the chunks.
  -- (The table is empty but during a first load: one probe, and the transition tables are not
  -- read for it.)
  IF EXISTS (SELECT FROM statistics_deferred) THEN
    EXECUTE 'WITH d AS (SELECT chunking_id FROM statistics_deferred WHERE chunking_id IN (' || touched || ')
                        ORDER BY chunking_id FOR SHARE)
             SELECT array_agg(chunking_id) FROM d' INTO deferred;
  END IF;
  IF deferred IS NOT NULL THEN
    new_rows := format('(SELECT * FROM new_chunks WHERE chunking_id <> ALL (%L::int[]))', deferred);
    old_rows := format('(SELECT * FROM old_chunks WHERE chunking_id <> ALL (%L::int[]))', deferred);
    EXECUTE 'SELECT EXISTS (SELECT FROM (' || touched || ') t WHERE chunking_id <> ALL ($1))' INTO counted USING deferred;
  ELSE
    counted := true;
  END IF;

  IF TG_OP = 'INSERT' THEN
    delta := 'SELECT chunking_id, tsv, acl, lexical_length, 1 AS n FROM ' || new_rows || ' c';
    tagged := 'SELECT c.chunking_id, t.tag, c.tsv, c.lexical_length, 1 AS n
               FROM ' || new_rows || ' c, unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag)';
  ELSIF TG_OP = 'DELETE' THEN
    delta := 'SELECT chunking_id, tsv, acl, lexical_length, -1 AS n FROM ' || old_rows || ' c';
    tagged := 'SELECT c.chunking_id, t.tag, c.tsv, c.lexical_length, -1 AS n
               FROM ' || old_rows || ' c, unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag)';
  ELSE
    delta := 'SELECT chunking_id, tsv, acl, lexical_length, 1 AS n FROM ' || new_rows || ' c
              UNION ALL SELECT chunking_id, tsv, acl, lexical_length, -1 FROM ' || old_rows || ' c';
    tagged := 'SELECT c.chunking_id, t.tag, c.tsv, c.lexical_length, 1 AS n
               FROM ' || new_rows || ' c LEFT JOIN ' || old_rows || ' o USING (id), unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag)
               WHERE (o.id IS NULL OR c.tsv IS DISTINCT FROM o.tsv OR c.chunking_id IS DISTINCT FROM o.chunking_id
                  OR NOT t.tag = ANY(o.acl))
               UNION ALL
               SELECT c.chunking_id, t.tag, c.tsv, c.lexical_length, -1
               FROM ' || old_rows || ' c LEFT JOIN ' || new_rows || ' n USING (id), unnest(ARRAY(SELECT DISTINCT a FROM unnest(c.acl) AS a)) AS t(tag)
               WHERE (n.id IS NULL OR c.tsv IS DISTINCT FROM n.tsv OR c.chunking_id IS DISTINCT FROM n.chunking_id
                  OR NOT t.tag = ANY(n.acl))';
    EXECUTE 'SELECT EXISTS (SELECT FROM ' || new_rows || ' n LEFT JOIN ' || old_rows || ' o USING (id)
                   WHERE o.id IS NULL OR n.tsv IS DISTINCT FROM o.tsv OR n.chunking_id IS DISTINCT FROM o.chunking_id)'
      INTO lexemes_changed;
  END IF;

  IF counted THEN
    -- The tf bounds take the largest of the incoming chunks' values (a lexeme whose df does
    -- not change may still occur more often in a rewritten chunk).
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
  END IF;

  UPDATE corpus_version SET version = version + 1;

  -- Every chunk's tags, deferred or not, reach the embeddings of every generation.
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
-- The trigger of 00008.
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
DROP TABLE statistics_deferred;

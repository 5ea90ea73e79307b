-- Partial HNSW indexes per large tag: the dense leg of a caller who sees a large group.
--
-- One HNSW graph over every vector serves a caller who sees most of the corpus, and an exact
-- scan serves one who sees little of it (retrieve.Config.ExactScanBelow chunks). Between them
-- neither works well: at 1,000,000 chunks a caller who sees 10% walked the shared graph at
-- ef_search 1000 for a recall@10 of 0.894 in 256 ms (the walk discards the nine candidates in
-- ten the caller cannot see), and scanned exactly in 245 ms. A graph over that group's
-- vectors alone answered with 0.94-0.95 in 39-53 ms (docs/benchmarks.md).
--
-- index.BuildTagVectorIndexes builds, for each tag of a generation's chunking that is carried
-- by at least a configured number of chunks and by at most a configured share of them, an HNSW
-- index of the generation's embeddings WHERE acl && ARRAY[tag]; this table lists them. The
-- retriever searches such a tag's graph with the same predicate (a literal, so the planner can
-- prove the index applies) AND the caller's tags, so a row it returns is visible whatever the
-- index holds; the table only tells it which graphs exist. A row is written in the
-- transaction that built the index: a replica that has the row has the index.

-- +goose Up
CREATE TABLE tag_vector_indexes (
  generation_id        int NOT NULL REFERENCES index_generations ON DELETE CASCADE,
  tag                  text NOT NULL,
  index_name           text NOT NULL,
  chunks               bigint NOT NULL,  -- chunks carrying the tag when the index was built
  hnsw_m               int NOT NULL,
  hnsw_ef_construction int NOT NULL,
  built_at             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (generation_id, tag)
);

-- docent_create_tag_vector_index builds the partial HNSW index of one tag of a generation,
-- with the given m and ef_construction and the generation's operator class, and records it.
-- The index is named after a 64-bit hash of the tag (tags are any text; names are 63 bytes);
-- returns the name, or NULL when another tag of the generation already has that name (a hash
-- collision: the tag keeps the shared graph). Idempotent.
-- +goose StatementBegin
CREATE FUNCTION docent_create_tag_vector_index(generation int, index_tag text, m int, ef_construction int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  g index_generations;
  idx text;
BEGIN
  SELECT * INTO STRICT g FROM index_generations WHERE id = generation;
  IF g.table_name IS NULL THEN
    RAISE EXCEPTION 'generation % has no embeddings table', g.id;
  END IF;
  IF m NOT BETWEEN 2 AND 100 OR ef_construction NOT BETWEEN 2 * m AND 1000 THEN
    RAISE EXCEPTION 'HNSW m % and ef_construction % are out of range', m, ef_construction;
  END IF;
  idx := g.table_name || '_tag_' || lpad(to_hex(hashtextextended(index_tag, 0)), 16, '0');
  IF EXISTS (SELECT FROM tag_vector_indexes t WHERE t.generation_id = g.id AND t.index_name = idx AND t.tag <> index_tag) THEN
    RETURN NULL;
  END IF;
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I USING hnsw (embedding %s) WITH (m = %s, ef_construction = %s) WHERE acl && ARRAY[%L]::text[]',
    idx, g.table_name,
    CASE WHEN g.dimension > 2000 THEN 'halfvec' ELSE 'vector' END
      || CASE g.distance WHEN 'cosine' THEN '_cosine_ops' WHEN 'l2' THEN '_l2_ops' ELSE '_ip_ops' END,
    m, ef_construction, index_tag);
  INSERT INTO tag_vector_indexes (generation_id, tag, index_name, chunks, hnsw_m, hnsw_ef_construction)
  VALUES (g.id, index_tag, idx,
          coalesce((SELECT s.chunk_count FROM acl_stats s WHERE s.chunking_id = g.chunking_id AND s.tag = index_tag), 0),
          m, ef_construction)
  ON CONFLICT (generation_id, tag) DO NOTHING;
  RETURN idx;
END
$$;
-- +goose StatementEnd

-- The embeddings table's drop takes its indexes with it, and now their rows.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION docent_drop_embedding_table(generation int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  g index_generations;
BEGIN
  SELECT * INTO STRICT g FROM index_generations WHERE id = generation FOR UPDATE;
  IF g.status = 'active' THEN
    RAISE EXCEPTION 'generation % is active and cannot be dropped', g.id;
  END IF;
  IF g.table_name IS NOT NULL THEN
    EXECUTE format('DROP TABLE IF EXISTS %I', g.table_name);
    UPDATE index_generations SET table_name = NULL WHERE id = g.id;
  END IF;
  DELETE FROM tag_vector_indexes WHERE generation_id = g.id;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION docent_drop_embedding_table(generation int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  g index_generations;
BEGIN
  SELECT * INTO STRICT g FROM index_generations WHERE id = generation FOR UPDATE;
  IF g.status = 'active' THEN
    RAISE EXCEPTION 'generation % is active and cannot be dropped', g.id;
  END IF;
  IF g.table_name IS NOT NULL THEN
    EXECUTE format('DROP TABLE IF EXISTS %I', g.table_name);
    UPDATE index_generations SET table_name = NULL WHERE id = g.id;
  END IF;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT index_name FROM tag_vector_indexes LOOP
    EXECUTE format('DROP INDEX IF EXISTS %I', r.index_name);
  END LOOP;
END
$$;
-- +goose StatementEnd
DROP FUNCTION IF EXISTS docent_create_tag_vector_index;
DROP TABLE IF EXISTS tag_vector_indexes;

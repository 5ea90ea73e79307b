-- Docent's schema for the whole product: documents and their permission-tagged chunks, the
-- lexical statistics BM25 needs, index generations with their embeddings, the ingest job
-- record, API keys and answer traces. docs/schema.md explains the design.
--
-- Invariants that the database itself enforces, so that no code path can forget them:
--   * chunks.acl always equals its document's acl, and every embeddings_<n>.acl equals its
--     chunk's acl (triggers below; the permission filter of both retrieval legs reads these
--     copies, so a stale copy would be a permission leak);
--   * chunks.tsv and chunks.lexical_length always match the chunk text under its chunking's
--     text search configuration;
--   * lexeme_stats, corpus_stats and acl_stats always equal aggregates over chunks, in the same
--     transaction as the chunk change.

-- +goose Up

-- pgvector >= 0.8.0: iterative index scans (hnsw.iterative_scan) are what make filtered
-- vector search return k rows. Creating the extension needs a superuser; scripts/db.sh does it
-- for the local cluster (also in template1), so here it is usually already present.
-- +goose StatementBegin
DO $$
DECLARE
  v text;
BEGIN
  SELECT extversion INTO v FROM pg_extension WHERE extname = 'vector';
  IF v IS NULL THEN
    BEGIN
      CREATE EXTENSION vector;
    EXCEPTION WHEN insufficient_privilege OR undefined_file THEN
      RAISE EXCEPTION 'the vector extension is not installed in database %', current_database()
        USING HINT = 'install pgvector >= 0.8.0 on the server and run CREATE EXTENSION vector as a superuser (scripts/db.sh does this for the local cluster)';
    END;
    SELECT extversion INTO v FROM pg_extension WHERE extname = 'vector';
  END IF;
  IF string_to_array(v, '.')::int[] < '{0,8,0}'::int[] THEN
    RAISE EXCEPTION 'pgvector % is too old: Docent needs >= 0.8.0', v
      USING HINT = 'ALTER EXTENSION vector UPDATE (as a superuser) after installing pgvector >= 0.8.0';
  END IF;
END
$$;
-- +goose StatementEnd

-- A source is a named collection of documents that one ingest command keeps in sync
-- (`ingest run --source NAME PATH...`). Pruning and the per-source ingest lock work on it.
CREATE TABLE sources (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL UNIQUE CHECK (name <> ''),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per document. uri is stable within its source (the path relative to the source
-- root, or "file.jsonl#id" for a line of a JSON Lines collection), so a re-ingest finds the
-- row again; content_hash decides whether anything has to be redone.
CREATE TABLE documents (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source_id       bigint NOT NULL REFERENCES sources ON DELETE CASCADE,
  uri             text NOT NULL CHECK (uri <> ''),
  title           text NOT NULL DEFAULT '',
  content_type    text NOT NULL,               -- MIME type of the original, e.g. application/pdf
  content_hash    bytea NOT NULL,              -- sha256 of the original bytes
  extract_version text NOT NULL DEFAULT '',    -- extractor that produced text; a new one re-extracts
  size_bytes      bigint NOT NULL CHECK (size_bytes >= 0),
  page_count      int CHECK (page_count >= 0), -- NULL for formats without pages
  -- The extracted, normalised text. Chunk offsets point into it (in characters, like
  -- substr()), page_offsets[i] is where page i+1 starts. Large values are TOASTed, so scans
  -- of the other columns do not read it.
  text            text NOT NULL DEFAULT '',
  page_offsets    int[],
  metadata        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
  -- Permission tags: 'public', 'group:<name>', 'user:<id>'. A caller sees the document when
  -- the caller's principals intersect these. Empty means visible to no one (fail closed);
  -- 'public' is never implied.
  acl             text[] NOT NULL DEFAULT '{}' CHECK (array_position(acl, NULL) IS NULL),
  -- Where the tags came from: the document itself (front matter, a JSON Lines record's
  -- "acl"), a sidecar <file>.acl, a .docent-acl file of its directory tree, or the run's --acl
  -- flags. A re-run re-reads the last three even when the file is unchanged.
  acl_source      text NOT NULL DEFAULT 'none' CHECK (acl_source IN ('document', 'sidecar', 'directory', 'run', 'none')),
  modified_at     timestamptz,                 -- the original's modification time, if known
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source_id, uri)
);

-- A chunking is one configuration of the chunker (sizes, overlap, tokenizer) plus the text
-- search configuration used for lexical retrieval. Chunks belong to a chunking so that a
-- reindex with new chunking settings (`ingest reindex --rechunk`) can build its chunks beside
-- the live ones; an index generation names the chunking it embeds.
CREATE TABLE chunkings (
  id          int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  config_hash text NOT NULL UNIQUE,      -- sha256 of the canonical JSON of config
  config      jsonb NOT NULL,
  ts_config   regconfig NOT NULL DEFAULT 'english',
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Chunks: the unit of retrieval and citation. Vectors are deliberately not here: a 384-d
-- vector in a row with ~1 KB of text pushes the row over the TOAST threshold and makes exact
-- vector scans 5-10x slower; they live in the narrow per-generation embeddings tables.
CREATE TABLE chunks (
  -- BY DEFAULT, not ALWAYS: ingestion takes ids from the sequence first, so that it can COPY
  -- a document's chunks and their embeddings in the same transaction.
  id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  document_id    bigint NOT NULL REFERENCES documents ON DELETE CASCADE,
  chunking_id    int NOT NULL REFERENCES chunkings,
  ordinal        int NOT NULL CHECK (ordinal >= 0),   -- position within the document
  text           text NOT NULL,
  heading_path   text[] NOT NULL DEFAULT '{}',       -- e.g. {Install,Linux}
  page_start     int CHECK (page_start >= 1),        -- 1-based, inclusive; NULL without pages
  page_end       int CHECK (page_end >= page_start),
  char_start     int NOT NULL CHECK (char_start >= 0), -- [char_start, char_end) in documents.text
  char_end       int NOT NULL CHECK (char_end >= char_start),
  token_count    int NOT NULL CHECK (token_count >= 0),
  -- Copy of documents.acl, so that the permission filter runs in the same index scan as the
  -- text match (BitmapAnd of the two GIN indexes). Set by trigger; never written directly.
  acl            text[] NOT NULL,
  -- Lexemes of title + heading path + text under the chunking's ts_config, and the number of
  -- lexeme occurrences (the document length |d| of BM25). Set by trigger.
  tsv            tsvector NOT NULL,
  lexical_length int NOT NULL,
  UNIQUE (document_id, chunking_id, ordinal)
);
-- Keep the tsvector in the row (compressed if need be) and let the chunk text be the one
-- moved out to TOAST: BM25 reads the tsvector of every candidate, and fetching it from the
-- TOAST table cost 3-10x more per candidate (measured on SciFact: counting 2,244 matches
-- took 16.4 ms with the tsvector out of line, 1.7 ms in line).
ALTER TABLE chunks ALTER COLUMN tsv SET STORAGE MAIN;
CREATE INDEX chunks_tsv_idx ON chunks USING gin (tsv);
CREATE INDEX chunks_acl_idx ON chunks USING gin (acl);
CREATE INDEX chunks_chunking_idx ON chunks (chunking_id);

-- BM25 corpus statistics per chunking, maintained by trigger in the same transaction as the
-- chunks: document frequency per lexeme, and chunk count and total length for the average
-- document length. Rows whose df has dropped to 0 are harmless and left in place.
-- The counters have no CHECK (>= 0): PostgreSQL checks constraints on the row an INSERT
-- proposes before ON CONFLICT turns it into an update, which would reject every negative
-- delta; the trigger checks the rows it changed instead.
CREATE TABLE lexeme_stats (
  chunking_id int NOT NULL REFERENCES chunkings ON DELETE CASCADE,
  lexeme      text NOT NULL,
  df          int NOT NULL,
  PRIMARY KEY (chunking_id, lexeme)
);

CREATE TABLE corpus_stats (
  chunking_id  int PRIMARY KEY REFERENCES chunkings ON DELETE CASCADE,
  chunk_count  bigint NOT NULL,
  total_length bigint NOT NULL
);

-- Chunks per permission tag and chunking: retrieval sums the caller's tags to estimate how
-- many chunks the caller can see and picks an exact or an HNSW vector scan accordingly.
CREATE TABLE acl_stats (
  chunking_id int NOT NULL REFERENCES chunkings ON DELETE CASCADE,
  tag         text NOT NULL,
  chunk_count bigint NOT NULL,
  PRIMARY KEY (chunking_id, tag)
);

-- An index generation is one embedding of one chunking: embedder, model and dimension. Its
-- vectors live in their own table (embeddings_<id>, created by docent_create_embedding_table)
-- so that a new model with another dimension is built beside the active one, its HNSW index
-- is built once after the bulk load, activation is a one-row status change, and dropping a
-- retired generation is a DROP TABLE.
CREATE TABLE index_generations (
  id                   int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  chunking_id          int NOT NULL REFERENCES chunkings,
  embedder             text NOT NULL,        -- builtin, openai, ollama
  model                text NOT NULL,
  -- vector holds up to 2,000 dimensions in an HNSW index, halfvec up to 4,000 (pgvector's
  -- limits); the table function picks halfvec above 2,000.
  dimension            int NOT NULL CHECK (dimension BETWEEN 1 AND 4000),
  distance             text NOT NULL DEFAULT 'cosine' CHECK (distance IN ('cosine', 'l2', 'inner_product')),
  -- HNSW build parameters: m (links per node) and ef_construction (candidate list while
  -- building). 16/64 are pgvector's defaults; higher raises recall and build time.
  hnsw_m               int NOT NULL DEFAULT 16 CHECK (hnsw_m BETWEEN 2 AND 100),
  hnsw_ef_construction int NOT NULL DEFAULT 64 CHECK (hnsw_ef_construction BETWEEN 4 AND 1000),
  config               jsonb NOT NULL DEFAULT '{}'::jsonb,   -- embedder settings (no secrets)
  table_name           text UNIQUE,          -- embeddings_<id>; NULL once dropped
  status               text NOT NULL DEFAULT 'building' CHECK (status IN ('building', 'active', 'retired')),
  created_at           timestamptz NOT NULL DEFAULT now(),
  index_built_at       timestamptz,          -- when the HNSW index was finished
  activated_at         timestamptz,
  retired_at           timestamptz,
  CHECK (hnsw_ef_construction >= 2 * hnsw_m)
);
-- At most one active and one building generation at a time.
CREATE UNIQUE INDEX index_generations_one_active ON index_generations (status) WHERE status = 'active';
CREATE UNIQUE INDEX index_generations_one_building ON index_generations (status) WHERE status = 'building';

-- The evaluation gate of a reindex: the same queries against the active and the candidate
-- generation. Kept for the admin's record whether or not the candidate was activated.
CREATE TABLE generation_evals (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  generation_id      int NOT NULL REFERENCES index_generations ON DELETE CASCADE,
  baseline_id        int REFERENCES index_generations ON DELETE SET NULL,
  dataset            text NOT NULL,
  queries            int NOT NULL,
  ndcg_at_10         double precision NOT NULL,
  baseline_ndcg_at_10 double precision,
  tolerance          double precision NOT NULL,
  passed             boolean NOT NULL,
  forced             boolean NOT NULL DEFAULT false,
  details            jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at         timestamptz NOT NULL DEFAULT now()
);

-- The job record of the batch pipeline: one row per `ingest run` or `ingest reindex`.
CREATE TABLE ingest_runs (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('ingest', 'reindex')),
  source_id        bigint REFERENCES sources ON DELETE SET NULL,
  generation_id    int REFERENCES index_generations ON DELETE SET NULL,
  status           text NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted')),
  dry_run          boolean NOT NULL DEFAULT false,
  started_at       timestamptz NOT NULL DEFAULT now(),
  heartbeat_at     timestamptz NOT NULL DEFAULT now(),  -- a running row with an old heartbeat died
  finished_at      timestamptz,
  host             text NOT NULL DEFAULT '',
  pid              int,
  invoked_by       text NOT NULL DEFAULT '',             -- OS user
  args             text[] NOT NULL DEFAULT '{}',         -- command line
  embedder         text NOT NULL DEFAULT '',
  docs_added       int NOT NULL DEFAULT 0,
  docs_updated     int NOT NULL DEFAULT 0,
  docs_unchanged   int NOT NULL DEFAULT 0,
  docs_deleted     int NOT NULL DEFAULT 0,
  docs_acl_changed int NOT NULL DEFAULT 0,
  docs_failed      int NOT NULL DEFAULT 0,
  docs_skipped     int NOT NULL DEFAULT 0,
  chunks_written   bigint NOT NULL DEFAULT 0,
  chunks_deleted   bigint NOT NULL DEFAULT 0,
  pages            bigint NOT NULL DEFAULT 0,
  bytes            bigint NOT NULL DEFAULT 0,
  error            text
);
CREATE INDEX ingest_runs_started_idx ON ingest_runs (started_at DESC);
CREATE INDEX ingest_runs_running_idx ON ingest_runs (source_id) WHERE status = 'running';

-- Files that failed in a run, with a stable reason code (pdf_crash, timeout, too_large,
-- invalid_acl, ...) and a human message.
CREATE TABLE ingest_failures (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id     bigint NOT NULL REFERENCES ingest_runs ON DELETE CASCADE,
  source     text NOT NULL,
  uri        text NOT NULL,
  reason     text NOT NULL,
  message    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_failures_run_idx ON ingest_failures (run_id);

-- API keys. Only a SHA-256 of the key is stored: keys are 256-bit random strings, so a fast
-- hash is as strong as a slow one and lookups stay O(1). prefix is the non-secret start of
-- the key, shown in listings so a key can be recognised.
CREATE TABLE api_keys (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text NOT NULL CHECK (name <> ''),
  prefix       text NOT NULL,
  key_hash     bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
  principals   text[] NOT NULL CHECK (array_position(principals, NULL) IS NULL),
  role         text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);
-- A name may be reused once its key is revoked.
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;

-- One row per answered (or refused, or failed) request: everything needed to explain an
-- answer after the fact. Written asynchronously by the server; shown only to admins.
CREATE TABLE answer_traces (
  id              text PRIMARY KEY,           -- the request id (X-Request-ID)
  created_at      timestamptz NOT NULL DEFAULT now(),
  route           text NOT NULL,
  principal_hash  bytea NOT NULL,             -- sha256 of the caller's sorted principal set
  api_key_id      bigint REFERENCES api_keys ON DELETE SET NULL,
  question        text NOT NULL,
  normalized_query text,
  rewritten_query text,
  generation_id   int REFERENCES index_generations ON DELETE SET NULL,
  chunk_ids       bigint[] NOT NULL DEFAULT '{}',  -- retrieved, in final order
  retrieval       jsonb NOT NULL DEFAULT '{}'::jsonb, -- candidates, ranks and scores per leg
  context_tokens  int,
  prompt_version  text,
  model           text,
  usage           jsonb NOT NULL DEFAULT '{}'::jsonb, -- model token usage
  validation      jsonb NOT NULL DEFAULT '{}'::jsonb, -- per-sentence support, dropped citations
  steps           jsonb NOT NULL DEFAULT '[]'::jsonb, -- [{"step","ms"}], in order
  outcome         text NOT NULL CHECK (outcome IN ('answered', 'refused', 'fallback', 'error')),
  reason          text,                       -- no_evidence, model_unavailable, ...
  fallback        text,                       -- extractive, when the model failed
  total_ms        double precision NOT NULL,
  error           text
);
-- Retention clean-up deletes by age.
CREATE INDEX answer_traces_created_idx ON answer_traces (created_at);

-- A counter the database bumps on every change to chunks (new, changed, re-tagged or deleted
-- content, in any chunking). Servers put it in their answer cache keys: a cached answer must
-- never outlive a change of the chunks it was built from, least of all a revocation of tags.
CREATE TABLE corpus_version (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version   bigint NOT NULL
);
INSERT INTO corpus_version (version) VALUES (1);

-- ---- Triggers: permission tags and lexical data follow the documents ------------------------

-- docent_lexical_length: BM25's |d|, the number of lexeme occurrences in a tsvector.
CREATE FUNCTION docent_lexical_length(v tsvector) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (SELECT coalesce(sum(coalesce(array_length(u.positions, 1), 1)), 0)::int FROM unnest(v) AS u);

-- Before a chunk is written: copy its document's tags and compute its lexemes. The document
-- row is locked FOR SHARE so that a concurrent tag change waits for this transaction and then
-- updates this chunk too (otherwise the chunk could keep the old tags forever).
-- +goose StatementBegin
CREATE FUNCTION docent_chunks_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  doc_title text;
  cfg regconfig;
BEGIN
  SELECT d.acl, d.title INTO NEW.acl, doc_title
  FROM documents d WHERE d.id = NEW.document_id FOR SHARE;
  IF NOT FOUND THEN
    RAISE foreign_key_violation USING MESSAGE = format('document %s does not exist', NEW.document_id);
  END IF;
  SELECT c.ts_config INTO STRICT cfg FROM chunkings c WHERE c.id = NEW.chunking_id;
  NEW.tsv := to_tsvector(cfg, concat_ws(' ', doc_title, array_to_string(NEW.heading_path, ' '), NEW.text));
  NEW.lexical_length := docent_lexical_length(NEW.tsv);
  RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER chunks_before_write BEFORE INSERT OR UPDATE ON chunks
  FOR EACH ROW EXECUTE FUNCTION docent_chunks_before_write();

-- After a document's tags or title change: rewrite its chunks (the trigger above re-derives
-- their tags and lexemes).
-- +goose StatementBegin
CREATE FUNCTION docent_documents_after_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE chunks SET acl = NEW.acl WHERE document_id = NEW.id;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER documents_after_update AFTER UPDATE OF acl, title ON documents
  FOR EACH ROW WHEN (OLD.acl IS DISTINCT FROM NEW.acl OR OLD.title IS DISTINCT FROM NEW.title)
  EXECUTE FUNCTION docent_documents_after_update();

-- After chunks change: apply the deltas to the BM25 and tag statistics (one grouped upsert per
-- table and statement, in key order so that concurrent writers cannot deadlock on them), and
-- copy changed tags into every generation's embeddings table. A counter that would go
-- negative means the statistics and the chunks disagree: the statement fails rather than
-- store it.
-- +goose StatementBegin
CREATE FUNCTION docent_chunks_after_write() RETURNS trigger
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
CREATE TRIGGER chunks_after_insert AFTER INSERT ON chunks
  REFERENCING NEW TABLE AS new_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION docent_chunks_after_write();
CREATE TRIGGER chunks_after_update AFTER UPDATE ON chunks
  REFERENCING OLD TABLE AS old_chunks NEW TABLE AS new_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION docent_chunks_after_write();
CREATE TRIGGER chunks_after_delete AFTER DELETE ON chunks
  REFERENCING OLD TABLE AS old_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION docent_chunks_after_write();

-- Before an embedding row is written: take the tags from its chunk's document, locking the
-- document FOR SHARE for the same reason as docent_chunks_before_write.
-- +goose StatementBegin
CREATE FUNCTION docent_embeddings_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  SELECT d.acl INTO NEW.acl
  FROM chunks c JOIN documents d ON d.id = c.document_id
  WHERE c.id = NEW.chunk_id FOR SHARE OF d;
  IF NOT FOUND THEN
    RAISE foreign_key_violation USING MESSAGE = format('chunk %s does not exist', NEW.chunk_id);
  END IF;
  RETURN NEW;
END
$$;
-- +goose StatementEnd

-- ---- Index generations -------------------------------------------------------------------

-- docent_create_embedding_table creates embeddings_<id> for a generation: the vector of each
-- chunk with a copy of its tags (so an HNSW scan filters in the same index scan, and an exact
-- scan over a caller's visible chunks is a GIN bitmap scan on this narrow table). Vectors are
-- vector(dimension), or halfvec(dimension) above the 2,000 dimensions HNSW can index as
-- vector. The HNSW index is built separately (docent_create_vector_index) so that a bulk load
-- can come first. Returns the table name.
-- +goose StatementBegin
CREATE FUNCTION docent_create_embedding_table(generation int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  g index_generations;
  tbl text;
BEGIN
  SELECT * INTO STRICT g FROM index_generations WHERE id = generation FOR UPDATE;
  tbl := 'embeddings_' || g.id;
  EXECUTE format(
    'CREATE TABLE %I (
       chunk_id  bigint PRIMARY KEY REFERENCES chunks ON DELETE CASCADE,
       acl       text[] NOT NULL,
       embedding %s NOT NULL
     )', tbl, CASE WHEN g.dimension > 2000 THEN 'halfvec' ELSE 'vector' END || '(' || g.dimension || ')');
  -- In the row, uncompressed-or-not as it fits, rather than moved out: an exact scan reads
  -- every visible vector.
  EXECUTE format('ALTER TABLE %I ALTER COLUMN embedding SET STORAGE MAIN', tbl);
  EXECUTE format('COMMENT ON TABLE %I IS %L', tbl,
    format('Embeddings of index generation %s: %s %s, %s dimensions', g.id, g.embedder, g.model, g.dimension));
  EXECUTE format('CREATE INDEX %I ON %I USING gin (acl)', tbl || '_acl_idx', tbl);
  EXECUTE format('CREATE TRIGGER embeddings_before_write BEFORE INSERT OR UPDATE ON %I
                  FOR EACH ROW EXECUTE FUNCTION docent_embeddings_before_write()', tbl);
  UPDATE index_generations SET table_name = tbl WHERE id = g.id;
  RETURN tbl;
END
$$;
-- +goose StatementEnd

-- docent_create_vector_index builds the HNSW index of a generation with the generation's m
-- and ef_construction and its distance's operator class. Idempotent.
-- +goose StatementBegin
CREATE FUNCTION docent_create_vector_index(generation int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  g index_generations;
  idx text;
BEGIN
  SELECT * INTO STRICT g FROM index_generations WHERE id = generation;
  IF g.table_name IS NULL THEN
    RAISE EXCEPTION 'generation % has no embeddings table', g.id;
  END IF;
  idx := g.table_name || '_hnsw_idx';
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I USING hnsw (embedding %s) WITH (m = %s, ef_construction = %s)',
    idx, g.table_name,
    CASE WHEN g.dimension > 2000 THEN 'halfvec' ELSE 'vector' END
      || CASE g.distance WHEN 'cosine' THEN '_cosine_ops' WHEN 'l2' THEN '_l2_ops' ELSE '_ip_ops' END,
    g.hnsw_m, g.hnsw_ef_construction);
  UPDATE index_generations SET index_built_at = now() WHERE id = g.id AND index_built_at IS NULL;
  RETURN idx;
END
$$;
-- +goose StatementEnd

-- docent_drop_generation drops a retired or abandoned generation's table and marks it dropped.
-- +goose StatementBegin
CREATE FUNCTION docent_drop_embedding_table(generation int) RETURNS void
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

-- Servers LISTEN on docent_generations and switch to a newly activated generation without a
-- restart; the payload is the generation id.
-- +goose StatementBegin
CREATE FUNCTION docent_generations_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('docent_generations', NEW.id::text);
  RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER index_generations_notify AFTER INSERT OR UPDATE OF status ON index_generations
  FOR EACH ROW EXECUTE FUNCTION docent_generations_notify();

-- +goose Down
DROP TABLE IF EXISTS answer_traces, api_keys, ingest_failures, ingest_runs, generation_evals CASCADE;
-- +goose StatementBegin
DO $$
DECLARE
  tbl text;
BEGIN
  FOR tbl IN SELECT table_name FROM index_generations WHERE table_name IS NOT NULL LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I', tbl);
  END LOOP;
END
$$;
-- +goose StatementEnd
DROP TABLE IF EXISTS index_generations, acl_stats, corpus_stats, lexeme_stats, corpus_version, chunks, chunkings, documents, sources CASCADE;
DROP FUNCTION IF EXISTS docent_generations_notify, docent_drop_embedding_table, docent_create_vector_index,
  docent_create_embedding_table, docent_embeddings_before_write, docent_chunks_after_write,
  docent_documents_after_update, docent_chunks_before_write, docent_lexical_length;

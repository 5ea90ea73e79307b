-- HNSW build parameters of new index generations: m = 24 links per node and
-- ef_construction = 128 instead of pgvector's 16 and 64. With the built-in embedder's
-- low-contrast vectors the default graph found 0.72 of the exact top 10 for an unrestricted
-- caller at ef_search 100 and 0.77 for a caller who sees half the chunks; this graph finds
-- about 0.84 and, with ef_search raised to EfSearch / visible share, 0.95 or more at 50%, for
-- about 2.5× the build time (docs/benchmarks.md, "Retrieval at 100k chunks"). Existing
-- generations keep the parameters they were built with (each generation records its own);
-- the next reindex builds with these.

-- +goose Up
ALTER TABLE index_generations
  ALTER COLUMN hnsw_m SET DEFAULT 24,
  ALTER COLUMN hnsw_ef_construction SET DEFAULT 128;

-- +goose Down
ALTER TABLE index_generations
  ALTER COLUMN hnsw_m SET DEFAULT 16,
  ALTER COLUMN hnsw_ef_construction SET DEFAULT 64;

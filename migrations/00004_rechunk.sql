-- What a rechunking reindex needs (docs/operations.md):
--
--   * sources.roots and sources.options: the folders and settings of a source's latest
--     `ingest run`, so that `ingest reindex --rechunk` can read the documents again and split
--     them with new chunking settings;
--   * document_chunkings: for each document and chunking, the content (hash and extractor
--     version) that chunking's chunks were made from. With two chunkings side by side, the
--     document row's own hash says only what the latest ingest run saw; a chunking whose
--     chunks are older is re-chunked by the next pass that writes it.

-- +goose Up
ALTER TABLE sources
  ADD COLUMN roots   text[] NOT NULL DEFAULT '{}',
  ADD COLUMN options jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(options) = 'object');

CREATE TABLE document_chunkings (
  document_id     bigint NOT NULL REFERENCES documents ON DELETE CASCADE,
  chunking_id     int NOT NULL REFERENCES chunkings ON DELETE CASCADE,
  content_hash    bytea NOT NULL,
  extract_version text NOT NULL,
  PRIMARY KEY (document_id, chunking_id)
);
CREATE INDEX document_chunkings_chunking_idx ON document_chunkings (chunking_id);

-- Existing documents: their chunks were made from the content the row holds. Documents stored
-- without chunks (skipped, empty) count for the active chunking.
INSERT INTO document_chunkings (document_id, chunking_id, content_hash, extract_version)
SELECT d.id, c.chunking_id, d.content_hash, d.extract_version
FROM documents d JOIN (SELECT DISTINCT document_id, chunking_id FROM chunks) c ON c.document_id = d.id;
INSERT INTO document_chunkings (document_id, chunking_id, content_hash, extract_version)
SELECT d.id, g.chunking_id, d.content_hash, d.extract_version
FROM documents d, index_generations g WHERE g.status = 'active'
ON CONFLICT DO NOTHING;

-- +goose Down
DROP TABLE document_chunkings;
ALTER TABLE sources DROP COLUMN roots, DROP COLUMN options;

-- Documents hidden by ingestion (docs/ingestion.md, "Permission tags"): a document whose tags
-- cannot be known — its tag files or its own declaration invalid, its path now a link or a
-- FIFO that is not read, its file unreadable, or a file that declares its own tags failing to
-- extract — is kept with no tags (visible to no one) and acl_source 'hidden', so that the next
-- run reads it again whatever its content hash, instead of keeping its previous tags.

-- +goose Up
ALTER TABLE documents DROP CONSTRAINT documents_acl_source_check;
ALTER TABLE documents ADD CONSTRAINT documents_acl_source_check
  CHECK (acl_source IN ('document', 'sidecar', 'directory', 'run', 'none', 'hidden'));
-- A hidden document carries no tags.
ALTER TABLE documents ADD CONSTRAINT documents_hidden_untagged CHECK (acl_source <> 'hidden' OR acl = '{}');

-- +goose Down
ALTER TABLE documents DROP CONSTRAINT documents_hidden_untagged;
UPDATE documents SET acl_source = 'none' WHERE acl_source = 'hidden';
ALTER TABLE documents DROP CONSTRAINT documents_acl_source_check;
ALTER TABLE documents ADD CONSTRAINT documents_acl_source_check
  CHECK (acl_source IN ('document', 'sidecar', 'directory', 'run', 'none'));

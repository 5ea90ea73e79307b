-- Source links (issue 11): a document's URL, for citations to link to. It comes from the
-- document itself (front matter `url:`, a JSON Lines record's "url", an HTML canonical link)
-- or from the source's --url-prefix and the file's path; url_source says which, so that a
-- re-run of an unchanged file knows whether a change of the prefix applies to it.
--
-- Only absolute http(s) URLs are ever stored (ingestion checks them, extract.SourceURL); the
-- check constraint makes a javascript: or data: URL impossible whatever writes the row,
-- since clients render the URL as a link.

-- +goose Up
ALTER TABLE documents
  ADD COLUMN url text,
  ADD COLUMN url_source text NOT NULL DEFAULT 'none',
  ADD CONSTRAINT documents_url_source_check CHECK (url_source IN ('document', 'prefix', 'none')),
  ADD CONSTRAINT documents_url_check CHECK (
    url IS NULL OR (url ~ '^https?://[^/?#@[:space:][:cntrl:]]' AND octet_length(url) <= 2048)),
  ADD CONSTRAINT documents_url_consistent CHECK ((url IS NULL) = (url_source = 'none'));

-- Answers are cached by corpus version (retrieve.Version), and they carry their citations'
-- URLs: a change of a document's URL alone (a new --url-prefix) must make them stale too.
-- +goose StatementBegin
CREATE FUNCTION docent_document_url_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE corpus_version SET version = version + 1;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER documents_url_changed AFTER UPDATE OF url ON documents
  FOR EACH ROW WHEN (OLD.url IS DISTINCT FROM NEW.url) EXECUTE FUNCTION docent_document_url_changed();

-- +goose Down
DROP TRIGGER documents_url_changed ON documents;
DROP FUNCTION docent_document_url_changed;
ALTER TABLE documents
  DROP CONSTRAINT documents_url_consistent,
  DROP CONSTRAINT documents_url_check,
  DROP CONSTRAINT documents_url_source_check,
  DROP COLUMN url_source,
  DROP COLUMN url;

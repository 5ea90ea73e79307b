-- Traces that show a reader only what the reader may read, under ids no client can choose
-- (docs/api.md, "GET /v1/traces/{id}"):
--
--   * request_id: the X-Request-ID the request carried (the client's, when it sent a valid
--     one, else the server's), kept beside the trace id instead of being it. Trace ids are
--     now random and made by the server, so a client can no longer take another request's
--     trace id first. Not unique: two clients may send the same request id.
--   * involved_chunk_ids: every chunk the request touched (any retrieval leg's candidates,
--     the context given to the answerer with its attached neighbours, the citations, or the
--     cached answer's). A trace's question, passages and answer are shown to a reader only
--     when the reader's principals match the tags of every one of them. NULL means "not
--     known": traces written before this migration, which no reader is shown the content of.
--   * involved_acls: the distinct tag sets of those chunks when the trace was written. A
--     reader must match these as well as the chunks' current tags, so that broadening a
--     document's tags later does not open the traces of requests made while it was narrower.

-- +goose Up
ALTER TABLE answer_traces
  ADD COLUMN request_id text CHECK (request_id ~ '^[!-~]{1,128}$'),
  ADD COLUMN involved_chunk_ids bigint[] CHECK (array_position(involved_chunk_ids, NULL) IS NULL),
  ADD COLUMN involved_acls jsonb CHECK (jsonb_typeof(involved_acls) = 'array'),
  ADD CONSTRAINT answer_traces_involved_known
    CHECK ((involved_chunk_ids IS NULL) = (involved_acls IS NULL));

-- Existing traces: their id was the request id. What they involved is not known (their
-- chunk_ids lack the neighbours attached to the evidence, cache hits recorded none), so they
-- stay NULL and fully redacted until retention deletes them.
UPDATE answer_traces SET request_id = id WHERE id ~ '^[!-~]{1,128}$';

-- Admins look traces up by request id, newest first.
CREATE INDEX answer_traces_request_id_idx ON answer_traces (request_id, created_at DESC);

-- +goose Down
DROP INDEX answer_traces_request_id_idx;
ALTER TABLE answer_traces
  DROP CONSTRAINT answer_traces_involved_known,
  DROP COLUMN involved_acls,
  DROP COLUMN involved_chunk_ids,
  DROP COLUMN request_id;

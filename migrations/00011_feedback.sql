-- Feedback on answers (docs/api.md, "POST /v1/answers/{id}/feedback"), and what a trace
-- must record for it:
--
--   * answer_traces.caller_hash: SHA-256 of who asked (auth.Principal.CallerHash: the API
--     key's id, or the JWT's subject), so that only that caller, with the same principal set
--     (principal_hash), may rate the answer. NULL for anonymous callers and for traces
--     written before this migration: nobody may rate those.
--   * answer_traces.cited_uris: the URIs of the documents the answer cited, in citation
--     order, without duplicates. URIs rather than chunk ids, which a re-ingest or a
--     re-chunking replaces: the feedback export turns them into relevance judgments.
--   * answer_feedback: one rating per answer (its only possible author is the asker), kept
--     with the trace and deleted with it by trace retention. A second rating replaces the
--     first (updated_at).

-- +goose Up
ALTER TABLE answer_traces
  ADD COLUMN caller_hash bytea CHECK (length(caller_hash) = 32),
  ADD COLUMN cited_uris text[] CHECK (array_position(cited_uris, NULL) IS NULL);

CREATE TABLE answer_feedback (
  trace_id   text PRIMARY KEY REFERENCES answer_traces ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  rating     text NOT NULL CHECK (rating IN ('up', 'down')),
  reason     text CHECK (reason IN ('wrong', 'incomplete', 'not_relevant', 'outdated', 'other')),
  comment    text CHECK (char_length(comment) <= 2000)
);
-- The export reads the newest feedback since a time.
CREATE INDEX answer_feedback_updated_idx ON answer_feedback (updated_at);

-- +goose Down
DROP TABLE answer_feedback;
ALTER TABLE answer_traces
  DROP COLUMN cited_uris,
  DROP COLUMN caller_hash;

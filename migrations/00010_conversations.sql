-- Stored conversations (docs/api.md, "Conversations"): POST /v1/answer keeps each turn under a
-- conversation id made by the server, so that a follow-up is rewritten from the stored history
-- and a widget can restore the conversation after a page reload.
--
--   * conversations.id: 128 random bits as 32 hex digits, never chosen by a client.
--   * owner_hash and owner: who may read, continue or delete the conversation: the SHA-256 of
--     the caller's principal set (as answer_traces.principal_hash) and the caller's identity
--     ('key:<api key id>' or 'jwt:<sub>'). Both must match, or the conversation does not
--     exist for that caller.
--   * turns: how many turns it holds; bounded, so that a conversation cannot grow without end.
--   * conversation_turns.involved_chunk_ids: every chunk the turn's answer was written from
--     (the evidence with its attached neighbours, and the citations). When the conversation is
--     read back, a turn whose chunks the caller can no longer all read (re-tagged, hidden or
--     gone) has its answer and citations withheld.
--   * updated_at: the last turn's time; retention deletes conversations idle for longer than
--     DOCENT_CONVERSATION_RETENTION.

-- +goose Up
CREATE TABLE conversations (
  id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
  owner_hash  bytea NOT NULL CHECK (length(owner_hash) = 32),
  owner       text NOT NULL CHECK (owner ~ '^(key|jwt):.+$'),
  turns       int NOT NULL DEFAULT 0 CHECK (turns >= 0),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Retention deletes the conversations idle the longest first.
CREATE INDEX conversations_updated_at_idx ON conversations (updated_at);

CREATE TABLE conversation_turns (
  conversation_id    text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  n                  int NOT NULL CHECK (n >= 1),
  created_at         timestamptz NOT NULL DEFAULT now(),
  question           text NOT NULL,
  answer             text NOT NULL,
  answer_id          text NOT NULL, -- the answer's id, its trace id
  refused            boolean NOT NULL,
  reason             text,
  citations          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(citations) = 'array'),
  involved_chunk_ids bigint[] NOT NULL DEFAULT '{}' CHECK (array_position(involved_chunk_ids, NULL) IS NULL),
  PRIMARY KEY (conversation_id, n)
);

-- +goose Down
DROP TABLE conversation_turns;
DROP TABLE conversations;

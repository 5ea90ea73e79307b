-- Widget callers own conversations (issue 11): a publishable widget key owns its browsers'
-- conversations as 'widget:<key id>', an end-user session its user's as
-- 'session:<issuer key id>:<user>' (internal/ask ownerOf). The owner check of 00010 only
-- allowed API keys and JWTs.

-- +goose Up
ALTER TABLE conversations DROP CONSTRAINT conversations_owner_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_owner_check
  CHECK (owner ~ '^(key:[0-9]+|jwt:.+|widget:[0-9]+|session:[0-9]+:.+)$');

-- +goose Down
DELETE FROM conversations WHERE owner !~ '^(key|jwt):.+$';
ALTER TABLE conversations DROP CONSTRAINT conversations_owner_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_owner_check CHECK (owner ~ '^(key|jwt):.+$');

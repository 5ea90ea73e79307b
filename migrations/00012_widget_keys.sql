-- Keys for the chat widget (issue 11; docs/widget.md, docs/api.md "Widget keys and sessions"):
--
--   * kind: 'secret' (every key made before, "dk_": a server-to-server key), 'widget' (a
--     publishable "dpk_" key, accepted only from its origins and only on the widget's routes)
--     or 'session_issuer' (a secret "dk_" key that may only mint end-user sessions, on
--     POST /v1/widget/sessions).
--   * origins: the browser origins a widget key, or the sessions an issuer mints, are bound to;
--     normalised (scheme://host[:port], lower case, no default port) by internal/auth.
--   * user_domain: for an issuer, the domain its users' ids must end with ("@example.com"), or
--     '*' for any user id. The groups it may grant are its principals.
--   * widget_session_secrets: the HMAC key that signs end-user sessions when
--     DOCENT_WIDGET_SESSION_SECRET is not set, generated on first use; one row.

-- +goose Up
ALTER TABLE api_keys
  ADD COLUMN kind text NOT NULL DEFAULT 'secret' CHECK (kind IN ('secret', 'widget', 'session_issuer')),
  ADD COLUMN origins text[] NOT NULL DEFAULT '{}' CHECK (array_position(origins, NULL) IS NULL),
  ADD COLUMN user_domain text CHECK (user_domain <> ''),
  ADD CONSTRAINT api_keys_kind_shape CHECK (
    (kind = 'secret' AND cardinality(origins) = 0 AND user_domain IS NULL)
    OR (kind = 'widget' AND role = 'user' AND cardinality(origins) > 0 AND user_domain IS NULL)
    OR (kind = 'session_issuer' AND role = 'user' AND cardinality(origins) > 0 AND user_domain IS NOT NULL));

-- Preflight requests ask whether any live widget or issuer key lists an origin.
CREATE INDEX api_keys_live_origins_idx ON api_keys USING gin (origins) WHERE revoked_at IS NULL;

CREATE TABLE widget_session_secrets (
  id         int PRIMARY KEY CHECK (id = 1),
  secret     bytea NOT NULL CHECK (length(secret) = 32),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE widget_session_secrets;
DROP INDEX api_keys_live_origins_idx;
ALTER TABLE api_keys
  DROP CONSTRAINT api_keys_kind_shape,
  DROP COLUMN user_domain,
  DROP COLUMN origins,
  DROP COLUMN kind;

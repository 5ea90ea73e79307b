-- Rate limits shared by every server instance on the database (docs/operations.md, "Several
-- server instances"): one token bucket per limited key (a caller, a widget key, a widget key
-- and client address), taken from with one statement per limited request
-- (index.TakeToken).
--
-- UNLOGGED: a bucket is worth nothing after a crash (the table is emptied then, which only
-- refills every bucket), so its writes skip the WAL: no fsync at commit, nothing sent to the
-- replicas (a standby does not need, and cannot read, the table). full_at is when the bucket
-- is full again: a full bucket is the same as none, so rows past it are deleted
-- (index.PruneRateBuckets). taken says whether the last take got a token.

-- +goose Up
CREATE UNLOGGED TABLE rate_buckets (
  key text PRIMARY KEY CHECK (octet_length(key) <= 512),
  tokens double precision NOT NULL,
  at timestamptz NOT NULL,
  full_at timestamptz NOT NULL,
  taken boolean NOT NULL
);
CREATE INDEX rate_buckets_full_at ON rate_buckets (full_at);

-- +goose Down
DROP TABLE rate_buckets;

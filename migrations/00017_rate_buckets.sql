-- Rate limits shared by every server instance on the database (docs/operations.md, "Several
-- server instances"): one token bucket per limited key (a caller, a widget key, a widget key
-- and client address), taken from with one statement per limited request
-- (index.TakeToken).
--
-- UNLOGGED: a bucket is worth nothing after a crash (the table is emptied then, which only
-- refills every bucket), so its writes skip the WAL: no fsync at commit, nothing sent to the
-- replicas (a standby does not need, and cannot read, the table). full_at is when the bucket
-- is full again: a full bucket is the same as none, so rows past it are deleted
-- (index.PruneRateBuckets, once a minute per server: a scan of a small table). taken says
-- whether the last take got a token.
--
-- Only the primary key is indexed, and no take changes the key: every update can be a
-- heap-only tuple update (HOT), which fillfactor 50 leaves room for on the row's page, so
-- that a bucket taken from thousands of times a second (one widget key in many browsers)
-- does not pile dead entries into an index (measured: 2.1 ms a take with an index on
-- full_at, which every take changes; see BenchmarkRateLimitTake).

-- +goose Up
CREATE UNLOGGED TABLE rate_buckets (
  key text PRIMARY KEY CHECK (octet_length(key) <= 512),
  tokens double precision NOT NULL,
  at timestamptz NOT NULL,
  full_at timestamptz NOT NULL,
  taken boolean NOT NULL
) WITH (fillfactor = 50);

-- +goose Down
DROP TABLE rate_buckets;

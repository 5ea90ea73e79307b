package index

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Bucket is one take from a token bucket shared by every server on the database: it holds
// up to Burst tokens and refills at Rate per second.
type Bucket struct {
	Key   string // which bucket: the limit and what it limits (a long key is stored as its hash)
	Rate  float64
	Burst float64
	// Now is the time of the take, from the server's clock: servers on one database must
	// keep their clocks synchronised (NTP), as a server whose clock runs ahead refills the
	// buckets early by the difference.
	Now time.Time
}

// TakeToken takes a token from the bucket b.Key, refilled up to b.Now, and reports whether
// there was one and, when there was not, how many tokens the bucket holds (less than 1). One
// statement, atomic under concurrent takes from any number of servers: the row is locked for
// the statement only.
func TakeToken(ctx context.Context, db DBTX, b Bucket) (ok bool, tokens float64, err error) {
	if b.Rate <= 0 || b.Burst < 1 {
		return false, 0, errors.New("take token: the rate must be positive and the burst at least 1")
	}
	// A new bucket starts full, less this take. An existing one is refilled for the time
	// since its last take (never for time going back: another server's clock may be a little
	// behind), then a token is taken if there is a whole one.
	//
	// Nothing of a bucket needs to survive a crash (the table is unlogged), so the statement's
	// commit does not wait for the WAL to reach the disk: synchronous_commit is off for its
	// transaction only (set_config local, which ends with it, also behind a transaction
	// pooler). Measured: half the time of a take (BenchmarkRateLimitTake).
	err = db.QueryRow(ctx, `
		WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
		INSERT INTO rate_buckets AS b (key, tokens, at, full_at, taken)
		SELECT $1, $3::float8 - 1, $4::timestamptz, $4::timestamptz + make_interval(secs => 1 / $2::float8), true FROM async
		ON CONFLICT (key) DO UPDATE SET (taken, tokens, at, full_at) = (
			SELECT s.ok, s.t, s.at, s.at + make_interval(secs => ($3::float8 - s.t) / $2::float8)
			FROM (SELECT r.r >= 1 AS ok, CASE WHEN r.r >= 1 THEN r.r - 1 ELSE r.r END AS t,
			             greatest(b.at, $4::timestamptz) AS at
			      FROM (SELECT least($3::float8,
			                   b.tokens + greatest(0, extract(epoch FROM $4::timestamptz - b.at)::float8) * $2::float8) AS r) r) s)
		RETURNING taken, tokens`, bucketKey(b.Key), b.Rate, b.Burst, b.Now).Scan(&ok, &tokens)
	if err != nil {
		return false, 0, fmt.Errorf("take a token from rate bucket: %w", err)
	}
	return ok, tokens, nil
}

// maxBucketKey is the longest key stored as it is; the table's check allows 512 bytes.
const maxBucketKey = 256

// bucketKey is the key stored for key: key itself, or when it is longer than maxBucketKey
// (a caller's subject or user tag is the caller's to choose) its SHA-256, so that no key
// makes a take fail (which would send the server to its per-instance limits) and distinct
// keys keep distinct buckets.
func bucketKey(key string) string {
	if len(key) <= maxBucketKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// PruneRateBuckets deletes the buckets that are full by now: they are the same as none.
func PruneRateBuckets(ctx context.Context, db DBTX, now time.Time) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM rate_buckets WHERE full_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("prune rate buckets: %w", err)
	}
	return tag.RowsAffected(), nil
}

package api

import (
	"context"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/index"
)

// limiter is a set of token buckets, one per key (a caller, a client address): each holds up
// to burst tokens and refills at rate per second. It is safe for concurrent use and keeps at
// most maxBuckets buckets: a full bucket is the same as none, so full ones are forgotten first.
type limiter struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64 // may be negative: a debt (see charge)
	at     time.Time
}

// maxBuckets bounds a limiter's memory (about 100 bytes a bucket). Beyond, full buckets are
// dropped, then arbitrary ones: an attacker with more addresses than this gains a reset.
const maxBuckets = 100_000

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// refill returns key's bucket brought up to now; the caller holds l.mu.
func (l *limiter) refill(key string) *bucket {
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.shrink(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
		return b
	}
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
		b.at = now
	}
	return b
}

func (l *limiter) shrink(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxBuckets*9/10 {
			break
		}
		delete(l.buckets, k)
	}
}

// wait is how long until the bucket holds a whole token again.
func (l *limiter) wait(b *bucket) time.Duration {
	if l.rate <= 0 {
		return time.Hour
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// takeLocal takes a token from key's bucket if it has one; otherwise it reports how long to
// wait.
func (l *limiter) takeLocal(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, l.wait(b)
}

// ready reports whether key's bucket has a token, without taking it.
func (l *limiter) ready(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens >= 1 {
		return true, 0
	}
	return false, l.wait(b)
}

// charge takes a token from key's bucket after the fact, even one it does not have, down to
// -burst: requests that were let in concurrently and all failed each pay, so that their number
// is bounded over time too.
func (l *limiter) charge(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	b.tokens = math.Max(-l.burst, b.tokens-1)
}

// retryAfter is a Retry-After value: whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// clientAddress returns how a request's client address is found. Without trusted proxies it
// is the TCP peer, whatever the headers say. With them, it is the rightmost address of
// X-Forwarded-For that is not a trusted proxy (echo's extractor, told to trust nothing else:
// by default it trusts every private and loopback address). X-Real-IP is never read.
func clientAddress(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(prefixNet(p)))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// addressKey is the rate-limit key of a client address: the address for IPv4, its /64 for
// IPv6 (one subscriber's allocation, within which changing addresses is free).
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// tooMany is the 429 for a caller over a limit.
func tooMany(c echo.Context, wait time.Duration, what string) error {
	ra := retryAfter(wait)
	c.Response().Header().Set("Retry-After", ra)
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: what + ": retry after " + ra + "s"}
}

func prefixNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// taker takes tokens from the buckets of one limit: an in-process limiter, or a
// sharedLimiter whose buckets every server on the database draws from.
type taker interface {
	take(ctx context.Context, key string) (bool, time.Duration)
}

func (l *limiter) take(_ context.Context, key string) (bool, time.Duration) { return l.takeLocal(key) }

// sharedLimiter is a limit whose token buckets live in the database (index.TakeToken): every
// server instance on the database takes from the same bucket, so that a caller's limit is the
// configured one however many instances serve it and however the load balancer spreads its
// requests. Each take is one statement on the primary, on an unlogged table.
//
// When the database cannot be reached (or does not answer within sharedTakeTimeout), the limit
// falls back to this instance's own buckets, at the same rate, for sharedRetry: a limit is a
// protection of availability, not of permissions, so an outage of the primary makes it per
// instance (as it was before it was shared) rather than fail requests that could be served.
type sharedLimiter struct {
	db     index.DBTX
	name   string // the limit, which prefixes its bucket keys
	rate   float64
	burst  float64
	now    func() time.Time
	local  *limiter // the fallback
	logger *slog.Logger

	mu        sync.Mutex
	downUntil time.Time // until then, the local buckets are used
	prunedAt  time.Time
}

const (
	// sharedTakeTimeout bounds a take from a shared bucket.
	sharedTakeTimeout = time.Second
	// sharedRetry is how long a limit stays local after the database failed a take.
	sharedRetry = 5 * time.Second
	// pruneEvery is how often an instance deletes the full buckets from the database.
	pruneEvery = time.Minute
)

func newSharedLimiter(db index.DBTX, name string, rate float64, burst int, now func() time.Time, logger *slog.Logger) *sharedLimiter {
	return &sharedLimiter{db: db, name: name, rate: rate, burst: float64(burst), now: now,
		local: newLimiter(rate, burst, now), logger: logger}
}

func (l *sharedLimiter) take(ctx context.Context, key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	down := now.Before(l.downUntil)
	prune := !down && now.Sub(l.prunedAt) >= pruneEvery
	if prune {
		l.prunedAt = now
	}
	l.mu.Unlock()
	if down {
		return l.local.takeLocal(key)
	}
	if prune {
		go l.prune(context.WithoutCancel(ctx), now)
	}
	tctx, cancel := context.WithTimeout(ctx, sharedTakeTimeout)
	ok, tokens, err := index.TakeToken(tctx, l.db, index.Bucket{Key: l.name + "|" + key, Rate: l.rate, Burst: l.burst, Now: now})
	cancel()
	if err != nil {
		if ctx.Err() != nil { // the request ended, not the database
			return l.local.takeLocal(key)
		}
		l.mu.Lock()
		l.downUntil = now.Add(sharedRetry)
		l.mu.Unlock()
		l.logger.WarnContext(ctx, "rate limit: the shared buckets in the database failed; this instance limits on its own for a while",
			"limit", l.name, "retry_in", sharedRetry, "err", err)
		return l.local.takeLocal(key)
	}
	if ok {
		return true, 0
	}
	return false, time.Duration((1 - tokens) / l.rate * float64(time.Second))
}

func (l *sharedLimiter) prune(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := index.PruneRateBuckets(ctx, l.db, now); err != nil {
		l.logger.DebugContext(ctx, "rate limit: prune the full buckets", "err", err)
	}
}

package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Read replicas.
//
// A server may read the index from streaming replicas (hot standbys) of its primary. A
// replica is used only while a health check, every Interval, finds it reachable, in
// recovery, a copy of the primary's own database (same system identifier, same database),
// with the primary's active index generation, and at most MaxLag behind; and each request
// that is given a replica checks again, in the statement that reads its version, that the
// replica has the generation the primary has active and is within MaxLag (Replicas.Admit).
// Anything else, an error or a state that cannot be read included, sends the request to the
// primary.
//
// Staleness is measured, not guessed from timestamps of the last replayed transaction (an
// idle primary would make every replica look stale): every check samples the primary's WAL
// position with the time it was taken, and a replica's staleness is the time since the
// newest sample that its replayed position has reached. Everything the primary had
// committed when that sample was taken, the replica has; a sample is taken before its
// statement is sent, so the measure errs on the stale side.

// Why a replica is not used (ReplicaStatus.Reason), a fixed set for metrics and /readyz.
const (
	ReplicaUnchecked     = "unchecked"      // not checked yet
	ReplicaUnreachable   = "unreachable"    // connecting or the check failed, or timed out
	ReplicaNotAStandby   = "not_a_standby"  // the server is not in recovery: a primary, or a promoted standby
	ReplicaOtherDatabase = "other_database" // not a physical copy of the primary's database
	ReplicaNoPrimary     = "primary_unknown"
	ReplicaGeneration    = "generation" // its active index generation is not the primary's
	ReplicaLagging       = "lagging"    // further behind than MaxLag, or by an unknown amount
	ReplicaFailed        = "failed"     // a request failed on it; until the next good check
)

// ReplicaReasons lists every reason a replica may be skipped.
func ReplicaReasons() []string {
	return []string{ReplicaUnchecked, ReplicaUnreachable, ReplicaNotAStandby, ReplicaOtherDatabase,
		ReplicaNoPrimary, ReplicaGeneration, ReplicaLagging, ReplicaFailed}
}

// ReplicaConfig configures the read replicas.
type ReplicaConfig struct {
	// MaxLag is how far behind the primary a replica's data may be and still be served.
	// Default 2s.
	MaxLag time.Duration
	// Interval is the time between health checks; default MaxLag/4, within 100ms and 1s.
	// The staleness a request can see is at most MaxLag: each request measures it again.
	Interval time.Duration
	// Timeout bounds each health check (connecting included) and each request's read of a
	// replica's version; default 1s. A replica that does not answer within it is skipped.
	Timeout time.Duration
	// QueryTimeout bounds one request's retrieval on a replica; past it the request is run on
	// the primary. Default 5s.
	QueryTimeout time.Duration
	Logger       *slog.Logger
	// Observe, when not nil, is given each replica's status after every check (metrics).
	Observe func(ReplicaStatus)
	Now     func() time.Time
}

func (c *ReplicaConfig) defaults() {
	c.MaxLag = cmp.Or(c.MaxLag, 2*time.Second)
	c.Interval = cmp.Or(c.Interval, min(time.Second, max(100*time.Millisecond, c.MaxLag/4)))
	c.Timeout = cmp.Or(c.Timeout, time.Second)
	c.QueryTimeout = cmp.Or(c.QueryTimeout, 5*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate names a setting that cannot work.
func (c ReplicaConfig) Validate() error {
	c.defaults()
	switch {
	case c.MaxLag < 0 || c.Interval < 0 || c.Timeout < 0 || c.QueryTimeout < 0:
		return errors.New("replica config: durations must not be negative")
	case c.Interval >= c.MaxLag:
		// The newest sample of the primary is up to Interval old: with MaxLag below it a
		// replica would never be fresh enough.
		return fmt.Errorf("replica config: the check interval (%s) must be shorter than the maximum lag (%s)", c.Interval, c.MaxLag)
	}
	return nil
}

// ReplicaStatus is what the last check (or request) found of a replica.
type ReplicaStatus struct {
	Name    string // replica1, replica2 ... in the order configured
	Address string // host:port/database, without credentials
	InUse   bool
	Reason  string // why it is not in use: one of ReplicaReasons
	Detail  string // the reason in words, for operators
	// Staleness is how far behind the primary the replica was at the check: an upper bound.
	Staleness  time.Duration
	Generation int // its active index generation (0: none, or unknown)
	CheckedAt  time.Time
}

// Replica is one read replica.
type Replica struct {
	name, addr string
	pool       *pgxpool.Pool

	mu     sync.Mutex
	status ReplicaStatus
}

// Name is the replica's name: replica1, replica2 ...
func (r *Replica) Name() string { return r.name }

// DB is the replica's connection pool.
func (r *Replica) DB() *pgxpool.Pool { return r.pool }

// Replicas routes reads to a primary's streaming replicas. It is safe for concurrent use.
type Replicas struct {
	cfg     ReplicaConfig
	primary DBTX
	list    []*Replica
	next    atomic.Uint64

	mu      sync.Mutex
	samples []lsnSample // the primary's WAL position over time, oldest first
	seen    identityOK  // the primary at the last sample
}

// lsnSample is the primary's WAL position and when it was asked for.
type lsnSample struct {
	lsn int64
	at  time.Time
}

// identityOK is the primary as the last sample saw it.
type identityOK struct {
	ok         bool
	system     int64 // pg_control_system().system_identifier: shared by a cluster and its physical standbys
	database   uint32
	generation int
	err        string
}

// SplitReadURLs splits DOCENT_DATABASE_READ_URLS: URLs separated by commas (and spaces).
// Each must be a postgres:// URL of one host; an entry that is not is an error that names it
// by position (a URL is never repeated: it may hold a password).
func SplitReadURLs(s string) ([]string, error) {
	var out []string
	for i, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.HasPrefix(f, "postgres://") && !strings.HasPrefix(f, "postgresql://") {
			return nil, fmt.Errorf("entry %d is not a postgres:// URL (list one URL of one host per replica, separated by commas)", i+1)
		}
		if u, err := url.Parse(f); err == nil && strings.Contains(u.Host, ",") {
			return nil, fmt.Errorf("entry %d: a URL with several hosts is not supported: list each replica", i+1)
		}
		if _, err := pgxpool.ParseConfig(f); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, redactURLError(err))
		}
		out = append(out, f)
	}
	return out, nil
}

// NewReplicas returns the replicas at urls of the primary. Nothing is connected yet: each
// replica is unused until a check (Check, Run) finds it fit.
func NewReplicas(primary *pgxpool.Pool, urls []string, cfg ReplicaConfig) (*Replicas, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rs := &Replicas{cfg: cfg, primary: primary}
	for i, u := range urls {
		pc, err := poolConfig(u)
		if err != nil {
			rs.Close()
			return nil, fmt.Errorf("read replica %d: %w", i+1, err)
		}
		if u, err := url.Parse(u); err == nil && strings.Contains(u.Host, ",") {
			rs.Close()
			return nil, fmt.Errorf("read replica %d: a URL with several hosts is not supported: list each replica", i+1)
		}
		if pc.ConnConfig.ConnectTimeout == 0 || pc.ConnConfig.ConnectTimeout > cfg.Timeout {
			pc.ConnConfig.ConnectTimeout = cfg.Timeout
		}
		pool, err := pgxpool.NewWithConfig(context.Background(), pc)
		if err != nil {
			rs.Close()
			return nil, fmt.Errorf("read replica %d: %w", i+1, err)
		}
		name := fmt.Sprintf("replica%d", i+1)
		addr := fmt.Sprintf("%s/%s", net.JoinHostPort(pc.ConnConfig.Host, fmt.Sprint(pc.ConnConfig.Port)), pc.ConnConfig.Database)
		rs.list = append(rs.list, &Replica{name: name, addr: addr, pool: pool,
			status: ReplicaStatus{Name: name, Address: addr, Reason: ReplicaUnchecked, Detail: "not checked yet"}})
	}
	return rs, nil
}

// Config returns the effective configuration.
func (rs *Replicas) Config() ReplicaConfig { return rs.cfg }

// Close closes the replicas' pools.
func (rs *Replicas) Close() {
	for _, r := range rs.list {
		r.pool.Close()
	}
}

// Status returns each replica's status, in the order configured.
func (rs *Replicas) Status() []ReplicaStatus {
	out := make([]ReplicaStatus, len(rs.list))
	for i, r := range rs.list {
		r.mu.Lock()
		out[i] = r.status
		r.mu.Unlock()
	}
	return out
}

// Pick returns a replica in use (in turn), or nil when none is.
func (rs *Replicas) Pick() *Replica {
	if rs == nil || len(rs.list) == 0 {
		return nil
	}
	start := rs.next.Add(1)
	for i := range uint64(len(rs.list)) {
		r := rs.list[(start+i)%uint64(len(rs.list))]
		r.mu.Lock()
		ok := r.status.InUse
		r.mu.Unlock()
		if ok {
			return r
		}
	}
	return nil
}

// Run checks the replicas every Interval until ctx ends.
func (rs *Replicas) Run(ctx context.Context) {
	t := time.NewTicker(rs.cfg.Interval)
	defer t.Stop()
	for {
		rs.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check samples the primary and checks every replica once, each within Timeout.
func (rs *Replicas) Check(ctx context.Context) {
	rs.Sample(ctx)
	var wg sync.WaitGroup
	for _, r := range rs.list {
		wg.Go(func() { rs.checkReplica(ctx, r) })
	}
	wg.Wait()
}

// identitySQL identifies a server and database: a physical standby has its primary's system
// identifier and database oids. The WAL position is the primary's write position or the
// standby's replay position.
const identitySQL = `SELECT pg_is_in_recovery(), (SELECT system_identifier FROM pg_control_system()),
	(SELECT oid FROM pg_database WHERE datname = current_database()),
	CASE WHEN pg_is_in_recovery() THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint
	     ELSE (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint END`

const activeGenerationSQL = `SELECT coalesce((SELECT id FROM index_generations WHERE status = 'active'), 0)`

// Sample samples the primary's WAL position (as each Check does first), which replicas'
// staleness is measured against.
func (rs *Replicas) Sample(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, rs.cfg.Timeout)
	defer cancel()
	at := rs.cfg.Now()
	var id identityOK
	var recovering bool
	var lsn int64
	err := rs.primary.QueryRow(ctx, identitySQL).Scan(&recovering, &id.system, &id.database, &lsn)
	if err == nil && recovering {
		err = errors.New("the primary (DOCENT_DATABASE_URL) is in recovery: it is a standby")
	}
	if err == nil {
		err = rs.primary.QueryRow(ctx, activeGenerationSQL).Scan(&id.generation)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err != nil {
		rs.seen = identityOK{err: err.Error()}
		return
	}
	id.ok = true
	rs.seen = id
	rs.samples = append(rs.samples, lsnSample{lsn: lsn, at: at})
	// Older samples than a replica may lag and still be used are of no use.
	keep := at.Add(-2*rs.cfg.MaxLag - 2*rs.cfg.Interval - rs.cfg.Timeout)
	drop := 0
	for drop < len(rs.samples)-1 && rs.samples[drop].at.Before(keep) {
		drop++
	}
	rs.samples = rs.samples[drop:]
}

// staleness is how far behind the primary a server that replayed WAL up to lsn is: the time
// since the newest sample of the primary that lsn has reached. ok is false when it has
// reached none of the samples kept (it is further behind than they go back), or there is
// none.
func (rs *Replicas) staleness(lsn int64, now time.Time) (time.Duration, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for i := len(rs.samples) - 1; i >= 0; i-- {
		if rs.samples[i].lsn <= lsn {
			return max(0, now.Sub(rs.samples[i].at)), true
		}
	}
	return 0, false
}

func (rs *Replicas) checkReplica(parent context.Context, r *Replica) {
	ctx, cancel := context.WithTimeout(parent, rs.cfg.Timeout)
	defer cancel()
	st := ReplicaStatus{Name: r.name, Address: r.addr, CheckedAt: rs.cfg.Now()}
	var recovering bool
	var system, lsn *int64
	var database uint32
	err := r.pool.QueryRow(ctx, identitySQL).Scan(&recovering, &system, &database, &lsn)
	if err == nil && recovering {
		err = r.pool.QueryRow(ctx, activeGenerationSQL).Scan(&st.Generation)
	}
	rs.mu.Lock()
	primary := rs.seen
	rs.mu.Unlock()
	switch {
	case parent.Err() != nil:
		return // shutting down
	case err != nil:
		st.Reason, st.Detail = checkFailure(err), fmt.Sprintf("check failed: %v", err)
	case !recovering:
		st.Reason, st.Detail = ReplicaNotAStandby, "the server is not in recovery (a primary, or a promoted standby): only a streaming standby of the primary may serve reads"
	case !primary.ok:
		st.Reason, st.Detail = ReplicaNoPrimary, "the primary's position could not be read: "+primary.err
	case system == nil || *system != primary.system || database != primary.database:
		st.Reason, st.Detail = ReplicaOtherDatabase, "not a streaming copy of the primary's database (another cluster, or another database of it)"
	case lsn == nil:
		st.Reason, st.Detail = ReplicaLagging, "its replay position is unknown"
	case st.Generation != primary.generation:
		st.Reason, st.Detail = ReplicaGeneration, fmt.Sprintf("its active index generation is %d, the primary's %d", st.Generation, primary.generation)
	default:
		stale, ok := rs.staleness(*lsn, st.CheckedAt)
		st.Staleness = stale
		switch {
		case !ok:
			st.Reason, st.Detail = ReplicaLagging, fmt.Sprintf("further behind the primary than %s", rs.cfg.MaxLag)
		case stale > rs.cfg.MaxLag:
			st.Reason, st.Detail = ReplicaLagging, fmt.Sprintf("%s behind the primary, more than %s", stale.Round(time.Millisecond), rs.cfg.MaxLag)
		default:
			st.InUse = true
		}
	}
	r.set(st, rs.cfg.Logger)
	if rs.cfg.Observe != nil {
		rs.cfg.Observe(st)
	}
}

// checkFailure classifies a failed check: the server could not be reached, or it answered
// with an error (another database, without Docent's schema, say).
func checkFailure(err error) string {
	var pgErr *pgconn.PgError
	// No table of Docent's, no such database: it is not the primary's database.
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3D000") {
		return ReplicaOtherDatabase
	}
	return ReplicaUnreachable
}

// set records the replica's new status, and logs when it changes whether, or why not, the
// replica is used.
func (r *Replica) set(st ReplicaStatus, logger *slog.Logger) {
	r.mu.Lock()
	old := r.status
	r.status = st
	r.mu.Unlock()
	if old.InUse == st.InUse && old.Reason == st.Reason {
		return
	}
	// The name is in the message: a server deduplicates warnings by message, and each
	// replica's changes are its own.
	if st.InUse {
		logger.Info("read replica "+r.name+" in use", "replica", r.name, "address", r.addr, "staleness", st.Staleness.Round(time.Millisecond))
		return
	}
	logger.Warn("read replica "+r.name+" skipped: reads go to the primary", "replica", r.name, "address", r.addr, "reason", st.Reason, "detail", st.Detail)
}

// Failed marks r unused until its next good check: a request failed on it with err.
func (rs *Replicas) Failed(r *Replica, err error) {
	r.mu.Lock()
	st := r.status
	r.mu.Unlock()
	if !st.InUse {
		return
	}
	st.InUse, st.Reason, st.Detail = false, ReplicaFailed, fmt.Sprintf("a request failed on it: %v", err)
	r.set(st, rs.cfg.Logger)
	if rs.cfg.Observe != nil {
		rs.cfg.Observe(st)
	}
}

// ReplicaView is what a request reads of a replica before reading the index from it: the
// active generation, the corpus version, and how far it has replayed.
type ReplicaView struct {
	Generation Generation
	Corpus     int64
	recovering bool
	lsn        *int64
}

// View reads the replica's view of the index in one statement, within Timeout.
func (rs *Replicas) View(ctx context.Context, r *Replica) (ReplicaView, error) {
	ctx, cancel := context.WithTimeout(ctx, rs.cfg.Timeout)
	defer cancel()
	var v ReplicaView
	g := &v.Generation
	err := r.pool.QueryRow(ctx, `SELECT `+generationColumns+`, (SELECT version FROM corpus_version), pg_is_in_recovery(),
		CASE WHEN pg_is_in_recovery() THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END
		FROM index_generations WHERE status = 'active'`).Scan(&g.ID, &g.ChunkingID, &g.Embedder, &g.Model, &g.Dimension,
		&g.Distance, &g.HNSWM, &g.HNSWEfConstruction, &g.Table, &g.Status, &g.CreatedAt, &g.IndexBuiltAt, &g.ActivatedAt,
		&g.RetiredAt, &v.Corpus, &v.recovering, &v.lsn)
	if err != nil {
		return ReplicaView{}, fmt.Errorf("read the version of %s: %w", r.name, err)
	}
	return v, nil
}

// Admit decides whether a request may read the index from r, whose view it has just read,
// while the primary's active generation is primaryGeneration: "" when it may, else the
// reason it may not (one of ReplicaReasons). The replica must be in recovery, have the
// primary's active generation, and be at most MaxLag behind now.
func (rs *Replicas) Admit(r *Replica, v ReplicaView, primaryGeneration int) string {
	switch {
	case !v.recovering:
		return ReplicaNotAStandby
	case v.Generation.ID != primaryGeneration:
		return ReplicaGeneration
	case v.lsn == nil:
		return ReplicaLagging
	}
	stale, ok := rs.staleness(*v.lsn, rs.cfg.Now())
	if !ok || stale > rs.cfg.MaxLag {
		return ReplicaLagging
	}
	return ""
}

// IsReplicaFailure reports whether err, from a request on a replica, is one the primary may
// not have: the replica could not be reached, went away, timed out, or refused the
// statement (a conflict with recovery, a table it does not have yet).
func IsReplicaFailure(err error) bool {
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &pgErr) || errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrNotFound)
}

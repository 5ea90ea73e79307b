package retrieve

import (
	"context"
	"errors"

	"github.com/docent-rag/docent/internal/index"
)

// Primary names the primary database in Result.Database.
const Primary = "primary"

// Read is the one database a request reads the index from: its Version and every query of
// its retrievals go there, so that the version an answer is cached under is the version of
// the data it was built from (a replica's older data is never cached under the primary's
// newer version, nor the other way round).
//
// A Read starts on a replica in use (Config.Replicas) when there is one. Its Version then
// reads the replica's active generation, corpus version and replay position in one statement
// and keeps the replica only if it has the generation the primary has active and is at most
// the maximum lag behind (index.Replicas.Admit). When it does not, or does not answer within
// its timeout, or a retrieval on it fails (a lost connection, a conflict with recovery, the
// query timeout), the Read moves to the primary, once, and reads everything there again:
// the request is served, never failed, by a replica's trouble.
//
// A Read is used by one request (one goroutine) at a time.
type Read struct {
	r       *Retriever
	replica *index.Replica     // nil: the primary
	view    *index.ReplicaView // the replica's, read by Version
	version *Version
	skipped string // why the replica given to the Read was left
}

// Reader is one request's reads: Read's methods.
type Reader interface {
	Version(ctx context.Context) (Version, error)
	Retrieve(ctx context.Context, req Request) (*Result, error)
}

var _ Reader = (*Read)(nil)

// Read returns a Read for one request. It does no I/O.
func (r *Retriever) Read() Reader {
	return &Read{r: r, replica: r.cfg.Replicas.Pick()}
}

// Database names the database the Read is on: Primary or a replica's name.
func (rd *Read) Database() string {
	if rd.replica != nil {
		return rd.replica.Name()
	}
	return Primary
}

// Version returns the version of what retrieval can find on the Read's database, read once:
// later calls return the same.
func (rd *Read) Version(ctx context.Context) (Version, error) {
	if rd.version != nil {
		return *rd.version, nil
	}
	if rd.replica != nil {
		v, reason, err := rd.replicaVersion(ctx)
		if err != nil && ctx.Err() != nil {
			return Version{}, err // the request's own end: nothing to say of the replica
		}
		if reason == "" && err == nil {
			rd.version = &v
			return v, nil
		}
		if err != nil {
			rd.r.cfg.Replicas.Failed(rd.replica, err)
		}
		rd.leave(reason)
	}
	v, err := rd.r.Version(ctx)
	if err != nil {
		return Version{}, err
	}
	rd.version = &v
	return v, nil
}

// replicaVersion reads the replica's version and admits it, or says why not.
func (rd *Read) replicaVersion(ctx context.Context) (Version, string, error) {
	rs := rd.r.cfg.Replicas
	primary, err := rd.r.generation(ctx)
	if err != nil {
		// The primary says what is wrong (no index, or unreachable) when asked itself.
		return Version{}, index.ReplicaNoPrimary, nil
	}
	view, err := rs.View(ctx, rd.replica)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, index.ErrNotFound) {
			return Version{}, index.ReplicaGeneration, nil // no active generation there yet
		}
		return Version{}, index.ReplicaFailed, err
	}
	if reason := rs.Admit(rd.replica, view, primary.ID); reason != "" {
		return Version{}, reason, nil
	}
	rd.view = &view
	return Version{Generation: view.Generation.ID, Corpus: view.Corpus, Database: rd.replica.Name()}, "", nil
}

// leave moves the Read to the primary, noting why.
func (rd *Read) leave(reason string) {
	rd.replica, rd.view, rd.version, rd.skipped = nil, nil, nil, reason
}

// Retrieve runs one retrieval on the Read's database (see Retriever.Retrieve); the result
// names the database, and the version when it was read (always on a replica; on the primary
// when Version was called). A retrieval that fails on a replica for the replica's
// sake is run again on the primary.
func (rd *Read) Retrieve(ctx context.Context, req Request) (*Result, error) {
	if rd.replica != nil {
		// The replica is admitted by reading its version; on the primary a search, which
		// needs none, reads none.
		if _, err := rd.Version(ctx); err != nil {
			return nil, err
		}
	}
	if rd.replica != nil {
		before := *rd.version
		rs := rd.r.cfg.Replicas
		on := *rd.r
		on.db, on.pinned = rd.replica.DB(), &rd.view.Generation
		qctx, cancel := context.WithTimeout(ctx, rs.Config().QueryTimeout)
		res, err := on.Retrieve(qctx, req)
		expired := qctx.Err() != nil
		cancel()
		if err == nil {
			return rd.result(res), nil
		}
		var embedErr embedError
		switch {
		case ctx.Err() != nil, requestError(err), errors.As(err, &embedErr) && !expired:
			return nil, err // the request's own: the primary would do the same
		case !expired && !index.IsReplicaFailure(err):
			return nil, err
		}
		rs.Failed(rd.replica, err)
		rd.leave(index.ReplicaFailed)
		after, err := rd.Version(ctx)
		if err != nil {
			return nil, err
		}
		if req.Generation == before.Generation {
			req.Generation = after.Generation
		}
	}
	res, err := rd.r.Retrieve(ctx, req)
	if err != nil {
		return nil, err
	}
	return rd.result(res), nil
}

// result names the Read's database and version (when it was read) in res.
func (rd *Read) result(res *Result) *Result {
	res.Database, res.ReplicaSkipped = rd.Database(), rd.skipped
	if rd.version != nil {
		res.Version = *rd.version
	}
	return res
}

// requestError reports whether err is the request's own fault, whichever database it ran on.
func requestError(err error) bool {
	var tooLong *QueryTooLongError
	return errors.Is(err, ErrEmptyQuery) || errors.Is(err, ErrLimit) || errors.As(err, &tooLong)
}

// embedError is a failure of the query embedder: not the database's.
type embedError struct{ err error }

func (e embedError) Error() string { return e.err.Error() }
func (e embedError) Unwrap() error { return e.err }

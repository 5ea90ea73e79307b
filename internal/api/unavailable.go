package api

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// retryAfterUnavailable is the Retry-After of a 503 for an unreachable database, in seconds:
// about what a PostgreSQL restart or a failover takes.
const retryAfterUnavailable = "2"

// unavailable reports whether err means the database (or another service reached over the
// network) could not be reached or went away, as opposed to a statement that failed: the
// connection could not be made or was lost (refused, reset, closed, cut mid-answer), or
// PostgreSQL said it is shutting down, starting up or out of connections. Those are worth a
// retry (503); a statement error, which is our bug, is not (500).
func unavailable(err error) bool {
	// The connection first: an error that joins a lost connection with a statement error is
	// still a lost connection.
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return false // the request's own deadline or cancellation (context.DeadlineExceeded is a net.Error)
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case strings.HasPrefix(code, "08"): // connection_exception
			return true
		case code == "57P01", code == "57P02", code == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		case code == "53300": // too_many_connections
			return true
		}
	}
	return false
}

package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestUnavailable(t *testing.T) {
	t.Parallel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for err, want := range map[error]bool{
		fmt.Errorf("retrieve: %w", dial):                                    true,
		fmt.Errorf("query terms: %w", io.ErrUnexpectedEOF):                  true,
		fmt.Errorf("lookup: %w", pgconn.ErrConnClosed):                      true,
		fmt.Errorf("x: %w", syscall.ECONNRESET):                             true,
		&pgconn.PgError{Code: "57P01", Message: "terminating connection"}:   true,
		&pgconn.PgError{Code: "57P03", Message: "the database is starting"}: true,
		&pgconn.PgError{Code: "08006"}:                                      true,
		&pgconn.PgError{Code: "53300"}:                                      true,
		errors.Join(&pgconn.PgError{Code: "42P01"}, io.ErrUnexpectedEOF):    true,
		// Our bugs, and what is not the database's absence.
		&pgconn.PgError{Code: "42P01", Message: "relation does not exist"}: false,
		&pgconn.PgError{Code: "22021", Message: "invalid byte sequence"}:   false,
		fmt.Errorf("scan: %w", pgx.ErrNoRows):                              false,
		errors.New("the reranker returned 3 scores for 5 passages"):        false,
		context.DeadlineExceeded:                                           false,
	} {
		if got := unavailable(err); got != want {
			t.Errorf("unavailable(%v) = %v, want %v", err, got, want)
		}
	}
}

package index

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/docent-rag/docent/internal/acl"
)

// ErrExists is returned when a row that must be unique already exists (a live API key with
// the same name, say).
var ErrExists = errors.New("already exists")

// API key roles.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// APIKey is a stored API key. The key itself is never stored, only its SHA-256 (Hash); the
// prefix is its non-secret start, shown in listings so that a key can be recognised.
type APIKey struct {
	ID         int64
	Name       string
	Prefix     string
	Hash       []byte   // SHA-256 of the key; not secret, but never shown either
	Principals []string // permission tags the key's caller matches, sorted
	Role       string   // RoleUser or RoleAdmin
	CreatedAt  time.Time
	LastUsedAt *time.Time // nil: never used (or not yet recorded)
	RevokedAt  *time.Time // nil: live
}

// Revoked reports whether the key has been revoked.
func (k APIKey) Revoked() bool { return k.RevokedAt != nil }

const apiKeyColumns = `id, name, prefix, key_hash, principals, role, created_at, last_used_at, revoked_at`

func scanAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &k.Principals, &k.Role, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	return k, err
}

// CreateAPIKey stores a new key under name. principals are validated (acl.Validate) and
// stored sorted and without duplicates; role is RoleUser or RoleAdmin. When a live key
// already has this name, the error wraps ErrExists (a revoked key's name may be reused).
func CreateAPIKey(ctx context.Context, db DBTX, name, prefix string, hash []byte, principals []string, role string) (APIKey, error) {
	switch {
	case name == "":
		return APIKey{}, errors.New("create API key: empty name")
	case prefix == "":
		return APIKey{}, fmt.Errorf("create API key %q: empty prefix", name)
	case len(hash) != sha256.Size:
		return APIKey{}, fmt.Errorf("create API key %q: hash is %d bytes, want %d (SHA-256)", name, len(hash), sha256.Size)
	case role != RoleUser && role != RoleAdmin:
		return APIKey{}, fmt.Errorf("create API key %q: role %q is not %s or %s", name, role, RoleUser, RoleAdmin)
	}
	tags, err := acl.Parse(principals)
	if err != nil {
		return APIKey{}, fmt.Errorf("create API key %q: %w", name, err)
	}
	k, err := scanAPIKey(db.QueryRow(ctx, `
		INSERT INTO api_keys (name, prefix, key_hash, principals, role)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING `+apiKeyColumns, name, prefix, hash, tags, role))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "api_keys_live_name" {
		return APIKey{}, fmt.Errorf("create API key %q: a live key with this name %w", name, ErrExists)
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("create API key %q: %w", name, err)
	}
	return k, nil
}

// APIKeyByHash returns the key whose SHA-256 is hash, or an error wrapping ErrNotFound.
// Revoked keys are returned too, with RevokedAt set, so that the caller can say "revoked"
// rather than "unknown"; the caller must refuse them.
func APIKeyByHash(ctx context.Context, db DBTX, hash []byte) (APIKey, error) {
	k, err := scanAPIKey(db.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE key_hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, fmt.Errorf("API key: %w", ErrNotFound)
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("look up API key: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns the live keys, and the revoked ones too when includeRevoked is set,
// oldest first.
func ListAPIKeys(ctx context.Context, db DBTX, includeRevoked bool) ([]APIKey, error) {
	rows, err := db.Query(ctx, `
		SELECT `+apiKeyColumns+` FROM api_keys
		WHERE $1 OR revoked_at IS NULL
		ORDER BY created_at, id`, includeRevoked)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIKey, error) { return scanAPIKey(row) })
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey revokes the live key with this name and returns its id; an error wrapping
// ErrNotFound when no live key has the name (none ever did, or it is already revoked).
// Revocation takes effect on the next request: keys are looked up on every request, not
// cached.
func RevokeAPIKey(ctx context.Context, db DBTX, name string) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `
		UPDATE api_keys SET revoked_at = now()
		WHERE name = $1 AND revoked_at IS NULL
		RETURNING id`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("revoke API key %q: no live key with this name: %w", name, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("revoke API key %q: %w", name, err)
	}
	return id, nil
}

// TouchAPIKeys records that the keys ids were used at at. last_used_at only moves forward, so
// that late or concurrent writers (several servers) cannot set it back. Unknown ids are
// ignored.
func TouchAPIKeys(ctx context.Context, db DBTX, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := db.Exec(ctx, `
		UPDATE api_keys SET last_used_at = $2
		WHERE id = ANY($1) AND (last_used_at IS NULL OR last_used_at < $2)`, ids, at)
	if err != nil {
		return fmt.Errorf("record use of %d API keys: %w", len(ids), err)
	}
	return nil
}

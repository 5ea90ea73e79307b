package index

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
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
	Kind       string     // KindSecret, KindWidget or KindSessionIssuer
	// Origins are the browser origins a widget key is accepted from, or an issuer's sessions
	// are bound to, normalised by internal/auth; empty for secret keys.
	Origins []string
	// UserDomain is, for a session issuer, the domain its users' ids must end with (after
	// "@"), or "*" for any id; empty for other kinds.
	UserDomain string
}

// API key kinds (docs/widget.md).
const (
	KindSecret        = "secret"         // "dk_": a server-side key, the default
	KindWidget        = "widget"         // "dpk_": publishable, bound to origins and the widget's routes
	KindSessionIssuer = "session_issuer" // "dk_": may only mint end-user sessions
)

// Revoked reports whether the key has been revoked.
func (k APIKey) Revoked() bool { return k.RevokedAt != nil }

const apiKeyColumns = `id, name, prefix, key_hash, principals, role, created_at, last_used_at, revoked_at, kind, origins, coalesce(user_domain, '')`

func scanAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &k.Principals, &k.Role, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt, &k.Kind, &k.Origins, &k.UserDomain)
	return k, err
}

// CreateAPIKey stores a new secret key under name. principals are validated (acl.Validate) and
// stored sorted and without duplicates; role is RoleUser or RoleAdmin. When a live key
// already has this name, the error wraps ErrExists (a revoked key's name may be reused).
func CreateAPIKey(ctx context.Context, db DBTX, name, prefix string, hash []byte, principals []string, role string) (APIKey, error) {
	return CreateKey(ctx, db, NewKey{Name: name, Prefix: prefix, Hash: hash, Principals: principals, Role: role, Kind: KindSecret})
}

// NewKey is a key to store (see CreateKey).
type NewKey struct {
	Name, Prefix string
	Hash         []byte
	Principals   []string
	Role         string // RoleUser or RoleAdmin (secret keys only)
	Kind         string // KindSecret, KindWidget or KindSessionIssuer
	Origins      []string
	UserDomain   string
}

// CreateKey stores a new key of any kind. The shape of each kind (origins for widget and
// issuer keys and only for them, a user domain for issuers, no admin but secret keys) is
// checked here and again by the table's constraint; the origins themselves are validated by
// internal/auth before. When a live key already has this name, the error wraps ErrExists.
func CreateKey(ctx context.Context, db DBTX, k NewKey) (APIKey, error) {
	name := k.Name
	switch {
	case name == "":
		return APIKey{}, errors.New("create API key: empty name")
	case k.Prefix == "":
		return APIKey{}, fmt.Errorf("create API key %q: empty prefix", name)
	case len(k.Hash) != sha256.Size:
		return APIKey{}, fmt.Errorf("create API key %q: hash is %d bytes, want %d (SHA-256)", name, len(k.Hash), sha256.Size)
	case k.Role != RoleUser && k.Role != RoleAdmin:
		return APIKey{}, fmt.Errorf("create API key %q: role %q is not %s or %s", name, k.Role, RoleUser, RoleAdmin)
	case k.Kind != KindSecret && k.Kind != KindWidget && k.Kind != KindSessionIssuer:
		return APIKey{}, fmt.Errorf("create API key %q: kind %q is not %s, %s or %s", name, k.Kind, KindSecret, KindWidget, KindSessionIssuer)
	case k.Kind != KindSecret && k.Role != RoleUser:
		return APIKey{}, fmt.Errorf("create API key %q: a %s key cannot be an admin", name, k.Kind)
	case (k.Kind == KindSecret) != (len(k.Origins) == 0):
		return APIKey{}, fmt.Errorf("create API key %q: widget and session issuer keys need origins, and only they have some", name)
	case (k.Kind == KindSessionIssuer) != (k.UserDomain != ""):
		return APIKey{}, fmt.Errorf("create API key %q: session issuer keys need a user domain, and only they have one", name)
	}
	tags, err := acl.Parse(k.Principals)
	if err != nil {
		return APIKey{}, fmt.Errorf("create API key %q: %w", name, err)
	}
	origins := append([]string{}, k.Origins...) // never NULL
	slices.Sort(origins)
	origins = slices.Compact(origins)
	var domain *string
	if k.UserDomain != "" {
		domain = &k.UserDomain
	}
	got, err := scanAPIKey(db.QueryRow(ctx, `
		INSERT INTO api_keys (name, prefix, key_hash, principals, role, kind, origins, user_domain)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		RETURNING `+apiKeyColumns, name, k.Prefix, k.Hash, tags, k.Role, k.Kind, origins, domain))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "api_keys_live_name" {
		return APIKey{}, fmt.Errorf("create API key %q: a live key with this name %w", name, ErrExists)
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("create API key %q: %w", name, err)
	}
	return got, nil
}

// APIKeyByID returns the key with this id, revoked or not, or an error wrapping ErrNotFound.
func APIKeyByID(ctx context.Context, db DBTX, id int64) (APIKey, error) {
	k, err := scanAPIKey(db.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, fmt.Errorf("API key %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("look up API key %d: %w", id, err)
	}
	return k, nil
}

// OriginAllowed reports whether a live widget or session issuer key lists origin (normalised
// as the keys' origins are): what a CORS preflight, which carries no credentials, is answered by.
func OriginAllowed(ctx context.Context, db DBTX, origin string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM api_keys WHERE origins @> ARRAY[$1::text] AND revoked_at IS NULL)`, origin).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up origin: %w", err)
	}
	return ok, nil
}

// WidgetSessionSecret returns the stored secret that signs end-user sessions, storing
// generate()'s on first use. Concurrent first callers (several servers) all get the one that
// was stored first.
func WidgetSessionSecret(ctx context.Context, db DBTX, generate func() ([]byte, error)) ([]byte, error) {
	fresh, err := generate()
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(ctx, `INSERT INTO widget_session_secrets (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, fresh); err != nil {
		return nil, fmt.Errorf("store the widget session secret: %w", err)
	}
	var secret []byte
	if err := db.QueryRow(ctx, `SELECT secret FROM widget_session_secrets WHERE id = 1`).Scan(&secret); err != nil {
		return nil, fmt.Errorf("read the widget session secret: %w", err)
	}
	return secret, nil
}

// RotateWidgetSessionSecret replaces the stored session secret: every session signed with the
// old one is refused by servers started afterwards (docs/widget.md, "Rotation").
func RotateWidgetSessionSecret(ctx context.Context, db DBTX, secret []byte) error {
	_, err := db.Exec(ctx, `
		INSERT INTO widget_session_secrets (id, secret) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET secret = excluded.secret, created_at = now()`, secret)
	if err != nil {
		return fmt.Errorf("rotate the widget session secret: %w", err)
	}
	return nil
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

package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/docent-rag/docent/internal/index"
)

// KeyPrefix starts every API key, so that a key is told from a JWT at a glance (and by secret
// scanners).
const KeyPrefix = "dk_"

// WidgetKeyPrefix starts every publishable widget key: a key meant to be seen in web pages,
// accepted only from its origins and on the widget's routes.
const WidgetKeyPrefix = "dpk_"

const (
	keyBytes  = 32 // 256 bits of randomness
	keyLen    = len(KeyPrefix) + 43
	b64Len    = 43 // keyBytes in unpadded base64url
	prefixLen = 10 // KeyPrefix and 7 characters: recognisable in listings, 42 bits, not a secret
)

var keyEncoding = base64.RawURLEncoding.Strict()

// GenerateKey returns a new API key: "dk_" and 256 random bits in unpadded base64url, the
// prefix shown in listings (its first 10 characters), and the hash to store.
func GenerateKey() (key, prefix string, hash []byte, err error) {
	return generate(KeyPrefix)
}

// GenerateWidgetKey is GenerateKey for a publishable widget key: "dpk_" and 256 random bits;
// its listed prefix is its first 11 characters.
func GenerateWidgetKey() (key, prefix string, hash []byte, err error) {
	return generate(WidgetKeyPrefix)
}

func generate(kindPrefix string) (key, prefix string, hash []byte, err error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", nil, fmt.Errorf("generate API key: %w", err)
	}
	key = kindPrefix + keyEncoding.EncodeToString(b)
	return key, key[:len(kindPrefix)+prefixLen-len(KeyPrefix)], HashKey(key), nil
}

// HashKey returns the SHA-256 of key, as stored. A fast hash is right here, unlike for
// passwords: a key is 256 random bits, so there is no dictionary to try and guessing is
// hopeless however fast each guess is, while a slow hash would cost every request and rule out
// looking the key up by its hash.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// wellFormed reports whether s has the shape of a key GenerateKey (kindPrefix KeyPrefix) or
// GenerateWidgetKey (WidgetKeyPrefix) makes.
func wellFormed(s, kindPrefix string) bool {
	if len(s) != len(kindPrefix)+b64Len || !strings.HasPrefix(s, kindPrefix) {
		return false
	}
	b, err := keyEncoding.DecodeString(s[len(kindPrefix):])
	return err == nil && len(b) == keyBytes
}

// KeyStore finds API keys and records their use. DBKeys is the database's.
type KeyStore interface {
	// APIKeyByHash returns the key whose SHA-256 is hash, revoked or not (revoked keys have
	// RevokedAt set), or an error wrapping index.ErrNotFound when there is none.
	APIKeyByHash(ctx context.Context, hash []byte) (index.APIKey, error)
	// TouchAPIKeys records that the keys ids were used at at. It is called from a background
	// goroutine, never on a request's path.
	TouchAPIKeys(ctx context.Context, ids []int64, at time.Time) error
	// APIKeyByID returns the key with this id, revoked or not, or an error wrapping
	// index.ErrNotFound: the issuer of an end-user session, looked up on every use.
	APIKeyByID(ctx context.Context, id int64) (index.APIKey, error)
}

// DBKeys is the KeyStore of the api_keys table.
type DBKeys struct {
	DB index.DBTX // usually the *pgxpool.Pool
}

var _ KeyStore = (*DBKeys)(nil)

// APIKeyByHash implements KeyStore.
func (d DBKeys) APIKeyByHash(ctx context.Context, hash []byte) (index.APIKey, error) {
	return index.APIKeyByHash(ctx, d.DB, hash)
}

// TouchAPIKeys implements KeyStore.
func (d DBKeys) TouchAPIKeys(ctx context.Context, ids []int64, at time.Time) error {
	return index.TouchAPIKeys(ctx, d.DB, ids, at)
}

// APIKeyByID implements KeyStore.
func (d DBKeys) APIKeyByID(ctx context.Context, id int64) (index.APIKey, error) {
	return index.APIKeyByID(ctx, d.DB, id)
}

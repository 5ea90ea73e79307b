package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// storedKey is a key created in the database, with its secret text.
type storedKey struct {
	key string
	row index.APIKey
}

func createKey(t *testing.T, db index.DBTX, name, role string, principals ...string) storedKey {
	t.Helper()
	key, prefix, hash, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	row, err := index.CreateAPIKey(context.Background(), db, name, prefix, hash, principals, role)
	if err != nil {
		t.Fatal(err)
	}
	return storedKey{key: key, row: row}
}

func TestAuthenticateAPIKey(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	logs := &logBuffer{}
	a := newAuthenticator(t, auth.Config{JWTSecret: hmacKey, Now: newClock().Now}, auth.DBKeys{DB: db.Pool}, logs)

	reader := createKey(t, db.Pool, "reader", index.RoleUser, "group:eng", "user:bot")
	admin := createKey(t, db.Pool, "ops", index.RoleAdmin, "group:ops")
	revoked := createKey(t, db.Pool, "old", index.RoleUser, "group:eng")
	if _, err := index.RevokeAPIKey(ctx, db.Pool, "old"); err != nil {
		t.Fatal(err)
	}
	// A row written around CreateAPIKey's validation: its bad tag is dropped, not trusted.
	legacy, legacyPrefix, legacyHash, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	var legacyID int64
	if err := db.Pool.QueryRow(ctx, `
		INSERT INTO api_keys (name, prefix, key_hash, principals) VALUES ('legacy', $1, $2, $3) RETURNING id`,
		legacyPrefix, legacyHash, []string{"Group:Eng", "group:ok", "everyone", "user:\u017fam"}).Scan(&legacyID); err != nil {
		t.Fatal(err)
	}
	unknown, _, _, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		header string
		want   *auth.Principal
		reason string
	}{
		{"user key", "Bearer " + reader.key, &auth.Principal{Kind: auth.KindAPIKey, Subject: "reader",
			Principals: []string{"group:eng", "public", "user:bot"}, KeyID: reader.row.ID}, ""},
		{"admin key", "Bearer " + admin.key, &auth.Principal{Kind: auth.KindAPIKey, Subject: "ops",
			Principals: []string{"group:ops", "public"}, Admin: true, KeyID: admin.row.ID}, ""},
		{"scheme in lower case", "bearer " + reader.key, &auth.Principal{Kind: auth.KindAPIKey, Subject: "reader",
			Principals: []string{"group:eng", "public", "user:bot"}, KeyID: reader.row.ID}, ""},
		{"invalid stored tags dropped", "Bearer " + legacy, &auth.Principal{Kind: auth.KindAPIKey, Subject: "legacy",
			Principals: []string{"group:ok", "public"}, KeyID: legacyID}, ""},
		{"unknown key", "Bearer " + unknown, nil, auth.ReasonUnknownKey},
		{"revoked key", "Bearer " + revoked.key, nil, auth.ReasonRevoked},
		{"wrong prefix", "Bearer xk_" + reader.key[3:], nil, auth.ReasonMalformed},
		{"prefix in upper case", "Bearer DK_" + reader.key[3:], nil, auth.ReasonMalformed},
		{"truncated", "Bearer " + reader.key[:len(reader.key)-1], nil, auth.ReasonMalformed},
		{"extended", "Bearer " + reader.key + "A", nil, auth.ReasonMalformed},
		{"one character changed", "Bearer " + reader.key[:20] + flip(reader.key[20]) + reader.key[21:], nil, auth.ReasonUnknownKey},
		{"prefix only", "Bearer " + reader.row.Prefix, nil, auth.ReasonMalformed},
		{"not base64url", "Bearer dk_" + strings.Repeat("!", 43), nil, auth.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Authenticate(ctx, tt.header)
			if tt.want != nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if diff := cmp.Diff(*tt.want, got); diff != "" {
					t.Errorf("principal (-want +got):\n%s", diff)
				}
				return
			}
			if reasonOf(err) != tt.reason {
				t.Fatalf("err = %v, want reason %q", err, tt.reason)
			}
		})
	}

	logged := logs.String()
	for _, k := range []string{reader.key, admin.key, revoked.key, legacy, unknown} {
		if strings.Contains(logged, k[10:]) {
			t.Errorf("the logs contain a key's secret part")
		}
	}
	if !strings.Contains(logged, "Group:Eng") {
		t.Errorf("the dropped stored tag was not logged:\n%s", logged)
	}
}

// flip returns another base64url character than c.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestAPIKeyLastUsedIsRecorded(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	a := newAuthenticator(t, auth.Config{}, auth.DBKeys{DB: db.Pool}, nil)
	k := createKey(t, db.Pool, "ci", index.RoleUser, "group:eng")

	before := time.Now()
	if _, err := a.Authenticate(ctx, "Bearer "+k.key); err != nil {
		t.Fatal(err)
	}
	// Written in the background, without Flush or Close.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := index.APIKeyByHash(ctx, db.Pool, auth.HashKey(k.key))
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt != nil {
			if got.LastUsedAt.Before(before.Add(-time.Second)) || got.LastUsedAt.After(time.Now().Add(time.Second)) {
				t.Errorf("last used at %v, want about %v", got.LastUsedAt, before)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("last_used_at not recorded within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countingKeys records the uses written through it.
type countingKeys struct {
	auth.KeyStore
	mu      sync.Mutex
	touches []touch
}

type touch struct {
	IDs []int64
	At  time.Time
}

func (c *countingKeys) TouchAPIKeys(ctx context.Context, ids []int64, at time.Time) error {
	c.mu.Lock()
	c.touches = append(c.touches, touch{IDs: ids, At: at})
	c.mu.Unlock()
	return c.KeyStore.TouchAPIKeys(ctx, ids, at)
}

func (c *countingKeys) recorded() []touch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]touch(nil), c.touches...)
}

func TestAPIKeyLastUsedAtMostOncePerMinute(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	clk := newClock()
	keys := &countingKeys{KeyStore: auth.DBKeys{DB: db.Pool}}
	a := newAuthenticator(t, auth.Config{Now: clk.Now}, keys, nil)
	k1 := createKey(t, db.Pool, "one", index.RoleUser, "group:eng")
	k2 := createKey(t, db.Pool, "two", index.RoleUser, "group:ops")

	use := func(k storedKey, at time.Duration) {
		t.Helper()
		clk.mu.Lock()
		clk.now = start.Add(at)
		clk.mu.Unlock()
		if _, err := a.Authenticate(ctx, "Bearer "+k.key); err != nil {
			t.Fatal(err)
		}
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	use(k1, 0)
	use(k1, time.Second)
	use(k2, 30*time.Second) // another key has its own minute
	use(k1, 30*time.Second)
	use(k1, 59*time.Second)
	use(k1, 60*time.Second) // a minute after the last write: written again
	use(k1, 61*time.Second)
	use(k2, 60*time.Second)

	want := []touch{
		{IDs: []int64{k1.row.ID}, At: start},
		{IDs: []int64{k2.row.ID}, At: start.Add(30 * time.Second)},
		{IDs: []int64{k1.row.ID}, At: start.Add(60 * time.Second)},
	}
	if diff := cmp.Diff(want, keys.recorded()); diff != "" {
		t.Errorf("writes of last use (-want +got):\n%s", diff)
	}
	got, err := index.APIKeyByHash(ctx, db.Pool, auth.HashKey(k1.key))
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(start.Add(60*time.Second)) {
		t.Errorf("last_used_at = %v, want %v", got.LastUsedAt, start.Add(60*time.Second))
	}
}

// memKeys is a KeyStore of fixed keys whose use recording misbehaves as told.
type memKeys struct {
	keys    map[string]index.APIKey // by string(hash)
	lookErr error
	touch   func(ctx context.Context) error
}

func (m memKeys) APIKeyByHash(_ context.Context, hash []byte) (index.APIKey, error) {
	if m.lookErr != nil {
		return index.APIKey{}, m.lookErr
	}
	k, ok := m.keys[string(hash)]
	if !ok {
		return index.APIKey{}, index.ErrNotFound
	}
	return k, nil
}

func (m memKeys) APIKeyByID(context.Context, int64) (index.APIKey, error) {
	return index.APIKey{}, index.ErrNotFound
}

func (m memKeys) TouchAPIKeys(ctx context.Context, _ []int64, _ time.Time) error {
	return m.touch(ctx)
}

func newMemKeys(t *testing.T, n int) (memKeys, []string) {
	t.Helper()
	m := memKeys{keys: map[string]index.APIKey{}}
	var texts []string
	for i := range n {
		key, prefix, hash, err := auth.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		m.keys[string(hash)] = index.APIKey{ID: int64(i + 1), Name: prefix, Prefix: prefix, Hash: hash, Role: index.RoleUser, Kind: index.KindSecret}
		texts = append(texts, key)
	}
	return m, texts
}

func TestAPIKeyUseRecordingNeverBlocksRequests(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	store, keys := newMemKeys(t, 50)
	store.touch = func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	a, err := auth.New(context.Background(), auth.Config{}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer close(release)

	began := time.Now()
	for _, k := range keys {
		if _, err := a.Authenticate(context.Background(), "Bearer "+k); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("50 requests took %s while the database write hung", d)
	}
	// Shutdown is bounded by its context even when the write hangs.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := a.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("close with a hung write: err = %v, want a deadline error", err)
	}
}

func TestAPIKeyUseRecordingFailureIsLoggedNotReturned(t *testing.T) {
	t.Parallel()
	store, keys := newMemKeys(t, 1)
	store.touch = func(context.Context) error { return errors.New("database is read-only") }
	logs := &logBuffer{}
	a, err := auth.New(context.Background(), auth.Config{}, store, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(context.Background(), "Bearer "+keys[0]); err != nil {
		t.Fatalf("request failed with the write: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "database is read-only") {
		if time.Now().After(deadline) {
			t.Fatalf("the failed write was not logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Errorf("close: %v (nothing was pending)", err)
	}
	// Still authenticates after Close.
	if _, err := a.Authenticate(context.Background(), "Bearer "+keys[0]); err != nil {
		t.Errorf("after close: %v", err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestKeyStoreFailureIsNotARefusal(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	store, keys := newMemKeys(t, 1)
	store.lookErr = down
	store.touch = func(context.Context) error { return nil }
	a := newAuthenticator(t, auth.Config{}, store, nil)
	_, err := a.Authenticate(context.Background(), "Bearer "+keys[0])
	var ae *auth.Error
	if err == nil || errors.As(err, &ae) || !errors.Is(err, down) {
		t.Errorf("err = %v (%T), want the store's error, not an *auth.Error (which would be a 401)", err, err)
	}
}

func TestStoreMustMatchTheHash(t *testing.T) {
	t.Parallel()
	// A store that returns a key for any hash (a broken lookup) does not let a caller in.
	store, keys := newMemKeys(t, 1)
	store.touch = func(context.Context) error { return nil }
	var only index.APIKey
	for _, k := range store.keys {
		only = k
	}
	sloppy := sloppyKeys{key: only}
	a := newAuthenticator(t, auth.Config{}, sloppy, nil)
	if _, err := a.Authenticate(context.Background(), "Bearer "+keys[0]); err != nil {
		t.Fatalf("the right key: %v", err)
	}
	other, _, _, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(context.Background(), "Bearer "+other); reasonOf(err) != auth.ReasonUnknownKey {
		t.Errorf("another key: err = %v, want unknown_key", err)
	}
}

type sloppyKeys struct{ key index.APIKey }

func (s sloppyKeys) APIKeyByHash(context.Context, []byte) (index.APIKey, error) { return s.key, nil }
func (sloppyKeys) APIKeyByID(context.Context, int64) (index.APIKey, error) {
	return index.APIKey{}, index.ErrNotFound
}
func (sloppyKeys) TouchAPIKeys(context.Context, []int64, time.Time) error { return nil }

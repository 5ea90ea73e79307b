package index_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

func keyHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// ignoreTimes compares keys without their database-assigned times, which tests check apart.
var ignoreTimes = cmpopts.IgnoreFields(index.APIKey{}, "ID", "CreatedAt", "LastUsedAt", "RevokedAt")

func TestCreateAPIKeyAndLookUp(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()

	created, err := index.CreateAPIKey(ctx, db.Pool, "ci", "dk_abcdefg", keyHash("k1"),
		[]string{"group:eng", "public", "group:eng", "user:ann"}, index.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	want := index.APIKey{
		Name: "ci", Prefix: "dk_abcdefg", Hash: keyHash("k1"),
		Principals: []string{"group:eng", "public", "user:ann"}, // sorted, deduplicated
		Role:       index.RoleUser,
	}
	if diff := cmp.Diff(want, created, ignoreTimes); diff != "" {
		t.Errorf("created key (-want +got):\n%s", diff)
	}
	if created.ID == 0 || created.CreatedAt.IsZero() || created.LastUsedAt != nil || created.RevokedAt != nil {
		t.Errorf("created key: id %d, created %v, last used %v, revoked %v", created.ID, created.CreatedAt, created.LastUsedAt, created.RevokedAt)
	}

	got, err := index.APIKeyByHash(ctx, db.Pool, keyHash("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("looked-up key (-created +got):\n%s", diff)
	}

	if _, err := index.APIKeyByHash(ctx, db.Pool, keyHash("other")); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("unknown hash: err = %v, want ErrNotFound", err)
	}
}

func TestCreateAPIKeyRefuses(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	if _, err := index.CreateAPIKey(ctx, db.Pool, "taken", "dk_1234567", keyHash("taken"), []string{"public"}, index.RoleAdmin); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		keyName    string
		prefix     string
		hash       []byte
		principals []string
		role       string
		wantExists bool
	}{
		{"live name taken", "taken", "dk_xxxxxxx", keyHash("new"), []string{"public"}, index.RoleUser, true},
		{"empty name", "", "dk_xxxxxxx", keyHash("a"), []string{"public"}, index.RoleUser, false},
		{"empty prefix", "a", "", keyHash("a"), []string{"public"}, index.RoleUser, false},
		{"short hash", "a", "dk_xxxxxxx", []byte("short"), []string{"public"}, index.RoleUser, false},
		{"unknown role", "a", "dk_xxxxxxx", keyHash("a"), []string{"public"}, "root", false},
		{"upper-case tag", "a", "dk_xxxxxxx", keyHash("a"), []string{"group:Eng"}, index.RoleUser, false},
		{"untyped tag", "a", "dk_xxxxxxx", keyHash("a"), []string{"eng"}, index.RoleUser, false},
		{"same hash as another key", "b", "dk_xxxxxxx", keyHash("taken"), []string{"public"}, index.RoleUser, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := index.CreateAPIKey(ctx, db.Pool, tt.keyName, tt.prefix, tt.hash, tt.principals, tt.role)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, index.ErrExists) != tt.wantExists {
				t.Errorf("err = %v; errors.Is(err, ErrExists) = %t, want %t", err, !tt.wantExists, tt.wantExists)
			}
		})
	}

	keys, err := index.ListAPIKeys(ctx, db.Pool, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Errorf("%d keys stored after refused creations, want 1", len(keys))
	}
}

func TestRevokeAPIKey(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	old, err := index.CreateAPIKey(ctx, db.Pool, "bot", "dk_oldoldo", keyHash("old"), []string{"group:bots"}, index.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := index.CreateAPIKey(ctx, db.Pool, "other", "dk_othero", keyHash("other"), []string{"public"}, index.RoleUser); err != nil {
		t.Fatal(err)
	}

	id, err := index.RevokeAPIKey(ctx, db.Pool, "bot")
	if err != nil {
		t.Fatal(err)
	}
	if id != old.ID {
		t.Errorf("revoked id %d, want %d", id, old.ID)
	}
	if _, err := index.RevokeAPIKey(ctx, db.Pool, "bot"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("revoking again: err = %v, want ErrNotFound", err)
	}
	if _, err := index.RevokeAPIKey(ctx, db.Pool, "nobody"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("revoking an unknown name: err = %v, want ErrNotFound", err)
	}

	// A revoked key is still found by its hash, marked revoked.
	got, err := index.APIKeyByHash(ctx, db.Pool, keyHash("old"))
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == nil || !got.Revoked() {
		t.Errorf("revoked key looked up: RevokedAt = nil")
	}

	// The name is free again once its key is revoked.
	renewed, err := index.CreateAPIKey(ctx, db.Pool, "bot", "dk_newnewn", keyHash("new"), []string{"group:bots"}, index.RoleUser)
	if err != nil {
		t.Fatalf("reusing a revoked key's name: %v", err)
	}

	ids := func(keys []index.APIKey) []int64 {
		var ids []int64
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		return ids
	}
	live, err := index.ListAPIKeys(ctx, db.Pool, false)
	if err != nil {
		t.Fatal(err)
	}
	all, err := index.ListAPIKeys(ctx, db.Pool, true)
	if err != nil {
		t.Fatal(err)
	}
	otherID := all[1].ID
	if diff := cmp.Diff([]int64{otherID, renewed.ID}, ids(live)); diff != "" {
		t.Errorf("live keys (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{old.ID, otherID, renewed.ID}, ids(all)); diff != "" {
		t.Errorf("all keys (-want +got):\n%s", diff)
	}
	for _, k := range live {
		if k.Revoked() {
			t.Errorf("live listing holds revoked key %q", k.Name)
		}
	}
}

func TestTouchAPIKeys(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	a, err := index.CreateAPIKey(ctx, db.Pool, "a", "dk_aaaaaaa", keyHash("a"), []string{"public"}, index.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	b, err := index.CreateAPIKey(ctx, db.Pool, "b", "dk_bbbbbbb", keyHash("b"), []string{"public"}, index.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	c, err := index.CreateAPIKey(ctx, db.Pool, "c", "dk_ccccccc", keyHash("c"), []string{"public"}, index.RoleUser)
	if err != nil {
		t.Fatal(err)
	}

	lastUsed := func() map[string]*time.Time {
		t.Helper()
		keys, err := index.ListAPIKeys(ctx, db.Pool, true)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*time.Time{}
		for _, k := range keys {
			m[k.Name] = k.LastUsedAt
		}
		return m
	}
	ptr := func(t time.Time) *time.Time { return &t }
	t1 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Minute)

	if err := index.TouchAPIKeys(ctx, db.Pool, nil, t1); err != nil {
		t.Fatalf("no ids: %v", err)
	}
	if err := index.TouchAPIKeys(ctx, db.Pool, []int64{a.ID, b.ID, 987654}, t2); err != nil {
		t.Fatal(err)
	}
	// An older time does not move last_used_at back; it does set a key never used.
	if err := index.TouchAPIKeys(ctx, db.Pool, []int64{a.ID, c.ID}, t1); err != nil {
		t.Fatal(err)
	}
	want := map[string]*time.Time{"a": ptr(t2), "b": ptr(t2), "c": ptr(t1)}
	if diff := cmp.Diff(want, lastUsed(), cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("last_used_at (-want +got):\n%s", diff)
	}
}

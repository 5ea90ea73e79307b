package index_test

import (
	"bytes"
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
		Kind:       index.KindSecret,
		Origins:    []string{},
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

func TestWidgetAndIssuerKeys(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	w, err := index.CreateKey(ctx, db.Pool, index.NewKey{Name: "intranet", Prefix: "dpk_abcdefg", Hash: keyHash("w"),
		Principals: []string{"public"}, Role: index.RoleUser, Kind: index.KindWidget,
		Origins: []string{"https://b.example", "https://a.example", "https://b.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"https://a.example", "https://b.example"}, w.Origins); diff != "" {
		t.Errorf("origins (-want +got):\n%s", diff)
	}
	got, err := index.APIKeyByID(ctx, db.Pool, w.ID)
	if err != nil || got.Kind != index.KindWidget || got.Name != "intranet" {
		t.Errorf("APIKeyByID: %+v, %v", got, err)
	}
	if _, err := index.APIKeyByID(ctx, db.Pool, w.ID+1000); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
	for origin, want := range map[string]bool{"https://a.example": true, "https://c.example": false} {
		if ok, err := index.OriginAllowed(ctx, db.Pool, origin); err != nil || ok != want {
			t.Errorf("OriginAllowed(%s) = %v, %v; want %v", origin, ok, err, want)
		}
	}
	if _, err := index.RevokeAPIKey(ctx, db.Pool, "intranet"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := index.OriginAllowed(ctx, db.Pool, "https://a.example"); ok {
		t.Error("a revoked key's origin is still allowed")
	}

	// Shapes the code refuses, and the table too (the constraint, for a writer that bypasses
	// CreateKey).
	bad := []index.NewKey{
		{Name: "w-admin", Prefix: "dpk_x", Hash: keyHash("1"), Principals: []string{"public"}, Role: index.RoleAdmin, Kind: index.KindWidget, Origins: []string{"https://a.example"}},
		{Name: "w-no-origin", Prefix: "dpk_x", Hash: keyHash("2"), Principals: []string{"public"}, Role: index.RoleUser, Kind: index.KindWidget},
		{Name: "s-origin", Prefix: "dk_x", Hash: keyHash("3"), Principals: []string{"public"}, Role: index.RoleUser, Kind: index.KindSecret, Origins: []string{"https://a.example"}},
		{Name: "i-no-domain", Prefix: "dk_x", Hash: keyHash("4"), Principals: []string{"group:staff"}, Role: index.RoleUser, Kind: index.KindSessionIssuer, Origins: []string{"https://a.example"}},
	}
	for _, k := range bad {
		if _, err := index.CreateKey(ctx, db.Pool, k); err == nil {
			t.Errorf("CreateKey(%s) succeeded", k.Name)
		}
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO api_keys (name, prefix, key_hash, principals, role, kind, origins)
		VALUES ('x', 'dpk_x', $1, '{public}', 'admin', 'widget', '{https://a.example}')`, keyHash("5")); err == nil {
		t.Error("the table accepted an admin widget key")
	}

	s1, err := index.WidgetSessionSecret(ctx, db.Pool, func() ([]byte, error) { return bytes.Repeat([]byte{1}, 32), nil })
	if err != nil {
		t.Fatal(err)
	}
	s2, err := index.WidgetSessionSecret(ctx, db.Pool, func() ([]byte, error) { return bytes.Repeat([]byte{2}, 32), nil })
	if err != nil || !bytes.Equal(s1, s2) || s1[0] != 1 {
		t.Errorf("the second server got another secret: %x, %x, %v", s1, s2, err)
	}
	if err := index.RotateWidgetSessionSecret(ctx, db.Pool, bytes.Repeat([]byte{3}, 32)); err != nil {
		t.Fatal(err)
	}
	if s3, _ := index.WidgetSessionSecret(ctx, db.Pool, func() ([]byte, error) { return bytes.Repeat([]byte{4}, 32), nil }); s3[0] != 3 {
		t.Errorf("after rotation: %x", s3)
	}
}

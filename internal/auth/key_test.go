package auth_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/auth"
)

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		key, prefix, hash, err := auth.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(key, "dk_") || len(key) != 46 {
			t.Fatalf("key %q: want dk_ and 43 characters", key)
		}
		raw, err := base64.RawURLEncoding.DecodeString(key[3:])
		if err != nil || len(raw) != 32 {
			t.Fatalf("key body is not 32 bytes of unpadded base64url: %d bytes, %v", len(raw), err)
		}
		if prefix != key[:10] {
			t.Errorf("prefix %q, want the key's first 10 characters %q", prefix, key[:10])
		}
		want := sha256.Sum256([]byte(key))
		if !bytes.Equal(hash, want[:]) || !bytes.Equal(auth.HashKey(key), want[:]) {
			t.Errorf("hash is not the SHA-256 of the key")
		}
		if seen[key] {
			t.Fatalf("key %s generated twice", prefix)
		}
		seen[key] = true
	}
}

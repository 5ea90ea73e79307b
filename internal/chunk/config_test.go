package chunk

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{TargetTokens: 350, MaxTokens: 512, OverlapTokens: 48, MinTokens: 64}
	if diff := cmp.Diff(want, c.Config()); diff != "" {
		t.Errorf("Config() (-want +got):\n%s", diff)
	}
	// Ingestion hashes this JSON to identify the chunking: its shape must not drift.
	b, err := json.Marshal(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"target_tokens":350,"max_tokens":512,"overlap_tokens":48,"min_tokens":64}`; got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}

func TestNewKeepsGivenFields(t *testing.T) {
	t.Parallel()
	c, err := New(Config{TargetTokens: 200, MaxTokens: 256})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{TargetTokens: 200, MaxTokens: 256, OverlapTokens: 48, MinTokens: 64}
	if diff := cmp.Diff(want, c.Config()); diff != "" {
		t.Errorf("Config() (-want +got):\n%s", diff)
	}
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error
	}{
		{"negative target", Config{TargetTokens: -1}, []string{"TargetTokens is -1"}},
		{"negative max", Config{MaxTokens: -5}, []string{"MaxTokens is -5"}},
		{"negative overlap", Config{OverlapTokens: -2}, []string{"OverlapTokens is -2"}},
		{"negative min", Config{MinTokens: -3}, []string{"MinTokens is -3"}},
		{"two negatives", Config{TargetTokens: -1, MinTokens: -3}, []string{"TargetTokens is -1", "MinTokens is -3"}},
		{"target above max", Config{TargetTokens: 600}, []string{"TargetTokens 600 exceeds MaxTokens 512"}},
		{"max below default target", Config{MaxTokens: 100}, []string{"TargetTokens 350 exceeds MaxTokens 100"}},
		{"overlap equal to target", Config{TargetTokens: 48, MinTokens: 10}, []string{"OverlapTokens 48 must be less than TargetTokens 48"}},
		{"overlap above target", Config{TargetTokens: 100, OverlapTokens: 120}, []string{"OverlapTokens 120 must be less than TargetTokens 100"}},
		{"min above target", Config{TargetTokens: 100, MinTokens: 101}, []string{"MinTokens 101 exceeds TargetTokens 100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("New(%+v) = %+v, want an error", tt.cfg, c.Config())
			}
			if !strings.HasPrefix(err.Error(), "chunk config: ") {
				t.Errorf("error %q does not say it is about the chunk config", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewAcceptsEdgeConfigs(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{TargetTokens: 1, MaxTokens: 1, OverlapTokens: 0, MinTokens: 1}, // overlap 0 means the default ...
		{TargetTokens: 2, MaxTokens: 2, OverlapTokens: 1, MinTokens: 2},
		{TargetTokens: 512, MaxTokens: 512, OverlapTokens: 511, MinTokens: 512},
	} {
		_, err := New(cfg)
		if cfg.TargetTokens == 1 {
			// ... which is 48, not less than 1.
			if err == nil {
				t.Errorf("New(%+v): no error", cfg)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

// The index finds a chunking by the hash of its Identity's JSON: a change of encoding would
// make every stored chunking unknown and ingestion would rebuild the whole index.
func TestIdentityEncodingIsStable(t *testing.T) {
	t.Parallel()
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(c.Identity())
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"chunker":{"target_tokens":350,"max_tokens":512,"overlap_tokens":48,"min_tokens":64},"version":"` + Version + `"}`
	if string(raw) != want {
		t.Errorf("Identity JSON = %s, want %s", raw, want)
	}
	got, err := ParseIdentity(raw)
	if err != nil || got != c.Config() {
		t.Errorf("ParseIdentity = %+v, %v; want %+v", got, err, c.Config())
	}
	if _, err := ParseIdentity([]byte(`{"chunker":{"max_tokens":512},"version":"0"}`)); err == nil || !strings.Contains(err.Error(), "chunker 0") {
		t.Errorf("ParseIdentity of another chunker version: %v, want an error naming it", err)
	}
	if _, err := ParseIdentity([]byte(`not json`)); err == nil {
		t.Error("ParseIdentity accepted what is not JSON")
	}
}

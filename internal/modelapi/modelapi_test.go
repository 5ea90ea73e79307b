package modelapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	type result struct {
		D  time.Duration
		OK bool
	}
	tests := []struct {
		name   string
		header map[string]string
		want   result
	}{
		{"none", nil, result{0, false}},
		{"seconds", map[string]string{"Retry-After": "2"}, result{2 * time.Second, true}},
		{"zero", map[string]string{"Retry-After": "0"}, result{0, true}},
		{"spaces", map[string]string{"Retry-After": " 7 "}, result{7 * time.Second, true}},
		{"negative", map[string]string{"Retry-After": "-3"}, result{0, false}},
		{"absurd", map[string]string{"Retry-After": "99999999999"}, result{0, false}},
		{"HTTP date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, result{90 * time.Second, true}},
		{"past date", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, result{0, true}},
		{"garbage", map[string]string{"Retry-After": "soon"}, result{0, false}},
		{"milliseconds", map[string]string{"Retry-After-Ms": "1500", "Retry-After": "9"}, result{1500 * time.Millisecond, true}},
		{"bad milliseconds", map[string]string{"Retry-After-Ms": "x", "Retry-After": "9"}, result{9 * time.Second, true}},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		d, ok := RetryAfter(h, now)
		if diff := cmp.Diff(tt.want, result{d, ok}); diff != "" {
			t.Errorf("%s: RetryAfter (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestServerMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body, want string
	}{
		{`{"error":{"message":"The model ` + "`x`" + ` does not exist","type":"invalid_request_error"}}`, "The model `x` does not exist"},
		{`{"error":"model \"x\" not found, try pulling it first"}`, `model "x" not found, try pulling it first`},
		{`{"object":"error","message":"bad input","type":"BadRequestError","code":400}`, "bad input"},
		{`{"detail":"Not Found"}`, "Not Found"},
		{"<html>\n  <h1>502   Bad Gateway</h1>\n</html>", "<html> <h1>502 Bad Gateway</h1> </html>"},
		{"", "no message"},
		{"\xff\xfe", "\uFFFD"},
		{strings.Repeat("é", 1000), strings.Repeat("é", MaxMessageLen) + "…"},
	}
	for _, tt := range tests {
		if got := ServerMessage([]byte(tt.body)); got != tt.want {
			t.Errorf("ServerMessage(%.40q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	const key = "sk-abcdefghijklmnop"
	tests := []struct {
		msg, want string
	}{
		{"Incorrect API key provided: sk-abcdefghijklmnop.", "Incorrect API key provided: [redacted]."},
		{"key ghijklmnop is revoked", "key [redacted] is revoked"},
		{"Incorrect API key provided: sk-abc*********mnop.", "Incorrect API key provided: [redacted]"},
		{"twice: sk-abcdefghijklmnop sk-abcdefghijklmnop", "twice: [redacted] [redacted]"},
		{"nothing secret", "nothing secret"},
	}
	for _, tt := range tests {
		if got := Redact(tt.msg, key); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
	if got := Redact("a message", ""); got != "a message" {
		t.Errorf("redact without a key = %q", got)
	}
}

func TestRedactMaskedAndEchoedKeys(t *testing.T) {
	t.Parallel()
	msg := "Incorrect API key provided: " + testKey + " and sk-test-****CRET."
	got := Redact(msg, testKey)
	if strings.Contains(got, "0123456789") || strings.Contains(got, "****") {
		t.Errorf("Redact left the key: %q", got)
	}
	if !strings.Contains(got, "Incorrect API key provided") {
		t.Errorf("Redact removed the message: %q", got)
	}
}

// testKey looks like an OpenAI key; it is used by TestRedactMaskedAndEchoedKeys.
const testKey = "sk-test-0123456789SECRET"

func TestRedactShortSecret(t *testing.T) {
	t.Parallel()
	// A key shorter than the 8-character runs is still hidden where it appears in a word.
	if got := Redact("bad key=abc123 given", "abc123"); strings.Contains(got, "abc123") {
		t.Errorf("Redact left a short key: %q", got)
	}
}

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
		{"milliseconds alone", map[string]string{"Retry-After-Ms": "250"}, result{250 * time.Millisecond, true}},
		// One bound for every form: more than a day is a broken header, ignored.
		{"a day", map[string]string{"Retry-After": "86400"}, result{24 * time.Hour, true}},
		{"more than a day", map[string]string{"Retry-After": "86401"}, result{0, false}},
		{"999999999", map[string]string{"Retry-After": "999999999"}, result{0, false}},
		{"milliseconds beyond a day", map[string]string{"Retry-After-Ms": "86400001", "Retry-After": "9"}, result{9 * time.Second, true}},
		{"date beyond a day", map[string]string{"Retry-After": now.Add(25 * time.Hour).Format(http.TimeFormat)}, result{0, false}},
		{"fraction of a second", map[string]string{"Retry-After": "1.5"}, result{0, false}},
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
	long := strings.Repeat("word ", 100)
	tests := []struct {
		body, want string
	}{
		// Rerankers.
		{`{"error":"Input validation error: batch size 40 > maximum allowed batch size 32","error_type":"validation"}`,
			"Input validation error: batch size 40 > maximum allowed batch size 32 (validation)"}, // TEI
		{`{"message":"invalid request: list of documents must not be empty"}`,
			"invalid request: list of documents must not be empty"}, // Cohere
		{`{"detail":"Not authenticated"}`, "Not authenticated"}, // Jina
		{`{"detail":[{"loc":["body","documents",3],"msg":"Input should be a valid string","type":"string_type"}]}`,
			"body.documents.3: Input should be a valid string"}, // FastAPI validation
		{"<html>\n<head><title>502 Bad Gateway</title></head>\n</html>",
			"<html> <head><title>502 Bad Gateway</title></head> </html>"},
		{"bad\x00\x1b[31m thing", "bad [31m thing"}, // control characters
		{long, strings.Repeat("word ", 60)[:MaxMessageLen] + "…"},
		{`{"message":"invalid api token ` + testKey + `"}`, "invalid api token [redacted]"},
		// The key is hidden before the cut, which could leave a piece too short to spot.
		{`{"message":"` + strings.Repeat("x", MaxMessageLen-4) + testKey + `"}`,
			strings.Repeat("x", MaxMessageLen-4) + "[red…"},
		// Embedding and chat servers.
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
		if got := ServerMessage([]byte(tt.body), testKey); got != tt.want {
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

func TestRedactRuns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, s, secret, want string
	}{
		{"no secret", "token abc", "", "token abc"},
		{"whole", "bad key sk-abcdefghijkl here", "sk-abcdefghijkl", "bad key [redacted] here"},
		{"part of it", "key ending in defghijkl rejected", "sk-abcdefghijkl", "key ending in [redacted] rejected"},
		{"twice", "sk-abcdefghijkl and sk-abcdefghijkl", "sk-abcdefghijkl", "[redacted] and [redacted]"},
		{"seven characters are not enough", "key ...fghijkl", "sk-abcdefghijkl", "key ...fghijkl"},
		{"short secret whole only", "key abc, abcd", "abcd", "key abc, [redacted]"},
		{"absent", "nothing here", "sk-abcdefghijkl", "nothing here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Redact(tt.s, tt.secret); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.s, got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	const base = 100 * time.Millisecond
	tests := []struct {
		attempt          int
		maxDelay         time.Duration
		wantMin, wantMax time.Duration
	}{
		{1, time.Second, base / 2, base},
		{2, time.Second, base, 2 * base},
		{3, time.Second, 2 * base, 4 * base},
		{5, time.Second, time.Second / 2, time.Second}, // capped
		{64, time.Second, time.Second / 2, time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if d := Backoff(tt.attempt, base, tt.maxDelay); d < tt.wantMin || d > tt.wantMax {
				t.Fatalf("Backoff(%d) = %s, want %s to %s", tt.attempt, d, tt.wantMin, tt.wantMax)
			}
		}
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

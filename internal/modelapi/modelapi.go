// Package modelapi holds what the clients of model providers (embedding and chat APIs:
// OpenAI-compatible servers, Ollama) share when they read an HTTP answer: the wait a server
// asks for, its error message, and the API key kept out of both.
package modelapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// MaxMessageLen is the longest server message kept, in characters.
const MaxMessageLen = 300

// RetryAfter parses the wait a server asks for: Retry-After in seconds or as an HTTP date,
// or OpenAI's retry-after-ms.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 || s > 1e6 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// ServerMessage finds the message in the error bodies that OpenAI-compatible servers and
// Ollama send, falling back to the body's text, on one line and cut to MaxMessageLen characters.
func ServerMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  any             `json:"detail"`
	}
	msg := ""
	if json.Unmarshal(body, &v) == nil {
		var nested struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			msg = s // Ollama: {"error": "..."}
		case json.Unmarshal(v.Error, &nested) == nil && nested.Message != "":
			msg = nested.Message // OpenAI: {"error": {"message": "..."}}
		case v.Message != "":
			msg = v.Message // vLLM: {"object": "error", "message": "..."}
		case v.Detail != nil:
			msg = fmt.Sprint(v.Detail) // FastAPI servers
		}
	}
	if msg == "" {
		msg = string(body)
	}
	msg = strings.Join(strings.FieldsFunc(msg, unicode.IsSpace), " ")
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	if r := []rune(msg); len(r) > MaxMessageLen {
		msg = string(r[:MaxMessageLen]) + "…"
	}
	if msg == "" {
		msg = "no message"
	}
	return msg
}

// Redact hides secret in s: the whole key, any run of at least 8 of its characters that a
// server echoed, and words with masking in them (OpenAI echoes "sk-proj-****...abcd").
func Redact(s, secret string) string {
	if secret == "" {
		return s
	}
	const part = 8
	hidden := make([]bool, len(s))
	for i := 0; i+part <= len(secret); i++ {
		for off := 0; ; off++ {
			j := strings.Index(s[off:], secret[i:i+part])
			if j < 0 {
				break
			}
			off += j
			for k := off; k < off+part; k++ {
				hidden[k] = true
			}
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if !hidden[i] {
			b.WriteByte(s[i])
		} else if i == 0 || !hidden[i-1] {
			b.WriteString("[redacted]")
		}
	}
	words := strings.Fields(b.String())
	for i, w := range words {
		if strings.Contains(w, "***") || len(secret) < part && strings.Contains(w, secret) {
			words[i] = "[redacted]"
		}
	}
	return strings.Join(words, " ")
}

// Sleep waits for d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

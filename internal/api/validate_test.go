package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// strings returns every string of a decoded JSON value, keys included.
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case map[string]any:
		var out []string
		for k, e := range v {
			out = append(append(out, k), stringsOf(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, stringsOf(e)...)
		}
		return out
	}
	return nil
}

// FuzzCheckEncoding: a body checkEncoding accepts decodes to exactly what it says: no
// U+FFFD appears that the client did not send.
func FuzzCheckEncoding(f *testing.F) {
	for _, s := range []string{`{"q":"a"}`, `{"q":"\ud800"}`, `{"q":"\ud83d\ude00"}`, `{"q":"\\ud800"}`, `{"q":"\udc00\ud800"}`,
		"{\"q\":\"\xff\"}", `{"q":"\ud800\u0041"}`, `{"q":"\ufffd"}`, `{"q":"\\\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if checkEncoding(data) != nil {
			return
		}
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		raw := strings.ToLower(string(data))
		if strings.Contains(raw, "\ufffd") || strings.Contains(raw, `\ufffd`) {
			return // the client sent one
		}
		for _, s := range stringsOf(v) {
			if strings.ContainsRune(s, '\ufffd') {
				t.Fatalf("accepted %q, which decodes to a replacement character", data)
			}
		}
	})
}

// FuzzPrefersStream: any Accept header is parsed without panicking, and only one that names
// text/event-stream streams.
func FuzzPrefersStream(f *testing.F) {
	for _, s := range []string{"text/event-stream", "text/event-stream;q=0", "*/*", "application/json, text/event-stream;q=0.5", ";;,", "text/event-stream;q=1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		if prefersStream([]string{accept}) && !strings.Contains(strings.ToLower(accept), "event-stream") {
			t.Fatalf("%q streams without naming text/event-stream", accept)
		}
	})
}

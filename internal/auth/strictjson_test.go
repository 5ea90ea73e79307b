package auth

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// colons counts the ':' outside strings: one per key of every object, duplicates included.
func colons(data []byte) int {
	n, inString := 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && c == ':':
			n++
		}
	}
	return n
}

// keys counts the keys of every object in a decoded value: duplicates have collapsed.
func keys(v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := len(v)
		for _, e := range v {
			n += keys(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range v {
			n += keys(e)
		}
		return n
	}
	return 0
}

// FuzzCheckJSON: JSON that checkJSON accepts decodes without losing a key, and JSON it
// refuses for a duplicate does lose one.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":1},"c":[{"b":1},{"b":2}]}`, `{"s\u0075b":1,"sub":2}`,
		`{"a":"x:y","b":"\":"}`, `[{"a":1,"a":1}]`, `{"a":{"a":{"a":1}},"b":{}}`, `"x"`, `{}`, `{"":1,"":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := checkJSON(data)
		if err == nil && !utf8.Valid(data) {
			t.Fatalf("invalid UTF-8 accepted: %q", data)
		}
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		switch lost := colons(data) - keys(v); {
		case err == nil && lost != 0:
			t.Fatalf("accepted, but decoding loses %d keys: %q", lost, data)
		case errors.Is(err, errDuplicateKey) && lost == 0:
			t.Fatalf("refused as a duplicate, but no key is lost: %q (%v)", data, err)
		}
	})
}

package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

var (
	errDuplicateKey = errors.New("a JSON object has a key twice")
	errNotUTF8      = errors.New("not valid UTF-8")
)

// checkSegments checks the header and the claims of a compact JWT before anything reads them:
// each must be valid UTF-8 and JSON without a key twice in any object, at any depth. JSON
// parsers disagree on duplicates (the first wins, the last wins, or an error) and replace
// invalid UTF-8 with U+FFFD, so such a token can mean one thing to the identity provider and
// another here. A segment that is not base64url is left to the JWT parser to refuse.
func checkSegments(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil // the parser refuses it as malformed
	}
	for i, name := range []string{"header", "claims"} {
		data, err := base64.RawURLEncoding.Strict().DecodeString(parts[i])
		if err != nil {
			return nil // likewise
		}
		if err := checkJSON(data); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// checkJSON returns errNotUTF8, errDuplicateKey (wrapped, naming the key) or a syntax error.
func checkJSON(data []byte) error {
	if !utf8.Valid(data) {
		return errNotUTF8
	}
	// One entry per open object or array: the keys seen so far (nil for an array).
	type level struct {
		keys      map[string]struct{}
		expectKey bool
	}
	var stack []*level
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		top := (*level)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.expectKey {
			if key, ok := tok.(string); ok {
				if _, dup := top.keys[key]; dup {
					return fmt.Errorf("%w: %q", errDuplicateKey, key)
				}
				top.keys[key] = struct{}{}
				top.expectKey = false
				continue
			}
			// Otherwise the object's closing brace.
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{keys: map[string]struct{}{}, expectKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: the enclosing object expects a key next.
		if len(stack) > 0 && stack[len(stack)-1].keys != nil {
			stack[len(stack)-1].expectKey = true
		}
	}
}

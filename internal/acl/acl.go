// Package acl defines Docent's permission tags: the strings on documents (and copied onto
// their chunks) that say who may see them, and that callers' principals are matched against.
//
// A tag is `public`, `group:<name>` or `user:<id>`. Names and ids are lower-case, without
// spaces or commas, so that a tag is matched exactly and means the same everywhere; a caller
// sees a document when one of the caller's principals equals one of its tags. There is no
// wildcard and no implied tag: a document without tags is visible to no one.
package acl

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Public is the tag of documents everyone may see, anonymous callers included.
const Public = "public"

// maxLen bounds a tag; real group names and user ids are far shorter.
const maxLen = 200

// Validate returns an error describing what is wrong with tag, or nil. A tag is valid
// UTF-8 without spaces, control or invisible characters, so that what a file says is what
// is matched, and its name is canonical (CanonicalName): the one spelling of an identity.
func Validate(tag string) error {
	if tag == Public {
		return nil
	}
	if !utf8.ValidString(tag) {
		return fmt.Errorf("permission tag %q: not valid UTF-8", short(tag))
	}
	kind, name, ok := strings.Cut(tag, ":")
	if !ok || (kind != "group" && kind != "user") {
		return fmt.Errorf("permission tag %q: must be public, group:<name> or user:<id>", short(tag))
	}
	if name == "" {
		return fmt.Errorf("permission tag %q: empty %s name", tag, kind)
	}
	if len(tag) > maxLen {
		return fmt.Errorf("permission tag %q: longer than %d bytes", short(tag), maxLen)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case strings.ContainsRune("._-@+:/|=~", r):
		case r >= 'A' && r <= 'Z':
			return fmt.Errorf("permission tag %q: must be lower-case", tag)
		case r > 0x7f:
			// Non-ASCII letters are allowed in names (internationalised e-mail addresses),
			// but not upper-case ones, nor spaces, controls or invisible format characters.
			if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsGraphic(r) {
				return fmt.Errorf("permission tag %q: contains a space, control or invisible character (%U)", tag, r)
			}
			if unicode.IsUpper(r) || unicode.IsTitle(r) || strings.ToLower(string(r)) != string(r) {
				return fmt.Errorf("permission tag %q: must be lower-case", tag)
			}
		default:
			return fmt.Errorf("permission tag %q: %q is not allowed in a %s name (no spaces, commas or quotes)", tag, r, kind)
		}
	}
	// One spelling per identity: a name that case mapping, folding or normalisation would
	// turn into another (KELVIN SIGN, LONG S, a decomposed accent ...) could never be matched
	// by the identity it looks like (CanonicalName refuses such identities).
	if canon, err := CanonicalName(name); err != nil {
		return fmt.Errorf("permission tag %+q: %w", tag, err)
	} else if canon != name {
		return fmt.Errorf("permission tag %+q: %w: must be lower-case", tag, ErrNotCanonical)
	}
	return nil
}

// short cuts a tag for an error message, on a rune boundary.
func short(tag string) string {
	if len(tag) <= 40 {
		return tag
	}
	n := 40
	for n > 0 && !utf8.RuneStart(tag[n]) {
		n--
	}
	return tag[:n] + "..."
}

// Parse validates tags and returns them sorted and without duplicates. The first invalid tag
// is an error; nothing is dropped silently.
func Parse(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if err := Validate(t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ParseFile parses a tag file (.docent-acl or a <file>.acl sidecar): one tag per line;
// blank lines and lines starting with # are ignored, and so is a leading byte-order mark.
// Anything else that is not exactly one valid tag (two tags on a line, a comment after a
// tag) is an error naming the line: a tag file is read exactly or not at all.
func ParseFile(data []byte) ([]string, error) {
	s := strings.TrimPrefix(string(data), "\uFEFF")
	var tags []string
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := Validate(line); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		tags = append(tags, line)
	}
	return Parse(tags)
}

// Equal reports whether two tag sets are the same, ignoring order and duplicates.
func Equal(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

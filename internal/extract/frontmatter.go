package extract

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"

	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// Front matter is a block of fields at the top of a Markdown (or go.dev HTML) file, in one
// of three styles:
//
//	---                      +++                    <!--{
//	title: YAML              title = "TOML"           "Title": "JSON in a comment",
//	---                      +++                      "Template": true
//	                                                }-->
//
// The JSON style is go.dev's. Fields go into Document.Metadata as written; a few have a
// meaning (keys matched case-insensitively): title, redirect (the file is only a redirect
// stub) and template (the body is a Go template). One more decides who sees the document,
// so it is read exactly or not at all: acl, the document's permission tags.
//
// The permission key must be a top-level key spelled `acl`, given once, in a front matter
// block that parses: a key that folds to acl or acls anywhere else (`ACL:`, `Acl`, `acls`,
// `params.acl`, twice in one block, through a YAML merge key), and a line that looks like a
// declaration (`acl:` or `acl =`, in any case) in the head of a file without such a block —
// front matter that is not closed, not at the very top, not a mapping (`- acl: [...]`,
// `acl:[...]`), or written after the block — are errors (*ACLError): the document's tags
// cannot be known, so it is shown to no one rather than given its folder's tags.
//
// Every input has a budget: a block is at most maxFrontMatterBytes, nested at most
// maxMetadataDepth deep, and YAML aliases expand to at most yamlNodeBudget nodes. Larger
// inputs are refused (ReasonInvalid) before anything reaches the database.

// Limits of front matter (and of JSON Lines records' fields).
const (
	// maxFrontMatterBytes bounds a front matter block; real ones are a few hundred bytes.
	maxFrontMatterBytes = 256 << 10
	// maxMetadataDepth bounds the nesting of front matter and of JSON Lines records: real
	// metadata is two or three levels deep, and deep values cost parsers quadratic time
	// (BurntSushi/toml takes 49 s for 20,000 nested inline tables) and PostgreSQL's jsonb
	// its stack.
	maxMetadataDepth = 64
	// yamlNodeBudgetBase plus the block's length bounds the YAML nodes converted, aliases
	// expanded: without aliases every node takes at least one byte of input, so only alias
	// bombs (nine levels of `x: &x [*y, *y, ...]` expand 368 bytes to 9⁹ nodes) reach it.
	yamlNodeBudgetBase = 10_000
	// headScanBytes is how much of an HTML file is searched for <meta name="acl">.
	headScanBytes = 64 << 10
)

// ACLError says that a document tries to declare its permission tags and cannot be read
// exactly: a malformed or misplaced acl. It is wrapped in an *Error (ReasonInvalid); the
// caller shows the document to no one.
type ACLError struct{ Err error }

func (e *ACLError) Error() string { return e.Err.Error() }
func (e *ACLError) Unwrap() error { return e.Err }

// IsACLError reports whether err says that a document's own permission tags are invalid.
func IsACLError(err error) bool {
	var e *ACLError
	return errors.As(err, &e)
}

func aclErrorf(format string, args ...any) error {
	return &Error{Reason: ReasonInvalid, Err: &ACLError{Err: fmt.Errorf(format, args...)}}
}

func invalidf(format string, args ...any) error {
	return &Error{Reason: ReasonInvalid, Err: fmt.Errorf(format, args...)}
}

// isACLKey reports whether a key names the permission field in some spelling: acl or acls
// in any case, with stray quotes, spaces or punctuation around it.
func isACLKey(k string) bool {
	if len(k) < 3 || len(k) > 12 || !hasACL(k) {
		return false // most keys: no allocation, no trimming
	}
	k = strings.ToLower(strings.Trim(k, " \t\r\n\"'`_-.:"))
	return k == "acl" || k == "acls"
}

// hasACL reports whether s contains "acl" in any ASCII case.
func hasACL(s string) bool {
	for i := 0; i+3 <= len(s); i++ {
		if s[i]|0x20 == 'a' && s[i+1]|0x20 == 'c' && s[i+2]|0x20 == 'l' {
			return true
		}
	}
	return false
}

// aclLine matches a line that declares permission tags somewhere in it: `acl:`, `ACL =`,
// `"acl": [...]`, `{title: x, acl: [...]}`, `params.acl =`, and a TOML table header
// `[acl]`. It is used inside blocks that start like front matter.
var aclLine = regexp.MustCompile(`(?i)(?:^|[^\p{L}\p{N}_])acls?["'` + "`" + `\]]?\s*[:=]|^\s*\[+\s*["']?acls?["']?\s*\]`)

// aclLineStart matches a line that starts with a permission declaration (after list,
// quote or comment markers): `acl: [...]`, `- ACL: x`, `"acl": [...]`, `<!-- acl: x -->`.
// It is used in the first paragraph of a file, where prose may mention acl mid-line.
var aclLineStart = regexp.MustCompile(`(?i)^[\s\-*+>{(,]*(?:<!--[\s-]*)?["'` + "`" + `]?acls?["'` + "`" + `\]]?\s*[:=]|^\s*\[+\s*["']?acls?["']?\s*\]`)

// aclMeta matches an HTML <meta> element named acl.
var aclMeta = regexp.MustCompile(`(?i)<meta\b[^>]*\b(?:name|property|http-equiv|itemprop)\s*=\s*["']?\s*acls?\b`)

// splitFrontMatter returns the front matter fields of a Markdown file (nil when it has none)
// and the rest of s. s has "\n" line ends. An opening delimiter without a closing one is not
// front matter ("---" is also a Markdown thematic break); nor is YAML that is not a mapping.
// A delimited block that does not parse is an error naming the line, and so is anything at
// the head of the file that looks like a permission declaration outside a valid block.
func splitFrontMatter(s string) (map[string]any, string, error) {
	s = strings.TrimPrefix(s, "\uFEFF")
	first, _, _ := strings.Cut(s, "\n")
	var fields map[string]any
	var body string
	var err error
	switch strings.TrimRight(first, " \t") {
	case "---":
		fields, body, err = splitDelimited(s, "yaml", func(line string) bool { return line == "---" || line == "..." })
	case "+++":
		fields, body, err = splitDelimited(s, "toml", func(line string) bool { return line == "+++" })
	default:
		fields, body, err = splitJSON(s)
	}
	if err != nil {
		return nil, "", err
	}
	if err := checkHead(s, body, fields != nil); err != nil {
		return nil, "", err
	}
	return fields, body, nil
}

// splitJSONComment returns the go.dev-style JSON front matter of an HTML file (nil when it
// has none) and the rest of s, with the same checks as splitFrontMatter.
func splitJSONComment(s string) (map[string]any, string, error) {
	fields, body, err := splitJSON(s)
	if err != nil {
		return nil, "", err
	}
	if err := checkHead(s, body, fields != nil); err != nil {
		return nil, "", err
	}
	return fields, body, nil
}

// checkHead looks for permission declarations that no valid front matter block holds: in
// the head of the file when it has no block, in the head of the body after one, and in an
// HTML <meta name="acl">.
func checkHead(s, body string, hasBlock bool) error {
	head := s[:min(len(s), headScanBytes)]
	if loc := aclMeta.FindStringIndex(head); loc != nil {
		return aclErrorf("line %d: a <meta> element named acl does not set permission tags: write them in front matter (acl: [...]), a sidecar or .docent-acl",
			1+strings.Count(s[:loc[0]], "\n"))
	}
	text, firstLine := s, 1
	if hasBlock {
		text = body
		firstLine = 1 + strings.Count(s[:len(s)-len(body)], "\n")
	}
	if n, line, ok := headDeclaration(text); ok {
		where := "outside a front matter block at the top of the file"
		if hasBlock {
			where = "after the front matter block"
		}
		return aclErrorf("line %d: %q looks like a permission declaration %s; write `acl: [tag, ...]` inside a front matter block that starts on the first line (--- ... ---)",
			firstLine+n, truncate(strings.TrimSpace(line), 60), where)
	}
	return nil
}

// headDeclaration finds a line that looks like a permission declaration in the head of
// text: after blank lines, either a block that starts like front matter (a line starting
// with ---, +++, <!-- or {, indented or not) up to its closing line or the end of the text
// (any line mentioning acl: or acl =), then the paragraph after it; or else the first
// paragraph (a line starting with acl: or acl =). n is the line's index.
func headDeclaration(text string) (n int, line string, ok bool) {
	pos, idx := 0, -1
	next := func() (string, bool) {
		if pos > len(text) || (pos == len(text) && idx >= 0) {
			return "", false
		}
		l, _, _ := strings.Cut(text[pos:], "\n")
		pos += len(l) + 1
		idx++
		return l, true
	}
	skipBlank := func() (string, bool) {
		for {
			l, more := next()
			if !more || strings.TrimSpace(l) != "" {
				return l, more
			}
		}
	}
	// paragraph checks the lines from l up to a blank line.
	paragraph := func(l string) (int, string, bool) {
		for more := true; more && strings.TrimSpace(l) != ""; l, more = next() {
			if aclLineStart.MatchString(l) {
				return idx, l, true
			}
		}
		return 0, "", false
	}
	l, more := skipBlank()
	if !more {
		return 0, "", false
	}
	t := strings.TrimSpace(l)
	var closes func(string) bool
	switch {
	case strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~"):
		return 0, "", false // a code block first: an example, not a header
	case strings.HasPrefix(t, "---"):
		closes = func(l string) bool { t := strings.TrimSpace(l); return strings.HasPrefix(t, "---") || t == "..." }
	case strings.HasPrefix(t, "+++"):
		closes = func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "+++") }
	case strings.HasPrefix(t, "<!--"):
		closes = func(l string) bool { return strings.Contains(l, "-->") }
	case strings.HasPrefix(t, "{"):
		closes = func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "}") }
	default:
		return paragraph(l)
	}
	// A block that starts like front matter but is not valid front matter: every line of
	// it, then the paragraph after it.
	if aclLine.MatchString(l) {
		return idx, l, true
	}
	closed := strings.HasPrefix(t, "<!--") && strings.Contains(t[4:], "-->")
	for !closed {
		if l, more = next(); !more {
			return 0, "", false
		}
		if aclLine.MatchString(l) {
			return idx, l, true
		}
		closed = closes(l)
	}
	if l, more = skipBlank(); !more {
		return 0, "", false
	}
	return paragraph(l)
}

// splitDelimited handles YAML and TOML front matter: the first line is the opening
// delimiter, isEnd recognises the closing one.
func splitDelimited(s, format string, isEnd func(string) bool) (map[string]any, string, error) {
	_, rest, _ := strings.Cut(s, "\n")
	for i := 0; i <= len(rest); {
		line, _, found := strings.Cut(rest[i:], "\n")
		if isEnd(strings.TrimRight(line, " \t")) {
			content := rest[:i]
			body := ""
			if found {
				body = rest[i+len(line)+1:]
			}
			fields, err := decodeFrontMatter(format, content)
			if errors.Is(err, errNotFrontMatter) {
				break
			}
			if err != nil {
				return nil, "", err
			}
			return fields, body, nil
		}
		if !found {
			break
		}
		i += len(line) + 1
	}
	return nil, s, nil // no closing delimiter: not front matter
}

// errNotFrontMatter reports YAML that parses but is not a mapping: between two "---" lines
// that is Markdown (a thematic break, a paragraph and a setext heading, or a list), not
// front matter.
var errNotFrontMatter = errors.New("not front matter")

// yamlLine finds the line numbers in yaml.v3's error messages.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// decodeFrontMatter parses YAML or TOML front matter content, which starts on line 2 of
// the file. A block that fails and mentions acl is an *ACLError: its tags cannot be known.
func decodeFrontMatter(format, content string) (map[string]any, error) {
	fields, err := decodeBlock(format, content)
	if err != nil && !errors.Is(err, errNotFrontMatter) && !IsACLError(err) && mentionsACL(content) {
		var e *Error
		if errors.As(err, &e) {
			return nil, &Error{Reason: e.Reason, Err: &ACLError{Err: e.Err}}
		}
	}
	return fields, err
}

// mentionsACL reports whether a front matter block has a line that declares acl.
func mentionsACL(content string) bool {
	for line := range strings.SplitSeq(content, "\n") {
		if aclLine.MatchString(line) {
			return true
		}
	}
	return false
}

func decodeBlock(format, content string) (map[string]any, error) {
	const firstLine = 2
	label := strings.ToUpper(format)
	if len(content) > maxFrontMatterBytes {
		return nil, invalidf("%s front matter: %d bytes, over the limit of %d", label, len(content), maxFrontMatterBytes)
	}
	var raw any
	switch format {
	case "yaml":
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(content), &node); err != nil {
			// yaml.v3 numbers lines from 1 within the front matter; report file lines.
			msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
				n, _ := strconv.Atoi(strings.TrimPrefix(m, "line "))
				return "line " + strconv.Itoa(n+firstLine-1)
			})
			msg = strings.TrimPrefix(msg, "yaml: ")
			return nil, invalidf("YAML front matter: %s", msg)
		}
		conv := yamlConverter{budget: yamlNodeBudgetBase + len(content)}
		v, err := conv.value(&node, 0)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return map[string]any{}, nil // only comments, or nothing
		}
		if _, ok := v.(map[string]any); !ok {
			return nil, errNotFrontMatter
		}
		raw = v
	case "toml":
		if err := checkTOMLShape(content, firstLine); err != nil {
			return nil, err
		}
		var fields map[string]any
		if _, err := toml.Decode(content, &fields); err != nil {
			var perr toml.ParseError
			if errors.As(err, &perr) {
				return nil, invalidf("TOML front matter: line %d: %s", perr.Position.Line+firstLine-1, perr.Message)
			}
			return nil, invalidf("TOML front matter: %v", err)
		}
		raw = fields
	}
	v, err := normalizeValue(raw, 0)
	if err != nil {
		return nil, invalidf("%s front matter: %v", label, err)
	}
	fields, _ := v.(map[string]any)
	if fields == nil {
		fields = map[string]any{}
	}
	if err := checkACLKeys(fields, label+" front matter"); err != nil {
		return nil, err
	}
	return fields, nil
}

// checkACLKeys checks where the permission key is in decoded fields: only at the top, only
// spelled acl. (Duplicates are caught by each decoder, before a map hides them.)
func checkACLKeys(fields map[string]any, what string) error {
	for k := range fields {
		if isACLKey(k) && k != "acl" {
			return aclErrorf("%s: the permission key must be written acl, not %q", what, k)
		}
	}
	var nested func(v any, path string) error
	nested = func(v any, path string) error {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if isACLKey(k) {
					return aclErrorf("%s: %q inside %s: the permission key acl must be a top-level key", what, k, path)
				}
				if err := nested(e, path+"."+k); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range v {
				if err := nested(e, path+"[]"); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for k, v := range fields {
		if err := nested(v, k); err != nil {
			return err
		}
	}
	return nil
}

// checkTOMLShape refuses TOML whose nesting (brackets, or the parts of a dotted key) is
// deeper than maxMetadataDepth before the parser sees it: BurntSushi/toml takes time
// quadratic in that depth. It skips strings and comments; anything it miscounts is invalid
// TOML anyway.
func checkTOMLShape(s string, firstLine int) error {
	depth, dots, line := 0, 0, firstLine
	fail := func(what string) error {
		return invalidf("TOML front matter: line %d: %s deeper than %d levels", line, what, maxMetadataDepth)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\n':
			line++
			dots = 0
		case '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
			i--
		case '"', '\'':
			delim := s[i : i+1]
			if strings.HasPrefix(s[i:], strings.Repeat(delim, 3)) {
				delim = strings.Repeat(delim, 3)
			}
			i += len(delim)
			for i < len(s) && !strings.HasPrefix(s[i:], delim) {
				if s[i] == '\\' && c == '"' {
					i++
				}
				if i < len(s) && s[i] == '\n' {
					line++
				}
				i++
			}
			i += len(delim) - 1
		case '[', '{':
			depth++
			dots = 0
			if depth > maxMetadataDepth {
				return fail("nested")
			}
		case ']', '}':
			depth--
			dots = 0
		case '=', ',':
			dots = 0
		case '.':
			if dots++; dots > maxMetadataDepth {
				return fail("a dotted key")
			}
		}
	}
	return nil
}

// yamlConverter converts YAML nodes into Go values within a node budget.
type yamlConverter struct {
	budget int // nodes left to convert; aliases count every time they are expanded
}

// value converts a YAML node into Go values as yaml.v3 would, except that timestamps stay
// the strings they were written as ("2019-11-08", not a time at midnight UTC). depth counts
// nested collections. Lines in its errors are file lines: node line + 1, as front matter
// starts on line 2.
func (c *yamlConverter) value(n *yaml.Node, depth int) (any, error) {
	if c.budget--; c.budget < 0 {
		return nil, invalidf("YAML front matter: line %d: aliases expand to more than %d nodes", n.Line+1, yamlNodeBudgetBase)
	}
	if depth > maxMetadataDepth {
		return nil, invalidf("YAML front matter: line %d: nested deeper than %d levels", n.Line+1, maxMetadataDepth)
	}
	switch n.Kind {
	case 0:
		return nil, nil // an empty document
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, invalidf("YAML front matter: line %d: unknown alias", n.Line+1)
		}
		return c.value(n.Alias, depth)
	case yaml.ScalarNode:
		if n.ShortTag() == "!!timestamp" {
			return n.Value, nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, invalidf("YAML front matter: line %d: %v", n.Line+1, err)
		}
		return v, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.value(e, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		aclLine := 0 // where an acl key was seen in this mapping
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" { // <<: *defaults
				merged, err := c.value(v, depth+1)
				if err != nil {
					return nil, err
				}
				for _, mm := range mergedMaps(merged) {
					for mk, mv := range mm {
						if isACLKey(mk) {
							return nil, aclErrorf("YAML front matter: line %d: acl must be written in the front matter itself, not merged in with <<", k.Line+1)
						}
						if _, exists := m[mk]; !exists {
							m[mk] = mv
						}
					}
				}
				continue
			}
			key := k.Value
			if k.Kind != yaml.ScalarNode {
				kv, err := c.value(k, depth+1)
				if err != nil {
					return nil, err
				}
				key = fmt.Sprint(kv)
			}
			if isACLKey(key) {
				if aclLine != 0 {
					return nil, aclErrorf("YAML front matter: line %d: acl is given twice (also on line %d): which one applies cannot be known", k.Line+1, aclLine)
				}
				aclLine = k.Line + 1
			}
			val, err := c.value(v, depth+1)
			if err != nil {
				return nil, err
			}
			m[key] = val
		}
		return m, nil
	}
	return nil, invalidf("YAML front matter: line %d: unexpected YAML node", n.Line+1)
}

// mergedMaps returns the mappings a YAML merge key brings in: one, or a list of them.
func mergedMaps(v any) []map[string]any {
	switch v := v.(type) {
	case map[string]any:
		return []map[string]any{v}
	case []any:
		var out []map[string]any
		for _, e := range v {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// splitJSON handles go.dev's front matter: a JSON object in an HTML comment that starts the
// file (after blank lines).
func splitJSON(s string) (map[string]any, string, error) {
	trimmed := strings.TrimLeft(s, " \t\n")
	if !strings.HasPrefix(trimmed, "<!--{") {
		return nil, s, nil
	}
	lead := len(s) - len(trimmed)
	firstLine := 1 + strings.Count(s[:lead], "\n")
	end := strings.Index(trimmed, "-->")
	if end < 0 {
		err := invalidf("JSON front matter: line %d: comment is not closed with -->", firstLine)
		if mentionsACL(trimmed[:min(len(trimmed), headScanBytes)]) {
			err = aclErrorf("JSON front matter: line %d: comment is not closed with -->", firstLine)
		}
		return nil, "", err
	}
	content := trimmed[len("<!--"):end]
	body := trimmed[end+len("-->"):]
	fail := func(err error) (map[string]any, string, error) {
		if !IsACLError(err) && mentionsACL(content) {
			var e *Error
			if errors.As(err, &e) {
				err = &Error{Reason: e.Reason, Err: &ACLError{Err: e.Err}}
			}
		}
		return nil, "", err
	}
	if len(content) > maxFrontMatterBytes {
		return fail(invalidf("JSON front matter: %d bytes, over the limit of %d", len(content), maxFrontMatterBytes))
	}
	// Validate first with the scanner: nesting within budget, and the permission key once,
	// at the top (encoding/json would keep the last of two).
	if err := checkJSONObject([]byte(content)); err != nil {
		line := firstLine
		var serr *jsonSyntaxError
		if errors.As(err, &serr) {
			line += strings.Count(content[:min(serr.offset, len(content))], "\n")
		}
		return fail(withLine(err, "JSON front matter", line))
	}
	dec := json.NewDecoder(strings.NewReader(content))
	var raw map[string]any
	err := dec.Decode(&raw)
	if err == nil {
		if rest := strings.TrimSpace(content[dec.InputOffset():]); rest != "" {
			err = fmt.Errorf("unexpected %q after the object", truncate(rest, 20))
		}
	}
	if err != nil {
		line := firstLine
		var serr *json.SyntaxError
		if errors.As(err, &serr) {
			// Offset counts the bytes read, the bad one included.
			line += strings.Count(content[:max(0, min(int(serr.Offset)-1, len(content)))], "\n")
		}
		return fail(invalidf("JSON front matter: line %d: %w", line, err))
	}
	v, err := normalizeValue(raw, 0)
	if err != nil {
		return fail(invalidf("JSON front matter: %v", err))
	}
	fields, _ := v.(map[string]any)
	if fields == nil {
		fields = map[string]any{}
	}
	if err := checkACLKeys(fields, "JSON front matter"); err != nil {
		return nil, "", err
	}
	return fields, body, nil
}

// withLine puts what and a file line before the message of an *Error from the JSON
// scanner.
func withLine(err error, what string, line int) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	msg := fmt.Errorf("%s: line %d: %w", what, line, e.Err)
	if IsACLError(err) {
		return &Error{Reason: e.Reason, Err: &ACLError{Err: msg}}
	}
	return &Error{Reason: e.Reason, Err: msg}
}

// frontMatter is what the meaningful fields of front matter say.
type frontMatter struct {
	title    string
	redirect bool
	template bool
	acl      []string
}

// interpret reads the meaningful fields of front matter. A malformed acl is an error: a
// permission field must never be half understood.
func interpret(fields map[string]any) (frontMatter, error) {
	var fm frontMatter
	if v, ok := lookupField(fields, "title"); ok {
		fm.title = textnorm.CollapseLine(scalarString(v))
	}
	if v, ok := lookupField(fields, "redirect"); ok {
		fm.redirect = strings.TrimSpace(scalarString(v)) != "" && v != false
	}
	if v, ok := lookupField(fields, "template"); ok {
		fm.template = v == true
	}
	for k := range fields {
		if isACLKey(k) && k != "acl" { // the decoders refuse these; never guess
			return fm, aclErrorf("front matter: the permission key must be written acl, not %q", k)
		}
	}
	if v, ok := fields["acl"]; ok {
		acl, err := parseACL(v)
		if err != nil {
			return fm, aclErrorf("front matter: %w", err)
		}
		fm.acl = acl
	}
	return fm, nil
}

// lookupField returns the field named name, matched case-insensitively; an exact match
// wins, then the capitalised form, then the first other spelling in sorted order.
func lookupField(fields map[string]any, name string) (any, bool) {
	if v, ok := fields[name]; ok {
		return v, true
	}
	if v, ok := fields[strings.ToUpper(name[:1])+name[1:]]; ok {
		return v, true
	}
	var keys []string
	for k := range fields {
		if strings.EqualFold(k, name) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, false
	}
	sort.Strings(keys)
	return fields[keys[0]], true
}

// parseACL reads permission tags: a list of strings, or one string. Tags are trimmed but
// not validated (package acl does that). A null value, an empty tag or a tag that is not a
// string is an error rather than something to guess about.
func parseACL(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		tag := strings.TrimSpace(v)
		if tag == "" {
			return nil, errors.New("acl: empty tag")
		}
		return []string{tag}, nil
	case []any:
		tags := make([]string, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("acl: item %d is a %s, not a string", i+1, describe(e))
			}
			if s = strings.TrimSpace(s); s == "" {
				return nil, fmt.Errorf("acl: item %d is empty", i+1)
			}
			tags = append(tags, s)
		}
		return tags, nil
	case nil:
		return nil, errors.New("acl has no value: give a list of tags, or [] for none")
	default:
		return nil, fmt.Errorf("acl is a %s, not a list of strings", describe(v))
	}
}

// scalarString returns a string, number or boolean as text, and "" for anything else.
func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(v)
	}
	return ""
}

// describe names the JSON kind of a decoded value, for error messages.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, int64, uint64, float64, json.Number:
		return "number"
	case []any:
		return "list"
	case map[string]any, map[any]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

// normalizeValue makes decoded front matter (or JSON) storable as JSON and uniform across
// decoders: mappings become map[string]any, sequences []any, times strings (TOML local
// dates and times keep their local form), integers int64 where they fit, and non-finite
// floats strings. depth is the nesting of v; values nested deeper than maxMetadataDepth
// are an error.
func normalizeValue(v any, depth int) (any, error) {
	if depth > maxMetadataDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxMetadataDepth)
	}
	switch v := v.(type) {
	case nil, string, bool, int64, uint64:
		return v, nil
	case int:
		return int64(v), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return strconv.FormatFloat(v, 'g', -1, 64), nil
		}
		return v, nil
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		if f, err := v.Float64(); err == nil {
			return normalizeValue(f, depth)
		}
		return v.String(), nil
	case time.Time:
		switch v.Location().String() {
		case "date-local":
			return v.Format(time.DateOnly), nil
		case "datetime-local":
			return v.Format("2006-01-02T15:04:05.999999999"), nil
		case "time-local":
			return v.Format("15:04:05.999999999"), nil
		}
		return v.Format(time.RFC3339Nano), nil
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			n, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = n
		}
		return m, nil
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			n, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = n
		}
		return m, nil
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			n, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			s[i] = n
		}
		return s, nil
	}
	// Other slices and maps (TOML's []map[string]any, for one) by reflection.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		s := make([]any, rv.Len())
		for i := range s {
			n, err := normalizeValue(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			s[i] = n
		}
		return s, nil
	case reflect.Map:
		m := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			n, err := normalizeValue(iter.Value().Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(iter.Key().Interface())] = n
		}
		return m, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return rv.Uint(), nil
	case reflect.Float32:
		return normalizeValue(rv.Float(), depth)
	}
	return fmt.Sprint(v), nil
}

// truncate shortens s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

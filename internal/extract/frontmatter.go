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
// stub), acl (the document's permission tags) and template (the body is a Go template).

// splitFrontMatter returns the front matter fields of s (nil when it has none) and the rest
// of s. s has "\n" line ends. An opening delimiter without a closing one is not front matter:
// "---" is also a Markdown thematic break; nor is YAML that is not a mapping. A delimited
// block that does not parse is an error naming the line.
func splitFrontMatter(s string) (map[string]any, string, error) {
	s = strings.TrimPrefix(s, "\uFEFF")
	first, _, _ := strings.Cut(s, "\n")
	switch strings.TrimRight(first, " \t") {
	case "---":
		return splitDelimited(s, "yaml", func(line string) bool { return line == "---" || line == "..." })
	case "+++":
		return splitDelimited(s, "toml", func(line string) bool { return line == "+++" })
	}
	return splitJSONComment(s)
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
// the file.
func decodeFrontMatter(format, content string) (map[string]any, error) {
	const firstLine = 2
	var fields map[string]any
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
			return nil, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("YAML front matter: %s", msg)}
		}
		v, err := yamlValue(&node, 0)
		if err != nil {
			return nil, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("YAML front matter: %w", err)}
		}
		if v == nil {
			return map[string]any{}, nil // only comments, or nothing
		}
		m, ok := normalizeValue(v).(map[string]any)
		if !ok {
			return nil, errNotFrontMatter
		}
		fields = m
	case "toml":
		if _, err := toml.Decode(content, &fields); err != nil {
			var perr toml.ParseError
			if errors.As(err, &perr) {
				return nil, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("TOML front matter: line %d: %s", perr.Position.Line+firstLine-1, perr.Message)}
			}
			return nil, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("TOML front matter: %w", err)}
		}
		fields, _ = normalizeValue(fields).(map[string]any)
	}
	if fields == nil {
		fields = map[string]any{}
	}
	return fields, nil
}

// maxYAMLDepth bounds the nesting of YAML front matter (and alias expansion), which is
// only ever a few levels deep.
const maxYAMLDepth = 100

// yamlValue converts a YAML node into Go values as yaml.v3 would, except that timestamps
// stay the strings they were written as ("2019-11-08", not a time at midnight UTC). Lines
// in its errors are file lines: node line + 1, as front matter starts on line 2.
func yamlValue(n *yaml.Node, depth int) (any, error) {
	if depth > maxYAMLDepth {
		return nil, fmt.Errorf("line %d: nested too deeply", n.Line+1)
	}
	switch n.Kind {
	case 0:
		return nil, nil // an empty document
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return yamlValue(n.Content[0], depth+1)
	case yaml.AliasNode:
		return yamlValue(n.Alias, depth+1)
	case yaml.ScalarNode:
		if n.ShortTag() == "!!timestamp" {
			return n.Value, nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line+1, err)
		}
		return v, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" { // <<: *defaults
				merged, err := yamlValue(v, depth+1)
				if err != nil {
					return nil, err
				}
				if mm, ok := merged.(map[string]any); ok {
					for mk, mv := range mm {
						if _, exists := m[mk]; !exists {
							m[mk] = mv
						}
					}
				}
				continue
			}
			val, err := yamlValue(v, depth+1)
			if err != nil {
				return nil, err
			}
			key := k.Value
			if k.Kind != yaml.ScalarNode {
				kv, err := yamlValue(k, depth+1)
				if err != nil {
					return nil, err
				}
				key = fmt.Sprint(kv)
			}
			m[key] = val
		}
		return m, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line+1)
}

// splitJSONComment handles go.dev's front matter: a JSON object in an HTML comment that
// starts the file (after blank lines).
func splitJSONComment(s string) (map[string]any, string, error) {
	trimmed := strings.TrimLeft(s, " \t\n")
	if !strings.HasPrefix(trimmed, "<!--{") {
		return nil, s, nil
	}
	lead := len(s) - len(trimmed)
	firstLine := 1 + strings.Count(s[:lead], "\n")
	end := strings.Index(trimmed, "-->")
	if end < 0 {
		return nil, "", &Error{Reason: ReasonInvalid, Err: fmt.Errorf("JSON front matter: line %d: comment is not closed with -->", firstLine)}
	}
	content := trimmed[len("<!--"):end]
	body := trimmed[end+len("-->"):]
	dec := json.NewDecoder(strings.NewReader(content))
	var fields map[string]any
	err := dec.Decode(&fields)
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
		return nil, "", &Error{Reason: ReasonInvalid, Err: fmt.Errorf("JSON front matter: line %d: %w", line, err)}
	}
	fields, _ = normalizeValue(fields).(map[string]any)
	if fields == nil {
		fields = map[string]any{}
	}
	return fields, body, nil
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
		fm.title = CollapseLine(scalarString(v))
	}
	if v, ok := lookupField(fields, "redirect"); ok {
		fm.redirect = strings.TrimSpace(scalarString(v)) != "" && v != false
	}
	if v, ok := lookupField(fields, "template"); ok {
		fm.template = v == true
	}
	if v, ok := lookupField(fields, "acl"); ok {
		acl, err := parseACL(v)
		if err != nil {
			return fm, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("front matter: %w", err)}
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
// floats strings.
func normalizeValue(v any) any {
	switch v := v.(type) {
	case nil, string, bool, int64, uint64:
		return v
	case int:
		return int64(v)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
		return v
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if f, err := v.Float64(); err == nil {
			return normalizeValue(f)
		}
		return v.String()
	case time.Time:
		switch v.Location().String() {
		case "date-local":
			return v.Format(time.DateOnly)
		case "datetime-local":
			return v.Format("2006-01-02T15:04:05.999999999")
		case "time-local":
			return v.Format("15:04:05.999999999")
		}
		return v.Format(time.RFC3339Nano)
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = normalizeValue(e)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = normalizeValue(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = normalizeValue(e)
		}
		return s
	}
	// Other slices and maps (TOML's []map[string]any, for one) by reflection.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		s := make([]any, rv.Len())
		for i := range s {
			s[i] = normalizeValue(rv.Index(i).Interface())
		}
		return s
	case reflect.Map:
		m := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			m[fmt.Sprint(iter.Key().Interface())] = normalizeValue(iter.Value().Interface())
		}
		return m
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return rv.Uint()
	case reflect.Float32:
		return normalizeValue(rv.Float())
	}
	return fmt.Sprint(v)
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

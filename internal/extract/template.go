package extract

import (
	"fmt"
	"strconv"
	"strings"
)

// Go template actions ({{...}}) appear in documentation sources that a site renders through
// text/template before Markdown, as go.dev's do: {{raw "<"}}, {{code "file.go" `/re/`}},
// {{image "x.png"}}, {{if .X}}...{{end}}, {{.Title}}. None of that is meant to be read.
//
// A document that declares itself a template (front matter `template: true`) has its body
// rewritten before parsing, the way the site does it: string literals and {{raw "..."}}
// become their text, {{.Field}} becomes the front matter field, and every other action
// becomes nothing, keeping both branches of conditionals. In other documents only what
// clearly is an action is removed, and only from text outside code, because there "{{" in
// code is content (Go composite literals, text/template examples).

// protectStart and protectEnd mark text that expandDirectives copies unchanged: extractors
// wrap inline code in them. hardBreak marks a line break inside a paragraph (Markdown hard
// breaks, HTML <br>). All three are control characters, which textnorm.Clean removes from
// text, so they never clash with content once source text has been passed through sanitize.
const (
	hardBreak    = '\x00'
	protectStart = '\x01'
	protectEnd   = '\x02'
)

// maxActionLen bounds the search for an action's closing braces, so that a stray "{{" in a
// large file costs little.
const maxActionLen = 64 << 10

// templateWords are the names that start an action: text/template's keywords and built-in
// functions, and go.dev's functions. Any other identifier starts an action only when the
// action is just that identifier ({{version}}).
var templateWords = map[string]bool{
	"if": true, "else": true, "end": true, "range": true, "with": true, "define": true,
	"block": true, "template": true, "break": true, "continue": true,
	"and": true, "or": true, "not": true, "eq": true, "ne": true, "lt": true, "le": true,
	"gt": true, "ge": true, "len": true, "index": true, "slice": true, "print": true,
	"printf": true, "println": true, "html": true, "js": true, "urlquery": true, "call": true,
	"raw": true, "code": true, "play": true, "image": true, "video": true, "donotedit": true,
	"releases": true, "markdown": true, "rawhtml": true, "breadcrumbs": true,
}

// expandDirectives returns s with its template actions replaced by their output (see the
// comment above). vars are the front matter fields that {{.Field}} may print.
//
// In a template (template set), everything between "{{" and "}}" is an action, as the site
// would parse it. Otherwise only what looks like one is (see parseAction), and the text
// between protectStart and protectEnd (code) is left alone.
func expandDirectives(s string, vars map[string]any, template bool) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	protect := !template
	// Open if/range/with/... blocks, and how many of them change dot: inside range and with,
	// {{.title}} is a field of something else than the page.
	var blocks []bool
	dotChanged := 0
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if protect && c == protectStart {
			end := strings.IndexByte(s[i:], protectEnd)
			if end < 0 {
				end = len(s) - i - 1
			}
			out = append(out, s[i:i+end+1]...)
			i += end + 1
			continue
		}
		if c != '{' || !strings.HasPrefix(s[i:], "{{") {
			out = append(out, c)
			i++
			continue
		}
		a, ok := parseAction(s, i, template)
		if !ok {
			out = append(out, c)
			i++
			continue
		}
		if a.trimLeft {
			for len(out) > 0 && isTemplateSpace(out[len(out)-1]) {
				out = out[:len(out)-1]
			}
		}
		switch word := firstWord(a.body); word {
		case "if", "range", "with", "block", "define":
			changes := word == "range" || word == "with" || word == "define"
			blocks = append(blocks, changes)
			if changes {
				dotChanged++
			}
		case "end":
			if n := len(blocks); n > 0 {
				if blocks[n-1] {
					dotChanged--
				}
				blocks = blocks[:n-1]
			}
		}
		v := vars
		if dotChanged > 0 {
			v = nil
		}
		out = append(out, a.output(v)...)
		i = a.end
		if a.trimRight {
			for i < len(s) && isTemplateSpace(s[i]) {
				i++
			}
		}
	}
	return string(out)
}

// action is one parsed template action.
type action struct {
	body                string // the pipeline, without delimiters, trim markers and outer spaces
	end                 int    // offset just after the closing "}}"
	trimLeft, trimRight bool   // "{{- " and " -}}"
}

// parseAction parses the action starting with the "{{" at s[i:]. Outside a template it
// accepts only what text/template accepts and what looks like an action, so that Go code
// such as [][]int{{1, 2}, {3}} or T{{Name: "x"}} is not taken for one.
func parseAction(s string, i int, template bool) (action, bool) {
	var a action
	j := i + 2
	if j+1 < len(s) && s[j] == '-' && isTemplateSpace(s[j+1]) {
		a.trimLeft = true
		j += 2
	}
	for j < len(s) && isTemplateSpace(s[j]) {
		j++
	}
	if j >= len(s) {
		return a, false
	}
	start := j
	switch c := s[j]; {
	case c == '/' && strings.HasPrefix(s[j:], "/*"):
		end := strings.Index(s[j:], "*/")
		if end < 0 {
			return a, false
		}
		j += end + 2
	case template && !strings.HasPrefix(s[j:], "}}"):
	case c == '"' || c == '`' || c == '.' || c == '$':
	case isIdentStart(c):
		k := j
		for k < len(s) && isIdentByte(s[k]) {
			k++
		}
		word := s[j:k]
		rest := strings.TrimLeft(s[k:], " \t")
		switch {
		case strings.HasPrefix(rest, "}}") || strings.HasPrefix(rest, "-}}"):
		case templateWords[word] && k < len(s) && isTemplateSpace(s[k]):
		default:
			return a, false
		}
	default:
		return a, false
	}
	// Find the closing braces outside string and character literals.
	limit := min(len(s), i+maxActionLen)
	for j < limit {
		switch c := s[j]; c {
		case '"', '\'':
			k := j + 1
			for k < limit && s[k] != c && s[k] != '\n' {
				if s[k] == '\\' {
					k++
				}
				k++
			}
			if k >= limit || s[k] != c {
				return a, false
			}
			j = k + 1
		case '`':
			k := strings.IndexByte(s[j+1:limit], '`')
			if k < 0 {
				return a, false
			}
			j += k + 2
		case '{':
			if strings.HasPrefix(s[j:], "{{") {
				return a, false // an action does not contain another
			}
			j++
		case '}':
			if strings.HasPrefix(s[j:], "}}") {
				body := s[start:j]
				if strings.HasSuffix(body, "-") && len(body) >= 2 && isTemplateSpace(body[len(body)-2]) {
					a.trimRight = true
					body = body[:len(body)-1]
				}
				a.body = strings.TrimSpace(body)
				a.end = j + 2
				return a, true
			}
			j++
		default:
			j++
		}
	}
	return a, false
}

// output returns what the action prints, as far as it can be known without running the
// site: a string constant, {{raw "..."}}, or a front matter field; otherwise nothing.
func (a action) output(vars map[string]any) string {
	body := a.body
	if rest, ok := strings.CutPrefix(body, "raw"); ok && rest != "" && isTemplateSpace(rest[0]) {
		body = strings.TrimSpace(rest)
	}
	if body != "" && (body[0] == '"' || body[0] == '`') {
		if v, err := strconv.Unquote(body); err == nil {
			return v
		}
		return ""
	}
	if name, ok := strings.CutPrefix(body, "."); ok && name != "" && isIdent(name) {
		if v, ok := vars[name]; ok {
			switch v.(type) {
			case string, bool, int, int64, uint64, float64:
				return fmt.Sprint(v)
			}
		}
	}
	return ""
}

// firstWord returns the first word of an action's pipeline.
func firstWord(s string) string {
	end := strings.IndexFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if end < 0 {
		return s
	}
	return s[:end]
}

func isTemplateSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isIdentStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isIdentByte(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

func isIdent(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i]) {
			return false
		}
	}
	return s != "" && isIdentStart(s[0])
}

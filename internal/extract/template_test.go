package extract

import (
	"strings"
	"testing"
	"time"
)

func TestExpandDirectives(t *testing.T) {
	t.Parallel()
	vars := map[string]any{"Title": "Effective Go", "title": "lower", "n": int64(3)}
	tests := []struct {
		name     string
		in       string
		template bool
		want     string
	}{
		{"raw", `a {{raw "<"}} b`, true, "a < b"},
		{"raw backquoted multi-line", "x {{raw `\n<pre>\ncode\n</pre>\n`}} y", true, "x \n<pre>\ncode\n</pre>\n y"},
		{"string constant", `<code>{{"{{if .}}"}}</code>`, true, "<code>{{if .}}</code>"},
		{"code include dropped", "before\n{{code \"/doc/progs/go1.go\" `/greeting/` `/append.*hello/`}}\nafter", true, "before\n\nafter"},
		{"image dropped", `{{image "gif-decoder/image00.jpg"}}`, true, ""},
		{"conditionals keep both branches", "{{if .Minor}}minor{{else}}major{{end}}", true, "minormajor"},
		{"field from front matter", "Title: {{.Title}}", true, "Title: Effective Go"},
		{"numeric field", "{{.n}} items", true, "3 items"},
		{"unknown field", "[{{.Nope}}]", true, "[]"},
		{"field inside range is not the page's", "{{range .Pages}}<a>{{.title}}</a>{{end}} {{.title}}", true, "<a></a> lower"},
		{"comment", "a{{/* note }} */}}b", true, "ab"},
		{"trim markers", "a  \n {{- if .X -}} \n  b", true, "ab"},
		{"any action in a template", "{{now.UTC.Year}} {{by .}}", true, " "},
		{"donotedit", "{{donotedit}}text", true, "text"},
		{"unterminated", "a {{if .X b", true, "a {{if .X b"},
		{"go composite literal is not an action", "[][]int{{1, 2, 3}, {4, 5}}", false, "[][]int{{1, 2, 3}, {4, 5}}"},
		{"struct literal", `[]T{{Name: "x"}}`, false, `[]T{{Name: "x"}}`},
		{"gdb output", "{{Op = 5 '\\005', Out = 0}}", false, "{{Op = 5 '\\005', Out = 0}}"},
		{"non-template strips known actions", "see {{image \"x.png\"}} it", false, "see  it"},
		{"non-template strips fields", "Editing {{.Title}}", false, "Editing "},
		{"non-template keeps code", "a \x01{{.Export}}\x02 b {{end}}", false, "a \x01{{.Export}}\x02 b "},
		{"unknown word with argument is not an action outside templates", "{{foo bar}}", false, "{{foo bar}}"},
		{"bare identifier is", "go{{version}}.msi", false, "go.msi"},
		{"nested braces are not an action", "{{if {{x}}", false, "{{if "},
		{"string with braces", `{{printf "}}" .X}}z`, true, "z"},
		{"newline ends a quoted string", "{{raw \"a\nb\"}}", true, "{{raw \"a\nb\"}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := vars
			if !tt.template {
				v = nil // as extractors call it: front matter fields only matter in templates
			}
			if got := expandDirectives(tt.in, v, tt.template); got != tt.want {
				t.Errorf("expandDirectives(%q, template=%v) = %q, want %q", tt.in, tt.template, got, tt.want)
			}
		})
	}
}

// TestExpandDirectivesLinear guards against quadratic behaviour on adversarial input: a
// megabyte of unclosed blocks and unterminated actions once took minutes.
func TestExpandDirectivesLinear(t *testing.T) {
	t.Parallel()
	inputs := map[string]string{
		"unclosed blocks":     strings.Repeat("{{if .X}}{{range .Y}}", 50000),
		"unterminated":        strings.Repeat("{{if .X ", 100000),
		"raw strings":         strings.Repeat("{{raw `", 100000),
		"quotes and braces":   strings.Repeat("{{\"}}{{", 100000),
		"protected unclosed":  strings.Repeat("\x01{{.X}}", 100000),
		"trim markers":        strings.Repeat("  {{- .X -}}  ", 50000),
		"no actions, braces":  strings.Repeat("[][]int{{1, 2}}", 50000),
		"nested action start": strings.Repeat("{{if {{", 100000),
	}
	for name, in := range inputs {
		for _, template := range []bool{false, true} {
			start := time.Now()
			expandDirectives(in, map[string]any{"X": "x"}, template)
			if d := time.Since(start); d > 30*time.Second { // linear: well under a second; quadratic: minutes
				t.Errorf("%s (template %v): %v for %d KB", name, template, d, len(in)>>10)
			}
		}
	}
}

package extract

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestFrontMatterTagsAreExactOrInvalid: every way a careless author writes permission tags
// at the top of a file is either read exactly or refused as an *ACLError (the document is
// then shown to no one); never read as "no tags", which would give it its folder's tags.
func TestFrontMatterTagsAreExactOrInvalid(t *testing.T) {
	t.Parallel()
	exact := map[string]string{
		"yaml list":                      "---\nacl: [group:hr]\n---\n# T\n\nbody\n",
		"yaml string":                    "---\nacl: group:hr\n---\nbody\n",
		"yaml block list, crlf":          "---\r\ntitle: x\r\nacl:\r\n  - group:hr\r\n---\r\nbody\r\n",
		"yaml value alias":               "---\ntags: &t [group:hr]\nacl: *t\n---\nbody\n",
		"yaml quoted key":                "---\n\"acl\": [group:hr]\n---\nbody\n",
		"yaml comment is not a key":      "---\nacl: [group:hr]\n# ACL: [public]\n---\nbody\n",
		"toml":                           "+++\nacl = [\"group:hr\"]\n+++\nbody\n",
		"json comment":                   "<!--{\n  \"Title\": \"x\",\n  \"acl\": [\"group:hr\"]\n}-->\nbody\n",
		"prose mentioning acl mid-line":  "---\ntitle: x\n---\nThis page explains the acl: key.\n",
		"example in a code block first":  "```yaml\nacl: [public]\n```\n\ntext\n",
		"acl in a later paragraph":       "# Tags\n\nWrite them so:\n\nacl: [group:hr]\n",
		"word containing acl":            "---\ntitle: x\noracle: 1\nmiracle: 2\n---\nbody\n",
		"heading about ACLs, not a key":  "# ACL design\n\nbody\n",
		"thematic break without any acl": "---\n\nSome text.\n",
	}
	want := map[string][]string{"prose mentioning acl mid-line": nil, "example in a code block first": nil, "acl in a later paragraph": nil,
		"word containing acl": nil, "heading about ACLs, not a key": nil, "thematic break without any acl": nil}
	for name, in := range exact {
		t.Run("exact/"+name, func(t *testing.T) {
			t.Parallel()
			doc, err := Markdown([]byte(in))
			if err != nil {
				t.Fatalf("Markdown(%q): %v", in, err)
			}
			w, ok := want[name]
			if !ok {
				w = []string{"group:hr"}
			}
			if diff := cmp.Diff(w, doc.ACL); diff != "" {
				t.Errorf("ACL (-want +got):\n%s", diff)
			}
		})
	}

	invalid := map[string]string{
		"no space after the colon":         "---\nacl:[group:hr]\n---\nbody\n",
		"not closed":                       "---\ntitle: x\nacl: [group:hr]\n\n# Title\n\nbody\n",
		"not closed, blank line inside":    "---\ntitle: x\n\nacl: [group:hr]\n# Title\n",
		"blank line before the opening":    "\n---\nacl: [group:hr]\n---\nbody\n",
		"space before the opening":         " ---\nacl: [group:hr]\n---\nbody\n",
		"tab before the opening":           "\t---\nacl: [group:hr]\n---\nbody\n",
		"a list item":                      "---\n- acl: [group:hr]\n---\nbody\n",
		"duplicated":                       "---\nacl: [group:hr]\nacl: [public]\n---\nbody\n",
		"duplicated in another case":       "---\nacl: [group:hr]\nACL: [public]\n---\nbody\n",
		"upper case":                       "---\nACL: [group:hr]\n---\nbody\n",
		"capitalised":                      "---\nAcl: [group:hr]\n---\nbody\n",
		"plural":                           "---\nacls: [group:hr]\n---\nbody\n",
		"spaces in the key":                "---\n\" acl \": [group:hr]\n---\nbody\n",
		"nested under params":              "---\ntitle: x\nparams:\n  acl: [group:hr]\n---\nbody\n",
		"merged in":                        "---\nbase: &b {title: x}\n<<: {acl: [group:hr]}\n---\nbody\n",
		"bad yaml mentioning acl":          "---\nacl: [group:hr\n---\nbody\n",
		"after the block":                  "---\ntitle: x\n---\nacl: [group:hr]\n\nbody\n",
		"a second block":                   "---\ntitle: x\n---\n---\nacl: [group:hr]\n---\nbody\n",
		"no delimiters at all":             "acl: [group:hr]\ntitle: x\n\n# Title\n",
		"no delimiters, upper case":        "ACL = group:hr\n\nbody\n",
		"in an html comment":               "<!-- acl: group:hr -->\n\nbody\n",
		"in a multi-line html comment":     "<!--\ntitle: x\nacl: group:hr\n-->\nbody\n",
		"toml upper case":                  "+++\nACL = [\"group:hr\"]\n+++\nbody\n",
		"toml duplicated":                  "+++\nacl = [\"group:hr\"]\nacl = [\"public\"]\n+++\nbody\n",
		"toml table":                       "+++\n[acl]\ngroups = [\"hr\"]\n+++\nbody\n",
		"toml nested":                      "+++\n[params]\nacl = [\"group:hr\"]\n+++\nbody\n",
		"toml dotted":                      "+++\nparams.acl = [\"group:hr\"]\n+++\nbody\n",
		"toml not closed":                  "+++\nacl = [\"group:hr\"]\n\nbody\n",
		"toml without a space":             "+++\nacl=[\"group:hr\"]\n++++\nbody\n",
		"json duplicated":                  "<!--{\"acl\": [\"group:hr\"], \"acl\": [\"public\"]}-->\nbody\n",
		"json upper case":                  "<!--{\"ACL\": [\"group:hr\"]}-->\nbody\n",
		"json escaped duplicate":           "<!--{\"acl\": [\"group:hr\"], \"\\u0061cl\": [\"public\"]}-->\nbody\n",
		"json nested":                      "<!--{\"Params\": {\"acl\": [\"group:hr\"]}}-->\nbody\n",
		"json not closed":                  "<!--{\"acl\": [\"group:hr\"]}\n\nbody\n",
		"json with a space after the dash": "<!-- {\"acl\": [\"group:hr\"]} -->\nbody\n",
		"hugo json without a comment":      "{\n  \"acl\": [\"group:hr\"]\n}\nbody\n",
		"meta element":                     "<meta name=\"acl\" content=\"group:hr\">\n\nbody\n",
		"acl not a list":                   "---\nacl: {group: hr}\n---\nbody\n",
		"acl null":                         "---\nacl:\n---\nbody\n",
	}
	for name, in := range invalid {
		t.Run("invalid/"+name, func(t *testing.T) {
			t.Parallel()
			doc, err := Markdown([]byte(in))
			if err == nil {
				t.Fatalf("Markdown(%q) = ACL %#v, want an ACLError", in, doc.ACL)
			}
			if !IsACLError(err) || ReasonOf(err) != ReasonInvalid {
				t.Fatalf("Markdown(%q): %v (reason %q), want an ACLError with reason invalid", in, err, ReasonOf(err))
			}
		})
	}
}

func TestHTMLTagsAreExactOrInvalid(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"meta name":         `<html><head><meta name="acl" content="group:hr"></head><body><p>x</p></body></html>`,
		"meta upper case":   `<html><head><META NAME=ACL CONTENT="group:hr"></head><body><p>x</p></body></html>`,
		"comment":           "<!-- acl: group:hr -->\n<p>x</p>",
		"json duplicated":   "<!--{\"acl\": [\"group:hr\"], \"ACL\": [\"public\"]}-->\n<p>x</p>",
		"json not a string": "<!--{\"acl\": [1]}-->\n<p>x</p>",
	} {
		if _, err := HTML([]byte(in)); !IsACLError(err) {
			t.Errorf("%s: HTML(%q) error %v, want an ACLError", name, in, err)
		}
	}
	doc, err := HTML([]byte("<!--{\"acl\": [\"group:hr\"]}-->\n<p>The acl: key is documented elsewhere.</p>"))
	if err != nil || !cmp.Equal(doc.ACL, []string{"group:hr"}) {
		t.Errorf("valid JSON front matter: %v, %v", doc.ACL, err)
	}
}

// TestFrontMatterBudgets: hostile front matter is refused quickly, with a reason, before
// anything can reach the database.
func TestFrontMatterBudgets(t *testing.T) {
	t.Parallel()
	// The 368-byte alias bomb: nine levels of nine aliases to the level below, 9^9 nodes.
	var bomb strings.Builder
	bomb.WriteString("---\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		prev := string(rune('a' + i))
		bomb.WriteString(name + ": &" + name + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ",") + "]\n")
	}
	bomb.WriteString("---\nbody\n")
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	tests := map[string]struct{ in, want string }{
		"yaml alias bomb":          {bomb.String(), "aliases expand to more than"},
		"yaml nested 50,000 deep":  {"---\na: " + deep("[", "]", 50000) + "\n---\nbody", "YAML front matter"},
		"yaml nested 100 deep":     {"---\na: " + deep("[", "]", 100) + "\n---\nbody", "nested deeper than 64"},
		"toml arrays 50,000 deep":  {"+++\na = " + deep("[", "]", 50000) + "\n+++\nbody", "nested deeper than 64"},
		"toml tables 50,000 deep":  {"+++\na = " + deep("{b=", "}", 50000) + "\n+++\nbody", "nested deeper than 64"},
		"toml dotted 50,000 deep":  {"+++\n" + strings.Repeat("a.", 50000) + "a = 1\n+++\nbody", "dotted key deeper than 64"},
		"toml header 50,000 deep":  {"+++\n[" + strings.Repeat("a.", 50000) + "a]\n+++\nbody", "dotted key deeper than 64"},
		"json nested 50,000 deep":  {"<!--{\"a\": " + deep("[", "]", 50000) + "}-->\nbody", "nested deeper than 64"},
		"json nested objects":      {"<!--{\"a\": " + deep("{\"b\":", "}", 70) + "}-->\nbody", "nested deeper than 64"},
		"front matter over budget": {"---\na: \"" + strings.Repeat("x", maxFrontMatterBytes) + "\"\n---\nbody", "over the limit"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := Markdown([]byte(tt.in))
			took := time.Since(start)
			if err == nil || ReasonOf(err) != ReasonInvalid || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v (reason %q), want reason invalid and %q", err, ReasonOf(err), tt.want)
			}
			t.Logf("%s: refused in %v: %v", name, took, truncate(err.Error(), 120))
		})
	}
	// 64 levels is fine.
	if _, err := Markdown([]byte("+++\na = " + deep("[", "]", 63) + "\n+++\nbody")); err != nil {
		t.Errorf("63 nested arrays: %v", err)
	}
	// A bracket in a string or a comment is not nesting.
	if _, err := Markdown([]byte("+++\na = \"" + strings.Repeat("[", 100) + "\" # " + strings.Repeat("{", 100) + "\nb = '''\n" + strings.Repeat("[", 100) + "'''\n+++\nbody")); err != nil {
		t.Errorf("brackets in strings: %v", err)
	}
}

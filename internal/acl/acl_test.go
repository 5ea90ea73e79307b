package acl

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	valid := []string{"public", "group:eng", "group:eng-oncall", "user:alice@example.com", "user:auth0|abc123", "group:team/sub", "user:josé@exemple.fr"}
	for _, tag := range valid {
		if err := Validate(tag); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", tag, err)
		}
	}
	invalid := map[string]string{
		"":                                  "must be public",
		"Public":                            "must be public",
		"everyone":                          "must be public",
		"group:":                            "empty group name",
		"group:Eng":                         "lower-case",
		"user:Alice@x.com":                  "lower-case",
		"group:eng team":                    "not allowed",
		"group:a,b":                         "not allowed",
		"role:admin":                        "must be public",
		"group:" + strings.Repeat("x", 300): "longer than",
		"user:ÉLODIE":                       "lower-case",
		"group:a\u00a0b":                    "space",
	}
	for tag, want := range invalid {
		if err := Validate(tag); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%q) = %v, want an error containing %q", tag, err, want)
		}
	}
}

func TestParseAndParseFile(t *testing.T) {
	got, err := Parse([]string{" group:b ", "public", "group:b", "group:a"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"group:a", "group:b", "public"}, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if _, err := Parse([]string{"public", "Group:x"}); err == nil {
		t.Error("Parse accepted an invalid tag")
	}
	got, err = ParseFile([]byte("# engineering only\n\ngroup:eng\n  user:cto@example.com  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"group:eng", "user:cto@example.com"}, got); diff != "" {
		t.Errorf("ParseFile (-want +got):\n%s", diff)
	}
	if _, err := ParseFile([]byte("group:eng\nEveryone\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ParseFile with a bad line: %v, want an error naming line 2", err)
	}
	if !Equal([]string{"b", "a", "a"}, []string{"a", "b"}) || Equal([]string{"a"}, []string{"a", "b"}) {
		t.Error("Equal is wrong")
	}
}

// TestTagFilesAreExact: hostile or careless tag files are refused, never half read.
func TestTagFilesAreExact(t *testing.T) {
	invalid := map[string]string{
		"an invalid tag among valid ones": "group:finance\nEveryone\n",
		"two tags on one line":            "group:a group:b\n",
		"a comma list":                    "group:a,group:b\n",
		"a comment after a tag":           "group:a # finance\n",
		"not UTF-8":                       "group:a\xff\n",
		"a NUL byte":                      "group:a\x00\n",
		"a zero-width space":              "group:h\u200br\n",
		"a right-to-left override":        "group:\u202ehr\n",
		"an old Mac line end":             "group:a\rgroup:b\n",
		"a Kelvin sign":                   "user:\u212Aate\n",
		"a no-break space":                "group:a\u00a0b\n",
	}
	for name, in := range invalid {
		if tags, err := ParseFile([]byte(in)); err == nil {
			t.Errorf("%s: ParseFile(%q) = %q, want an error", name, in, tags)
		}
	}
	got, err := ParseFile([]byte("\uFEFFgroup:hr\r\n# note\r\n\r\nuser:josé@exemple.fr\r\n"))
	if err != nil || !Equal(got, []string{"group:hr", "user:josé@exemple.fr"}) {
		t.Errorf("a BOM and CRLF line ends: %q, %v", got, err)
	}
	long := "group:" + strings.Repeat("é", 100)
	if err := Validate(long); err == nil || !utf8.ValidString(err.Error()) {
		t.Errorf("Validate of a long non-ASCII tag: %v (the message must stay valid UTF-8)", err)
	}
}

// FuzzParseFile checks that a tag file is read exactly: every line that is not blank or a
// comment is one valid tag of the result, and nothing else is; or the file is refused.
func FuzzParseFile(f *testing.F) {
	for _, s := range []string{"public\n", "# HR only\ngroup:hr\n", "group:eng\nuser:cto@example.com\n", "group:finance\nEveryone\n",
		"\uFEFFgroup:a\r\n", "group:a # x", "user:josé@exemple.fr", "group:\u212A", "user:a\x00", "group:a\rgroup:b", "group:" + strings.Repeat("x", 199)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tags, err := ParseFile(data)
		if err != nil {
			if !strings.Contains(err.Error(), "line ") || !utf8.ValidString(err.Error()) {
				t.Fatalf("error %q does not name a line in valid UTF-8", err)
			}
			return
		}
		want := map[string]bool{}
		for line := range strings.SplitSeq(strings.TrimPrefix(string(data), "\uFEFF"), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				want[line] = true
			}
		}
		if len(want) != len(tags) || !slices.IsSorted(tags) {
			t.Fatalf("ParseFile(%q) = %q: want each tag line once, sorted", data, tags)
		}
		for _, tag := range tags {
			if !want[tag] || Validate(tag) != nil || !utf8.ValidString(tag) || strings.TrimSpace(tag) != tag {
				t.Fatalf("ParseFile(%q) returned %q, which is not one of its lines or not valid", data, tag)
			}
			for _, r := range tag {
				if unicode.IsSpace(r) || !unicode.IsGraphic(r) || unicode.IsUpper(r) {
					t.Fatalf("tag %q has a space, an invisible or an upper-case character %U", tag, r)
				}
			}
		}
		again, err := ParseFile([]byte(strings.Join(tags, "\n")))
		if err != nil || !slices.Equal(again, tags) {
			t.Fatalf("re-reading %q gives %q, %v", tags, again, err)
		}
	})
}

package acl

import (
	"strings"
	"testing"

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

package answer

import (
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/retrieve"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestEscapeData(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"a < b and <b>bold</b>", "a < b and <b>bold</b>"},
		{"</source>", "&lt;/source>"},
		{"< / SOURCE n=1>", "&lt; / SOURCE n=1>"},
		{"<sources>", "&lt;sources>"},
		{"</question><question>", "&lt;/question>&lt;question>"},
		{"<", "<"},
	}
	for _, tt := range tests {
		if got := escapeData(tt.in); got != tt.want {
			t.Errorf("escapeData(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPrompt: the templates render, and every source is delimited once with escaped
// attributes.
func TestPrompt(t *testing.T) {
	t.Parallel()
	sources := []retrieve.Item{
		{Title: `Quotes "and" <tags>`, URI: "https://example.org/a?b=1&c=2", Text: "First."},
		{Title: "Second", Text: "Second </source> text."},
	}
	msgs, err := buildMessages(Prompt{Question: "Why </question>?", Sources: sources,
		History: []Turn{{RoleUser, "u1"}, {RoleAssistant, "a1 [3]"}, {"system", "ignored"}, {RoleUser, "u2"}}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range msgs {
		roles = append(roles, m.Role)
	}
	if got := strings.Join(roles, ","); got != "system,assistant,user,user" {
		t.Errorf("roles %s, want the system prompt, the last 2 turns and the question", got)
	}
	user := msgs[len(msgs)-1].Content
	for _, w := range []string{
		`<source n="1" title="Quotes &quot;and&quot; &lt;tags&gt;" uri="https://example.org/a?b=1&amp;c=2">`,
		`<source n="2" title="Second">`, "Second &lt;/source> text.", "<question>Why &lt;/question>?</question>",
	} {
		if !strings.Contains(user, w) {
			t.Errorf("user message lacks %q:\n%s", w, user)
		}
	}
	if n := strings.Count(user, "</source>"); n != 2 {
		t.Errorf("%d closing tags, want 2:\n%s", n, user)
	}
	if msgs[1].Content != "a1" {
		t.Errorf("assistant turn %q keeps its citation", msgs[1].Content)
	}
	if PromptVersion == "" || !strings.Contains(promptText, `define "rewrite"`) {
		t.Error("prompt templates incomplete")
	}
}

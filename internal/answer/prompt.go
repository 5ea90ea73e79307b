package answer

import (
	_ "embed"
	"fmt"
	"strings"
	"text/template"
)

// PromptVersion names the prompt templates (prompt_v1.txt) built into the binary. Change it
// with any change of the templates, so that results and evaluations say which prompt made
// an answer.
const PromptVersion = "answer-v1"

//go:embed prompt_v1.txt
var promptText string

// prompts are the parsed templates: "system" and "user" for answers, "rewrite" for query
// rewriting. Template parsing cannot fail at run time: TestPrompt parses them.
var prompts = template.Must(template.New("prompt").Option("missingkey=error").Parse(promptText))

// Limits on what goes into a prompt.
const (
	maxTitleChars   = 200
	maxURIChars     = 500
	maxHistoryChars = 1000 // per turn
)

// promptSource is one source as the template shows it. Every field is already escaped.
type promptSource struct {
	N          int
	Title, URI string
	Text       string
}

// chatMessage is one message of a chat prompt.
type chatMessage struct {
	Role    string // system, user or assistant
	Content string
}

// buildMessages renders the answer prompt: the system instructions, the last historyTurns
// turns of the conversation, and the user message with the sources and the question.
func buildMessages(p Prompt, historyTurns int) ([]chatMessage, error) {
	var sys, user strings.Builder
	if err := prompts.ExecuteTemplate(&sys, "system", nil); err != nil {
		return nil, fmt.Errorf("render the system prompt: %w", err)
	}
	data := struct {
		Sources  []promptSource
		Question string
	}{Question: escapeData(strings.TrimSpace(p.Question))}
	for i, it := range p.Sources {
		data.Sources = append(data.Sources, promptSource{
			N:     i + 1,
			Title: escapeAttr(truncate(it.Title, maxTitleChars)),
			URI:   escapeAttr(truncate(it.URI, maxURIChars)),
			Text:  escapeData(strings.TrimSpace(it.Text)),
		})
	}
	if err := prompts.ExecuteTemplate(&user, "user", data); err != nil {
		return nil, fmt.Errorf("render the user prompt: %w", err)
	}
	msgs := []chatMessage{{Role: "system", Content: sys.String()}}
	for _, t := range lastTurns(p.History, historyTurns) {
		msgs = append(msgs, chatMessage(t))
	}
	return append(msgs, chatMessage{Role: "user", Content: user.String()}), nil
}

// buildRewrite renders the query-rewriting prompt.
func buildRewrite(question string, history []Turn, historyTurns int) (string, error) {
	data := struct {
		History  []Turn
		Question string
	}{History: lastTurns(history, historyTurns), Question: oneLine(question)}
	for i := range data.History {
		data.History[i].Content = oneLine(data.History[i].Content)
	}
	var b strings.Builder
	if err := prompts.ExecuteTemplate(&b, "rewrite", data); err != nil {
		return "", fmt.Errorf("render the rewrite prompt: %w", err)
	}
	return b.String(), nil
}

// lastTurns returns copies of the last n user and assistant turns, each cut to
// maxHistoryChars; the citation markers of assistant turns are removed, since their
// numbers referred to the sources of an earlier question.
func lastTurns(history []Turn, n int) []Turn {
	var out []Turn
	for i := len(history) - 1; i >= 0 && len(out) < n; i-- {
		t := history[i]
		switch t.Role {
		case RoleUser:
		case RoleAssistant:
			t.Content, _, _ = cleanCitations(t.Content, 0)
		default:
			continue
		}
		t.Content = truncate(strings.TrimSpace(t.Content), maxHistoryChars)
		if t.Content != "" {
			out = append(out, t)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// escapeData keeps a text from closing or opening the prompt's delimiters: the "<" of any
// <source, </source, <question or </question (any case, spaces allowed) becomes "&lt;".
func escapeData(s string) string {
	if !strings.Contains(s, "<") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		if s[i] == '<' && delimiterAt(s[i+1:]) {
			b.WriteString("&lt;")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// delimiterAt reports whether s (what follows a "<") starts a source or question tag.
func delimiterAt(s string) bool {
	i := skipSpaces(s, 0, len(s))
	if i < len(s) && s[i] == '/' {
		i = skipSpaces(s, i+1, len(s))
	}
	rest := strings.ToLower(s[i:min(len(s), i+len("question"))])
	return strings.HasPrefix(rest, "source") || strings.HasPrefix(rest, "question")
}

// escapeAttr makes s safe inside a double-quoted attribute on one line.
func escapeAttr(s string) string {
	return strings.NewReplacer(`&`, "&amp;", `"`, "&quot;", `<`, "&lt;", `>`, "&gt;", "\n", " ", "\r", " ").Replace(s)
}

// oneLine collapses s's white space and cuts it to maxHistoryChars.
func oneLine(s string) string {
	return truncate(strings.Join(strings.Fields(s), " "), maxHistoryChars)
}

// truncate cuts s to at most n bytes at a character boundary, adding "…" when it cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	if sp := strings.LastIndexByte(s[:cut], ' '); sp > n/2 {
		cut = sp
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

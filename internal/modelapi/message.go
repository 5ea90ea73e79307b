package modelapi

import (
	"encoding/json"
	"strings"
	"unicode"
)

// MaxMessageLen is the longest server message kept, in characters.
const MaxMessageLen = 300

// ServerMessage finds the message in an error answer, whichever server sent it, and makes it
// one short line without secret (the API key). It falls back to the body's text (a proxy's
// HTML page, say). The key is hidden before the message is cut, since a cut could leave a
// piece of it too short to recognise.
func ServerMessage(body []byte, secret string) string {
	msg := ""
	var v struct {
		Error     json.RawMessage `json:"error"`
		ErrorType string          `json:"error_type"`
		Message   string          `json:"message"`
		Detail    json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		var s string
		var nested struct {
			Message string `json:"message"`
		}
		switch {
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			msg = s // Ollama, TEI: {"error": "...", "error_type": "validation"}
			if v.ErrorType != "" {
				msg += " (" + v.ErrorType + ")"
			}
		case json.Unmarshal(v.Error, &nested) == nil && nested.Message != "":
			msg = nested.Message // OpenAI, newer vLLM: {"error": {"message": "..."}}
		case v.Message != "":
			msg = v.Message // Cohere, older vLLM: {"message": "..."}
		case len(v.Detail) > 0:
			msg = detailMessage(v.Detail) // Jina and other FastAPI servers: {"detail": ...}
		}
	}
	if msg == "" {
		msg = string(body)
	}
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	msg = strings.Join(strings.FieldsFunc(msg, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	msg = Redact(msg, secret)
	if r := []rune(msg); len(r) > MaxMessageLen {
		msg = string(r[:MaxMessageLen]) + "…"
	}
	if msg == "" {
		msg = "no message"
	}
	return msg
}

// detailMessage reads FastAPI's "detail": a string, or a list of validation errors, each
// with a "msg" and the "loc" of the offending field.
func detailMessage(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &list) == nil {
		var parts []string
		for _, e := range list {
			if e.Msg == "" {
				continue
			}
			var loc []string
			for _, l := range e.Loc {
				b, _ := json.Marshal(l) // a value decoded from JSON: cannot fail
				loc = append(loc, strings.Trim(string(b), `"`))
			}
			if len(loc) > 0 {
				parts = append(parts, strings.Join(loc, ".")+": "+e.Msg)
			} else {
				parts = append(parts, e.Msg)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, "; ")
		}
	}
	return string(raw)
}

// Redact hides secret in s: the whole of it, any run of 8 or more of its characters (a
// server may echo part of a rejected key), and words with masking in them (OpenAI echoes
// "sk-proj-****...abcd"). A secret shorter than 8 characters is hidden only whole.
func Redact(s, secret string) string {
	if secret == "" || s == "" {
		return s
	}
	part := min(8, len(secret))
	hidden := make([]bool, len(s))
	for i := 0; i+part <= len(secret); i++ {
		frag := secret[i : i+part]
		for off := 0; off < len(s); {
			j := strings.Index(s[off:], frag)
			if j < 0 {
				break
			}
			for k := off + j; k < off+j+part; k++ {
				hidden[k] = true
			}
			off += j + 1
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case !hidden[i]:
			b.WriteByte(s[i])
		case i == 0 || !hidden[i-1]:
			b.WriteString("[redacted]")
		}
	}
	out := b.String()
	if strings.Contains(out, "***") {
		words := strings.Split(out, " ")
		for i, w := range words {
			if strings.Contains(w, "***") {
				words[i] = "[redacted]"
			}
		}
		out = strings.Join(words, " ")
	}
	return strings.ToValidUTF8(out, "\uFFFD")
}

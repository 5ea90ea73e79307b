package answer

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// maxRewriteChars bounds a rewritten query: a model that answers instead of rewriting
// writes more.
const maxRewriteChars = 400

// Rewrite turns a follow-up question into a standalone query for retrieval, using the
// conversation so far. Without history it returns the question and "none". With a
// primary generator that implements QueryRewriter, the model rewrites it within
// RewriteTimeout ("llm"); when that fails or gives something unusable (empty, several
// lines, too long), and without such a generator, RuleRewrite does ("rule"). It fails only
// when ctx ends.
func (a *Answerer) Rewrite(ctx context.Context, question string, history []Turn) (query, method string, err error) {
	question = strings.TrimSpace(question)
	if !hasUserTurn(history) {
		return question, RewriteNone, nil
	}
	if a.rewriter != nil {
		rctx, cancel := context.WithTimeout(ctx, a.cfg.RewriteTimeout)
		q, err := a.rewriter.RewriteQuery(rctx, question, history)
		cancel()
		if err == nil {
			if q, ok := cleanRewrite(q); ok {
				return q, RewriteLLM, nil
			}
			err = errors.New("unusable rewrite")
		}
		if ctx.Err() != nil {
			return question, RewriteNone, fmt.Errorf("rewrite: %w", ctx.Err())
		}
		a.logger.WarnContext(ctx, "answer: query rewrite by the model failed; using the rule", "err", err)
	}
	return RuleRewrite(question, history), RewriteRule, nil
}

// cleanRewrite checks a model's rewrite: one line, without quotes or a label, at most
// maxRewriteChars.
func cleanRewrite(s string) (string, bool) {
	s = strings.TrimSpace(stripThinking(s))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		if strings.TrimSpace(s[i:]) != "" {
			return "", false // an explanation or an answer, not a query
		}
		s = s[:i]
	}
	for _, label := range []string{"standalone query:", "standalone question:", "rewritten query:", "query:", "search query:"} {
		if len(s) >= len(label) && strings.EqualFold(s[:len(label)], label) {
			s = strings.TrimSpace(s[len(label):])
		}
	}
	s = strings.Trim(s, "\"'`“”‘’ ")
	if s == "" || len(s) > maxRewriteChars || strings.Contains(strings.ToLower(s), "<source") {
		return "", false
	}
	return s, true
}

// RuleRewrite is the deterministic rewrite: when the question looks like a follow-up
// (at most one content word; a pronoun or demonstrative such as "it", "they", "this"; or
// an opening like "and ...", "what about ..."), the content words of the previous user
// question (and of the one before, when that was a follow-up too) that the question lacks
// are put before it: "and how long does it take?" after "How do I renew a passport?"
// becomes "renew passport and how long does it take?". Otherwise the question is returned
// as it is.
func RuleRewrite(question string, history []Turn) string {
	question = strings.TrimSpace(question)
	prev := previousQuestions(question, history)
	if len(prev) == 0 {
		return question
	}
	have := contentTerms(nil, question)
	var words []string
	for i := len(prev) - 1; i >= 0; i-- { // the oldest first
		eachWord(prev[i], func(w string) {
			t := term(w)
			if t == "" || len(words) >= 12 {
				return
			}
			for _, h := range have {
				if h == t {
					return
				}
			}
			have = append(have, t)
			words = append(words, w)
		})
	}
	if len(words) == 0 {
		return question
	}
	return strings.Join(words, " ") + " " + question
}

// previousQuestions returns, when question is a follow-up, the last user question before
// it, and the one before that when the last is a follow-up too; most recent first.
func previousQuestions(question string, history []Turn) []string {
	if !followUp(question) {
		return nil
	}
	var out []string
	for i := len(history) - 1; i >= 0 && len(out) < 2; i-- {
		t := history[i]
		c := strings.TrimSpace(t.Content)
		if t.Role != RoleUser || c == "" || c == question && len(out) == 0 {
			continue
		}
		out = append(out, c)
		if !followUp(c) {
			break
		}
	}
	return out
}

// followUpWords make a question depend on what came before.
var (
	followUpPronouns = toSet(`it its itself they them their theirs this that these those he him his
she her hers one ones such there same former latter`)
	followUpOpenings = toSet(`and but also so then or plus`)
)

// followUp tells whether a question needs the conversation to be understood.
func followUp(q string) bool {
	lowerQ := strings.ToLower(strings.TrimSpace(q))
	if strings.HasPrefix(lowerQ, "what about") || strings.HasPrefix(lowerQ, "how about") {
		return true
	}
	content, pronoun, first := 0, false, ""
	eachWord(q, func(w string) {
		if first == "" {
			first = w
		}
		if term(w) != "" {
			content++
		}
		pronoun = pronoun || followUpPronouns[w]
	})
	return content <= 1 || pronoun || followUpOpenings[first]
}

func hasUserTurn(history []Turn) bool {
	for _, t := range history {
		if t.Role == RoleUser && strings.TrimSpace(t.Content) != "" {
			return true
		}
	}
	return false
}

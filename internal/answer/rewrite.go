package answer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/retrieve"
)

// maxRewriteChars bounds a rewritten query: a model that answers instead of rewriting
// writes more.
const maxRewriteChars = 400

// Rewrite turns a follow-up question into a standalone query for retrieval, using the
// conversation so far. Without history it returns the question and "none". With a
// primary generator that implements QueryRewriter, the model rewrites it within
// RewriteTimeout ("llm"); when that fails or gives something unusable (empty, several
// lines, too long), and without such a generator, RewriteByRule does ("rule"). The model's
// rewrite has no weighted context: its query stands alone. It fails only when ctx ends.
func (a *Answerer) Rewrite(ctx context.Context, question string, history []Turn) (Rewritten, error) {
	question = strings.TrimSpace(question)
	if !hasUserTurn(history) {
		return Rewritten{Query: question, Method: RewriteNone}, nil
	}
	if a.rewriter != nil {
		rctx, cancel := context.WithTimeout(ctx, a.cfg.RewriteTimeout)
		q, err := a.rewriter.RewriteQuery(rctx, question, history)
		cancel()
		if err == nil {
			if q, ok := cleanRewrite(q); ok {
				return Rewritten{Query: q, Method: RewriteLLM}, nil
			}
			err = errors.New("unusable rewrite")
		}
		if ctx.Err() != nil {
			return Rewritten{Query: question, Method: RewriteNone}, fmt.Errorf("rewrite: %w", ctx.Err())
		}
		a.logger.WarnContext(ctx, "answer: query rewrite by the model failed; using the rule", "err", err)
	}
	return RewriteByRule(question, history), nil
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

// Rewritten is a question rewritten to stand alone: the query both retrieval legs read, and
// the conversation's text that the lexical leg adds with less weight (retrieve.Query's
// Context).
type Rewritten struct {
	Query   string
	Context []ContextPiece
	Method  string // RewriteNone, RewriteRule or RewriteLLM
	// Shift is set when the rule found that the question opens a new topic: the
	// conversation then weighs ShiftFactor of its usual weight (RewriteRule only).
	Shift bool
}

// ContextPiece is a turn of the conversation in a rewrite's context: its role (RoleUser or
// RoleAssistant), its text (within retrieve.MaxContextChars) and its weight.
type ContextPiece struct {
	Role   string
	Text   string
	Weight float64
}

// Lexical returns the context as the lexical leg takes it (retrieve.Query's Context).
func (r Rewritten) Lexical() []retrieve.ContextText {
	var out []retrieve.ContextText
	for _, c := range r.Context {
		out = append(out, retrieve.ContextText{Text: c.Text, Weight: c.Weight})
	}
	return out
}

// The weights of the deterministic rewrite's context, as shares of the IDF a term of the
// question itself gets in the lexical query. Chosen on MTRAG's folds 0, 1 and 2 (the answer
// cites a reference passage; docs/retrieval.md, "Follow-up rewriting"): the conversation's
// terms rank the passages it is about above those that only share the question's words,
// without outweighing the question.
const (
	// UserTurnWeight is the weight of the last user turn before the question; each earlier
	// one weighs UserTurnDecay of the next, up to ContextUserTurns turns.
	UserTurnWeight   = 0.5
	UserTurnDecay    = 0.8
	ContextUserTurns = 3
	// AnswerWeight is the weight of the last assistant turn: it names what the conversation
	// is about, but also much that it is not (it quotes its passages whole).
	AnswerWeight = 0.2
	// ShiftFactor scales the conversation's weights when the question opens a new topic.
	ShiftFactor = 0.5
)

// RuleRewrite is the deterministic rewrite's query text: RewriteByRule(question,
// history).Query.
func RuleRewrite(question string, history []Turn) string {
	return RewriteByRule(question, history).Query
}

// RewriteByRule is the deterministic rewrite of a question asked after history; without a
// user turn in history it is the question as it is (RewriteNone).
//
// The question keeps its own words and their full weight; the conversation comes in as
// weighted context for the lexical leg, so that what "it", "they" or "that" stand for, the
// entities named earlier and an ellipsis's missing half ("and in Germany?") rank the
// passages about them first: the last ContextUserTurns user turns, the latest weighing
// UserTurnWeight and each earlier one UserTurnDecay less (the latest turn is where a
// pronoun's antecedent usually is), and the last assistant turn with AnswerWeight. A
// question with no content word of its own ("Why?", "and then?") is also prefixed with the
// content words of the user turns it follows, as both legs need something to search with.
//
// A new topic must not drag the old one in: a question that reads as standalone (no
// pronoun or opening that points back, two content words or more) and shares no content
// word with the turns taken is a topic shift, and the conversation's weights are scaled by
// ShiftFactor. The dense leg embeds the query without the context: measured, an embedding
// of the question with the previous question's words retrieved the reference passages
// less often than the question's own.
func RewriteByRule(question string, history []Turn) Rewritten {
	question = strings.TrimSpace(question)
	var users []string
	answer := ""
	for i := len(history) - 1; i >= 0; i-- {
		t := history[i]
		c := strings.TrimSpace(t.Content)
		switch {
		case c == "":
		case t.Role == RoleUser && len(users) < ContextUserTurns && (c != question || len(users) > 0):
			users = append(users, clipContext(c))
		case t.Role == RoleAssistant && answer == "" && len(users) == 0:
			answer = clipContext(c)
		}
	}
	if len(users) == 0 {
		return Rewritten{Query: question, Method: RewriteNone}
	}
	out := Rewritten{Query: question, Method: RewriteRule}
	if len(contentTerms(nil, question)) == 0 {
		out.Query = prefixPrevious(question, history)
	}
	scale := 1.0
	if topicShift(question, users, answer) {
		out.Shift, scale = true, ShiftFactor
	}
	w := UserTurnWeight * scale
	for _, u := range users {
		out.Context = append(out.Context, ContextPiece{Role: RoleUser, Text: u, Weight: w})
		w *= UserTurnDecay
	}
	if answer != "" {
		out.Context = append(out.Context, ContextPiece{Role: RoleAssistant, Text: answer, Weight: AnswerWeight * scale})
	}
	return out
}

// clipContext returns s within retrieve.MaxContextChars characters (retrieval reads no
// more of it).
func clipContext(s string) string {
	if utf8.RuneCountInString(s) <= retrieve.MaxContextChars {
		return s
	}
	return string([]rune(s)[:retrieve.MaxContextChars])
}

// topicShift tells whether question opens a new topic: it reads as standalone and shares
// no content word with the user turns and the answer before it.
func topicShift(question string, users []string, answer string) bool {
	if followUp(question) {
		return false
	}
	before := map[string]bool{}
	for _, s := range append(users, answer) {
		for _, t := range contentTerms(nil, s) {
			before[t] = true
		}
	}
	for _, t := range contentTerms(nil, question) {
		if before[t] {
			return false
		}
	}
	return true
}

// prefixPrevious puts before the question the content words (at most 12) of the user
// question it follows, and of the one before that when that was a follow-up too: "why?"
// after "How do I renew a passport?" becomes "renew passport why?".
func prefixPrevious(question string, history []Turn) string {
	prev := followedQuestions(question, history)
	have := contentTerms(nil, question)
	var words []string
	for i := len(prev) - 1; i >= 0; i-- { // the oldest first
		eachWord(prev[i], func(w string) {
			t := term(w)
			if t == "" || len(words) >= 12 || slices.Contains(have, t) {
				return
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

// previousQuestions returns the earlier user questions whose terms the extractive answerer
// adds to a follow-up's when it picks sentences: only for a question with at most one
// content word of its own ("why?", "how much does that cost?"), which has too little to
// pick by. A question with more is answered from its own words: retrieval has brought the
// passages the conversation is about already, and measured on MTRAG, adding the earlier
// question's terms made the answerer pass over the passage that answers (and refuse more)
// because it lacked them.
func previousQuestions(question string, history []Turn) []string {
	if len(contentTerms(nil, question)) > 1 {
		return nil
	}
	return followedQuestions(question, history)
}

// followedQuestions returns, when question is a follow-up, the last user question before
// it, and the one before that when the last is a follow-up too; most recent first.
func followedQuestions(question string, history []Turn) []string {
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

package answer

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/retrieve"
)

// TestRewriteByRule: the question keeps its words; the conversation comes as weighted
// context, the last user turn first and weighing most, then earlier ones less, then the
// last answer; a question without words of its own is prefixed; a new topic's context
// weighs less.
func TestRewriteByRule(t *testing.T) {
	t.Parallel()
	renew := []Turn{{RoleUser, "How do I renew a passport?"}, {RoleAssistant, "Online or by post [1]."}}
	// ctx: text, weight pairs, the last one the assistant's.
	ctx := func(pairs ...any) []ContextPiece {
		var out []ContextPiece
		for i := 0; i < len(pairs); i += 2 {
			role := RoleUser
			if i == len(pairs)-2 {
				role = RoleAssistant
			}
			out = append(out, ContextPiece{Role: role, Text: pairs[i].(string), Weight: pairs[i+1].(float64)})
		}
		return out
	}
	round := func(w float64) float64 { return math.Round(w*1e9) / 1e9 }
	u0, u1, u2 := round(UserTurnWeight), round(UserTurnWeight*UserTurnDecay), round(UserTurnWeight*UserTurnDecay*UserTurnDecay)
	tests := []struct {
		name     string
		question string
		history  []Turn
		want     Rewritten
	}{
		{"no history", "and how long does it take?", nil,
			Rewritten{Query: "and how long does it take?", Method: RewriteNone}},
		{"only assistant turns", "and how long?", []Turn{{RoleAssistant, "Hello."}},
			Rewritten{Query: "and how long?", Method: RewriteNone}},
		{"pronoun: the previous question and answer as context", "How long does it take?", renew,
			Rewritten{Query: "How long does it take?", Method: RewriteRule,
				Context: ctx("How do I renew a passport?", u0, "Online or by post [1].", AnswerWeight)}},
		{"ellipsis: the question keeps its word, the context the rest", "What about Germany?",
			[]Turn{{RoleUser, "What is the capital of France?"}, {RoleAssistant, "Paris [1]."}},
			Rewritten{Query: "What about Germany?", Method: RewriteRule,
				Context: ctx("What is the capital of France?", u0, "Paris [1].", AnswerWeight)}},
		{"no word of its own: prefixed", "Why?", renew,
			Rewritten{Query: "renew passport Why?", Method: RewriteRule,
				Context: ctx("How do I renew a passport?", u0, "Online or by post [1].", AnswerWeight)}},
		{"earlier turns decay, at most three, the latest answer only", "and is it expensive?",
			[]Turn{{RoleUser, "Where is the embassy?"}, {RoleAssistant, "In the capital [2]."},
				{RoleUser, "How do I renew a passport?"}, {RoleAssistant, "Online [1]."},
				{RoleUser, "How long does it take?"}, {RoleAssistant, "Three weeks [1]."},
				{RoleUser, "Can I pay by card?"}, {RoleAssistant, "Yes [1]."}},
			Rewritten{Query: "and is it expensive?", Method: RewriteRule,
				Context: ctx("Can I pay by card?", u0, "How long does it take?", u1, "How do I renew a passport?", u2, "Yes [1].", AnswerWeight)}},
		{"topic shift: the old topic weighs less", "What documents are needed for a visa application?", renew,
			Rewritten{Query: "What documents are needed for a visa application?", Method: RewriteRule, Shift: true,
				Context: ctx("How do I renew a passport?", round(u0*ShiftFactor), "Online or by post [1].", round(AnswerWeight*ShiftFactor))}},
		{"a standalone question on the same topic is no shift", "What documents are needed to renew a passport?", renew,
			Rewritten{Query: "What documents are needed to renew a passport?", Method: RewriteRule,
				Context: ctx("How do I renew a passport?", u0, "Online or by post [1].", AnswerWeight)}},
		{"the question repeated as the last user turn is not its own context", "Can I renew it online?",
			append(slices.Clone(renew), Turn{RoleUser, "Can I renew it online?"}),
			Rewritten{Query: "Can I renew it online?", Method: RewriteRule,
				Context: ctx("How do I renew a passport?", u0, "Online or by post [1].", AnswerWeight)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := RewriteByRule(tt.question, tt.history)
			for i := range got.Context {
				got.Context[i].Weight = math.Round(got.Context[i].Weight*1e9) / 1e9
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RewriteByRule(%q) =\n%+v\nwant\n%+v", tt.question, got, tt.want)
			}
			if q := RuleRewrite(tt.question, tt.history); q != tt.want.Query {
				t.Errorf("RuleRewrite(%q) = %q, want %q", tt.question, q, tt.want.Query)
			}
		})
	}
}

// TestRewriteByRuleBounded: a long conversation gives a bounded context.
func TestRewriteByRuleBounded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("passport renewal fees ", 2000)
	var history []Turn
	for range 50 {
		history = append(history, Turn{RoleUser, long}, Turn{RoleAssistant, long})
	}
	got := RewriteByRule("and is it expensive?", history)
	if len(got.Context) != ContextUserTurns+1 {
		t.Fatalf("%d context pieces, want %d", len(got.Context), ContextUserTurns+1)
	}
	for _, c := range got.Context {
		if n := utf8.RuneCountInString(c.Text); n > retrieve.MaxContextChars || c.Weight <= 0 || c.Weight > 1 {
			t.Errorf("context piece of %d characters, weight %v", n, c.Weight)
		}
	}
}

// TestPreviousQuestionsOnlyWithoutWords: the extractive answerer reads earlier questions
// only for a follow-up with at most one content word of its own.
func TestPreviousQuestionsOnlyWithoutWords(t *testing.T) {
	t.Parallel()
	renew := []Turn{{RoleUser, "How do I renew a passport?"}, {RoleAssistant, "Online or by post [1]."}}
	if got := previousQuestions("How long does the renewal take?", renew); got != nil {
		t.Errorf("a question with words of its own: %q", got)
	}
	for _, q := range []string{"Why?", "and how much does that cost?"} {
		if got := previousQuestions(q, renew); !slices.Equal(got, []string{"How do I renew a passport?"}) {
			t.Errorf("%q: %q", q, got)
		}
	}
}

func TestRewrite(t *testing.T) {
	t.Parallel()
	history := []Turn{{RoleUser, "How do I renew a passport?"}, {RoleAssistant, "Online or by post [1]."}}
	q := "and how long does it take?"
	tests := []struct {
		name       string
		primary    Generator
		history    []Turn
		want       string
		wantMethod string
	}{
		{"no history", nil, nil, q, RewriteNone},
		{"rule without a model", nil, history, q, RewriteRule},
		{"model", &fakeGenerator{rewrite: "  \"How long does passport renewal take?\"\n"}, history, "How long does passport renewal take?", RewriteLLM},
		{"model with a label", &fakeGenerator{rewrite: "Standalone query: passport renewal duration"}, history, "passport renewal duration", RewriteLLM},
		{"model fails: rule", &fakeGenerator{rwErr: errors.New("model unavailable")}, history, q, RewriteRule},
		{"model answers instead: rule", &fakeGenerator{rewrite: "It takes three weeks.\nOnline renewal is faster."}, history, q, RewriteRule},
		{"model says nothing: rule", &fakeGenerator{rewrite: " "}, history, q, RewriteRule},
		{"a generator that cannot rewrite: rule", &Extractive{}, history, q, RewriteRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := New(Config{}, tt.primary, nil)
			if err != nil {
				t.Fatal(err)
			}
			rw, err := a.Rewrite(t.Context(), q, tt.history)
			if err != nil {
				t.Fatal(err)
			}
			if rw.Query != tt.want || rw.Method != tt.wantMethod {
				t.Errorf("Rewrite = %q, %q; want %q, %q", rw.Query, rw.Method, tt.want, tt.wantMethod)
			}
			if (len(rw.Context) > 0) != (tt.wantMethod == RewriteRule) {
				t.Errorf("Rewrite by %s: context %+v", rw.Method, rw.Context)
			}
		})
	}
}

// TestRewriteOpenAI: the rewrite goes through the real client with its own short prompt,
// and a cancelled caller gets an error.
func TestRewriteOpenAI(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, "openai", reply{chunks: []string{"passport renewal ", "processing time"}})
	g := newTestOpenAI(t, f, LLMConfig{APIKey: testKey})
	a, err := New(Config{}, g, nil)
	if err != nil {
		t.Fatal(err)
	}
	history := []Turn{{RoleUser, "How do I renew a passport?"}, {RoleAssistant, "Online or by post [1]."}}
	rw, err := a.Rewrite(t.Context(), "and how long does it take?", history)
	if err != nil || rw.Query != "passport renewal processing time" || rw.Method != RewriteLLM {
		t.Fatalf("Rewrite = %+v, %v", rw, err)
	}
	req := decodeChat(t, f.calls()[0].body)
	if len(req.Messages) != 1 || req.MaxCompletionTokens != rewriteMaxTokens {
		t.Fatalf("rewrite request: %d messages, max tokens %d", len(req.Messages), req.MaxCompletionTokens)
	}
	for _, w := range []string{"standalone search query", "user: How do I renew a passport?", "assistant: Online or by post.", "Last question: and how long does it take?"} {
		if !contains(req.Messages[0].Content, w) {
			t.Errorf("rewrite prompt lacks %q:\n%s", w, req.Messages[0].Content)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := a.Rewrite(ctx, "and how long does it take?", history); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

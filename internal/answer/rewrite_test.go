package answer

import (
	"context"
	"errors"
	"testing"
)

func TestRuleRewrite(t *testing.T) {
	t.Parallel()
	renew := []Turn{{RoleUser, "How do I renew a passport?"}, {RoleAssistant, "Online or by post [1]."}}
	tests := []struct {
		name     string
		question string
		history  []Turn
		want     string
	}{
		{"no history", "and how long does it take?", nil, "and how long does it take?"},
		{"follow-up with a pronoun", "and how long does it take?", renew, "renew passport and how long does it take?"},
		{"what about", "What about Germany?", []Turn{{RoleUser, "What is the capital of France?"}}, "capital france What about Germany?"},
		{"one content word", "Why?", renew, "renew passport Why?"},
		{"standalone question unchanged", "What documents are needed for a visa application?", renew, "What documents are needed for a visa application?"},
		{"words already in the question are not repeated", "Can I renew it online?", renew, "passport Can I renew it online?"},
		{"two follow-ups in a row reach the first question", "and is it expensive?",
			[]Turn{{RoleUser, "How do I renew a passport?"}, {RoleAssistant, "Online [1]."}, {RoleUser, "How long does it take?"}, {RoleAssistant, "Three weeks [1]."}},
			"renew passport long take and is it expensive?"},
		{"only assistant turns", "and how long?", []Turn{{RoleAssistant, "Hello."}}, "and how long?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := RuleRewrite(tt.question, tt.history); got != tt.want {
				t.Errorf("RuleRewrite(%q) = %q, want %q", tt.question, got, tt.want)
			}
		})
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
		{"rule without a model", nil, history, "renew passport " + q, RewriteRule},
		{"model", &fakeGenerator{rewrite: "  \"How long does passport renewal take?\"\n"}, history, "How long does passport renewal take?", RewriteLLM},
		{"model with a label", &fakeGenerator{rewrite: "Standalone query: passport renewal duration"}, history, "passport renewal duration", RewriteLLM},
		{"model fails: rule", &fakeGenerator{rwErr: errors.New("model unavailable")}, history, "renew passport " + q, RewriteRule},
		{"model answers instead: rule", &fakeGenerator{rewrite: "It takes three weeks.\nOnline renewal is faster."}, history, "renew passport " + q, RewriteRule},
		{"model says nothing: rule", &fakeGenerator{rewrite: " "}, history, "renew passport " + q, RewriteRule},
		{"a generator that cannot rewrite: rule", &Extractive{}, history, "renew passport " + q, RewriteRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := New(Config{}, tt.primary, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, method, err := a.Rewrite(t.Context(), q, tt.history)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || method != tt.wantMethod {
				t.Errorf("Rewrite = %q, %q; want %q, %q", got, method, tt.want, tt.wantMethod)
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
	got, method, err := a.Rewrite(t.Context(), "and how long does it take?", history)
	if err != nil || got != "passport renewal processing time" || method != RewriteLLM {
		t.Fatalf("Rewrite = %q, %q, %v", got, method, err)
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
	if _, _, err := a.Rewrite(ctx, "and how long does it take?", history); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

package ask_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
)

// memoryConversations keeps conversations in memory; a turn is visible unless it involves a
// revoked chunk.
type memoryConversations struct {
	mu      sync.Mutex
	convs   map[string]*memoryConversation
	revoked map[int64]bool
}

type memoryConversation struct {
	owner index.Owner
	turns []index.Turn
}

func (m *memoryConversations) find(id string, owner index.Owner) (*memoryConversation, bool) {
	c, ok := m.convs[id]
	if !ok || string(c.owner.Hash) != string(owner.Hash) || c.owner.ID != owner.ID {
		return nil, false
	}
	return c, true
}

func (m *memoryConversations) Get(_ context.Context, id string, owner index.Owner, _ []string) (index.Conversation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.find(id, owner)
	if !ok {
		return index.Conversation{}, index.ErrNotFound
	}
	out := index.Conversation{ID: id}
	for _, t := range c.turns {
		t.Visible = !slices.ContainsFunc(t.Involved, func(id int64) bool { return m.revoked[id] })
		out.Turns = append(out.Turns, t)
	}
	return out, nil
}

func (m *memoryConversations) Append(_ context.Context, id string, owner index.Owner, create bool, limit int, t index.Turn) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if create {
		if m.convs == nil {
			m.convs = map[string]*memoryConversation{}
		}
		m.convs[id] = &memoryConversation{owner: owner}
	}
	c, ok := m.find(id, owner)
	if !ok {
		return 0, index.ErrNotFound
	}
	if len(c.turns) >= limit {
		return 0, index.ErrConversationFull
	}
	t.N = len(c.turns) + 1
	c.turns = append(c.turns, t)
	return t.N, nil
}

func (m *memoryConversations) Delete(_ context.Context, id string, owner index.Owner) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.find(id, owner); !ok {
		return index.ErrNotFound
	}
	delete(m.convs, id)
	return nil
}

// historyRecorder is the real answerer, recording the history each step is given.
type historyRecorder struct {
	*answer.Answerer
	rewrites, prompts [][]answer.Turn
}

func (h *historyRecorder) Rewrite(ctx context.Context, q string, history []answer.Turn) (answer.Rewritten, error) {
	h.rewrites = append(h.rewrites, slices.Clone(history))
	return h.Answerer.Rewrite(ctx, q, history)
}

func (h *historyRecorder) Answer(ctx context.Context, p answer.Prompt, onDelta func(string)) (*answer.Result, error) {
	h.prompts = append(h.prompts, slices.Clone(p.History))
	return h.Answerer.Answer(ctx, p, onDelta)
}

// TestStoredHistoryLeavesOutRedactedAnswers: a follow-up in a stored conversation is rewritten
// and answered with the stored turns; of a turn whose chunks the caller can no longer read,
// with its question only, never its answer.
func TestStoredHistoryLeavesOutRedactedAnswers(t *testing.T) {
	r := &fakeRetriever{evidence: evidence, strength: 0.8, visibleTo: "group:hr"}
	real, err := answer.New(answer.Config{}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rec := &historyRecorder{Answerer: real}
	store := &memoryConversations{revoked: map[int64]bool{}}
	svc, err := ask.New(ask.Config{}, r, rec, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	hr := ask.NewCaller(auth.Principal{Kind: auth.KindAPIKey, KeyID: 7, Subject: "hr", Principals: []string{"group:hr", "public"}})
	askIn := func(text, conv string) *ask.Answer {
		t.Helper()
		a, err := svc.Ask(context.Background(), ask.Question{Text: text, MaxSources: 5, ConversationID: conv},
			hr, ask.NewTrace("/v1/answer", hr, text), nil)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	first := askIn("How many vacation days do employees get?", "")
	if first.ConversationID == "" || first.Refused {
		t.Fatalf("first answer: %+v", first)
	}
	askIn("Do they carry over?", first.ConversationID)
	want := []answer.Turn{{Role: answer.RoleUser, Content: "How many vacation days do employees get?"},
		{Role: answer.RoleAssistant, Content: first.Text}}
	if got := rec.rewrites[len(rec.rewrites)-1]; !slices.Equal(got, want) {
		t.Errorf("the follow-up was rewritten with %+v, want %+v", got, want)
	}

	store.revoked[11] = true // a neighbour of the first passage: re-tagged
	askIn("And on public holidays?", first.ConversationID)
	for _, h := range [][]answer.Turn{rec.rewrites[len(rec.rewrites)-1], rec.prompts[len(rec.prompts)-1]} {
		if slices.ContainsFunc(h, func(t answer.Turn) bool { return t.Content == first.Text }) {
			t.Errorf("the redacted answer was given to the answerer: %+v", h)
		}
		if len(h) == 0 || h[0].Content != "How many vacation days do employees get?" {
			t.Errorf("the redacted turn's question is missing: %+v", h)
		}
	}
	c, err := svc.Conversation(context.Background(), first.ConversationID, hr)
	if err != nil {
		t.Fatal(err)
	}
	if t0 := c.Turns[0]; !t0.Redacted || t0.Answer != "" || t0.Citations != nil {
		t.Errorf("restored redacted turn: %+v", t0)
	}

	// Another caller with the same principals, and an anonymous one: unknown.
	twin := ask.NewCaller(auth.Principal{Kind: auth.KindAPIKey, KeyID: 8, Subject: "hr2", Principals: []string{"group:hr", "public"}})
	anon := ask.NewCaller(auth.Principal{Kind: auth.KindAnonymous, Principals: []string{"public"}})
	for name, c := range map[string]ask.Caller{"twin": twin, "anonymous": anon} {
		if _, err := svc.Conversation(context.Background(), first.ConversationID, c); !errors.Is(err, ask.ErrConversationNotFound) {
			t.Errorf("%s read the conversation: %v", name, err)
		}
		_, err := svc.Ask(context.Background(), ask.Question{Text: "x y", MaxSources: 5, ConversationID: first.ConversationID},
			c, ask.NewTrace("/v1/answer", c, "x"), nil)
		if !errors.Is(err, ask.ErrConversationNotFound) {
			t.Errorf("%s continued the conversation: %v", name, err)
		}
		if err := svc.DeleteConversation(context.Background(), first.ConversationID, c); !errors.Is(err, ask.ErrConversationNotFound) {
			t.Errorf("%s deleted the conversation: %v", name, err)
		}
	}
	a, err := svc.Ask(context.Background(), ask.Question{Text: "vacation days", MaxSources: 5}, anon, ask.NewTrace("/v1/answer", anon, "x"), nil)
	if err != nil || a.ConversationID != "" {
		t.Errorf("an anonymous caller's answer: conversation %q, %v", a.ConversationID, err)
	}
	_, err = svc.Ask(context.Background(), ask.Question{Text: "x y", MaxSources: 5, ConversationID: first.ConversationID,
		History: []answer.Turn{{Role: answer.RoleUser, Content: "x"}}}, hr, ask.NewTrace("/v1/answer", hr, "x"), nil)
	if !errors.Is(err, ask.ErrHistoryWithConversation) {
		t.Errorf("history with a conversation id: %v", err)
	}
	// Full: MaxTurns turns, then ErrConversationFull before any work.
	for i := len(store.convs[first.ConversationID].turns); i < ask.MaxTurns; i++ {
		askIn(fmt.Sprintf("vacation days %d", i), first.ConversationID)
	}
	before := len(r.requests)
	_, err = svc.Ask(context.Background(), ask.Question{Text: "vacation days", MaxSources: 5, ConversationID: first.ConversationID},
		hr, ask.NewTrace("/v1/answer", hr, "x"), nil)
	if !errors.Is(err, ask.ErrConversationFull) || len(r.requests) != before {
		t.Errorf("a question beyond %d turns: %v, %d retrievals", ask.MaxTurns, err, len(r.requests)-before)
	}
}

package ask

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
)

// Conversations stores conversations (index.GetConversation, AppendTurn and
// DeleteConversation over the database: DBConversations). Each method sees a conversation
// only when owner owns it, and reports any other as index.ErrNotFound.
type Conversations interface {
	Get(ctx context.Context, id string, owner index.Owner, reader []string) (index.Conversation, error)
	Append(ctx context.Context, id string, owner index.Owner, create bool, limit int, t index.Turn) (int, error)
	Delete(ctx context.Context, id string, owner index.Owner) error
}

// DB is what DBConversations needs of the database: a pool.
type DB interface {
	index.DBTX
	index.Beginner
}

// DBConversations keeps conversations in the database.
type DBConversations struct{ DB DB }

var _ Conversations = DBConversations{}

func (d DBConversations) Get(ctx context.Context, id string, owner index.Owner, reader []string) (index.Conversation, error) {
	return index.GetConversation(ctx, d.DB, id, owner, reader)
}

func (d DBConversations) Append(ctx context.Context, id string, owner index.Owner, create bool, limit int, t index.Turn) (int, error) {
	return index.AppendTurn(ctx, d.DB, id, owner, create, limit, t)
}

func (d DBConversations) Delete(ctx context.Context, id string, owner index.Owner) error {
	return index.DeleteConversation(ctx, d.DB, id, owner)
}

// Limits of stored conversations.
const (
	// MaxTurns bounds the turns of a conversation: a question beyond gets
	// ErrConversationFull, and the client starts a new conversation.
	MaxTurns = 50
	// historyTurns is how many of the latest stored turns a follow-up is rewritten and
	// answered with (as many messages as an API caller's own history may hold).
	historyTurns = 10
	// historyChars bounds each message of that history, as an API caller's are bounded.
	historyChars = 8000
)

var (
	// ErrConversationNotFound is returned for a conversation id that does not exist, has
	// expired, or is not the caller's: the three are not told apart.
	ErrConversationNotFound = fmt.Errorf("conversation: %w", index.ErrNotFound)
	// ErrConversationFull is returned when a conversation already holds MaxTurns turns.
	ErrConversationFull = index.ErrConversationFull
	// ErrHistoryWithConversation is returned for a question that carries both its own
	// history and a stored conversation's id: which one to follow would be a guess.
	ErrHistoryWithConversation = errors.New("a question carries either its own history or a conversation id, not both")
)

// validConversationID is what NewConversationID makes: 128 random bits as 32 hex digits.
var validConversationID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// NewConversationID returns a new conversation id: 128 random bits as 32 hex digits, made by
// the server only, so that no client can choose or guess another's.
func NewConversationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// ownerOf returns who owns the conversations p starts: its principal set and its identity
// (the API key's id, the JWT's subject, the publishable widget key's id, the end-user
// session's issuer key and user). Anonymous callers own none (ok false): they cannot be told
// apart, so a conversation of theirs would belong to every anonymous caller. Every browser
// carrying one widget key is one caller: its conversations are told apart only by their ids,
// 128 random bits that only the browser that started one holds (docs/widget.md).
func ownerOf(p auth.Principal) (index.Owner, bool) {
	switch {
	case p.Kind == auth.KindAPIKey && p.KeyID != 0:
		return index.Owner{Hash: p.Hash(), ID: "key:" + strconv.FormatInt(p.KeyID, 10)}, true
	case p.Kind == auth.KindJWT && p.Subject != "":
		return index.Owner{Hash: p.Hash(), ID: "jwt:" + p.Subject}, true
	case p.Kind == auth.KindWidgetKey && p.KeyID != 0:
		return index.Owner{Hash: p.Hash(), ID: "widget:" + strconv.FormatInt(p.KeyID, 10)}, true
	case p.Kind == auth.KindSession && p.KeyID != 0 && p.Subject != "":
		return index.Owner{Hash: p.Hash(), ID: "session:" + strconv.FormatInt(p.KeyID, 10) + ":" + p.Subject}, true
	}
	return index.Owner{}, false
}

// Turn is a stored turn as its owner may see it now.
type Turn struct {
	N         int
	CreatedAt time.Time
	Question  string
	// Answer and Citations are empty when Redacted: the answer was written from a passage
	// the caller may no longer read (its document re-tagged, hidden or deleted).
	Answer    string
	Citations []answer.Citation
	AnswerID  string // the answer's id, its trace id
	Refused   bool
	Reason    string
	Redacted  bool
}

// Conversation is a stored conversation as its owner may see it now.
type Conversation struct {
	ID                   string
	CreatedAt, UpdatedAt time.Time
	Turns                []Turn
}

// RedactedTurn is why a restored turn has no answer.
const RedactedTurn = "the answer was written from documents you can no longer read"

// Conversation returns the conversation id if caller owns it, else ErrConversationNotFound,
// each turn checked against caller's principals now (see Turn).
func (s *Service) Conversation(ctx context.Context, id string, caller Caller) (*Conversation, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	c, err := s.loadConversation(ctx, id, caller)
	if err != nil {
		return nil, err
	}
	out := &Conversation{ID: c.ID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Turns: make([]Turn, len(c.Turns))}
	for i, t := range c.Turns {
		out.Turns[i] = Turn{N: t.N, CreatedAt: t.CreatedAt, Question: t.Question, AnswerID: t.AnswerID,
			Refused: t.Refused, Reason: t.Reason, Redacted: !t.Visible}
		if !t.Visible {
			continue
		}
		out.Turns[i].Answer = t.Answer
		if err := json.Unmarshal(t.Citations, &out.Turns[i].Citations); err != nil {
			// Unreadable citations: withhold the turn rather than show its text without them.
			out.Turns[i] = Turn{N: t.N, CreatedAt: t.CreatedAt, Question: t.Question, AnswerID: t.AnswerID,
				Refused: t.Refused, Reason: t.Reason, Redacted: true}
		}
	}
	return out, nil
}

// DeleteConversation deletes the conversation id if caller owns it, else returns
// ErrConversationNotFound.
func (s *Service) DeleteConversation(ctx context.Context, id string, caller Caller) error {
	owner, ok := caller.owner, caller.owns
	if s.conversations == nil || !ok || !validConversationID.MatchString(id) {
		return ErrConversationNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	err := s.conversations.Delete(ctx, id, owner)
	if errors.Is(err, index.ErrNotFound) {
		return ErrConversationNotFound
	}
	return err
}

func (s *Service) loadConversation(ctx context.Context, id string, caller Caller) (index.Conversation, error) {
	if s.conversations == nil || !caller.owns || !validConversationID.MatchString(id) {
		return index.Conversation{}, ErrConversationNotFound
	}
	c, err := s.conversations.Get(ctx, id, caller.owner, caller.principals)
	if errors.Is(err, index.ErrNotFound) {
		return index.Conversation{}, ErrConversationNotFound
	}
	return c, err
}

// thread is the stored conversation a question continues or starts.
type thread struct {
	id     string
	create bool
}

// openThread returns the conversation q belongs to, with the stored history put in
// q.History: the conversation named by q.ConversationID (the caller's, with room for one more
// turn), or a new one. With its own history, or from an anonymous caller, q belongs to none
// (nil). The history holds the latest turns only, and of a turn whose answer came from
// passages the caller may no longer read, the question alone: the model never sees what the
// caller may not.
func (s *Service) openThread(ctx context.Context, q *Question, caller Caller) (*thread, error) {
	if q.ConversationID == "" {
		if len(q.History) > 0 || s.conversations == nil || !caller.owns {
			return nil, nil
		}
		return &thread{id: NewConversationID(), create: true}, nil
	}
	if len(q.History) > 0 {
		return nil, ErrHistoryWithConversation
	}
	c, err := s.loadConversation(ctx, q.ConversationID, caller)
	if err != nil {
		return nil, err
	}
	if len(c.Turns) >= MaxTurns {
		return nil, ErrConversationFull
	}
	for _, t := range c.Turns[max(0, len(c.Turns)-historyTurns):] {
		q.History = append(q.History, answer.Turn{Role: answer.RoleUser, Content: clip(t.Question)})
		if t.Visible {
			q.History = append(q.History, answer.Turn{Role: answer.RoleAssistant, Content: clip(t.Answer)})
		}
	}
	return &thread{id: c.ID}, nil
}

// clip cuts s to historyChars characters.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= historyChars {
		return s
	}
	return string([]rune(s)[:historyChars])
}

// keep stores a's turn in th, and sets a.ConversationID. It runs even when the client has
// gone (the answer exists, and its trace too), bounded by its own timeout.
func (s *Service) keep(ctx context.Context, th *thread, q Question, a *Answer, caller Caller, tr *Trace) error {
	if th == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	cs := a.Citations
	if cs == nil {
		cs = []answer.Citation{} // a refusal's: an empty array, never null
	}
	citations, err := json.Marshal(cs)
	if err != nil {
		return fmt.Errorf("store conversation turn: %w", err)
	}
	var involved []int64
	for _, it := range a.Sources {
		involved = append(involved, it.ChunkID)
		involved = append(involved, it.ChunkIDs...)
	}
	for _, ct := range a.Citations {
		involved = append(involved, ct.ChunkID)
	}
	_, err = s.conversations.Append(ctx, th.id, caller.owner, th.create, MaxTurns, index.Turn{Question: q.Text,
		Answer: a.Text, AnswerID: tr.ID, Refused: a.Refused, Reason: a.Reason, Citations: citations, Involved: involved})
	switch {
	case errors.Is(err, index.ErrNotFound):
		return ErrConversationNotFound // deleted while the answer was written
	case err != nil:
		return err
	}
	a.ConversationID = th.id
	return nil
}

// ExpireConversations deletes the conversations (with their turns) whose last turn is older
// than retention before now, and returns how many. A retention of 0 keeps them all.
func ExpireConversations(ctx context.Context, db index.DBTX, now time.Time, retention time.Duration) (int64, error) {
	if retention <= 0 {
		return 0, nil
	}
	return index.DeleteConversationsBefore(ctx, db, now.Add(-retention), 1000)
}

// KeepExpiringConversations runs ExpireConversations at once and then every `every` until
// ctx ends, logging what it deleted and its failures.
func KeepExpiringConversations(ctx context.Context, db index.DBTX, retention, every time.Duration, logger *slog.Logger) {
	if retention <= 0 {
		return
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		n, err := ExpireConversations(ctx, db, time.Now(), retention)
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil:
			logger.Error("old conversations not deleted", "deleted", n, "err", err)
		case n > 0:
			logger.Info("old conversations deleted", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

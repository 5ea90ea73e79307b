package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrConversationFull is returned by AppendTurn when the conversation already holds its
// limit of turns.
var ErrConversationFull = errors.New("the conversation holds its maximum number of turns")

// Owner is who a conversation belongs to: the SHA-256 of the caller's principal set (as
// traces keep it) and the caller's identity ("key:<id>" for an API key, "jwt:<sub>" for a
// JWT). A caller reads, continues or deletes a conversation only when both match; for any
// other caller it does not exist (ErrNotFound).
type Owner struct {
	Hash []byte
	ID   string
}

// Turn is one question of a conversation and its answer.
type Turn struct {
	N         int // 1-based position in the conversation
	CreatedAt time.Time
	Question  string
	Answer    string
	AnswerID  string // the answer's id, which is its trace id
	Refused   bool
	Reason    string
	Citations json.RawMessage // the answer's citations, as a JSON array
	// Involved are the chunks the answer was written from: its evidence, with the neighbours
	// attached to each passage, and its citations.
	Involved []int64
	// Visible is set by GetConversation: true when the reader may read every chunk in
	// Involved now (a turn that involved none is visible). When false, the caller must not
	// show the answer or the citations: they may come from a passage the reader lost access to.
	Visible bool
}

// Conversation is a stored conversation and its turns, oldest first.
type Conversation struct {
	ID        string
	CreatedAt time.Time
	UpdatedAt time.Time
	Turns     []Turn
}

// GetConversation returns the conversation with the given id if owner owns it, else an error
// wrapping ErrNotFound, with each turn's Visible computed for reader (the caller's principals
// now) in the same statement: a chunk that is gone, or whose tags miss every principal, makes
// its turn invisible.
func GetConversation(ctx context.Context, db DBTX, id string, owner Owner, reader []string) (Conversation, error) {
	var c Conversation
	err := db.QueryRow(ctx, `SELECT id, created_at, updated_at FROM conversations
		WHERE id = $1 AND owner_hash = $2 AND owner = $3`, id, owner.Hash, owner.ID).Scan(&c.ID, &c.CreatedAt, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Conversation{}, fmt.Errorf("conversation: %w", ErrNotFound)
	}
	if err != nil {
		return Conversation{}, fmt.Errorf("get conversation: %w", err)
	}
	rows, err := db.Query(ctx, `
		SELECT t.n, t.created_at, t.question, t.answer, t.answer_id, t.refused, coalesce(t.reason, ''),
		  t.citations, t.involved_chunk_ids,
		  coalesce(NOT EXISTS (
		    SELECT 1 FROM unnest(t.involved_chunk_ids) AS i(id) LEFT JOIN chunks ch ON ch.id = i.id
		    WHERE (ch.acl && $2::text[]) IS NOT TRUE), false)
		FROM conversation_turns t WHERE t.conversation_id = $1 ORDER BY t.n`, id, principalsArg(reader))
	if err != nil {
		return Conversation{}, fmt.Errorf("get conversation turns: %w", err)
	}
	c.Turns, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Turn, error) {
		var t Turn
		var citations []byte
		err := row.Scan(&t.N, &t.CreatedAt, &t.Question, &t.Answer, &t.AnswerID, &t.Refused, &t.Reason,
			&citations, &t.Involved, &t.Visible)
		t.Citations = citations
		return t, err
	})
	if err != nil {
		return Conversation{}, fmt.Errorf("get conversation turns: %w", err)
	}
	return c, nil
}

// AppendTurn adds t as the next turn of the conversation id, owned by owner, and returns its
// number. With create, the conversation is created first (its id must be new). Without, the
// conversation must exist and be owner's (else ErrNotFound) and hold fewer than limit turns
// (else ErrConversationFull). Counting and inserting are one transaction, so that concurrent
// appends never exceed limit nor share a number.
func AppendTurn(ctx context.Context, db Beginner, id string, owner Owner, create bool, limit int, t Turn) (int, error) {
	if limit < 1 {
		return 0, fmt.Errorf("append turn: limit %d is not positive", limit)
	}
	citations := t.Citations
	if len(citations) == 0 || string(citations) == "null" {
		citations = json.RawMessage(`[]`)
	}
	if !json.Valid(citations) {
		return 0, errors.New("append turn: citations are not valid JSON")
	}
	var n int
	err := InTx(ctx, db, func(tx pgx.Tx) error {
		if create {
			if _, err := tx.Exec(ctx, `INSERT INTO conversations (id, owner_hash, owner) VALUES ($1, $2, $3)`,
				id, owner.Hash, owner.ID); err != nil {
				return fmt.Errorf("create conversation: %w", err)
			}
		}
		err := tx.QueryRow(ctx, `UPDATE conversations SET turns = turns + 1, updated_at = now()
			WHERE id = $1 AND owner_hash = $2 AND owner = $3 AND turns < $4 RETURNING turns`,
			id, owner.Hash, owner.ID, limit).Scan(&n)
		if errors.Is(err, pgx.ErrNoRows) {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM conversations
				WHERE id = $1 AND owner_hash = $2 AND owner = $3)`, id, owner.Hash, owner.ID).Scan(&exists); err != nil {
				return fmt.Errorf("append turn: %w", err)
			}
			if exists {
				return ErrConversationFull
			}
			return fmt.Errorf("conversation: %w", ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("append turn: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO conversation_turns (conversation_id, n, question, answer, answer_id,
			  refused, reason, citations, involved_chunk_ids) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			id, n, storableText(t.Question), storableText(t.Answer), storableText(t.AnswerID), t.Refused,
			nullText(t.Reason), storableJSON(citations), involvedOrEmpty(t.Involved)); err != nil {
			return fmt.Errorf("insert turn: %w", err)
		}
		return nil
	})
	return n, err
}

func involvedOrEmpty(ids []int64) []int64 {
	if out := involved(ids); out != nil {
		return out
	}
	return []int64{}
}

// DeleteConversation deletes the conversation id, with its turns, if owner owns it; else it
// returns an error wrapping ErrNotFound.
func DeleteConversation(ctx context.Context, db DBTX, id string, owner Owner) error {
	tag, err := db.Exec(ctx, `DELETE FROM conversations WHERE id = $1 AND owner_hash = $2 AND owner = $3`,
		id, owner.Hash, owner.ID)
	if err != nil {
		return fmt.Errorf("delete conversation: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("conversation: %w", ErrNotFound)
	}
	return nil
}

// DeleteConversationsBefore deletes the conversations whose last turn is older than t (with
// their turns), in statements of at most batch conversations, as DeleteTracesBefore does for
// traces, and returns how many it deleted.
func DeleteConversationsBefore(ctx context.Context, db DBTX, t time.Time, batch int) (int64, error) {
	return deleteBefore(ctx, db, "conversations", `
		DELETE FROM conversations WHERE id IN (
		  SELECT id FROM conversations WHERE updated_at < $1
		  ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, t, batch)
}

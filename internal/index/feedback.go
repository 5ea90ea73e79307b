package index

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Feedback ratings and reasons, as answer_feedback allows them.
const (
	RatingUp   = "up"
	RatingDown = "down"
)

// FeedbackReasons are the reasons a rating may give, as answer_feedback allows them.
var FeedbackReasons = []string{"wrong", "incomplete", "not_relevant", "outdated", "other"}

// MaxFeedbackComment bounds a feedback comment, in characters (answer_feedback's CHECK).
const MaxFeedbackComment = 2000

// AnswerRoute and ChatRoute are the routes of the traces of answers (the API's own, and the
// OpenAI-compatible chat completions'), the only ones feedback may rate.
const (
	AnswerRoute = "/v1/answer"
	ChatRoute   = "/v1/chat/completions"
)

// Feedback is a caller's rating of an answer.
type Feedback struct {
	TraceID string // the answer's id
	// PrincipalHash and CallerHash are the rater's: they must equal the answer's trace's.
	PrincipalHash []byte
	CallerHash    []byte
	Rating        string // RatingUp or RatingDown
	Reason        string // one of FeedbackReasons, or empty
	Comment       string // at most MaxFeedbackComment characters, or empty
}

// PutFeedback stores f on its answer's trace, replacing the rating the caller gave before,
// and reports whether it replaced one. The trace must be an answer's (not a search's, nor a
// failed request's) asked by the same caller with the same principal set, else ErrNotFound:
// whether the id exists for someone else is not told apart from its not existing. A caller
// without an identity (no CallerHash) never matches.
func PutFeedback(ctx context.Context, db DBTX, f Feedback) (replaced bool, err error) {
	if len(f.CallerHash) != 32 || len(f.PrincipalHash) != 32 {
		return false, fmt.Errorf("feedback on %q: %w", f.TraceID, ErrNotFound)
	}
	err = db.QueryRow(ctx, `
		INSERT INTO answer_feedback AS f (trace_id, rating, reason, comment)
		SELECT t.id, $4, $5, $6 FROM answer_traces t
		WHERE t.id = $1 AND t.principal_hash = $2 AND t.caller_hash = $3 AND t.route IN ($7, $8)
		  AND t.outcome <> 'error'
		ON CONFLICT (trace_id) DO UPDATE
		  SET rating = EXCLUDED.rating, reason = EXCLUDED.reason, comment = EXCLUDED.comment, updated_at = now()
		RETURNING f.xmax <> 0`,
		f.TraceID, f.PrincipalHash, f.CallerHash, f.Rating, nullText(f.Reason), nullText(f.Comment), AnswerRoute, ChatRoute).Scan(&replaced)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("feedback on %q: %w", f.TraceID, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("store feedback on %q: %w", f.TraceID, err)
	}
	return replaced, nil
}

// FeedbackFilter selects the feedback to export.
type FeedbackFilter struct {
	Since  time.Time // given or replaced at or after; zero for all
	Rating string    // RatingUp or RatingDown; empty for both
}

// FeedbackRecord is a stored rating with the question and the cited documents of its answer.
type FeedbackRecord struct {
	TraceID   string
	Time      time.Time // when the rating was given (or last replaced)
	Rating    string
	Reason    string
	Comment   string
	Question  string
	Rewritten string // the question as retrieval ran it (a follow-up rewritten); empty if not
	CitedURIs []string
}

// EachFeedback calls fn for each stored rating that f selects, oldest first, reading rows
// one at a time (an export of any size runs in bounded memory). An error from fn stops it.
func EachFeedback(ctx context.Context, db DBTX, f FeedbackFilter, fn func(FeedbackRecord) error) error {
	var since *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	rows, err := db.Query(ctx, `
		SELECT f.trace_id, f.updated_at, f.rating, coalesce(f.reason, ''), coalesce(f.comment, ''),
		  t.question, coalesce(t.rewritten_query, ''), coalesce(t.cited_uris, '{}')
		FROM answer_feedback f JOIN answer_traces t ON t.id = f.trace_id
		WHERE ($1::timestamptz IS NULL OR f.updated_at >= $1) AND ($2 = '' OR f.rating = $2)
		ORDER BY f.updated_at, f.trace_id`, since, f.Rating)
	if err != nil {
		return fmt.Errorf("read feedback: %w", err)
	}
	var r FeedbackRecord
	_, err = pgx.ForEachRow(rows, []any{&r.TraceID, &r.Time, &r.Rating, &r.Reason, &r.Comment, &r.Question, &r.Rewritten, &r.CitedURIs},
		func() error { return fn(r) })
	if err != nil {
		return fmt.Errorf("read feedback: %w", err)
	}
	return nil
}

// DocumentText is a document's title and extracted text.
type DocumentText struct {
	URI, Title, Text string
}

// DocumentTexts returns the title and text of the documents with the given URIs, by URI. A
// URI held by documents of several sources gives the first source's; hidden documents (no
// tags) are left out; a URI without a document is missing from the map.
func DocumentTexts(ctx context.Context, db DBTX, uris []string) (map[string]DocumentText, error) {
	rows, err := db.Query(ctx, `
		SELECT DISTINCT ON (uri) uri, title, text FROM documents
		WHERE uri = ANY($1) AND acl_source <> 'hidden'
		ORDER BY uri, source_id`, uris)
	if err != nil {
		return nil, fmt.Errorf("document texts: %w", err)
	}
	out := make(map[string]DocumentText, len(uris))
	var d DocumentText
	_, err = pgx.ForEachRow(rows, []any{&d.URI, &d.Title, &d.Text}, func() error {
		out[d.URI] = d
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("document texts: %w", err)
	}
	return out, nil
}

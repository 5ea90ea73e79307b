package index_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

func hash32(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func TestFeedbackBelongsToTheAsker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	principals, caller := hash32("principals"), hash32("caller")
	old := time.Now().Add(-48 * time.Hour)
	traces := []index.Trace{
		{ID: "answer", Route: index.AnswerRoute, PrincipalHash: principals, CallerHash: caller, Question: "q",
			CitedURIs: []string{"b.md", "a.md", "b.md"}, Outcome: index.OutcomeAnswered},
		{ID: "old", CreatedAt: old, Route: index.AnswerRoute, PrincipalHash: principals, CallerHash: caller, Question: "q", Outcome: index.OutcomeRefused},
		{ID: "search", Route: "/v1/search", PrincipalHash: principals, CallerHash: caller, Question: "q", Outcome: index.OutcomeAnswered},
		{ID: "failed", Route: index.AnswerRoute, PrincipalHash: principals, CallerHash: caller, Question: "q", Outcome: index.OutcomeError},
		{ID: "anonymous", Route: index.AnswerRoute, PrincipalHash: principals, Question: "q", Outcome: index.OutcomeAnswered},
	}
	if err := index.InsertTraces(ctx, db.Pool, traces); err != nil {
		t.Fatal(err)
	}
	put := func(id string, p, c []byte, rating string) (bool, error) {
		return index.PutFeedback(ctx, db.Pool, index.Feedback{TraceID: id, PrincipalHash: p, CallerHash: c, Rating: rating, Reason: "wrong"})
	}
	for _, tc := range []struct {
		name, id   string
		principals []byte
		caller     []byte
	}{
		{"another caller", "answer", principals, hash32("someone else")},
		{"other principals", "answer", hash32("other"), caller},
		{"no caller", "answer", principals, nil},
		{"a search", "search", principals, caller},
		{"a failed request", "failed", principals, caller},
		{"an anonymous answer", "anonymous", principals, caller},
		{"an unknown id", "nope", principals, caller},
	} {
		if _, err := put(tc.id, tc.principals, tc.caller, index.RatingDown); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", tc.name, err)
		}
	}
	if replaced, err := put("answer", principals, caller, index.RatingDown); err != nil || replaced {
		t.Fatalf("first rating: %v, replaced %v", err, replaced)
	}
	if replaced, err := put("answer", principals, caller, index.RatingUp); err != nil || !replaced {
		t.Fatalf("second rating: %v, replaced %v", err, replaced)
	}
	if _, err := put("old", principals, caller, index.RatingDown); err != nil {
		t.Fatal(err)
	}
	var got []index.FeedbackRecord
	collect := func(f index.FeedbackFilter) {
		got = nil
		if err := index.EachFeedback(ctx, db.Pool, f, func(r index.FeedbackRecord) error { got = append(got, r); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	collect(index.FeedbackFilter{Rating: index.RatingUp})
	if len(got) != 1 || got[0].TraceID != "answer" || got[0].Reason != "wrong" || !slices.Equal(got[0].CitedURIs, []string{"b.md", "a.md"}) {
		t.Errorf("up ratings: %+v", got)
	}
	collect(index.FeedbackFilter{})
	if len(got) != 2 {
		t.Errorf("%d ratings, want 2", len(got))
	}
	// The database refuses what the API validates, should a caller bypass it.
	if _, err := index.PutFeedback(ctx, db.Pool, index.Feedback{TraceID: "answer", PrincipalHash: principals, CallerHash: caller, Rating: "meh"}); err == nil {
		t.Error("a rating of meh was stored")
	}
	// Trace retention takes the rating with the trace.
	if _, err := index.DeleteTracesBefore(ctx, db.Pool, time.Now().Add(-24*time.Hour), 10); err != nil {
		t.Fatal(err)
	}
	collect(index.FeedbackFilter{})
	if len(got) != 1 || got[0].TraceID != "answer" {
		t.Errorf("after retention: %+v", got)
	}
	// A trace's caller hash is 32 bytes or none.
	bad := index.Trace{ID: "bad", Route: index.AnswerRoute, CallerHash: []byte("short"), Outcome: index.OutcomeAnswered}
	if err := index.InsertTraces(ctx, db.Pool, []index.Trace{bad}); err == nil {
		t.Error("a trace with a 5-byte caller hash was stored")
	}
}

package retrieve_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/retrieve"
)

// TestRetrieveNormalizedQuery: a query normalised by the caller is used as it is (not
// normalised again), and still within the retriever's input limit; beyond MaxQueryChars it
// is shortened, not refused. No principal: the retrieval ends before the database, so none
// is needed.
func TestRetrieveNormalizedQuery(t *testing.T) {
	r, err := retrieve.New(retrieve.Config{MaxQueryChars: 50, MaxQueryInput: 100}, nil, nil, nil, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	q, err := r.Normalize(`  the "on-call rotation"  now `)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Normalize(strings.Repeat("x", 101)); err == nil {
		t.Error("Retriever.Normalize ignores MaxQueryInput")
	}
	if _, err := r.Normalize(strings.Repeat("x ", 50)); err != nil {
		t.Errorf("Retriever.Normalize refuses a query within MaxQueryInput: %v", err)
	}
	// Raw text that would normalise to something else shows which one is used.
	res, err := r.Retrieve(context.Background(), retrieve.Request{Query: "something else", Normalized: &q})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(q, res.Query); diff != "" {
		t.Errorf("the query retrieved with (-want +got):\n%s", diff)
	}

	var long *retrieve.QueryTooLongError
	for _, tt := range []struct {
		name string
		q    retrieve.Query
		ok   func(error) bool
	}{
		{"empty", retrieve.Query{}, func(err error) bool { return errors.Is(err, retrieve.ErrEmptyQuery) }},
		{"too long", retrieve.Query{Text: strings.Repeat("é", 101)}, func(err error) bool { return errors.As(err, &long) && long.Limit == 100 }},
		{"long", retrieve.Query{Text: strings.Repeat("é ", 40)}, func(err error) bool { return err == nil }},
	} {
		if _, err := r.Retrieve(context.Background(), retrieve.Request{Query: "fine", Normalized: &tt.q}); !tt.ok(err) {
			t.Errorf("%s normalised query: %v", tt.name, err)
		}
	}
}

// TestVersion: the version names the active generation and changes with every change to the
// chunks, a re-tag included, at once (the answer cache relies on it).
func TestVersion(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, map[string]string{"a.md": "# Vacation\n\nEmployees receive 25 days of paid vacation.\n"})
	r := newRetriever(t, db, emb, retrieve.Config{}, nil)
	ctx := context.Background()
	before, err := r.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g, err := index.ActiveGeneration(ctx, db.Pool)
	if err != nil || before.Generation != g.ID {
		t.Fatalf("version %+v, active generation %d (%v)", before, g.ID, err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE documents SET acl = '{group:hr}'`); err != nil {
		t.Fatal(err)
	}
	after, err := r.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation != before.Generation || after.Corpus == before.Corpus {
		t.Errorf("after a re-tag: %+v, before %+v; want the same generation, another corpus version", after, before)
	}
}

// TestLongQueryWithoutPrincipals: a query over MaxQueryChars is shortened to whole words
// within it even for a caller who sees nothing (nothing is read then).
func TestLongQueryWithoutPrincipals(t *testing.T) {
	r, err := retrieve.New(retrieve.Config{MaxQueryChars: 20, MaxQueryInput: 1000}, nil, nil, nil, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Retrieve(context.Background(), retrieve.Request{Query: strings.Repeat("alpha beta gamma ", 10)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Shortened == nil || res.Query.Text != "alpha beta gamma" || res.Shortened.Chars != 169 || res.Shortened.Words != 3 {
		t.Errorf("query %q, shortening %+v", res.Query.Text, res.Shortened)
	}
}

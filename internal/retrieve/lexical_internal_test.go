package retrieve

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestCandidateQueryMatchesExactlyTheSetsThatCanWin checks the second MaxScore pass's
// condition against PostgreSQL: for every subset of the terms, a chunk containing exactly
// that subset must match the tsquery if and only if the subset's bounds add up to more than
// the need (when the query is small enough to be exact), and whenever they do (always). The
// lexemes carry tsquery syntax, which must stay inside the quotes.
func TestCandidateQueryMatchesExactlyTheSetsThatCanWin(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	lexemes := []string{"it's", `back\slash`, "a&b", "x|y!", "(paren", "plain", "c:*", "d'e'f"}
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 60 {
		n := 3 + r.IntN(len(lexemes)-2)
		ts := make([]weighted, n)
		var total float64
		for i := range ts {
			ts[i] = weighted{Term: plainTerm(lexemes[i], int64(1+r.IntN(100))), ub: 0.1 + 3*r.Float64()}
			total += ts[i].ub
		}
		sortByBound(ts)
		need := total * r.Float64()
		q, est := candidateQuery(ts, need)
		exactQuery := n <= 5 // 2^5 nodes at most: within maxQueryNodes, no "any of the rest"
		for mask := range 1 << n {
			have := []string{}
			var sum float64
			for i, term := range ts {
				if mask&(1<<i) != 0 {
					have = append(have, term.Lexeme)
					sum += term.ub
				}
			}
			matched := false
			if q != "" {
				if err := db.Pool.QueryRow(ctx, `SELECT array_to_tsvector($1::text[]) @@ $2::tsquery`,
					have, string(q)).Scan(&matched); err != nil {
					t.Fatalf("round %d: %v (query %s)", round, err, q)
				}
			}
			if sum > need && !matched {
				t.Errorf("round %d: %v (bounds %.3f > need %.3f) does not match %s", round, have, sum, need, q)
			}
			if exactQuery && sum <= need && matched {
				t.Errorf("round %d: %v (bounds %.3f <= need %.3f) matches %s", round, have, sum, need, q)
			}
		}
		if q == "" && est != 0 {
			t.Errorf("round %d: empty query with estimate %v", round, est)
		}
	}
}

// plainTerm is a term whose only key is its lexeme, so that its queries match plain
// tsvectors of lexemes.
func plainTerm(lexeme string, df int64) index.Term {
	return index.Term{Lexeme: lexeme, DF: df, Keys: []string{lexeme}}
}

func sortByBound(ts []weighted) {
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			if ts[j].ub > ts[i].ub {
				ts[i], ts[j] = ts[j], ts[i]
			}
		}
	}
}

// TestCandidateQueryStaysSmall bounds the query's size for many terms: past maxQueryNodes a
// subtree becomes "at least m of the rest" (at most maxFallbackLeaves lexemes, or "any of the
// rest"), so a long question cannot make a huge tsquery.
func TestCandidateQueryStaysSmall(t *testing.T) {
	ts := make([]weighted, 40)
	for i := range ts {
		ts[i] = weighted{Term: plainTerm(fmt.Sprintf("t%d", i), 10), ub: 1}
	}
	q, _ := candidateQuery(ts, 20)
	if q == "" {
		t.Fatal("no query although all forty terms together exceed the need")
	}
	// The decision nodes and a subtree for each call past the cap (at most one more than
	// the nodes).
	if n, most := strings.Count(string(q), "'")/2, maxQueryNodes+(maxQueryNodes+1)*max(maxFallbackLeaves, len(ts)); n > most {
		t.Errorf("query has %d lexemes, more than %d", n, most)
	}
	if q, est := candidateQuery(ts, 40); q != "" || est != 0 {
		t.Errorf("need equal to the sum of all bounds gave %q (estimate %v), want nothing", q, est)
	}
}

// TestAtLeastMatchesTheSetsOfAtLeastM checks the tail of a capped candidate query against
// PostgreSQL: a chunk containing k of the terms matches if and only if k >= m, m lowered only
// when the query would be too large, and the estimate bounds the matching chunks.
func TestAtLeastMatchesTheSetsOfAtLeastM(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	lexemes := []string{"it's", `back\slash`, "a&b", "x|y!", "(paren", "plain", "c:*", "d'e'f", "nine", "ten"}
	for _, tc := range []struct{ n, m, wantM int }{
		{1, 1, 1}, {4, 1, 1}, {4, 2, 2}, {4, 4, 4}, {6, 3, 3}, {10, 2, 2}, {10, 3, 2}, {10, 5, 2},
	} {
		ts := make([]weighted, tc.n)
		for i := range ts {
			ts[i] = weighted{Term: plainTerm(lexemes[i], int64(10*(i+1))), ub: 1}
		}
		q, est, _ := atLeast(ts, tc.m, 64)
		var df float64
		for _, term := range ts {
			df += float64(term.DF)
		}
		if want := df / float64(tc.wantM); est != want {
			t.Errorf("n %d, m %d: estimate %v, want %v (m lowered to %d)", tc.n, tc.m, est, want, tc.wantM)
		}
		if n := strings.Count(string(q), " | ") + strings.Count(string(q), " & ") + 1; n > max(64, tc.n) {
			t.Errorf("n %d, m %d: %d lexemes in the query, more than the limit of 64", tc.n, tc.m, n)
		}
		for mask := range 1 << tc.n {
			have := []string{}
			for i, term := range ts {
				if mask&(1<<i) != 0 {
					have = append(have, term.Lexeme)
				}
			}
			var matched bool
			if err := db.Pool.QueryRow(ctx, `SELECT array_to_tsvector($1::text[]) @@ $2::tsquery`, have, string(q)).Scan(&matched); err != nil {
				t.Fatalf("n %d, m %d: %v (query %s)", tc.n, tc.m, err, q)
			}
			if want := len(have) >= tc.wantM; matched != want {
				t.Errorf("n %d, m %d: %v matched %v, want %v (query %s)", tc.n, tc.m, have, matched, want, q)
			}
		}
	}
}

package retrieve

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/dbtest"
	"github.com/docent-rag/docent/internal/index"
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
			ts[i] = weighted{Term: index.Term{Lexeme: lexemes[i], DF: int64(1 + r.IntN(100))}, ub: 0.1 + 3*r.Float64()}
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
// subtree becomes "any of the rest", so a long question cannot make a huge tsquery.
func TestCandidateQueryStaysSmall(t *testing.T) {
	ts := make([]weighted, 40)
	for i := range ts {
		ts[i] = weighted{Term: index.Term{Lexeme: fmt.Sprintf("t%d", i), DF: 10}, ub: 1}
	}
	q, _ := candidateQuery(ts, 20)
	if q == "" {
		t.Fatal("no query although all forty terms together exceed the need")
	}
	if n := strings.Count(string(q), "'") / 2; n > 40*maxQueryNodes {
		t.Errorf("query has %d lexemes, more than %d", n, 40*maxQueryNodes)
	}
	if q, est := candidateQuery(ts, 40); q != "" || est != 0 {
		t.Errorf("need equal to the sum of all bounds gave %q (estimate %v), want nothing", q, est)
	}
}

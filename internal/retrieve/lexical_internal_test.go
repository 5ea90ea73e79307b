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
		q, est, _ := candidateQuery(ts, need, 0)
		exactQuery := n <= 5 // 2^5 nodes at most: within maxQueryNodes, no "any of the rest"
		for mask := range 1 << n {
			have, sum := subset(ts, mask)
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

// TestCandidateQueryLoosensForCommonTerms: with the chunks the caller sees, the condition
// may drop decisions on terms whose postings cost more to read, once per occurrence, than
// scoring the chunks that dropping them adds. It must stay a condition that every set of
// terms able to win matches (checked against PostgreSQL for every subset), and at a million
// chunks the common terms must occur in it fewer times than in the exact tree, which repeats
// them in most branches (at a million chunks: 205 occurrences of a term in a third of the
// chunks, 625 ms of index reading for one condition).
func TestCandidateQueryLoosensForCommonTerms(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	ts := []weighted{
		{Term: plainTerm("rare'one", 400), ub: 6.0},
		{Term: plainTerm("rare two", 900), ub: 5.2},
		{Term: plainTerm("mid", 8000), ub: 3.9},
		{Term: plainTerm("mid&two", 15000), ub: 3.1},
		{Term: plainTerm("common", 120000), ub: 1.8},
		{Term: plainTerm("common|two", 200000), ub: 1.5},
		{Term: plainTerm("common!three", 320000), ub: 1.2},
		{Term: plainTerm("common\\four", 400000), ub: 1.0},
	}
	var total float64
	for _, term := range ts {
		total += term.ub
	}
	commons := func(q index.TSQuery) int {
		n := 0
		for _, term := range ts[4:] {
			n += strings.Count(string(q), string(term.Match()))
		}
		return n
	}
	fewer := 0
	for _, share := range []float64{0.2, 0.35, 0.5, 0.65} {
		need := total * share
		exact, _, _ := candidateQuery(ts, need, 0)
		loose, _, _ := candidateQuery(ts, need, 1e6)
		if loose == "" {
			t.Fatalf("need %.2f: no condition although every term together exceeds it", need)
		}
		if commons(loose) < commons(exact) {
			fewer++
		}
		t.Logf("need %.2f: the common terms occur %d times in the exact tree, %d in the loosened one", need, commons(exact), commons(loose))
		for mask := range 1 << len(ts) {
			have, sum := subset(ts, mask)
			if sum <= need {
				continue
			}
			var matched bool
			if err := db.Pool.QueryRow(ctx, `SELECT array_to_tsvector($1::text[]) @@ $2::tsquery`, have, string(loose)).Scan(&matched); err != nil {
				t.Fatalf("need %.2f: %v (query %s)", need, err, loose)
			}
			if !matched {
				t.Errorf("need %.2f: %v (bounds %.2f > need) does not match the loosened %s", need, have, sum, loose)
			}
		}
	}
	if fewer == 0 {
		t.Error("at a million chunks no condition read the common terms fewer times than the exact tree")
	}
}

// subset returns the lexemes of the terms whose bits are set in mask and their bounds' sum.
func subset(ts []weighted, mask int) (lexemes []string, sum float64) {
	lexemes = []string{}
	for i, term := range ts {
		if mask&(1<<i) != 0 {
			lexemes = append(lexemes, term.Lexeme)
			sum += term.ub
		}
	}
	return lexemes, sum
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
	q, _, _ := candidateQuery(ts, 20, 0)
	if q == "" {
		t.Fatal("no query although all forty terms together exceed the need")
	}
	// The decision nodes and a subtree for each call past the cap (at most one more than
	// the nodes).
	if n, most := strings.Count(string(q), "'")/2, maxQueryNodes+(maxQueryNodes+1)*max(maxFallbackLeaves, len(ts)); n > most {
		t.Errorf("query has %d lexemes, more than %d", n, most)
	}
	if q, est, _ := candidateQuery(ts, 40, 0); q != "" || est != 0 {
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
		q, est, _, _ := atLeast(ts, tc.m, 64, func(t weighted) float64 { return float64(t.DF) })
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

// TestCandidateQueryStaysTightPastTheNodeBudget checks that the node budget is shared
// between the branches: with more terms than the budget can decide exactly, the query still
// matches few of the term sets that cannot win. The first version spent the whole budget on
// the first "with" branch, depth first, and wrote every later branch as "any of the remaining
// terms": on SciFact the condition of "Rapid up-regulation and higher basal expression of
// interferon-induced genes increase survival of granule cell neurons that are infected by West
// Nile virus." matched 4,005 of 5,894 chunks, where the sets that can win are a few dozen.
// Every set that can win must still match (the condition is never tighter than the truth);
// the query stays within the size TestCandidateQueryStaysSmall allows.
func TestCandidateQueryStaysTightPastTheNodeBudget(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	const n = 14
	ts := make([]weighted, n)
	lexemes := make([]string, n)
	var total float64
	for i := range ts {
		lexemes[i] = fmt.Sprintf("t%02d", i)
		ts[i] = weighted{Term: plainTerm(lexemes[i], 100), ub: 3 - 0.1*float64(i)}
		total += ts[i].ub
	}
	for _, share := range []float64{0.25, 0.4, 0.55} {
		need := total * share
		q, _, _ := candidateQuery(ts, need, 0)
		bounds := make([]float64, n)
		for i, term := range ts {
			bounds[i] = term.ub
		}
		// Every subset of the terms, as a tsvector, with its bounds' sum.
		var winners, losers, spurious, missed, small, smallSpurious int
		if err := db.Pool.QueryRow(ctx, `
			WITH s AS (
				SELECT m, array_to_tsvector(ARRAY(SELECT ($1::text[])[i + 1] FROM generate_series(0, $3 - 1) AS i WHERE m & (1 << i) <> 0)) AS v,
				       (SELECT coalesce(sum(($2::float8[])[i + 1]), 0) FROM generate_series(0, $3 - 1) AS i WHERE m & (1 << i) <> 0) AS bound
				FROM generate_series(0, (1 << $3) - 1) AS m
			)
			SELECT count(*) FILTER (WHERE bound > $4), count(*) FILTER (WHERE bound <= $4),
			       count(*) FILTER (WHERE bound <= $4 AND v @@ $5::tsquery), count(*) FILTER (WHERE bound > $4 AND NOT v @@ $5::tsquery),
			       count(*) FILTER (WHERE bound <= $4 AND length(v) <= 3),
			       count(*) FILTER (WHERE bound <= $4 AND length(v) <= 3 AND v @@ $5::tsquery)
			FROM s`, lexemes, bounds, n, need, string(q)).Scan(&winners, &losers, &spurious, &missed, &small, &smallSpurious); err != nil {
			t.Fatalf("need %.2f: %v", need, err)
		}
		t.Logf("need %.2f (%.0f%% of the bounds): %d sets can win, %d cannot, of which %d match; of the %d of at most 3 terms that cannot win, %d match (%d lexemes in the query)",
			need, 100*share, winners, losers, spurious, small, smallSpurious, strings.Count(string(q), "'")/2)
		if missed > 0 {
			t.Errorf("need %.2f: %d sets that can win do not match", need, missed)
		}
		// Equal-ish bounds are the worst case of the decision tree ("at least m of 14" has
		// thousands of nodes); the first version matched all but 2 of the sets that cannot win
		// at every need, these 72% / 33% / 0.4% of the small ones and 74% / 76% / 51% of all.
		if smallSpurious*4 > small*3 {
			t.Errorf("need %.2f: %d of the %d sets of at most 3 terms that cannot win match (more than three quarters)", need, smallSpurious, small)
		}
		if spurious*5 > losers*4 {
			t.Errorf("need %.2f: %d of the %d sets that cannot win match (more than four fifths)", need, spurious, losers)
		}
	}
}

// TestFirstPassBudgetGrowsWithTheVisibleChunks: the first pass's budget is LexicalBudget up
// to the share's break-even, then LexicalBudgetShare of the chunks the caller sees; a
// negative share keeps it fixed.
func TestFirstPassBudgetGrowsWithTheVisibleChunks(t *testing.T) {
	c := Config{}
	c.defaults()
	for visible, want := range map[int64]float64{0: 1000, 100_000: 1000, 250_000: 1000, 1_000_000: 4000, 5_000_000: 20000} {
		if got := c.firstPassBudget(visible); got < want-1e-6 || got > want+1e-6 {
			t.Errorf("visible %d: budget %g, want %g", visible, got, want)
		}
	}
	c.LexicalBudgetShare = -1
	if got := c.firstPassBudget(5_000_000); got != 1000 {
		t.Errorf("negative share: budget %g, want 1000", got)
	}
}

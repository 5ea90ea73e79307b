package retrieve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// What a caller can learn about chunks it cannot see (issue 9, finding 6): nothing through
// the lexical leg's work or scores. These tests need no timing: they compare what reaches the
// database and what comes back.

// hiddenWord occurs only in chunks the public caller cannot see; absentWord occurs nowhere.
// sharedWord and publicWord both occur once in the same public chunk, and sharedWord in every
// hidden chunk too. The words of a pair are neighbours in alphabetical order, with no other
// lexeme between them: their index lookups land on the same pages, so that any difference in
// what is read comes from the hidden chunks, not from where the word falls in a B-tree.
const (
	hiddenWord = "zorvexin"
	absentWord = "zorvexim"
	sharedWord = "grelvanok"
	publicWord = "grelvanol"
)

// hiddenCorpus is a few hundred public pages and, in a folder of group:research, many
// documents naming the code name among words the public pages also use. (With more public
// chunks than hidden ones, the planner finds a word's chunks through its postings rather than
// through the public tag's: the scan whose reads the tests compare.)
func hiddenCorpus() map[string]string {
	files := map[string]string{
		"p/.docent-acl": "public\n",
		"p/fleet.md":    "# Fleet\n\nThe charging schedule assigns every robot a slot in the warehouse.\n",
		"p/welcome.md":  "# Welcome\n\nVisitors sign in at the front desk; robots are charged overnight.\n",
		"p/shifts.md":   "# Shifts\n\nThe night shift checks the charging schedule and the robots' logs.\n",
		"p/codes.md":    "# Codes\n\nThe words " + sharedWord + " and " + publicWord + " name the two docks.\n",
		"r/.docent-acl": "group:research\n",
	}
	for i := range 300 {
		files[fmt.Sprintf("p/note%03d.md", i)] = fmt.Sprintf("# Note %d\n\nAisle %d holds pallet %d and crate %d for the morning route.\n", i, i%17, i, i*3)
	}
	for i := range 40 {
		files[fmt.Sprintf("r/n%02d.md", i)] = fmt.Sprintf(
			"# Project %d\n\nProject %s: the %s robot charging schedule, trial %d, keeps %s secret at %s.\n",
			i, hiddenWord, hiddenWord, i, hiddenWord, sharedWord)
	}
	return files
}

// TestHiddenTermsCostWhatAbsentTermsCost checks that, for a caller who sees only public
// chunks, a query with a word that only hidden chunks contain makes the lexical leg do
// exactly what the same query with a word that no chunk contains makes it do: the same
// statements with the same arguments (but for the word itself) reach the database, they read
// the same rows and buffers (EXPLAIN ANALYZE of each, replayed), and the same hits, scores,
// evidence and strength come back. The same holds for two words of one public chunk of which
// one is also in every hidden chunk: what the caller can see of them is the same, and so is
// the work. In hybrid mode the dense leg's exact scan reads the same rows too (its query
// vector differs with the word, so its ranking may). Before per-tag statistics the hidden
// word had a document frequency, so its BM25 pass ran and read its postings: the difference
// the finding timed; before the tag-qualified lexeme index, the scan for the shared word read
// its hidden postings.
func TestHiddenTermsCostWhatAbsentTermsCost(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, hiddenCorpus())
	ctx := context.Background()
	// Plans as autovacuum leaves them, and no dead row versions (the statistics upserts of
	// ingestion leave some) for a later vacuum or an opportunistic prune to remove between
	// two runs, which would change the buffers they read.
	if _, err := db.Pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	pool, err := tracedPool(ctx, db.URL, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The generation is cached for the whole test, so that no run looks it up and another not.
	r, err := retrieve.New(retrieve.Config{GenerationTTL: time.Hour}, pool, emb, nil, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	principals := []string{"public"}
	// Connections (and their pgvector type lookups) are made before anything is recorded.
	for range 3 {
		if _, err := r.Retrieve(ctx, retrieve.Request{Query: "charging", Principals: principals}); err != nil {
			t.Fatal(err)
		}
	}

	type run struct {
		statements []statement
		plans      []string
		result     string
	}
	do := func(mode retrieve.Mode, query string, words ...string) run {
		t.Helper()
		rec.take()
		res, err := r.Retrieve(ctx, retrieve.Request{Query: query, Principals: principals, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		var out run
		for _, s := range rec.take() {
			if strings.Contains(s.sql, "pg_type") {
				continue // pgvector's type lookups on a new connection
			}
			out.statements = append(out.statements, normalized(s, words...))
			if mode != retrieve.Lexical && strings.Contains(s.sql, "d.uri, d.title, s.name") {
				// The texts of the ranked chunks: in hybrid mode the dense ranking, and so
				// which chunks' pages are read, depends on the word itself.
				continue
			}
			out.plans = append(out.plans, replay(t, db.Pool, s))
		}
		// The legs run concurrently: their statements interleave in any order.
		slices.SortFunc(out.statements, func(a, b statement) int { return strings.Compare(a.key(), b.key()) })
		slices.Sort(out.plans)
		if mode == retrieve.Lexical {
			out.result = describeResult(res)
		} else {
			out.result = fmt.Sprintf("dense plan %s, %d dense hits", res.DensePlan, len(res.Dense))
		}
		return out
	}

	for _, pair := range []struct{ what, a, b string }{
		{"a hidden-only word and an absent one", hiddenWord, absentWord},
		{"a public word also in hidden chunks and a public word only", sharedWord, publicWord},
	} {
		for _, mode := range []retrieve.Mode{retrieve.Lexical, retrieve.Hybrid} {
			for _, q := range []string{"WORD", "WORD charging schedule", `"WORD charging" robots`, "WORD WORD robots night shift"} {
				a := do(mode, strings.ReplaceAll(q, "WORD", pair.a), pair.a, pair.b)
				b := do(mode, strings.ReplaceAll(q, "WORD", pair.b), pair.a, pair.b)
				if len(b.statements) == 0 {
					t.Fatalf("%s %q: no statement recorded", mode, q)
				}
				compare := func(x, y statement) bool {
					if mode == retrieve.Lexical {
						return x.key() == y.key()
					}
					// The dense leg's query vector, and so the chunks it ranks and whose
					// text is fetched, depend on the word itself: compare the statements only.
					return x.SQL == y.SQL && slices.Equal(x.Settings, y.Settings)
				}
				if !slices.EqualFunc(a.statements, b.statements, compare) {
					t.Errorf("%s %q: the statements differ between %s:\n%s:\n%s\n%s:\n%s",
						mode, q, pair.what, pair.a, describeStatements(a.statements), pair.b, describeStatements(b.statements))
				}
				if diff := cmp.Diff(b.plans, a.plans); diff != "" {
					t.Errorf("%s %q: the rows read differ between %s (-%s +%s):\n%s", mode, q, pair.what, pair.b, pair.a, diff)
				}
				if diff := cmp.Diff(b.result, a.result); diff != "" {
					t.Errorf("%s %q: the results differ between %s (-%s +%s):\n%s", mode, q, pair.what, pair.b, pair.a, diff)
				}
			}
		}
	}
}

// TestHiddenDocumentsDoNotChangeWhatACallerGets adds hidden documents that share the public
// pages' words and checks that the public caller's retrieval is unchanged to the last bit:
// lexical scores (BM25's N, document frequencies, average length and term bounds are the
// caller's own), the dense leg's exact ranking, the fused ranking, the evidence and its
// strength. With corpus-wide statistics every lexical score moved.
func TestHiddenDocumentsDoNotChangeWhatACallerGets(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	files := hiddenCorpus()
	public := map[string]string{}
	for name, content := range files {
		if strings.HasPrefix(name, "p/") {
			public[name] = content
		}
	}
	writeFiles(t, dir, public)
	ingestDir(t, db, emb, dir)
	r := newRetriever(t, db, emb, retrieve.Config{}, nil)
	queries := []string{"charging schedule", "robots charged overnight", "night shift logs", "charging " + hiddenWord}
	results := func() []string {
		var out []string
		for _, q := range queries {
			res, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: []string{"public"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Lexical) == 0 {
				t.Fatalf("%q: no lexical hit", q)
			}
			out = append(out, q+": "+describeResult(res))
		}
		return out
	}
	before := results()

	writeFiles(t, dir, files) // the group:research documents join the public ones
	ingestDir(t, db, emb, dir)
	var hidden int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM chunks WHERE acl = '{group:research}'`).Scan(&hidden); err != nil || hidden < 40 {
		t.Fatalf("%d hidden chunks (%v), want 40 or more", hidden, err)
	}
	if diff := cmp.Diff(before, results()); diff != "" {
		t.Errorf("the public caller's retrieval changed when hidden documents were added (-before +after):\n%s", diff)
	}
}

// describeResult renders everything a retrieval returns that a caller can see or that
// decides an answer (rankings with exact scores, the evidence, the strength).
func describeResult(res *retrieve.Result) string {
	hits := func(hs []retrieve.Hit) string {
		var b strings.Builder
		for _, h := range hs {
			fmt.Fprintf(&b, "%d:%x ", h.ChunkID, h.Score)
		}
		return b.String()
	}
	var ev []int64
	for _, it := range res.Evidence {
		ev = append(ev, it.ChunkIDs...)
	}
	in := res.StrengthInputs()
	var terms strings.Builder // the IDFs only: TestHiddenTermsCostWhatAbsentTermsCost swaps a word
	for _, qt := range res.QueryTerms() {
		fmt.Fprintf(&terms, "%x ", qt.IDF)
	}
	return fmt.Sprintf("lexical [%s] exact %v; dense %s [%s]; ranked [%s]; evidence %v; strength %x (inputs %x %x %x %d %x); term IDFs [%s]",
		hits(res.Lexical), res.LexicalExact, res.DensePlan, hits(res.Dense), hits(res.Ranked), ev, res.Strength,
		in.Coverage, in.Gap, in.Agreement, in.DenseRank, in.NormalizedBM25, terms.String())
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func ingestDir(t *testing.T, db *dbtest.DB, emb *embed.Builtin, dir string) {
	t.Helper()
	in, err := ingest.New(ingest.Config{Source: "test", Roots: []string{dir}, Prune: true}, db.Pool, emb, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := in.Run(context.Background()); err != nil || s.Documents.Failed > 0 {
		t.Fatalf("ingest: %v %+v", err, s.Failures)
	}
}

// statement is a recorded statement in a form to compare.
type statement struct {
	Settings []string
	SQL      string
	Args     []any
}

// key identifies the statement and its arguments.
func (s statement) key() string {
	args, _ := json.Marshal(s.Args)
	return strings.Join(s.Settings, ";") + "\n" + s.SQL + "\n" + string(args)
}

// normalized returns s with the words replaced by WORD in its text arguments (which carry the
// query) and vectors replaced by their dimension.
func normalized(s tracedStatement, words ...string) statement {
	text := func(v string) string {
		for _, w := range words {
			v = strings.ReplaceAll(v, w, "WORD")
		}
		return v
	}
	out := statement{Settings: s.settings, SQL: s.sql}
	for _, a := range s.args {
		switch v := a.(type) {
		case string:
			a = text(v)
		case []string:
			c := make([]string, len(v))
			for i := range v {
				c[i] = text(v[i])
			}
			a = c
		case pgvector.Vector:
			a = fmt.Sprintf("vector(%d)", len(v.Slice()))
		}
		out.Args = append(out.Args, a)
	}
	return out
}

func describeStatements(ss []statement) string {
	var b strings.Builder
	for _, s := range ss {
		args, _ := json.Marshal(s.Args)
		fmt.Fprintf(&b, "  %s\n    %s\n", strings.Join(strings.Fields(s.SQL), " "), args)
	}
	return b.String()
}

// replay runs a recorded statement again under EXPLAIN (ANALYZE, BUFFERS), with its plan
// settings, and returns what it read, node by node: the node, its relation or index, the
// rows it returned and removed, its loops, and the heap blocks and buffers it touched. The
// statement runs twice on one connection and the second run is reported: the first may
// read the system catalogs into the connection's caches.
func replay(t *testing.T, db *pgxpool.Pool, s tracedStatement) string {
	t.Helper()
	ctx := context.Background()
	var raw []byte
	err := index.InTx(ctx, db, func(tx pgx.Tx) error {
		for _, set := range s.settings {
			if _, err := tx.Exec(ctx, set); err != nil {
				return err
			}
		}
		for range 2 {
			if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) "+s.sql, s.args...).Scan(&raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("explain analyze %s: %v", s.sql, err)
	}
	var plans []struct{ Plan analyzedNode }
	if err := json.Unmarshal(raw, &plans); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(strings.Join(strings.Fields(s.sql), " ") + "\n")
	var walk func(n analyzedNode, depth int)
	walk = func(n analyzedNode, depth int) {
		fmt.Fprintf(&b, "%s%s %s%s rows %d loops %d removed %d/%d heap %d/%d buffers %d\n", strings.Repeat("  ", depth),
			n.NodeType, n.RelationName, n.IndexName, n.ActualRows, n.ActualLoops, n.RemovedByFilter, n.RemovedByRecheck,
			n.ExactHeapBlocks, n.LossyHeapBlocks, n.SharedHit+n.SharedRead)
		for _, c := range n.Plans {
			walk(c, depth+1)
		}
	}
	walk(plans[0].Plan, 0)
	return b.String()
}

type analyzedNode struct {
	NodeType         string         `json:"Node Type"`
	RelationName     string         `json:"Relation Name"`
	IndexName        string         `json:"Index Name"`
	ActualRows       int64          `json:"Actual Rows"`
	ActualLoops      int64          `json:"Actual Loops"`
	RemovedByFilter  int64          `json:"Rows Removed by Filter"`
	RemovedByRecheck int64          `json:"Rows Removed by Index Recheck"`
	ExactHeapBlocks  int64          `json:"Exact Heap Blocks"`
	LossyHeapBlocks  int64          `json:"Lossy Heap Blocks"`
	SharedHit        int64          `json:"Shared Hit Blocks"`
	SharedRead       int64          `json:"Shared Read Blocks"`
	Plans            []analyzedNode `json:"Plans"`
}

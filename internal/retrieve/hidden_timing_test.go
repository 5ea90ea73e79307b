package retrieve_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/api"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/metrics"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/evaldata"
	"github.com/docent-rag/docent/internal/trace"
)

// The timing benchmark of issue 9, finding 6 (docs/benchmarks.md, "Timing of hidden
// words"): can a caller tell, by timing POST /v1/search, a word that occurs only in
// documents it cannot see from a word that occurs nowhere?
//
//	go test -run '^$' -bench HiddenTermTiming -benchtime 1x -timeout 60m ./internal/retrieve
//
// The corpus: hiddenDocs scale-corpus documents (evaldata.ScaleDocuments, one chunk each),
// tagged by the hash of their id: 1% public, 49% group:half, 50% group:research. Code names
// are planted in group:research documents only, in 2, 20 and 2,000 of them; two more words
// are planted in one public document each, one of them also in 2,000 group:research
// documents (a word the caller can see, whose hidden occurrences are still read). Two callers
// (API keys): one who sees only public documents (1%: the dense leg scans exactly) and one
// who also sees group:half (50%: the dense leg walks the HNSW graph). Each asks, through the
// real HTTP API in this process, for each pair of words 200 times, alternating, under two
// statistics lookups side by side: the caller's own (this version) and the corpus-wide one
// of earlier versions (put back for the benchmark only). The table gives per-word medians and
// how well a threshold on the time separates the two words of a pair.

var (
	hiddenDocs     = flag.Int("hidden-docs", 150_000, "BenchmarkHiddenTermTiming: documents (chunks) of its corpus")
	hiddenRequests = flag.Int("hidden-requests", 200, "BenchmarkHiddenTermTiming: requests per word, caller and statistics lookup")
)

const (
	hiddenPrefix    = "docent_hidden_"
	hiddenGenerator = "hidden-v1"
)

// wordPair is a word that occurs only in hidden chunks (or, for the last pair, in one
// visible chunk and many hidden ones) and a word of the same kind that does not.
type wordPair struct {
	label          string
	hidden, absent string
	hiddenDocs     int // group:research documents containing hidden
	publicDocs     int // public documents containing both words
}

var hiddenPairs = []wordPair{
	{"hidden in 2 chunks", "zorvexin", "velkarin", 2, 0},
	{"hidden in 20 chunks", "quandrelith", "trobbelish", 20, 0},
	{"hidden in 2,000 chunks", "maxtrophel", "nuxafrond", 2000, 0},
	{"visible in 1 chunk, also hidden in 2,000 / in 0", "grelvanok", "plimbursat", 2000, 1},
	// Controls: two words that occur nowhere, to show how much two words' times differ for
	// reasons that have nothing to do with hidden chunks (the dense leg's walk depends on
	// where the query's vector lands).
	{"control: both absent", "pextronal", "quibberlin", 0, 0},
	{"control: both absent", "dravomist", "snelbrook", 0, 0},
}

// hiddenTag is the tag of a document of the timing corpus, from the hash of its id.
func hiddenTag(id string) string {
	h := sha256.Sum256([]byte(id))
	permille := binary.BigEndian.Uint64(h[:8]) % 1000
	switch {
	case permille < 10:
		return "public"
	case permille < 500:
		return "group:half"
	}
	return "group:research"
}

// hiddenCorpusJSONL generates the corpus with the planted words.
func hiddenCorpusJSONL(b *testing.B) ([]byte, string) {
	scifact := evaldata.Path(b, "beir/scifact/corpus.jsonl")
	clapnq := evaldata.Path(b, "qa/clapnq/corpus.jsonl")
	docs, st, err := evaldata.ScaleDocuments(scifact, clapnq, *hiddenDocs, scaleSeed)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 9))
	plant := func(text, word string) string {
		words := strings.Fields(text)
		i := rng.IntN(len(words) + 1)
		return strings.Join(slices.Insert(words, i, word), " ")
	}
	// Each pair's words go into the next documents of the right tag, in corpus order.
	next := map[string]int{}
	take := func(tag string) int {
		for i := next[tag]; i < len(docs); i++ {
			if hiddenTag(docs[i].ID) == tag {
				next[tag] = i + 1
				return i
			}
		}
		b.Fatalf("the corpus has too few %s documents for the planted words", tag)
		return 0
	}
	for _, p := range hiddenPairs {
		for range p.hiddenDocs {
			i := take("group:research")
			docs[i].Text = plant(docs[i].Text, p.hidden)
		}
		for range p.publicDocs {
			i := take("public")
			docs[i].Text = plant(docs[i].Text, p.hidden)
			i = take("public")
			docs[i].Text = plant(docs[i].Text, p.absent)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, d := range docs {
		if err := enc.Encode(map[string]any{"id": d.ID, "title": "", "text": d.Text, "acl": []string{hiddenTag(d.ID)}}); err != nil {
			b.Fatal(err)
		}
	}
	return buf.Bytes(), fmt.Sprintf("%d documents from %d sentences, tagged 1%% public, 49%% group:half, 50%% group:research, with planted words",
		len(docs), st.Sentences)
}

// setupHidden returns the timing corpus's database, building it first when needed, after
// checking that every planted word is where it should be and nowhere else.
func setupHidden(b *testing.B) *scaleEnv {
	b.Helper()
	corpus, describe := hiddenCorpusJSONL(b)
	env := scaleDatabase(b, hiddenPrefix, hiddenGenerator, bytesCorpus(corpus), int64(*hiddenDocs), describe)
	ctx := context.Background()
	for _, p := range hiddenPairs {
		for word, want := range map[string]map[string]int{
			p.hidden: {"group:research": p.hiddenDocs, "public": p.publicDocs},
			p.absent: {"group:research": 0, "public": p.publicDocs},
		} {
			got := map[string]int{}
			rows, err := env.pool.Query(ctx, `SELECT tag, df FROM tag_lexeme_stats WHERE lexeme = $1 AND df > 0`, word)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				var tag string
				var df int
				if err := rows.Scan(&tag, &df); err != nil {
					b.Fatal(err)
				}
				got[tag] = df
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			for tag, n := range want {
				if got[tag] != n || len(got) > len(want) {
					b.Fatalf("%q is in %v chunks per tag, want %v", word, got, want)
				}
			}
		}
	}
	// The corpus-wide statistics of earlier versions (lexeme_stats, dropped by migration
	// 00008), for the old lookup the benchmark puts back beside the new one.
	if _, err := env.pool.Exec(ctx, `
		CREATE TABLE IF NOT EXISTS legacy_lexeme_stats AS
		SELECT c.chunking_id, u.lexeme, count(*)::int AS df,
		       max(coalesce(array_length(u.positions, 1), 1)) AS max_tf,
		       max(coalesce(array_length(u.positions, 1), 1)::float8 / greatest(c.lexical_length, 1)) AS max_tf_ratio
		FROM chunks c, unnest(c.tsv) AS u GROUP BY 1, 2;
		CREATE UNIQUE INDEX IF NOT EXISTS legacy_lexeme_stats_pkey ON legacy_lexeme_stats (chunking_id, lexeme);
		ANALYZE legacy_lexeme_stats`); err != nil {
		b.Fatal(err)
	}
	return env
}

// corpusWideTerms is the statistics lookup of Docent before migration 00008 (index.QueryTerms
// of commit ac724e8, its SQL unchanged but for the table's name): document frequencies, term
// bounds, N and the average length over every chunk, visible or not. Earlier versions found
// candidates through an index of lexemes, which read a lexeme's postings in every chunk; here
// each term comes with the keys of every tag that has it, so that the index of tag-qualified
// lexemes reads the same postings. The benchmark alone uses it, to measure what the new lookup
// changes.
func corpusWideTerms(ctx context.Context, db index.DBTX, chunkingID int, text string, principals []string) ([]index.Term, index.Corpus, error) {
	rows, err := db.Query(ctx, `
		WITH q AS (
			SELECT u.lexeme, coalesce(array_length(u.positions, 1), 1) AS qtf
			FROM chunkings c, unnest(to_tsvector(c.ts_config, $2)) AS u
			WHERE c.id = $1
		), cs AS (
			SELECT chunk_count, total_length,
			       least(chunk_count, coalesce((SELECT sum(a.chunk_count) FROM acl_stats a
			                                    WHERE a.chunking_id = $1 AND a.tag = ANY($3)), 0))::bigint AS visible
			FROM corpus_stats WHERE chunking_id = $1
		)
		SELECT q.lexeme, q.qtf, coalesce(s.df, 0), coalesce(s.max_tf, 0), coalesce(s.max_tf_ratio, 0),
		       coalesce(cs.chunk_count, 0), coalesce(cs.total_length, 0), coalesce(cs.visible, 0),
		       coalesce((SELECT array_agg(docent_tag_key(t.tag) || ' ' || docent_lexeme_key(t.lexeme) ORDER BY t.tag)
		                 FROM tag_lexeme_stats t
		                 WHERE t.chunking_id = $1 AND t.tag = ANY(ARRAY(SELECT a.tag FROM acl_stats a WHERE a.chunking_id = $1))
		                   AND t.lexeme = q.lexeme AND t.df > 0), '{}')
		FROM q
		LEFT JOIN legacy_lexeme_stats s ON s.chunking_id = $1 AND s.lexeme = q.lexeme
		LEFT JOIN cs ON true`, chunkingID, text, principals)
	if err != nil {
		return nil, index.Corpus{}, err
	}
	var terms []index.Term
	var chunks, total, visible int64
	for rows.Next() {
		var t index.Term
		if err := rows.Scan(&t.Lexeme, &t.QTF, &t.DF, &t.MaxTF, &t.MaxTFRatio, &chunks, &total, &visible, &t.Keys); err != nil {
			return nil, index.Corpus{}, err
		}
		terms = append(terms, t)
	}
	if err := rows.Err(); err != nil {
		return nil, index.Corpus{}, err
	}
	// Earlier versions stopped when the caller could see nothing; an average length of 0 stops
	// the lexical leg the same way.
	c := index.Corpus{Chunks: chunks}
	if chunks > 0 && visible > 0 {
		c.AvgLength = float64(total) / float64(chunks)
	}
	return terms, c, nil
}

// searchServer is the HTTP API on a loopback port, serving with one retriever.
type searchServer struct {
	url   string
	close func()
}

// startSearchServer serves the real API (API keys, the extractive answerer, traces written to
// the database, no answer cache, no rate limit) with r, as cmd/server wires it.
func startSearchServer(b *testing.B, pool *pgxpool.Pool, r *retrieve.Retriever) searchServer {
	b.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	answerer, err := answer.New(answer.Config{}, nil, logger)
	if err != nil {
		b.Fatal(err)
	}
	authn, err := auth.New(ctx, auth.Config{}, auth.DBKeys{DB: pool}, logger)
	if err != nil {
		b.Fatal(err)
	}
	m := metrics.New()
	traces, err := trace.New(trace.Config{}, pool, m, logger)
	if err != nil {
		b.Fatal(err)
	}
	e, err := api.New(api.Config{}, pool, r, answerer, authn, traces, m, logger)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return searchServer{url: "http://" + ln.Addr().String(), close: func() {
		_ = srv.Shutdown(ctx)
		_ = traces.Close(ctx)
		_ = authn.Close(ctx)
	}}
}

// timing is one request's duration seen by the client, and the legs' as the server reports
// them in timings_ms.
type timing struct {
	total, lexical, dense float64 // ms
}

// searcher sends POST /v1/search with a key and times it.
func searcher(b *testing.B) func(url, key, query string) timing {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
	return func(url, key, query string) timing {
		body, _ := json.Marshal(map[string]any{"query": query, "limit": 10})
		req, err := http.NewRequest(http.MethodPost, url+"/v1/search", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out struct {
			Results   []json.RawMessage  `json:"results"`
			TimingsMS map[string]float64 `json:"timings_ms"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		_ = resp.Body.Close()
		took := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("search %q: status %d, %v", query, resp.StatusCode, err)
		}
		return timing{total: float64(took.Microseconds()) / 1000, lexical: out.TimingsMS["lexical"], dense: out.TimingsMS["dense"]}
	}
}

// BenchmarkHiddenTermTiming: see the comment at the top of the file.
func BenchmarkHiddenTermTiming(b *testing.B) {
	env := setupHidden(b)
	ctx := context.Background()
	load0 := loadAverage()

	newPool, err := index.Open(ctx, env.url)
	if err != nil {
		b.Fatal(err)
	}
	defer newPool.Close()
	oldPool, err := index.Open(ctx, env.url)
	if err != nil {
		b.Fatal(err)
	}
	defer oldPool.Close()
	quietLog := slog.New(slog.DiscardHandler)
	perTag, err := retrieve.New(retrieve.Config{}, newPool, env.emb, nil, "", quietLog)
	if err != nil {
		b.Fatal(err)
	}
	corpusWide, err := retrieve.New(retrieve.Config{}, oldPool, env.emb, nil, "", quietLog)
	if err != nil {
		b.Fatal(err)
	}
	retrieve.SetTermStatistics(corpusWide, corpusWideTerms)
	lookups := []struct {
		name string
		srv  searchServer
	}{
		{"corpus-wide (before)", startSearchServer(b, oldPool, corpusWide)},
		{"per tag (this version)", startSearchServer(b, newPool, perTag)},
	}
	defer func() {
		for _, l := range lookups {
			l.srv.close()
		}
	}()

	callers := []struct {
		name       string
		principals []string
		key        string
	}{
		{name: "public only (1%)", principals: []string{"public"}},
		{name: "public + group:half (50%)", principals: []string{"group:half", "public"}},
	}
	for i := range callers {
		key, prefix, hash, err := auth.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		name := fmt.Sprintf("timing-%d-%d", i, time.Now().UnixNano())
		if _, err := index.CreateAPIKey(ctx, env.pool, name, prefix, hash, callers[i].principals, "user"); err != nil {
			b.Fatal(err)
		}
		callers[i].key = key
		defer func() { _, _ = index.RevokeAPIKey(context.WithoutCancel(ctx), env.pool, name) }()
	}
	search := searcher(b)

	type cell struct {
		caller, lookup, plan string
		pair                 wordPair
		hidden, absent       []timing
	}
	var cells []*cell
	for b.Loop() {
		cells = cells[:0]
		for _, c := range callers {
			res, err := perTag.Retrieve(ctx, retrieve.Request{Query: hiddenPairs[0].hidden, Principals: c.principals})
			if err != nil {
				b.Fatal(err)
			}
			var row []*cell
			for _, l := range lookups {
				for _, p := range hiddenPairs {
					row = append(row, &cell{caller: c.name, lookup: l.name, plan: res.DensePlan, pair: p})
				}
			}
			// Warm up, then rounds in which every word is asked once under each lookup, the
			// order of the lookups alternating every round and that of the two words of a
			// pair every other round.
			const warmUp = 20
			for round := range warmUp + *hiddenRequests {
				order := []int{0, 1}
				if round%2 == 1 {
					order = []int{1, 0}
				}
				for _, li := range order {
					for pi, p := range hiddenPairs {
						x := row[li*len(hiddenPairs)+pi]
						words := []string{p.hidden, p.absent}
						if (round/2)%2 == 1 {
							words[0], words[1] = words[1], words[0]
						}
						for _, w := range words {
							t := search(lookups[li].srv.url, c.key, w)
							switch {
							case round < warmUp:
							case w == p.hidden:
								x.hidden = append(x.hidden, t)
							default:
								x.absent = append(x.absent, t)
							}
						}
					}
				}
			}
			cells = append(cells, row...)
		}
	}
	load1 := loadAverage()

	var out strings.Builder
	fmt.Fprintf(&out, "\n%d chunks; %d requests per word, caller and lookup, alternating; load average %s before, %s after\n\n",
		env.chunks, *hiddenRequests, load0, load1)
	out.WriteString("| caller (dense plan) | words | statistics | median ms hidden / absent | AUC | best threshold accuracy | AUC of the lexical leg's time | AUC of the dense leg's time |\n" +
		"|---|---|---|---|---:|---:|---:|---:|\n")
	get := func(ts []timing, f func(timing) float64) []float64 {
		out := make([]float64, len(ts))
		for i, t := range ts {
			out[i] = f(t)
		}
		return out
	}
	total := func(t timing) float64 { return t.total }
	lexical := func(t timing) float64 { return t.lexical }
	dense := func(t timing) float64 { return t.dense }
	for _, x := range cells {
		h, a := get(x.hidden, total), get(x.absent, total)
		fmt.Fprintf(&out, "| %s (%s) | %s: %s / %s | %s | %.2f / %.2f | %.3f | %.3f | %.3f | %.3f |\n",
			x.caller, x.plan, x.pair.label, x.pair.hidden, x.pair.absent, x.lookup, median(h), median(a), auc(h, a), bestThreshold(h, a),
			auc(get(x.hidden, lexical), get(x.absent, lexical)), auc(get(x.hidden, dense), get(x.absent, dense)))
	}
	// What the dense leg returns (not only how long it takes) for each word, against an exact
	// scan with the same filter: with HNSW the walk through the graph passes hidden vectors
	// near the query, which may change which visible chunks it finds.
	exact := env.retriever(b, retrieve.Config{ExactScanBelow: math.MaxInt32})
	out.WriteString("\nDense leg, in-process, per word: its plan, and recall@10 of its top 10 against an exact scan with the same filter (1: the same chunks)\n\n" +
		"| caller | word | plan | recall@10 | best similarity, leg / exact |\n|---|---|---|---:|---|\n")
	for _, c := range callers {
		for _, p := range hiddenPairs {
			for _, w := range []string{p.hidden, p.absent} {
				got, err := perTag.Retrieve(ctx, retrieve.Request{Query: w, Principals: c.principals, Mode: retrieve.Dense})
				if err != nil {
					b.Fatal(err)
				}
				want, err := exact.Retrieve(ctx, retrieve.Request{Query: w, Principals: c.principals, Mode: retrieve.Dense})
				if err != nil {
					b.Fatal(err)
				}
				top := map[int64]bool{}
				for _, h := range want.Dense[:min(10, len(want.Dense))] {
					top[h.ChunkID] = true
				}
				found := 0
				for _, h := range got.Dense[:min(10, len(got.Dense))] {
					if top[h.ChunkID] {
						found++
					}
				}
				best := func(hs []retrieve.Hit) float64 {
					if len(hs) == 0 {
						return math.NaN()
					}
					return hs[0].Score
				}
				what := "its pair's other word"
				if w == p.hidden {
					what = p.label
				}
				fmt.Fprintf(&out, "| %s | %s (%s) | %s | %.1f | %.4f / %.4f |\n", c.name, w, what, got.DensePlan,
					float64(found)/float64(max(1, len(top))), best(got.Dense), best(want.Dense))
			}
		}
	}
	n := float64(*hiddenRequests)
	fmt.Fprintf(&out, "\nAUC: the probability that a request for the first word takes longer than one for the second (0.5: no difference;\n"+
		"its standard deviation when there is none is %.3f at %d requests a word). Best threshold accuracy: the share of the %d requests\n"+
		"of a pair that the best single threshold on the time assigns to the right word (0.5: chance; with no difference the best of\n"+
		"%d thresholds still reaches about 0.55).\n",
		math.Sqrt((2*n+1)/(12*n*n)), *hiddenRequests, 2**hiddenRequests, 2**hiddenRequests)
	fmt.Print(out.String())
}

// median of xs (not empty).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// auc is the Mann–Whitney estimate of P(a > b) + P(a = b)/2.
func auc(a, b []float64) float64 {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN()
	}
	var wins float64
	sb := slices.Clone(b)
	slices.Sort(sb)
	for _, x := range a {
		lo, _ := slices.BinarySearch(sb, x)
		hi, _ := slices.BinarySearchFunc(sb, x, func(e, t float64) int {
			if e <= t {
				return -1
			}
			return 1
		})
		wins += float64(lo) + float64(hi-lo)/2
	}
	return wins / float64(len(a)*len(b))
}

// bestThreshold is the accuracy of the best rule "longer than t means a" (or "shorter than
// t means a") over the requests of a and b.
func bestThreshold(a, b []float64) float64 {
	type obs struct {
		v   float64
		isA bool
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, x := range a {
		all = append(all, obs{x, true})
	}
	for _, x := range b {
		all = append(all, obs{x, false})
	}
	slices.SortFunc(all, func(x, y obs) int { return cmp.Compare(x.v, y.v) })
	// Below the cut: b; above: a. Move the cut up one distinct value at a time.
	correct := len(a) // cut below everything: all called a
	best := correct
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			if all[j].isA {
				correct--
			} else {
				correct++
			}
			j++
		}
		best = max(best, correct, len(all)-correct)
		i = j
	}
	return float64(best) / float64(len(all))
}

// loadAverage is the 1-minute load average, for the record.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

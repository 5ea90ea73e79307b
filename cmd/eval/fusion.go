package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/retrieve"
)

// maxRankingsLine bounds one line of a rankings file (two legs of 100 hits each take ~10 KB).
const maxRankingsLine = 16 << 20

func runFusion(_ context.Context, args []string, e env) int {
	fs := newFlagSet("fusion", "--rankings FILE[,FILE...] [flags]", `Compare fusion settings offline on the rankings that `+"`eval beir --rankings`"+` wrote (both legs of
every query, as retrieved): lexical only, dense only, the default fusion and a grid of fusion
settings, by nDCG@10 and Recall@10, per dataset, on the tuning folds and on the held-out
folds (eval.Fold: the same rule as every set's --folds, a hash of the query id or of an
MTRAG task's conversation id). The setting chosen is the one whose worst dataset,
on the tuning folds, loses least to its better leg (then the best mean); it is reported on
the held-out folds. --random-dense adds, per dataset, a copy whose dense leg is random (an
embedder that knows nothing of the corpus), --subsets a dataset per subset (MTRAG's
collections).`)
	files := fs.String("rankings", "", "rankings files, comma-separated (required)")
	folds := fs.Int("folds", 5, "folds (eval.Fold, by the query's fold key: its id, an MTRAG task's conversation); 1: the whole sets")
	tune := fs.String("tune", "0,1", "the tuning folds, comma-separated")
	tuneSets := fs.String("tune-sets", "", "datasets to tune on, comma-separated (default: all); the others are reported only")
	random := fs.Bool("random-dense", false, "add a copy of each dataset with a random dense leg")
	subsets := fs.Bool("subsets", false, "add a dataset per subset")
	show := fs.String("show", "", "report this setting of the grid (as `eval fusion` names it) instead of the one chosen")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if code := parse(fs, args, e); code >= 0 {
		return code
	}
	if *files == "" {
		fmt.Fprintln(e.stderr, "eval fusion: --rankings is required")
		return exitUsage
	}
	sel, err := eval.ParseFolds(*folds, *tune)
	if err != nil || sel.N < 1 || len(sel.Keep) == 0 {
		fmt.Fprintf(e.stderr, "eval fusion: --folds %d --tune %q: want at least one fold and tuning folds among them\n", *folds, *tune)
		return exitUsage
	}
	n, tuning := max(sel.N, 1), sel.Keep
	var sets []fusionSet
	for f := range strings.SplitSeq(*files, ",") {
		s, err := readRankings(f)
		if err != nil {
			fmt.Fprintf(e.stderr, "eval fusion: %v\n", err)
			return exitUsage
		}
		sets = append(sets, s)
	}
	if *subsets {
		sets = append(sets, splitSubsets(sets)...)
	}
	if *random {
		for _, s := range slices.Clone(sets) {
			sets = append(sets, withRandomDense(s))
		}
	}
	for i := range sets {
		// Tuned on by default: every dataset but the subsets (parts of another one).
		sets[i].tuning = !strings.Contains(sets[i].name, "/")
	}
	tuneOn := map[string]bool{}
	for s := range strings.SplitSeq(*tuneSets, ",") {
		if s != "" {
			tuneOn[s] = true
		}
	}
	rep, err := fusionTune(sets, n, tuning, tuneOn, *show)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval fusion: %v\n", err)
		return exitUsage
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(e.stderr, "eval fusion: %v\n", err)
			return exitFatal
		}
		return exitOK
	}
	if err := rep.print(e.stdout); err != nil {
		fmt.Fprintf(e.stderr, "eval fusion: %v\n", err)
		return exitFatal
	}
	return exitOK
}

// fusionSet is one dataset's rankings.
type fusionSet struct {
	name    string
	queries []fusionQuery
	tuning  bool
}

// fusionQuery is one query's legs, ready for retrieve.Fuse: documents are interned as ids.
type fusionQuery struct {
	id, subset string
	foldKey    string // eval.Query.Key: the id, or an MTRAG task's conversation
	rel        map[string]int
	lex, dense []retrieve.Hit
	docs       map[int64]string // document id -> corpus id
}

func readRankings(path string) (fusionSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return fusionSet{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxRankingsLine)
	var s fusionSet
	for n := 1; sc.Scan(); n++ {
		var rq rankedQuery
		if err := json.Unmarshal(sc.Bytes(), &rq); err != nil {
			return fusionSet{}, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if s.name == "" {
			s.name = rq.Dataset
		} else if rq.Dataset != s.name {
			return fusionSet{}, fmt.Errorf("%s:%d: dataset %q, but the file began with %q", path, n, rq.Dataset, s.name)
		}
		q := fusionQuery{id: rq.ID, subset: rq.Subset, foldKey: eval.Query{ID: rq.ID, FoldKey: rq.FoldKey}.Key(), rel: rq.Qrels, docs: map[int64]string{}}
		intern := map[string]int64{}
		leg := func(hits []rankedHit) []retrieve.Hit {
			out := make([]retrieve.Hit, len(hits))
			for i, h := range hits {
				id, ok := intern[h.Doc]
				if !ok {
					id = int64(len(intern) + 1)
					intern[h.Doc] = id
					q.docs[id] = h.Doc
				}
				out[i] = retrieve.Hit{ChunkID: h.Chunk, DocumentID: id, Score: h.Score}
			}
			return out
		}
		q.lex, q.dense = leg(rq.Lexical), leg(rq.Dense)
		s.queries = append(s.queries, q)
	}
	if err := sc.Err(); err != nil {
		return fusionSet{}, fmt.Errorf("read %s: %w", path, err)
	}
	if len(s.queries) == 0 {
		return fusionSet{}, fmt.Errorf("%s: no queries", path)
	}
	return s, nil
}

// splitSubsets returns a dataset per subset of the datasets that have subsets.
func splitSubsets(sets []fusionSet) []fusionSet {
	var out []fusionSet
	for _, s := range sets {
		by := map[string][]fusionQuery{}
		for _, q := range s.queries {
			if q.subset != "" {
				by[q.subset] = append(by[q.subset], q)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(by)) {
			out = append(out, fusionSet{name: s.name + "/" + name, queries: by[name]})
		}
	}
	return out
}

// withRandomDense returns a copy of s whose dense legs are random: for each query, as many
// chunks as its dense leg had, drawn from every chunk the dataset's legs hold, with random
// similarities, seeded by the query id (the same copy on every run).
func withRandomDense(s fusionSet) fusionSet {
	type chunk struct {
		id  int64
		doc string
	}
	var pool []chunk
	seen := map[int64]bool{}
	for _, q := range s.queries {
		for _, h := range slices.Concat(q.lex, q.dense) {
			if !seen[h.ChunkID] {
				seen[h.ChunkID] = true
				pool = append(pool, chunk{h.ChunkID, q.docs[h.DocumentID]})
			}
		}
	}
	out := fusionSet{name: s.name + "+random-dense"}
	for _, q := range s.queries {
		h := fnv.New64a()
		h.Write([]byte(q.id))
		rng := rand.New(rand.NewPCG(h.Sum64(), 1))
		c := q
		c.docs = maps.Clone(q.docs)
		intern := map[string]int64{}
		for id, d := range c.docs {
			intern[d] = id
		}
		c.dense = nil
		for _, i := range rng.Perm(len(pool))[:min(len(q.dense), len(pool))] {
			p := pool[i]
			id, ok := intern[p.doc]
			if !ok {
				id = int64(len(intern) + 1)
				intern[p.doc] = id
				c.docs[id] = p.doc
			}
			c.dense = append(c.dense, retrieve.Hit{ChunkID: p.id, DocumentID: id, Score: 0.2 + 0.2*rng.Float64()})
		}
		slices.SortFunc(c.dense, func(a, b retrieve.Hit) int { return cmp.Compare(b.Score, a.Score) })
		out.queries = append(out.queries, c)
	}
	return out
}

// fusionSetting is one fusion configuration of the grid.
type fusionSetting struct {
	Name string          `json:"name"`
	Cfg  retrieve.Config `json:"-"`
	Mode retrieve.Mode   `json:"-"`
}

// fusionGrid is the settings compared: each leg alone, fixed convex weights (the earlier
// default is 0.2), and agreement-scaled convex weights.
func fusionGrid() []fusionSetting {
	out := []fusionSetting{
		{Name: "lexical", Mode: retrieve.Lexical},
		{Name: "dense", Mode: retrieve.Dense},
		{Name: "default", Mode: retrieve.Hybrid},
	}
	weights := []float64{0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5}
	for _, w := range weights {
		out = append(out, fusionSetting{Name: fmt.Sprintf("convex w=%g fixed", w), Mode: retrieve.Hybrid,
			Cfg: retrieve.Config{Fusion: retrieve.FusionConvex, DenseWeight: w, AgreementDepth: -1}})
	}
	for _, k := range []int{5, 10, 20} {
		for _, full := range []float64{0.2, 0.3, 0.5, 0.7, 1} {
			for _, w := range weights {
				out = append(out, fusionSetting{Name: fmt.Sprintf("convex w=%g agree@%d full=%g", w, k, full), Mode: retrieve.Hybrid,
					Cfg: retrieve.Config{Fusion: retrieve.FusionConvex, DenseWeight: w, AgreementDepth: k, AgreementFull: full}})
			}
		}
	}
	return out
}

// fusionScore is a setting's figures on one dataset and one group of folds.
type fusionScore struct {
	Queries  int     `json:"queries"`
	NDCG10   float64 `json:"ndcg@10"`
	Recall10 float64 `json:"recall@10"`
	// DenseWeight is the mean dense weight fusion gave.
	DenseWeight float64 `json:"dense_weight"`
}

func score(qs []fusionQuery, s fusionSetting) fusionScore {
	var nd, rc, wd []float64
	for _, q := range qs {
		hits, w := retrieve.Fuse(s.Cfg, q.lex, q.dense, s.Mode)
		ids := make([]int64, len(hits))
		for i, h := range hits {
			ids[i] = h.DocumentID
		}
		ranked := eval.DocumentRanking(ids, func(id int64) string { return q.docs[id] })
		nd = append(nd, eval.NDCG(ranked, q.rel, 10))
		rc = append(rc, eval.Recall(ranked, q.rel, 10))
		wd = append(wd, w)
	}
	return fusionScore{Queries: len(qs), NDCG10: eval.Mean(nd), Recall10: eval.Mean(rc), DenseWeight: eval.Mean(wd)}
}

// fusionRow is one dataset's figures for the legs, the default and the chosen setting.
type fusionRow struct {
	Dataset string `json:"dataset"`
	Tuned   bool   `json:"tuned_on"`
	// Tune and HeldOut map a setting name (lexical, dense, default, chosen) to its figures.
	Tune    map[string]fusionScore `json:"tune"`
	HeldOut map[string]fusionScore `json:"held_out"`
}

type fusionReport struct {
	Folds   int    `json:"folds"`
	Tuning  []int  `json:"tuning_folds"`
	Chosen  string `json:"chosen"`
	Default string `json:"default"`
	// Worst is each setting's worst margin over the tuning datasets (hybrid minus the
	// better leg, nDCG@10, tuning folds), the best ten settings.
	Ranking []fusionCandidate `json:"ranking"`
	Rows    []fusionRow       `json:"rows"`
}

type fusionCandidate struct {
	Setting string  `json:"setting"`
	Worst   float64 `json:"worst_margin"`
	Mean    float64 `json:"mean_ndcg@10"`
}

func fusionTune(sets []fusionSet, n int, tuning []int, tuneOn map[string]bool, show string) (fusionReport, error) {
	grid := fusionGrid()
	split := func(qs []fusionQuery) (tune, held []fusionQuery) {
		for _, q := range qs {
			if slices.Contains(tuning, eval.Fold(q.foldKey, n)) {
				tune = append(tune, q)
			} else {
				held = append(held, q)
			}
		}
		return tune, held
	}
	type parts struct{ tune, held []fusionQuery }
	sp := make([]parts, len(sets))
	legs := make([][2]fusionScore, len(sets)) // lexical and dense, tuning folds
	tunedOn := make([]bool, len(sets))
	for i, s := range sets {
		sp[i].tune, sp[i].held = split(s.queries)
		legs[i] = [2]fusionScore{score(sp[i].tune, grid[0]), score(sp[i].tune, grid[1])}
		tunedOn[i] = len(sp[i].tune) > 0 && (len(tuneOn) == 0 && s.tuning || tuneOn[s.name])
	}
	var cands []fusionCandidate
	for _, g := range grid[2:] {
		c := fusionCandidate{Setting: g.Name, Worst: math.Inf(1)}
		k := 0
		for i := range sets {
			if !tunedOn[i] {
				continue
			}
			sc := score(sp[i].tune, g)
			c.Worst = min(c.Worst, sc.NDCG10-max(legs[i][0].NDCG10, legs[i][1].NDCG10))
			c.Mean += sc.NDCG10
			k++
		}
		if k > 0 {
			c.Mean /= float64(k)
		}
		cands = append(cands, c)
	}
	slices.SortStableFunc(cands, func(a, b fusionCandidate) int {
		// Margins within 0.001 count as equal: then the better mean wins.
		if math.Abs(a.Worst-b.Worst) > 0.001 {
			return cmp.Compare(b.Worst, a.Worst)
		}
		return cmp.Compare(b.Mean, a.Mean)
	})
	rep := fusionReport{Folds: n, Tuning: tuning, Chosen: cands[0].Setting, Default: defaultFusionName(), Ranking: cands[:min(10, len(cands))]}
	if show != "" {
		rep.Chosen = show
	}
	chosen := slices.IndexFunc(grid, func(g fusionSetting) bool { return g.Name == rep.Chosen })
	if chosen < 0 {
		return fusionReport{}, fmt.Errorf("--show %q is not a setting of the grid", show)
	}
	cols := []fusionSetting{grid[0], grid[1], grid[2], grid[3+slices.IndexFunc(grid[3:], func(g fusionSetting) bool { return g.Name == "convex w=0.2 fixed" })], grid[chosen]}
	names := []string{"lexical", "dense", "default", "fixed 0.2", "chosen"} // "chosen": or --show
	for i, s := range sets {
		row := fusionRow{Dataset: s.name, Tuned: tunedOn[i], Tune: map[string]fusionScore{}, HeldOut: map[string]fusionScore{}}
		for j, g := range cols {
			if len(sp[i].tune) > 0 {
				row.Tune[names[j]] = score(sp[i].tune, g)
			}
			if len(sp[i].held) > 0 {
				row.HeldOut[names[j]] = score(sp[i].held, g)
			}
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// defaultFusionName describes the retriever's default fusion.
func defaultFusionName() string {
	r, err := retrieve.New(retrieve.Config{}, nil, nil, nil, "", nil)
	if err != nil {
		return "?"
	}
	c := r.Config()
	return fmt.Sprintf("%s w=%g agree@%d full=%g", c.Fusion, c.DenseWeight, c.AgreementDepth, c.AgreementFull)
}

func (r fusionReport) print(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "tuning folds %v of %d; default: %s; chosen on the tuning folds: %s\n\n", r.Tuning, r.Folds, r.Default, r.Chosen)
	fmt.Fprintln(&b, "best settings (worst margin over the tuning datasets, then mean nDCG@10):")
	for _, c := range r.Ranking {
		fmt.Fprintf(&b, "  %-36s worst %+.4f  mean %.4f\n", c.Setting, c.Worst, c.Mean)
	}
	fmt.Fprintln(&b)
	for _, part := range []string{"held-out folds", "tuning folds"} {
		fmt.Fprintf(&b, "%s (nDCG@10 / Recall@10; margin: hybrid minus the better leg, nDCG@10):\n", part)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "dataset\ttuned\tqueries\tlexical\tdense\tfixed 0.2\tdefault\tmargin\tchosen\tmargin\tdense w\t")
		worst := map[string]float64{"default": math.Inf(1), "fixed 0.2": math.Inf(1), "chosen": math.Inf(1)}
		for _, row := range r.Rows {
			m := row.HeldOut
			if part == "tuning folds" {
				m = row.Tune
			}
			if len(m) == 0 {
				continue
			}
			best := max(m["lexical"].NDCG10, m["dense"].NDCG10)
			cell := func(s fusionScore) string { return fmt.Sprintf("%.4f / %.4f", s.NDCG10, s.Recall10) }
			for k := range worst {
				worst[k] = min(worst[k], m[k].NDCG10-best)
			}
			fmt.Fprintf(tw, "%s\t%v\t%d\t%s\t%s\t%s\t%s\t%+.4f\t%s\t%+.4f\t%.3f\t\n", row.Dataset, row.Tuned, m["lexical"].Queries,
				cell(m["lexical"]), cell(m["dense"]), cell(m["fixed 0.2"]), cell(m["default"]), m["default"].NDCG10-best,
				cell(m["chosen"]), m["chosen"].NDCG10-best, m["default"].DenseWeight)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(&b, "worst margin: fixed 0.2 %+.4f, default %+.4f, chosen %+.4f\n\n", worst["fixed 0.2"], worst["default"], worst["chosen"])
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}

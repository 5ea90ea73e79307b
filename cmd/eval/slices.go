package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/retrieve"
)

// Callers who see a slice of the corpus (--groups): BM25's statistics are the caller's
// (docs/retrieval.md, "Per-caller statistics"), so a caller who sees a few dozen chunks gets
// the IDF of a small sample, floored by retrieve.Config.MinIDFChunks. To measure what that
// does, the corpus is ingested with every document tagged, besides public, with one group of
// each grouping G of --groups: group:g<G>-<k>, k = groupOf(salt, document id, G), so a caller
// who holds one such tag sees about 1/G of the corpus. Each query is asked by the caller who
// holds the group of its anchor document (a relevant document, or the passage the question
// was written against), so that what it should find is visible to it, once as a caller who
// sees everything (public) and once per grouping, with each MinIDFChunks of --min-idf-chunks.

// sliceFlags are the flags of a sliced evaluation.
type sliceFlags struct {
	groups, floors, salt, by string
}

func (f *sliceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.groups, "groups", "", "evaluate callers who see 1/G of the corpus, for each G of this comma-separated list (e.g. 6,20,60,200); the corpus is ingested with group tags")
	fs.StringVar(&f.floors, "min-idf-chunks", "", "with --groups: the retriever's MinIDFChunks values to compare, comma-separated (1: no floor; default: the retriever's)")
	fs.StringVar(&f.salt, "group-salt", "", "with --groups: salt of the hash that assigns documents to groups (another salt draws other groups)")
	fs.StringVar(&f.by, "group-by", "hash", "with --groups: hash (groups are random samples of the corpus) or topic (documents whose embeddings are alike share a group; each G a power of two)")
}

// slicing is a parsed sliceFlags.
type slicing struct {
	groups []int // the groupings, each G >= 2, ascending
	floors []int // MinIDFChunks values, each >= 1
	salt   string
	// byTopic groups documents by topic (assignTopics), which sets topics: topics[doc][i]
	// is the group of document doc among groups[i].
	byTopic bool
	topics  map[string][]int
}

// parse returns the slicing the flags ask for, or nil without --groups.
func (f sliceFlags) parse() (*slicing, error) {
	if f.groups == "" {
		if f.floors != "" || f.salt != "" || f.by != "" && f.by != "hash" {
			return nil, errors.New("--min-idf-chunks, --group-salt and --group-by need --groups")
		}
		return nil, nil
	}
	if f.by != "" && f.by != "hash" && f.by != "topic" {
		return nil, fmt.Errorf("--group-by %q is not hash or topic", f.by)
	}
	groups, err := intList("--groups", f.groups, 2)
	if err != nil {
		return nil, err
	}
	if f.by == "topic" {
		for _, g := range groups {
			if g&(g-1) != 0 {
				return nil, fmt.Errorf("--groups %d: --group-by topic needs powers of two (each group is a side of log2(G) hyperplanes)", g)
			}
		}
	}
	floors := []int{0} // the retriever's default
	if f.floors != "" {
		if floors, err = intList("--min-idf-chunks", f.floors, 1); err != nil {
			return nil, err
		}
	}
	return &slicing{groups: groups, floors: floors, salt: f.salt, byTopic: f.by == "topic"}, nil
}

// intList parses a comma-separated list of distinct integers of at least least, sorted.
func intList(name, s string, least int) ([]int, error) {
	var out []int
	for p := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < least {
			return nil, fmt.Errorf("%s %q: want comma-separated integers of at least %d", name, s, least)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("%s %q: %d is given twice", name, s, n)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// groupOf is the group, in [0, groups), of the document with this id: a hash, so that the
// groups are a fixed pseudo-random partition of the corpus for each salt.
func groupOf(salt, doc string, groups int) int {
	// SHA-256 rather than FNV: FNV's low bits, which the modulus keeps, hardly depend on the
	// salt.
	h := sha256.Sum256([]byte(salt + "\x00" + doc))
	return int(binary.BigEndian.Uint64(h[:8]) % uint64(groups))
}

// group is the group of document doc among groups groups.
func (s *slicing) group(doc string, groups int) int {
	if s.byTopic {
		return s.topics[doc][slices.Index(s.groups, groups)]
	}
	return groupOf(s.salt, doc, groups)
}

// principal is the tag of the caller who sees the group of document doc among groups
// groups; groups 0 is the caller who sees the whole corpus.
func (s *slicing) principal(groups int, doc string) string {
	if groups == 0 {
		return "public"
	}
	return fmt.Sprintf("group:g%d-%d", groups, s.group(doc, groups))
}

// tags are the tags of the document with this id: public and its group in each grouping.
func (s *slicing) tags(doc string) []string {
	out := []string{"public"}
	for _, g := range s.groups {
		out = append(out, s.principal(g, doc))
	}
	return out
}

// visible reports whether the caller of grouping groups who holds the group of anchor sees
// document doc.
func (s *slicing) visible(groups int, anchor, doc string) bool {
	return groups == 0 || s.group(doc, groups) == s.group(anchor, groups)
}

// assignTopics groups the documents of the JSON Lines corpus by topic: each document's
// title and text are embedded, the vectors centred on their mean, and the group of a document
// among G = 2^b groups is the side of each of b random hyperplanes (drawn from the salt) it
// falls on (random-projection hashing), so that alike documents tend to share a group, as a
// department's documents share a vocabulary. The groupings are nested: the group among G
// groups is the group among 2G with its highest bit cleared.
func (s *slicing) assignTopics(ctx context.Context, corpus string, emb retrieve.Embedder) error {
	var ids, texts []string
	err := eachRecord(corpus, func(rec map[string]json.RawMessage) error {
		id, err := recordID(rec)
		if err != nil {
			return err
		}
		// A title or text that is missing or not a string is embedded as empty.
		var title, text string
		_ = json.Unmarshal(rec["title"], &title)
		_ = json.Unmarshal(rec["text"], &text)
		ids, texts = append(ids, id), append(texts, title+"\n\n"+text)
		return nil
	})
	if err != nil {
		return err
	}
	var vectors [][]float32
	for start := 0; start < len(texts); start += 256 {
		v, err := emb.Embed(ctx, texts[start:min(len(texts), start+256)])
		if err != nil {
			return fmt.Errorf("embed %s: %w", corpus, err)
		}
		vectors = append(vectors, v...)
	}
	if len(vectors) != len(texts) {
		return fmt.Errorf("embed %s: %d vectors for %d documents", corpus, len(vectors), len(texts))
	}
	dim := emb.Dimension()
	mean := make([]float64, dim)
	for _, v := range vectors {
		if len(v) != dim {
			return fmt.Errorf("embed %s: a vector of %d values, want %d", corpus, len(v), dim)
		}
		for j, x := range v {
			mean[j] += float64(x) / float64(len(vectors))
		}
	}
	bits := bitsFor(s.groups[len(s.groups)-1])
	seed := sha256.Sum256([]byte("topic\x00" + s.salt))
	rng := rand.New(rand.NewPCG(binary.BigEndian.Uint64(seed[:8]), binary.BigEndian.Uint64(seed[8:16])))
	planes := make([][]float64, bits)
	for b := range planes {
		planes[b] = make([]float64, dim)
		for j := range planes[b] {
			planes[b][j] = rng.NormFloat64()
		}
	}
	s.topics = make(map[string][]int, len(ids))
	for i, v := range vectors {
		code := 0
		for b, plane := range planes {
			dot := 0.0
			for j, x := range v {
				dot += (float64(x) - mean[j]) * plane[j]
			}
			if dot > 0 {
				code |= 1 << b
			}
		}
		groups := make([]int, len(s.groups))
		for k, g := range s.groups {
			groups[k] = code & (g - 1)
		}
		s.topics[ids[i]] = groups
	}
	return nil
}

// bitsFor is log2 of the power of two g.
func bitsFor(g int) int {
	b := 0
	for 1<<b < g {
		b++
	}
	return b
}

// eachRecord calls fn with each record of the JSON Lines file, naming the line of an error.
func eachRecord(path string, fn func(rec map[string]json.RawMessage) error) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	r := bufio.NewReader(in)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(line, &rec); err != nil {
				return fmt.Errorf("%s:%d: %w", path, n, err)
			}
			if err := fn(rec); err != nil {
				return fmt.Errorf("%s:%d: %w", path, n, err)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
	}
}

// recordID is the "_id" of a corpus record.
func recordID(rec map[string]json.RawMessage) (string, error) {
	var id string
	if err := json.Unmarshal(rec["_id"], &id); err != nil || id == "" {
		return "", errors.New(`record without a string "_id"`)
	}
	return id, nil
}

// tagCorpus copies the JSON Lines corpus src ({"_id", ...} records) to dst with each
// record's "acl" set to its tags. A record that has an "acl" already is an error: the
// experiment would not know which tags its caller has.
func (s *slicing) tagCorpus(src, dst string) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	err = eachRecord(src, func(rec map[string]json.RawMessage) error {
		id, err := recordID(rec)
		if err != nil {
			return err
		}
		if _, ok := rec["acl"]; ok {
			return errors.New(`record with an "acl" of its own`)
		}
		if rec["acl"], err = json.Marshal(s.tags(id)); err != nil {
			return err
		}
		return enc.Encode(rec)
	})
	if err == nil {
		if err = w.Flush(); err != nil {
			err = fmt.Errorf("write %s: %w", dst, err)
		}
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s: %w", dst, cerr)
	}
	return err
}

// prepareSliced ingests a tagged copy of corpus (written to a temporary directory, removed
// afterwards: the documents' URIs are its name and record ids, as for the original) and
// reads how many chunks each tag has.
func prepareSliced(ctx context.Context, corpus string, s *slicing, emb retrieve.Embedder, e env, logger *slog.Logger) (*dataset, error) {
	dir, err := os.MkdirTemp("", "docent-eval-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tagged := filepath.Join(dir, filepath.Base(corpus))
	if s.byTopic {
		if err := s.assignTopics(ctx, corpus, emb); err != nil {
			return nil, err
		}
	}
	if err := s.tagCorpus(corpus, tagged); err != nil {
		return nil, err
	}
	ds, err := prepare(ctx, tagged, emb, e, logger)
	if err != nil {
		return nil, err
	}
	// The database has one chunking: it is named after the chunking settings.
	rows, err := ds.pool.Query(ctx, `SELECT tag, sum(chunk_count)::bigint FROM acl_stats GROUP BY tag`)
	if err != nil {
		ds.pool.Close()
		return nil, err
	}
	ds.tagChunks = map[string]int64{}
	for rows.Next() {
		var tag string
		var n int64
		if err := rows.Scan(&tag, &n); err != nil {
			ds.pool.Close()
			return nil, err
		}
		ds.tagChunks[tag] = n
	}
	if err := rows.Err(); err != nil {
		ds.pool.Close()
		return nil, err
	}
	return ds, nil
}

// sliceQuery is a query of a sliced evaluation and the document whose group its caller holds.
type sliceQuery struct {
	id, text, anchor string
}

// outcome is one retrieval of a sliced evaluation.
type outcome struct {
	failed   bool     // the retrieval failed: nothing found
	ranked   []string // document ids, best first
	strength float64
	// coverage and agreement are two of the strength model's inputs (retrieve.StrengthInputs).
	coverage, agreement float64
}

// views are the groupings a sliced evaluation asks as: 0 (the whole corpus) first.
func (s *slicing) views() []int { return append([]int{0}, s.groups...) }

// retrieveSlices asks every query as the caller of each view, with each floor:
// out[f][v][i] is query i with s.floors[f] as the caller of s.views()[v]. A retrieval that
// fails is counted in failed and found nothing (an outcome with no document and strength 0):
// the run goes on.
func (s *slicing) retrieveSlices(ctx context.Context, c command, ds *dataset, rt *retrieval, queries []sliceQuery,
	failed *eval.QueryFailures) ([][][]outcome, error) {
	views := s.views()
	out := make([][][]outcome, len(s.floors))
	p := c.progress("retrievals", len(s.floors)*len(views)*len(queries))
	defer p.end()
	for f, floor := range s.floors {
		r, err := rt.retriever(ds, floor)
		if err != nil {
			return nil, err
		}
		out[f] = make([][]outcome, len(views))
		for v, g := range views {
			out[f][v] = make([]outcome, len(queries))
			for i, q := range queries {
				if ctx.Err() != nil {
					return nil, errInterrupted
				}
				res, err := r.Retrieve(ctx, retrieve.Request{Query: q.text, Principals: []string{s.principal(g, q.anchor)}, Mode: retrieve.Mode(rt.flags.mode)})
				switch {
				case err != nil && ctx.Err() != nil:
					return nil, errInterrupted
				case err != nil:
					c.say("query %s failed as the caller of %s (counted as finding nothing): %v", q.id, viewName(g), err)
					failed.Fail(q.id, fmt.Errorf("as the caller of %s: %w", viewName(g), err))
					out[f][v][i] = outcome{failed: true}
				default:
					o := outcome{ranked: ds.documents(res.Ranked), strength: res.Strength}
					in := res.StrengthInputs()
					o.coverage, o.agreement = in.Coverage, in.Agreement
					out[f][v][i] = o
				}
				p.step()
			}
		}
	}
	return out, nil
}

// viewName names the caller of a view in messages.
func viewName(groups int) string {
	if groups == 0 {
		return "the whole corpus"
	}
	return fmt.Sprintf("1/%d of the corpus", groups)
}

// sliceJudge says how a sliced evaluation judges its queries: quality(i, groups, o) is
// query i's quality as the caller of that view (false: it has none); positive(i, o) its
// label for the AUC; answerable(i) whether it should be answered (unanswerable questions
// count towards Refused).
type sliceJudge struct {
	quality    func(i, groups int, o outcome) (float64, bool)
	positive   func(i int, o outcome) bool
	answerable func(i int) bool
}

// evaluateSlices ingests a tagged copy of the corpus (prepareSliced), asks the queries as the
// callers of each view with each floor, and prints rep (named by the caller) with its rows.
func (c command) evaluateSlices(ctx context.Context, rt *retrieval, sl *slicing, corpus string, queries []sliceQuery,
	rep *sliceReport, asJSON bool, judge sliceJudge) error {
	threshold, err := minEvidence(c.e.getenv)
	if err != nil {
		return usage(err)
	}
	ds, err := prepareSliced(ctx, corpus, sl, rt.emb, c.e, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer ds.pool.Close()
	out, err := sl.retrieveSlices(ctx, c, ds, rt, queries, &rep.QueryFailures)
	if err != nil {
		return err
	}
	rep.Salt, rep.Threshold = sl.salt, threshold
	rep.Rows = sl.sliceRows(ds, queries, out, threshold, judge)
	if err := rep.print(c.e.stdout, asJSON); err != nil {
		return err
	}
	return partial(rep.QueryFailures, len(sl.floors)*len(sl.views())*len(queries))
}

// sliceRow is what one floor does for the callers of one view.
type sliceRow struct {
	MinIDFChunks int `json:"min_idf_chunks"`
	Groups       int `json:"groups"` // 0: callers who see the whole corpus
	// Chunks is the mean number of chunks the view's callers see, over the queries.
	Chunks  float64 `json:"chunks_seen"`
	Queries int     `json:"queries"`
	// Quality is nDCG@10 (beir; against the relevant documents the caller sees) or the
	// gold-passage recall@k of the answerable questions (qa).
	Quality float64 `json:"quality"`
	// AUC is how well evidence strength separates answerable from unanswerable questions
	// (qa), or queries whose top document is relevant from the others (beir: the label the
	// strength model was fitted on); nil when one of the two classes is empty.
	AUC *float64 `json:"strength_auc"`
	// Strength is the mean evidence strength, Coverage and Agreement the means of two of its
	// inputs (retrieve.StrengthInputs).
	Strength  float64 `json:"strength_mean"`
	Coverage  float64 `json:"coverage_mean"`
	Agreement float64 `json:"agreement_mean"`
	// Answered is the share of answerable questions (beir: every query) whose strength
	// reaches the threshold; Refused the share of unanswerable ones below it (qa only).
	Answered float64  `json:"answered"`
	Refused  *float64 `json:"refused,omitempty"`
	// Flips is the share of queries whose decision (answer or refuse at the threshold)
	// differs from the one the caller who sees the whole corpus gets with the same floor;
	// Delta the mean absolute difference of their strengths.
	Flips float64 `json:"flips"`
	Delta float64 `json:"strength_abs_delta"`
	// Failed counts the retrievals of this row that failed (found nothing, strength 0).
	Failed int `json:"failed"`
}

// sliceReport is what a sliced evaluation prints.
type sliceReport struct {
	Dataset   string     `json:"dataset"`
	Split     string     `json:"split,omitempty"`
	Mode      string     `json:"mode"`
	Salt      string     `json:"group_salt"`
	Quality   string     `json:"quality_metric"`
	Threshold float64    `json:"threshold"`
	Rows      []sliceRow `json:"rows"`
	// The retrievals that failed (each query as the caller of each view, with each floor):
	// each counts as finding nothing with strength 0.
	eval.QueryFailures
}

// minEvidence is the refusal threshold the server would apply (DOCENT_MIN_EVIDENCE).
func minEvidence(getenv func(string) string) (float64, error) {
	v := config.Lookup(getenv, config.MinEvidence)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("%s %q is not a number within [0, 1]", config.MinEvidence, v)
	}
	return f, nil
}

// sliceRows computes the rows of a sliced evaluation, judging the queries by judge.
func (s *slicing) sliceRows(ds *dataset, queries []sliceQuery, out [][][]outcome, threshold float64, judge sliceJudge) []sliceRow {
	var rows []sliceRow
	for f, floor := range s.floors {
		whole := out[f][0]
		for v, g := range s.views() {
			row := sliceRow{MinIDFChunks: floor, Groups: g, Queries: len(queries)}
			var chunks, qual, strengths, coverages, agreements, deltas []float64
			var labels []bool
			var answered, refused, flips, nAnswerable, nUnanswerable int
			for i, q := range queries {
				o := out[f][v][i]
				if o.failed {
					row.Failed++
				}
				chunks = append(chunks, float64(ds.tagChunks[s.principal(g, q.anchor)]))
				if x, ok := judge.quality(i, g, o); ok {
					qual = append(qual, x)
				}
				strengths = append(strengths, o.strength)
				coverages, agreements = append(coverages, o.coverage), append(agreements, o.agreement)
				labels = append(labels, judge.positive(i, o))
				deltas = append(deltas, math.Abs(o.strength-whole[i].strength))
				if (o.strength >= threshold) != (whole[i].strength >= threshold) {
					flips++
				}
				switch {
				case judge.answerable(i):
					nAnswerable++
					if o.strength >= threshold {
						answered++
					}
				default:
					nUnanswerable++
					if o.strength < threshold {
						refused++
					}
				}
			}
			row.Chunks = eval.Mean(chunks)
			row.Quality = eval.Mean(qual)
			if auc := eval.ROCAUC(strengths, labels); !math.IsNaN(auc) {
				row.AUC = &auc
			}
			row.Strength = eval.Mean(strengths)
			row.Coverage, row.Agreement = eval.Mean(coverages), eval.Mean(agreements)
			row.Answered = float64(answered) / float64(max(1, nAnswerable))
			if nUnanswerable > 0 {
				r := float64(refused) / float64(nUnanswerable)
				row.Refused = &r
			}
			row.Flips = float64(flips) / float64(max(1, len(queries)))
			row.Delta = eval.Mean(deltas)
			rows = append(rows, row)
		}
	}
	return rows
}

// print writes the report as JSON or as a table.
func (rep *sliceReport) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return printJSON(w, rep)
	}
	fmt.Fprintf(w, "%s %s, %s, group salt %q; decisions at strength %.2f; flips and Δ against the caller who sees the whole corpus with the same floor\n",
		rep.Dataset, rep.Split, rep.Mode, rep.Salt, rep.Threshold)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "MinIDFChunks\tgroups\tchunks seen\tqueries\t%s\tstrength AUC\tmean strength\tanswered\trefused\tflips\tmean |Δ strength|\t\n", rep.Quality)
	for _, r := range rep.Rows {
		groups, auc, refused := "all", "-", "-"
		if r.Groups > 0 {
			groups = strconv.Itoa(r.Groups)
		}
		if r.AUC != nil {
			auc = fmt.Sprintf("%.3f", *r.AUC)
		}
		if r.Refused != nil {
			refused = fmt.Sprintf("%.3f", *r.Refused)
		}
		floor := strconv.Itoa(r.MinIDFChunks)
		if r.MinIDFChunks == 0 {
			floor = "default"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%d\t%.4f\t%s\t%.3f\t%.3f\t%s\t%.3f\t%.3f\t\n", floor, groups, r.Chunks, r.Queries,
			r.Quality, auc, r.Strength, r.Answered, refused, r.Flips, r.Delta)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Failed > 0 {
		fmt.Fprintf(w, "%d retrievals failed and count as finding nothing, with strength 0; the first, %s: %s\n",
			rep.Failed, rep.Failures[0].ID, rep.Failures[0].Error)
	}
	return nil
}

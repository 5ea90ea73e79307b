package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/retrieve"
)

// foldFlags select queries by their deterministic fold (eval.Fold: a hash of the query id).
type foldFlags struct {
	n     int
	folds string
}

func (f *foldFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.n, "folds", 0, "split the queries into this many folds by a hash of their id (eval.Fold); 0: no folds")
	fs.StringVar(&f.folds, "fold", "", "with --folds, the folds to evaluate, e.g. 0 or 0,1,2 (default: all)")
}

// parse returns the number of folds and the folds chosen (nil: all); n 0 means no folds.
func (f *foldFlags) parse() (int, []int, error) {
	if f.n < 0 {
		return 0, nil, fmt.Errorf("--folds %d: want 0 (none) or more", f.n)
	}
	if f.folds == "" {
		return f.n, nil, nil
	}
	if f.n == 0 {
		return 0, nil, fmt.Errorf("--fold %s needs --folds", f.folds)
	}
	var out []int
	for p := range strings.SplitSeq(f.folds, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || k < 0 || k >= f.n {
			return 0, nil, fmt.Errorf("--fold %q: want fold numbers 0..%d separated by commas", f.folds, f.n-1)
		}
		out = append(out, k)
	}
	return f.n, out, nil
}

// describe names the queries chosen, for reports: "all" or e.g. "folds 0,1 of 5".
func (f *foldFlags) describe(split string) string {
	if f.n == 0 || f.folds == "" {
		return split
	}
	return fmt.Sprintf("%s, folds %s of %d", split, f.folds, f.n)
}

// loadRetrievalSet reads the retrieval set in dir (eval.LoadRetrievalSet) and keeps the
// queries of the chosen folds. A ClapNQ or MTRAG set has no splits: unless --split was given
// (an error for them), its split is "all". It returns the set and the split, as reported.
func loadRetrievalSet(dir, format, split string, splitSet bool, ff foldFlags) (*eval.BEIR, string, error) {
	if format == "" {
		var err error
		if format, err = eval.DetectFormat(dir); err != nil {
			return nil, "", err
		}
	}
	if format != eval.FormatBEIR && !splitSet {
		split = "all"
	}
	n, folds, err := ff.parse()
	if err != nil {
		return nil, "", err
	}
	data, _, err := eval.LoadRetrievalSet(dir, format, split)
	if err != nil {
		return nil, "", err
	}
	if folds != nil {
		if data, err = data.InFolds(n, folds); err != nil {
			return nil, "", err
		}
	}
	return data, ff.describe(split), nil
}

// rankingWriter writes, per query, both legs' rankings of a hybrid retrieval as JSON Lines:
// what `eval fusion` replays to compare fusion settings without querying again.
type rankingWriter struct {
	f       *os.File
	w       *bufio.Writer
	dataset string
	closed  bool
}

// rankedQuery is one line of a rankings file.
type rankedQuery struct {
	Dataset string         `json:"dataset"`
	ID      string         `json:"id"`
	Subset  string         `json:"subset,omitempty"`
	Qrels   map[string]int `json:"qrels"`
	Lexical []rankedHit    `json:"lexical"`
	Dense   []rankedHit    `json:"dense"`
}

// rankedHit is a chunk in a leg's ranking: its id, its document's corpus id and its score.
type rankedHit struct {
	Chunk int64   `json:"c"`
	Doc   string  `json:"d"`
	Score float64 `json:"s"`
}

func createRankings(path, dataset string) (*rankingWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &rankingWriter{f: f, w: bufio.NewWriter(f), dataset: dataset}, nil
}

func (w *rankingWriter) write(q eval.Query, rel map[string]int, res *retrieve.Result, ds *dataset) error {
	leg := func(hits []retrieve.Hit) []rankedHit {
		out := make([]rankedHit, len(hits))
		for i, h := range hits {
			out[i] = rankedHit{Chunk: h.ChunkID, Doc: ds.documents([]retrieve.Hit{h})[0], Score: h.Score}
		}
		return out
	}
	line, err := json.Marshal(rankedQuery{Dataset: w.dataset, ID: q.ID, Subset: q.Subset, Qrels: rel,
		Lexical: leg(res.Lexical), Dense: leg(res.Dense)})
	if err != nil {
		return err
	}
	w.w.Write(line)
	return w.w.WriteByte('\n')
}

func (w *rankingWriter) close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.w.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write rankings %s: %w", w.f.Name(), err)
	}
	return nil
}

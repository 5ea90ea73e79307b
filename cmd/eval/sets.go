package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/retrieve"
)

// loadRetrievalSet reads the retrieval set src names (a dataset directory: BEIR, ClapNQ or
// MTRAG in this format, detected when empty; or question/answer pairs or a Markdown FAQ over
// a corpus, read as `eval answers` reads them) as a BEIR set and returns it with its
// name, as reported. Only a BEIR set has splits: for the others *split becomes "all", and
// an explicit --split (splitSet) is an error. Pairs and FAQs go through AnswerSet.Retrieval:
// a pair judges its sources relevant, a FAQ question the FAQ.
func loadRetrievalSet(src sourceFlags, format string, split *string, splitSet bool) (*eval.BEIR, string, error) {
	if src.dir == "" {
		if splitSet {
			return nil, "", fmt.Errorf("--split %q: question/answer pairs and FAQs have no splits: select queries with --folds", *split)
		}
		if format != "" {
			return nil, "", errors.New("--format is for --dataset")
		}
		*split = "all"
		set, name, err := loadAnswerSet("", src.pairs, src.faq, src.corpus)
		if err != nil {
			return nil, "", err
		}
		data, err := set.Retrieval()
		return data, name, err
	}
	if format == "" {
		var err error
		if format, err = eval.DetectFormat(src.dir); err != nil {
			return nil, "", err
		}
	}
	if format != eval.FormatBEIR && !splitSet {
		*split = "all"
	}
	data, _, err := eval.LoadRetrievalSet(src.dir, format, *split)
	return data, datasetName(src.dir), err
}

// rankingsName names a dataset in its rankings file: the set's name, and a BEIR split's
// (e.g. scifact-test).
func rankingsName(name, split string) string {
	if split == "all" || split == "" {
		return name
	}
	return name + "-" + split
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
	FoldKey string         `json:"fold_key,omitempty"` // eval.Query.FoldKey: empty for the id
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
	line, err := json.Marshal(rankedQuery{Dataset: w.dataset, ID: q.ID, FoldKey: q.FoldKey, Subset: q.Subset, Qrels: rel,
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

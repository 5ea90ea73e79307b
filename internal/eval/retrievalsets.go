package eval

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Retrieval set formats: a directory holds a BEIR set (queries.jsonl and qrels/), ClapNQ
// (questions.jsonl) or MTRAG (tasks.jsonl), each with its corpus.jsonl.
const (
	FormatBEIR   = "beir"
	FormatClapNQ = "clapnq"
	FormatMTRAG  = "mtrag"
)

// DetectFormat names the format of the retrieval set in dir by the files it holds:
// queries.jsonl is BEIR, questions.jsonl ClapNQ, tasks.jsonl MTRAG. A directory with none of
// them, or with more than one, is an error.
func DetectFormat(dir string) (string, error) {
	var found []string
	for _, f := range []struct{ file, format string }{
		{"queries.jsonl", FormatBEIR}, {"questions.jsonl", FormatClapNQ}, {"tasks.jsonl", FormatMTRAG},
	} {
		if _, err := os.Stat(filepath.Join(dir, f.file)); err == nil {
			found = append(found, f.format)
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%s: no queries.jsonl (BEIR), questions.jsonl (ClapNQ) or tasks.jsonl (MTRAG)", dir)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("%s: holds the files of several formats (%s): name one", dir, strings.Join(found, ", "))
	}
}

// LoadRetrievalSet reads the retrieval set in dir in the given format (empty: detected, see
// DetectFormat) as a BEIR set: split names the BEIR qrels file and must be "" or "all" for
// ClapNQ and MTRAG, which have no splits (use folds, see Fold). ClapNQ and MTRAG are read by
// their answer set loaders (LoadClapNQAnswers, LoadMTRAG) and turned into retrieval sets by
// AnswerSet.Retrieval. It returns the format read.
func LoadRetrievalSet(dir, format, split string) (*BEIR, string, error) {
	if format == "" {
		var err error
		if format, err = DetectFormat(dir); err != nil {
			return nil, "", err
		}
	}
	if format != FormatBEIR && split != "" && split != "all" {
		return nil, "", fmt.Errorf("%s: a %s set has no splits (got %q): select queries with folds", dir, format, split)
	}
	var set *AnswerSet
	var err error
	switch format {
	case FormatBEIR:
		b, err := LoadBEIR(dir, split)
		return b, format, err
	case FormatClapNQ:
		set, err = LoadClapNQAnswers(dir)
	case FormatMTRAG:
		set, err = LoadMTRAG(dir)
	default:
		return nil, "", fmt.Errorf("unknown format %q: want %s, %s or %s", format, FormatBEIR, FormatClapNQ, FormatMTRAG)
	}
	if err != nil {
		return nil, "", err
	}
	b, err := set.Retrieval()
	return b, format, err
}

// Retrieval returns the answer set as a BEIR retrieval set over the same corpus: every
// case with gold sources (answerable ones, and MTRAG's underspecified ones with reference
// passages) is a query (in file order), its question as asked (an
// MTRAG follow-up such as "Or installment easier?" is retrieved as it stands: the data has no
// standalone rewrite), each of its gold sources judged relevant (grade 1). The query keeps
// the case's fold key (an MTRAG task's conversation) and its collection as its subset.
// Unanswerable cases are left out: nothing in the corpus is relevant to them. A gold source is a JSON Lines record id or a corpus-relative path, as the ranked
// documents are named (JudgmentID). A set without such a case is an error.
func (s *AnswerSet) Retrieval() (*BEIR, error) {
	b := &BEIR{Qrels: map[string]map[string]int{}, CorpusPath: s.Corpus}
	for _, c := range s.Cases {
		if c.Answerability == Unanswerable || len(c.GoldSources) == 0 {
			continue
		}
		rel := map[string]int{}
		for _, g := range c.GoldSources {
			rel[g] = 1
		}
		b.Queries = append(b.Queries, Query{ID: c.ID, Text: c.Question, Subset: c.Collection, FoldKey: c.FoldKey})
		b.Qrels[c.ID] = rel
	}
	if len(b.Queries) == 0 {
		return nil, fmt.Errorf("%s set over %s: no question with a gold source, so no retrieval query", s.Kind, s.Corpus)
	}
	return b, nil
}

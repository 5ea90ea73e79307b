package eval

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
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
// ClapNQ and MTRAG, which have no splits (use folds, see Fold). It returns the format read.
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
	var b *BEIR
	var err error
	switch format {
	case FormatBEIR:
		b, err = LoadBEIR(dir, split)
	case FormatClapNQ:
		var c *ClapNQ
		if c, err = LoadClapNQ(dir); err == nil {
			b, err = c.Retrieval()
		}
	case FormatMTRAG:
		b, err = LoadMTRAGRetrieval(dir)
	default:
		err = fmt.Errorf("unknown format %q: want %s, %s or %s", format, FormatBEIR, FormatClapNQ, FormatMTRAG)
	}
	return b, format, err
}

// Retrieval returns ClapNQ as a BEIR retrieval set: the same corpus, the answerable
// questions as queries (in file order), each judging its gold passage relevant (grade 1).
// The unanswerable questions are left out: their passage lacks the answer, so nothing in
// the corpus is relevant to them.
func (c *ClapNQ) Retrieval() (*BEIR, error) {
	b := &BEIR{Qrels: map[string]map[string]int{}, CorpusPath: c.CorpusPath, CorpusDocs: c.CorpusDocs}
	for _, q := range c.Questions {
		if len(q.GoldPassageIDs) == 0 {
			continue
		}
		b.Queries = append(b.Queries, Query{ID: q.ID, Text: q.Text})
		rel := map[string]int{}
		for _, p := range q.GoldPassageIDs {
			rel[p] = 1
		}
		b.Qrels[q.ID] = rel
	}
	if len(b.Queries) == 0 {
		return nil, fmt.Errorf("ClapNQ %s: no answerable question, so no retrieval query", c.CorpusPath)
	}
	return b, nil
}

// LoadMTRAGRetrieval reads MTRAG (dir/tasks.jsonl and dir/corpus.jsonl) as a BEIR retrieval
// set. Each task is one query: its question, the conversation's last user turn, as asked
// (MTRAG has no rewritten standalone question, so a follow-up like "Or installment easier?"
// is retrieved as it stands), judging each of its reference passages relevant (grade 1).
// Tasks without reference passages (unanswerable ones) are left out. Query.Subset is the
// task's collection (govt, ibmcloud, clapnq, fiqa). Every task needs an id and, when it has
// reference passages, a question; every reference passage must be in the corpus.
func LoadMTRAGRetrieval(dir string) (*BEIR, error) {
	corpusPath := filepath.Join(dir, "corpus.jsonl")
	ids, err := corpusIDs(corpusPath)
	if err != nil {
		return nil, fmt.Errorf("load MTRAG corpus: %w", err)
	}
	tasksPath := filepath.Join(dir, "tasks.jsonl")
	b := &BEIR{Qrels: map[string]map[string]int{}, CorpusPath: corpusPath, CorpusDocs: len(ids)}
	seen := map[string]bool{}
	err = eachLine(tasksPath, func(_ int, line []byte) error {
		var raw struct {
			TaskID     string `json:"task_id"`
			Question   string `json:"question"`
			Collection string `json:"collection"`
			Contexts   []struct {
				DocumentID string `json:"document_id"`
			} `json:"reference_contexts"`
		}
		if err := decodeJSONLine(line, &raw); err != nil {
			return err
		}
		switch {
		case raw.TaskID == "":
			return errors.New(`task without "task_id"`)
		case seen[raw.TaskID]:
			return fmt.Errorf("duplicate task id %q", raw.TaskID)
		}
		seen[raw.TaskID] = true
		if len(raw.Contexts) == 0 {
			return nil
		}
		if strings.TrimSpace(raw.Question) == "" {
			return fmt.Errorf("task %s: empty \"question\"", raw.TaskID)
		}
		rel := map[string]int{}
		for _, c := range raw.Contexts {
			if _, ok := ids[c.DocumentID]; !ok {
				return fmt.Errorf("task %s: reference passage %q is not in %s", raw.TaskID, c.DocumentID, corpusPath)
			}
			rel[c.DocumentID] = 1
		}
		b.Queries = append(b.Queries, Query{ID: raw.TaskID, Text: raw.Question, Subset: raw.Collection})
		b.Qrels[raw.TaskID] = rel
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load MTRAG tasks: %w", err)
	}
	if len(b.Queries) == 0 {
		return nil, fmt.Errorf("load MTRAG: %s: no task with reference passages", tasksPath)
	}
	return b, nil
}

// Fold returns the fold, in [0, n), of the query (or task) with the given id: FNV-1a (64
// bits) of the id modulo n. It depends on the id only, never on the file's order, so a query
// stays in its fold when a set is reordered or grows. n must be at least 1.
func Fold(id string, n int) int {
	if n < 1 {
		panic("eval.Fold: n < 1")
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64() % uint64(n))
}

// InFolds keeps the queries of b whose fold of n (Fold) is one of folds, and their
// judgments. It is an error for a fold to be outside [0, n) or for none of the queries to
// be kept.
func (b *BEIR) InFolds(n int, folds []int) (*BEIR, error) {
	if n < 1 {
		return nil, fmt.Errorf("folds: %d, want at least 1", n)
	}
	for _, f := range folds {
		if f < 0 || f >= n {
			return nil, fmt.Errorf("fold %d is outside 0..%d", f, n-1)
		}
	}
	out := &BEIR{Qrels: map[string]map[string]int{}, CorpusPath: b.CorpusPath, CorpusDocs: b.CorpusDocs}
	for _, q := range b.Queries {
		if slices.Contains(folds, Fold(q.ID, n)) {
			out.Queries = append(out.Queries, q)
			out.Qrels[q.ID] = b.Qrels[q.ID]
		}
	}
	if len(out.Queries) == 0 {
		return nil, fmt.Errorf("no query in folds %v of %d", folds, n)
	}
	return out, nil
}

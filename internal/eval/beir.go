package eval

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// BEIR is one split of a retrieval dataset in the BEIR layout: a corpus, the queries and
// graded relevance judgments (qrels).
type BEIR struct {
	// Queries are the queries with at least one judged document in the split (whatever
	// its grade, as BEIR's loader keeps them), in the order of queries.jsonl.
	Queries []Query
	// Qrels maps a query id to the judged documents and their integer grades. A grade of
	// 0 or less means judged non-relevant; every metric here counts only grades above 0.
	Qrels map[string]map[string]int
	// CorpusPath is the corpus.jsonl to ingest before evaluating.
	CorpusPath string
	// CorpusDocs is the number of documents in the corpus.
	CorpusDocs int
}

// Query is a BEIR query.
type Query struct {
	ID, Text string
	// Subset names the part of the set the query belongs to, for figures per part (MTRAG's
	// collection); empty for a BEIR set.
	Subset string
	// FoldKey is what the query's fold is drawn from (Fold): empty for its id, an MTRAG
	// task's conversation id (the turns of a conversation stay in one fold).
	FoldKey string
}

// Key is the key of the query's fold (Fold): FoldKey, or the id when that is empty.
func (q Query) Key() string {
	if q.FoldKey != "" {
		return q.FoldKey
	}
	return q.ID
}

// qrelsHeader is the first line of every BEIR qrels file.
const qrelsHeader = "query-id\tcorpus-id\tscore"

// LoadBEIR reads the split (e.g. "test") of the BEIR dataset in dir:
//
//   - dir/corpus.jsonl: lines {"_id","title","text"}; only the ids are read, to check that
//     they are unique and that every judged document exists;
//   - dir/queries.jsonl: lines {"_id","text"};
//   - dir/qrels/<split>.tsv: the header "query-id\tcorpus-id\tscore", then one
//     tab-separated judgment per line with an integer grade.
//
// Malformed input is an error naming the file and the line. So is a judged query without
// text in queries.jsonl, or a judged document missing from the corpus (each listed), and a
// query-document pair judged twice.
func LoadBEIR(dir, split string) (*BEIR, error) {
	return load(dir, split, true)
}

// LoadJudgments reads the queries and qrels of a split like LoadBEIR, without a corpus: the
// judged documents are ones already in an index (the evaluation gate of a reindex judges the
// live index with an admin's own queries). CorpusPath is empty.
func LoadJudgments(dir, split string) (*BEIR, error) {
	return load(dir, split, false)
}

func load(dir, split string, withCorpus bool) (*BEIR, error) {
	if split == "" || strings.ContainsAny(split, `/\`) {
		return nil, fmt.Errorf("load BEIR %s: invalid split %q", dir, split)
	}
	qrelsPath := filepath.Join(dir, "qrels", split+".tsv")
	qrels, judged, err := readQrels(qrelsPath)
	if err != nil {
		return nil, fmt.Errorf("load BEIR qrels: %w", err)
	}

	var corpusPath string
	var ids map[string]struct{}
	if withCorpus {
		corpusPath = filepath.Join(dir, "corpus.jsonl")
		if ids, err = corpusIDs(corpusPath); err != nil {
			return nil, fmt.Errorf("load BEIR corpus: %w", err)
		}
		var missingDocs []string
		for _, q := range judged {
			for doc := range qrels[q] {
				if _, ok := ids[doc]; !ok {
					missingDocs = append(missingDocs, q+"/"+doc)
				}
			}
		}
		if len(missingDocs) > 0 {
			slices.Sort(missingDocs)
			return nil, fmt.Errorf("load BEIR: %d judged documents in %s are not in %s (query/document): %s",
				len(missingDocs), qrelsPath, corpusPath, listSome(missingDocs, 10))
		}
	}
	queriesPath := filepath.Join(dir, "queries.jsonl")
	queries, err := readBEIRQueries(queriesPath, qrels)
	if err != nil {
		return nil, fmt.Errorf("load BEIR queries: %w", err)
	}
	if len(queries) < len(judged) {
		found := make(map[string]bool, len(queries))
		for _, q := range queries {
			found[q.ID] = true
		}
		var missing []string
		for _, q := range judged {
			if !found[q] {
				missing = append(missing, q)
			}
		}
		return nil, fmt.Errorf("load BEIR: %d queries judged in %s have no text in %s: %s",
			len(missing), qrelsPath, queriesPath, listSome(missing, 20))
	}
	return &BEIR{Queries: queries, Qrels: qrels, CorpusPath: corpusPath, CorpusDocs: len(ids)}, nil
}

// readQrels reads a BEIR qrels file. It returns the judgments and the judged query ids in
// the order of their first judgment.
func readQrels(path string) (map[string]map[string]int, []string, error) {
	qrels := make(map[string]map[string]int)
	var order []string
	header := false
	err := eachLine(path, func(_ int, line []byte) error {
		if !header {
			if string(line) != qrelsHeader {
				return fmt.Errorf("header is %q, want %q", line, qrelsHeader)
			}
			header = true
			return nil
		}
		fields := strings.Split(string(line), "\t")
		if len(fields) != 3 {
			return fmt.Errorf("%d tab-separated fields, want 3 (query-id, corpus-id, score)", len(fields))
		}
		q, doc := strings.TrimSpace(fields[0]), strings.TrimSpace(fields[1])
		if q == "" || doc == "" {
			return errors.New("empty query-id or corpus-id")
		}
		grade, err := strconv.Atoi(strings.TrimSpace(fields[2]))
		if err != nil {
			return fmt.Errorf("score is not an integer: %w", err)
		}
		docs := qrels[q]
		if docs == nil {
			docs = make(map[string]int)
			qrels[q] = docs
			order = append(order, q)
		}
		if _, dup := docs[doc]; dup {
			return fmt.Errorf("query %q judges document %q a second time", q, doc)
		}
		docs[doc] = grade
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if !header {
		return nil, nil, fmt.Errorf("%s: empty, want the header %q", path, qrelsHeader)
	}
	if len(qrels) == 0 {
		return nil, nil, fmt.Errorf("%s: no judgments", path)
	}
	return qrels, order, nil
}

// readBEIRQueries reads queries.jsonl and returns, in file order, the queries that qrels
// judges and that have text.
func readBEIRQueries(path string, qrels map[string]map[string]int) ([]Query, error) {
	var queries []Query
	seen := make(map[string]bool)
	err := eachLine(path, func(_ int, line []byte) error {
		var q struct {
			ID   string `json:"_id"`
			Text string `json:"text"`
		}
		if err := decodeJSONLine(line, &q); err != nil {
			return err
		}
		if q.ID == "" {
			return errors.New(`query without "_id"`)
		}
		if seen[q.ID] {
			return fmt.Errorf("duplicate query id %q", q.ID)
		}
		seen[q.ID] = true
		if _, judged := qrels[q.ID]; judged && strings.TrimSpace(q.Text) != "" {
			queries = append(queries, Query{ID: q.ID, Text: q.Text})
		}
		return nil
	})
	return queries, err
}

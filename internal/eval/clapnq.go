package eval

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ClapNQ is the ClapNQ question-answering set (Wikipedia passages, questions with human
// long-form answers, and questions the passages cannot answer).
type ClapNQ struct {
	// Questions are in the order of questions.jsonl.
	Questions []Question
	// CorpusPath is the corpus.jsonl of passages ({"_id","title","text","metadata"}) to
	// ingest before evaluating.
	CorpusPath string
	// CorpusDocs is the number of passages in the corpus.
	CorpusDocs int
}

// Question is one ClapNQ question. The source field of each is named in its comment.
type Question struct {
	ID   string // "id"
	Text string // "question"
	// Answerable is false when the corpus does not answer the question: the right
	// response is to abstain. ("answerable")
	Answerable bool
	// PassageID is the passage the question was annotated against: the gold passage when
	// Answerable, else a related passage that lacks the answer. ("passage_id")
	PassageID string
	// GoldPassageIDs are the passages that support the answer: [PassageID] when
	// Answerable, empty otherwise.
	GoldPassageIDs []string
	// Answers are the human long-form answers, one per annotator; empty when the question
	// is unanswerable. ("answers")
	Answers []string
	// GoldSentences are, per annotator, the sentences of the gold passage that support
	// the answer; empty when unanswerable. ("selected_sentences")
	GoldSentences [][]string
}

// LoadClapNQ reads the ClapNQ set in dir: corpus.jsonl (only the passage ids are read) and
// questions.jsonl. Every question needs an id, text, an "answerable" flag and a passage
// that exists in the corpus; an answerable question needs at least one answer. Malformed
// input is an error naming the file and the line.
func LoadClapNQ(dir string) (*ClapNQ, error) {
	corpusPath := filepath.Join(dir, "corpus.jsonl")
	ids, err := corpusIDs(corpusPath)
	if err != nil {
		return nil, fmt.Errorf("load ClapNQ corpus: %w", err)
	}
	questionsPath := filepath.Join(dir, "questions.jsonl")
	var questions []Question
	seen := make(map[string]bool)
	err = eachLine(questionsPath, func(_ int, line []byte) error {
		var raw struct {
			ID                string     `json:"id"`
			Question          string     `json:"question"`
			Answerable        *bool      `json:"answerable"`
			PassageID         string     `json:"passage_id"`
			Answers           []string   `json:"answers"`
			SelectedSentences [][]string `json:"selected_sentences"`
		}
		if err := decodeJSONLine(line, &raw); err != nil {
			return err
		}
		switch {
		case raw.ID == "":
			return errors.New(`question without "id"`)
		case seen[raw.ID]:
			return fmt.Errorf("duplicate question id %q", raw.ID)
		case strings.TrimSpace(raw.Question) == "":
			return fmt.Errorf("question %s: empty \"question\"", raw.ID)
		case raw.Answerable == nil:
			return fmt.Errorf("question %s: no \"answerable\" flag", raw.ID)
		case raw.PassageID == "":
			return fmt.Errorf("question %s: no \"passage_id\"", raw.ID)
		}
		seen[raw.ID] = true
		if _, ok := ids[raw.PassageID]; !ok {
			return fmt.Errorf("question %s: passage %q is not in %s", raw.ID, raw.PassageID, corpusPath)
		}
		q := Question{
			ID:            raw.ID,
			Text:          raw.Question,
			Answerable:    *raw.Answerable,
			PassageID:     raw.PassageID,
			Answers:       raw.Answers,
			GoldSentences: raw.SelectedSentences,
		}
		if q.Answerable {
			if !hasText(q.Answers) {
				return fmt.Errorf("question %s: answerable but no answer", raw.ID)
			}
			q.GoldPassageIDs = []string{q.PassageID}
		}
		questions = append(questions, q)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load ClapNQ questions: %w", err)
	}
	if len(questions) == 0 {
		return nil, fmt.Errorf("load ClapNQ: %s: no questions", questionsPath)
	}
	return &ClapNQ{Questions: questions, CorpusPath: corpusPath, CorpusDocs: len(ids)}, nil
}

// hasText reports whether any of ss is not blank.
func hasText(ss []string) bool {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return true
		}
	}
	return false
}

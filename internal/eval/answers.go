package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Answer sets: questions with the answers a person would accept, for evaluating answers
// end to end (the eval command's "answers"). Every set is read into the same AnswerSet, so
// that one runner and one set of measures serve them all:
//
//   - ClapNQ (LoadClapNQAnswers): questions.jsonl + corpus.jsonl;
//   - MTRAG (LoadMTRAG): tasks.jsonl (conversations) + corpus.jsonl;
//   - question/answer pairs over any corpus (LoadPairs: the schema is on PairRecord);
//   - a Markdown FAQ (LoadFAQ): each question heading and its first paragraph.

// Answerability is what the right response to a case is.
type Answerability string

const (
	// Answerable: the corpus answers the question.
	Answerable Answerability = "answerable"
	// Unanswerable: the corpus does not; the right response is to refuse.
	Unanswerable Answerability = "unanswerable"
	// Underspecified: the question is ambiguous (MTRAG); the right response is to ask which
	// was meant. Neither answering nor refusing is scored as right: the share answered is
	// reported apart.
	Underspecified Answerability = "underspecified"
)

// Speakers of a history turn.
const (
	SpeakerUser      = "user"
	SpeakerAssistant = "assistant"
)

// HistoryTurn is one earlier message of a conversation.
type HistoryTurn struct {
	Speaker string // SpeakerUser or SpeakerAssistant
	Text    string
}

// AnswerCase is one question of an answer set.
type AnswerCase struct {
	ID string // unique in the set
	// FoldKey is what the case's fold is drawn from (Fold): its id, or its conversation's.
	FoldKey  string
	Question string
	History  []HistoryTurn // the conversation before Question, oldest first; empty for none
	// Answers are the gold answers, any of which is right (the best counts); empty for a
	// case that is not Answerable.
	Answers       []string
	Answerability Answerability
	// Partial marks an Answerable case whose gold passages answer only part of the question
	// (MTRAG's PARTIAL): an evaluation of refusals may leave it out, as neither answering
	// nor refusing is plainly right.
	Partial bool
	// Collection is the corpus collection the case was written against (MTRAG's govt,
	// ibmcloud, clapnq, fiqa), when the set has collections.
	Collection string
	// GoldSources identify the documents that hold the answer: a record id of a JSON Lines
	// corpus (the "_id" after '#' in the document's URI), or a document's URI (its path
	// relative to the corpus folder, e.g. "doc/effective_go.html"). Empty when unknown.
	GoldSources []string
	// Groups are the breakdowns the case is reported in besides the whole set (MTRAG's
	// collection and first turn or follow-up, a pair's "type", a FAQ's section).
	Groups []string
	// Section names the part of the gold source the answer comes from, when known.
	Section string
}

// AnswerSet is a set of cases over a corpus.
type AnswerSet struct {
	Kind string // "clapnq", "mtrag", "pairs" or "faq"
	// Corpus is the path to ingest: a JSON Lines corpus file or a folder of documents.
	Corpus string
	Cases  []AnswerCase // in file order
}

// Conversational reports whether any case has a history.
func (s *AnswerSet) Conversational() bool {
	for _, c := range s.Cases {
		if len(c.History) > 0 {
			return true
		}
	}
	return false
}

// Limits of an answer set's records: a case beyond them is an error naming its line.
const (
	maxCaseQuestionChars = 8000 // the server's request limits (api: question, history turn)
	maxCaseHistory       = 20
	maxCaseAnswers       = 20 // ClapNQ has up to 3 annotators
	maxCaseSources       = 50
)

// LoadClapNQAnswers reads the ClapNQ set in dir (LoadClapNQ) as an answer set: every
// question, answerable with its annotators' answers and its gold passage, or unanswerable.
func LoadClapNQAnswers(dir string) (*AnswerSet, error) {
	data, err := LoadClapNQ(dir)
	if err != nil {
		return nil, err
	}
	set := &AnswerSet{Kind: "clapnq", Corpus: data.CorpusPath}
	for _, q := range data.Questions {
		c := AnswerCase{ID: q.ID, FoldKey: q.ID, Question: q.Text, Answerability: Unanswerable}
		if q.Answerable {
			c.Answerability, c.GoldSources = Answerable, q.GoldPassageIDs
			for _, a := range q.Answers {
				if strings.TrimSpace(a) != "" {
					c.Answers = append(c.Answers, a)
				}
			}
		}
		set.Cases = append(set.Cases, c)
	}
	return set, nil
}

// mtragTask is one line of MTRAG's tasks.jsonl (only the fields read).
type mtragTask struct {
	TaskID         string `json:"task_id"`
	ConversationID string `json:"conversation_id"`
	Collection     string `json:"collection"`
	Answerability  string `json:"answerability"`
	History        []struct {
		Speaker string `json:"speaker"`
		Text    string `json:"text"`
	} `json:"history"`
	Question          string `json:"question"`
	ReferenceContexts []struct {
		DocumentID string `json:"document_id"`
	} `json:"reference_contexts"`
	ReferenceAnswer string `json:"reference_answer"`
}

// LoadMTRAG reads the MTRAG set in dir: corpus.jsonl (only the passage ids are read) and
// tasks.jsonl, each task one turn of a conversation. ANSWERABLE and PARTIAL tasks are
// Answerable (with the reference answer and the reference passages as gold; PARTIAL ones
// marked Partial), UNANSWERABLE ones Unanswerable and UNDERSPECIFIED ones Underspecified;
// their reference answers (a refusal, a clarifying question) are not scored. An answerable
// task must have a reference passage and an unanswerable one none; every reference passage
// must be in the corpus and is a gold source (an underspecified task's too: the passages of
// the readings it could mean; answer measures count gold sources of answerable cases only). A case's groups are its collection and "first turn" or
// "follow-up"; its fold key is its conversation. Malformed input is an error naming the
// file and the line.
func LoadMTRAG(dir string) (*AnswerSet, error) {
	corpusPath := filepath.Join(dir, "corpus.jsonl")
	ids, err := corpusIDs(corpusPath)
	if err != nil {
		return nil, fmt.Errorf("load MTRAG corpus: %w", err)
	}
	tasksPath := filepath.Join(dir, "tasks.jsonl")
	set := &AnswerSet{Kind: "mtrag", Corpus: corpusPath}
	seen := map[string]bool{}
	err = eachLine(tasksPath, func(_ int, line []byte) error {
		c, err := parseMTRAGTask(line, ids)
		if err != nil {
			return err
		}
		if seen[c.ID] {
			return fmt.Errorf("duplicate task id %q", c.ID)
		}
		seen[c.ID] = true
		set.Cases = append(set.Cases, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load MTRAG tasks: %w", err)
	}
	if len(set.Cases) == 0 {
		return nil, fmt.Errorf("load MTRAG: %s: no tasks", tasksPath)
	}
	return set, nil
}

// parseMTRAGTask parses one line of tasks.jsonl; every reference passage must be one of
// corpus (nil: not checked).
func parseMTRAGTask(line []byte, corpus map[string]struct{}) (AnswerCase, error) {
	var t mtragTask
	if err := decodeJSONLine(line, &t); err != nil {
		return AnswerCase{}, err
	}
	c := AnswerCase{ID: t.TaskID, FoldKey: t.ConversationID, Question: t.Question, Collection: t.Collection}
	if c.FoldKey == "" {
		c.FoldKey = t.TaskID
	}
	switch {
	case t.TaskID == "":
		return c, errors.New(`task without "task_id"`)
	case strings.TrimSpace(t.Question) == "":
		return c, fmt.Errorf("task %s: empty \"question\"", t.TaskID)
	case len(t.Question) > maxCaseQuestionChars:
		return c, fmt.Errorf("task %s: a question of more than %d characters", t.TaskID, maxCaseQuestionChars)
	case len(t.History) > maxCaseHistory:
		return c, fmt.Errorf("task %s: %d history turns, more than %d", t.TaskID, len(t.History), maxCaseHistory)
	case len(t.ReferenceContexts) > maxCaseSources:
		return c, fmt.Errorf("task %s: %d reference passages, more than %d", t.TaskID, len(t.ReferenceContexts), maxCaseSources)
	}
	switch t.Answerability {
	case "ANSWERABLE", "PARTIAL":
		c.Answerability, c.Partial = Answerable, t.Answerability == "PARTIAL"
		if strings.TrimSpace(t.ReferenceAnswer) == "" {
			return c, fmt.Errorf("task %s: answerable but no \"reference_answer\"", t.TaskID)
		}
		if len(t.ReferenceContexts) == 0 {
			return c, fmt.Errorf("task %s: answerable but no reference passage", t.TaskID)
		}
		c.Answers = []string{t.ReferenceAnswer}
	case "UNANSWERABLE":
		c.Answerability = Unanswerable
		if len(t.ReferenceContexts) > 0 {
			return c, fmt.Errorf("task %s: unanswerable but with reference passages", t.TaskID)
		}
	case "UNDERSPECIFIED":
		c.Answerability = Underspecified
	default:
		return c, fmt.Errorf("task %s: \"answerability\" %q is not ANSWERABLE, PARTIAL, UNANSWERABLE or UNDERSPECIFIED", t.TaskID, t.Answerability)
	}
	// The reference passages of an answerable task are its gold sources; an underspecified
	// task's (the passages of the readings it could mean) are kept too, for retrieval.
	for _, rc := range t.ReferenceContexts {
		if rc.DocumentID == "" {
			return c, fmt.Errorf("task %s: a reference passage without \"document_id\"", t.TaskID)
		}
		if _, ok := corpus[rc.DocumentID]; corpus != nil && !ok {
			return c, fmt.Errorf("task %s: reference passage %q is not in the corpus", t.TaskID, rc.DocumentID)
		}
		c.GoldSources = append(c.GoldSources, rc.DocumentID)
	}
	for i, h := range t.History {
		turn := HistoryTurn{Text: h.Text}
		switch h.Speaker {
		case "user":
			turn.Speaker = SpeakerUser
		case "agent", "assistant":
			turn.Speaker = SpeakerAssistant
		default:
			return c, fmt.Errorf("task %s: history[%d]: speaker %q is not user or agent", t.TaskID, i, h.Speaker)
		}
		if len(h.Text) > maxCaseQuestionChars {
			return c, fmt.Errorf("task %s: history[%d]: more than %d characters", t.TaskID, i, maxCaseQuestionChars)
		}
		c.History = append(c.History, turn)
	}
	if t.Collection != "" {
		c.Groups = append(c.Groups, t.Collection)
	}
	if len(c.History) > 0 {
		c.Groups = append(c.Groups, "follow-up")
	} else {
		c.Groups = append(c.Groups, "first turn")
	}
	return c, nil
}

// PairRecord is one line of a question/answer pairs file (JSON Lines, one object a line;
// unknown fields are an error, so that a misspelt one is not silently ignored):
//
//	{"id": "go-001", "question": "What does go mod tidy do?",
//	 "answer": "It adds missing module requirements and removes unused ones.",
//	 "sources": ["doc/modules/managing-dependencies.md"], "section": "Removing a dependency",
//	 "type": "how-to"}
//
// id and question are required, ids unique. answer (or answers, several acceptable
// answers) is required unless answerable is false. answerable defaults to true. sources
// name the documents that hold the answer (a corpus-relative path, or a JSON Lines record
// id); section and type are free text (type is reported as a breakdown). history, a list
// of {"role": "user"|"assistant", "content": "..."}, makes the question a follow-up.
type PairRecord struct {
	ID         string   `json:"id"`
	Question   string   `json:"question"`
	Answer     string   `json:"answer,omitempty"`
	Answers    []string `json:"answers,omitempty"`
	Answerable *bool    `json:"answerable,omitempty"`
	Sources    []string `json:"sources,omitempty"`
	Section    string   `json:"section,omitempty"`
	Type       string   `json:"type,omitempty"`
	History    []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"history,omitempty"`
}

// LoadPairs reads a question/answer pairs file (PairRecord) to be asked over corpus (a JSON
// Lines corpus file or a folder of documents).
func LoadPairs(path, corpus string) (*AnswerSet, error) {
	if _, err := os.Stat(corpus); err != nil {
		return nil, fmt.Errorf("load pairs: corpus: %w", err)
	}
	set := &AnswerSet{Kind: "pairs", Corpus: corpus}
	seen := map[string]bool{}
	err := eachLine(path, func(_ int, line []byte) error {
		c, err := parsePair(line)
		if err != nil {
			return err
		}
		if seen[c.ID] {
			return fmt.Errorf("duplicate id %q", c.ID)
		}
		seen[c.ID] = true
		set.Cases = append(set.Cases, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load pairs: %w", err)
	}
	if len(set.Cases) == 0 {
		return nil, fmt.Errorf("load pairs: %s: no pairs", path)
	}
	return set, nil
}

// parsePair parses one line of a pairs file.
func parsePair(line []byte) (AnswerCase, error) {
	var p PairRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return AnswerCase{}, fmt.Errorf("invalid JSON record: %w", err)
	}
	if dec.More() {
		return AnswerCase{}, errors.New("invalid JSON record: more than one value on the line")
	}
	c := AnswerCase{ID: p.ID, FoldKey: p.ID, Question: p.Question, Answerability: Answerable, Section: p.Section}
	answers := p.Answers
	if p.Answer != "" {
		answers = append([]string{p.Answer}, answers...)
	}
	switch {
	case p.ID == "":
		return c, errors.New(`pair without "id"`)
	case !utf8.ValidString(p.ID) || strings.TrimSpace(p.ID) != p.ID:
		return c, fmt.Errorf("pair %q: the id has surrounding blanks", p.ID)
	case strings.TrimSpace(p.Question) == "":
		return c, fmt.Errorf("pair %s: empty \"question\"", p.ID)
	case len(p.Question) > maxCaseQuestionChars:
		return c, fmt.Errorf("pair %s: a question of more than %d characters", p.ID, maxCaseQuestionChars)
	case len(answers) > maxCaseAnswers || len(p.Sources) > maxCaseSources || len(p.History) > maxCaseHistory:
		return c, fmt.Errorf("pair %s: more than %d answers, %d sources or %d history turns", p.ID, maxCaseAnswers, maxCaseSources, maxCaseHistory)
	}
	if p.Answerable != nil && !*p.Answerable {
		c.Answerability = Unanswerable
		if len(answers) > 0 || len(p.Sources) > 0 {
			return c, fmt.Errorf("pair %s: unanswerable, but with an answer or sources", p.ID)
		}
	}
	for _, a := range answers {
		if strings.TrimSpace(a) == "" {
			return c, fmt.Errorf("pair %s: an empty answer", p.ID)
		}
	}
	if c.Answerability == Answerable && len(answers) == 0 {
		return c, fmt.Errorf("pair %s: no \"answer\" (set \"answerable\": false for a question the corpus does not answer)", p.ID)
	}
	c.Answers = answers
	for _, s := range p.Sources {
		if strings.TrimSpace(s) == "" {
			return c, fmt.Errorf("pair %s: an empty source", p.ID)
		}
		c.GoldSources = append(c.GoldSources, s)
	}
	for i, h := range p.History {
		if h.Role != SpeakerUser && h.Role != SpeakerAssistant {
			return c, fmt.Errorf("pair %s: history[%d]: role %q is not user or assistant", p.ID, i, h.Role)
		}
		if len(h.Content) > maxCaseQuestionChars {
			return c, fmt.Errorf("pair %s: history[%d]: more than %d characters", p.ID, i, maxCaseQuestionChars)
		}
		c.History = append(c.History, HistoryTurn{Speaker: h.Role, Text: h.Content})
	}
	if p.Type != "" {
		c.Groups = []string{p.Type}
	}
	return c, nil
}

package eval

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// MTRAG is a set of MTRAG tasks (IBM's multi-turn RAG benchmark, reference setting): each
// task is one turn of a conversation, with the turns before it, the reference passages that
// answer it and whether the passages answer it at all.
type MTRAG struct {
	// Tasks are in the order of tasks.jsonl.
	Tasks []Task
	// CorpusPath is the corpus.jsonl of passages ({"_id","title","text","metadata"}) to
	// ingest before evaluating.
	CorpusPath string
	// CorpusDocs is the number of passages in the corpus.
	CorpusDocs int
}

// Answerability of an MTRAG task.
const (
	Answerable     = "ANSWERABLE"     // the reference passages answer the question
	Unanswerable   = "UNANSWERABLE"   // nothing in the corpus answers it: the right response is to refuse
	Partial        = "PARTIAL"        // the passages answer part of it
	Underspecified = "UNDERSPECIFIED" // the question is ambiguous: the right response asks back
)

// Task is one MTRAG task. The source field of each is named in its comment.
type Task struct {
	ID             string // "task_id"
	ConversationID string // "conversation_id"
	Collection     string // "collection": govt, ibmcloud, clapnq, fiqa
	Answerability  string // "answerability": one of the constants above
	// History is the conversation before the question, oldest first. ("history")
	History []Turn
	// Question is the user's turn to answer, often not standalone ("Or installment
	// easier?"). ("question")
	Question string
	// ReferenceIDs are the corpus passages that answer the question (empty when
	// unanswerable). ("reference_contexts"[].document_id)
	ReferenceIDs []string
	// ReferenceAnswer is the reference response, mostly written by a model and reviewed by
	// annotators. ("reference_answer")
	ReferenceAnswer string
}

// Turn is one turn of a conversation.
type Turn struct {
	Speaker string // "speaker": user or agent
	Text    string // "text"
}

// LoadMTRAG reads the MTRAG set in dir: corpus.jsonl (only the passage ids are read) and
// tasks.jsonl. Every task needs a unique id, a question, a known answerability and turns
// spoken by the user or the agent; every reference passage must be in the corpus, an
// answerable task must have one and an unanswerable task none. Malformed input is an error
// naming the file and the line.
func LoadMTRAG(dir string) (*MTRAG, error) {
	corpusPath := filepath.Join(dir, "corpus.jsonl")
	ids, err := corpusIDs(corpusPath)
	if err != nil {
		return nil, fmt.Errorf("load MTRAG corpus: %w", err)
	}
	tasksPath := filepath.Join(dir, "tasks.jsonl")
	var tasks []Task
	seen := make(map[string]bool)
	err = eachLine(tasksPath, func(_ int, line []byte) error {
		t, err := parseMTRAGTask(line, ids)
		if err != nil {
			return err
		}
		if seen[t.ID] {
			return fmt.Errorf("duplicate task id %q", t.ID)
		}
		seen[t.ID] = true
		tasks = append(tasks, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load MTRAG tasks: %w", err)
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("load MTRAG: %s: no tasks", tasksPath)
	}
	return &MTRAG{Tasks: tasks, CorpusPath: corpusPath, CorpusDocs: len(ids)}, nil
}

// parseMTRAGTask decodes and checks one line of tasks.jsonl against the corpus ids.
func parseMTRAGTask(line []byte, corpus map[string]struct{}) (Task, error) {
	var raw struct {
		ID             string `json:"task_id"`
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
	if err := decodeJSONLine(line, &raw); err != nil {
		return Task{}, err
	}
	switch {
	case raw.ID == "":
		return Task{}, errors.New(`task without "task_id"`)
	case strings.TrimSpace(raw.Question) == "":
		return Task{}, fmt.Errorf("task %s: empty \"question\"", raw.ID)
	}
	switch raw.Answerability {
	case Answerable, Unanswerable, Partial, Underspecified:
	default:
		return Task{}, fmt.Errorf("task %s: answerability %q is not %s, %s, %s or %s",
			raw.ID, raw.Answerability, Answerable, Unanswerable, Partial, Underspecified)
	}
	t := Task{ID: raw.ID, ConversationID: raw.ConversationID, Collection: raw.Collection, Answerability: raw.Answerability,
		Question: raw.Question, ReferenceAnswer: raw.ReferenceAnswer}
	for i, h := range raw.History {
		if h.Speaker != "user" && h.Speaker != "agent" {
			return Task{}, fmt.Errorf("task %s: history turn %d: speaker %q is not user or agent", raw.ID, i+1, h.Speaker)
		}
		t.History = append(t.History, Turn{Speaker: h.Speaker, Text: h.Text})
	}
	for _, c := range raw.ReferenceContexts {
		if _, ok := corpus[c.DocumentID]; !ok {
			return Task{}, fmt.Errorf("task %s: reference passage %q is not in the corpus", raw.ID, c.DocumentID)
		}
		t.ReferenceIDs = append(t.ReferenceIDs, c.DocumentID)
	}
	switch {
	case t.Answerability == Answerable && len(t.ReferenceIDs) == 0:
		return Task{}, fmt.Errorf("task %s: answerable but no reference passage", raw.ID)
	case t.Answerability == Unanswerable && len(t.ReferenceIDs) > 0:
		return Task{}, fmt.Errorf("task %s: unanswerable but with reference passages", raw.ID)
	}
	return t, nil
}

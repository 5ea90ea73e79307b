package eval

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeFiles writes files (slash-separated path relative to a new temporary directory ->
// content) and returns the directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// beirFiles is a small valid BEIR dataset. Its test split judges q3, q1 and q4 (q4 only
// as non-relevant) and not q2; queries.jsonl lists them q1, q2, q3, q4.
func beirFiles() map[string]string {
	return map[string]string{
		"corpus.jsonl": `{"_id": "d1", "title": "One", "text": "first document"}
{"_id": "d2", "title": "Two", "text": "second document"}
{"_id": "d3", "title": "", "text": "third document"}
`,
		"queries.jsonl": `{"_id": "q1", "text": "first query", "metadata": {}}
{"_id": "q2", "text": "unjudged query"}
{"_id": "q3", "text": "third query"}
{"_id": "q4", "text": "fourth query"}
`,
		"qrels/test.tsv": "query-id\tcorpus-id\tscore\nq3\td1\t2\nq1\td2\t1\nq1\td3\t0\nq4\td3\t0\n",
	}
}

func TestLoadBEIR(t *testing.T) {
	t.Parallel()
	crlf := beirFiles()
	for name, content := range crlf {
		crlf[name] = strings.ReplaceAll(content, "\n", "\r\n") + "\r\n\r\n" // and trailing blank lines
	}
	for name, files := range map[string]map[string]string{"LF": beirFiles(), "CRLF": crlf} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, files)
			got, err := LoadBEIR(dir, "test")
			if err != nil {
				t.Fatal(err)
			}
			want := &BEIR{
				Queries: []Query{{ID: "q1", Text: "first query"}, {ID: "q3", Text: "third query"}, {ID: "q4", Text: "fourth query"}},
				Qrels: map[string]map[string]int{
					"q1": {"d2": 1, "d3": 0},
					"q3": {"d1": 2},
					"q4": {"d3": 0},
				},
				CorpusPath: filepath.Join(dir, "corpus.jsonl"),
				CorpusDocs: 3,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("LoadBEIR (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadBEIRErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		split string
		edit  map[string]string // replaces files of beirFiles(); "" removes one
		want  []string          // substrings of the error
	}{
		{"empty split", "", nil, []string{`invalid split ""`}},
		{"split with a path", "../test", nil, []string{`invalid split "../test"`}},
		{"no qrels for the split", "dev", nil, []string{"qrels/dev.tsv"}},
		{"no corpus", "test", map[string]string{"corpus.jsonl": ""}, []string{"corpus.jsonl"}},
		{"bad header", "test", map[string]string{"qrels/test.tsv": "qid\tdocid\tscore\nq1\td1\t1\n"},
			[]string{"test.tsv:1:", `header is "qid\tdocid\tscore"`}},
		{"empty qrels", "test", map[string]string{"qrels/test.tsv": "\n"}, []string{"test.tsv: empty"}},
		{"header only", "test", map[string]string{"qrels/test.tsv": "query-id\tcorpus-id\tscore\n"},
			[]string{"test.tsv: no judgments"}},
		{"two fields", "test", map[string]string{"qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1 d2\t1\n"},
			[]string{"test.tsv:3:", "2 tab-separated fields"}},
		{"score not an integer", "test", map[string]string{"qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t0.5\n"},
			[]string{"test.tsv:2:", "score is not an integer", `"0.5"`}},
		{"empty id", "test", map[string]string{"qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\t\t1\n"},
			[]string{"test.tsv:2:", "empty query-id or corpus-id"}},
		{"judged twice", "test", map[string]string{"qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\nq3\td1\t1\nq1\td1\t0\n"},
			[]string{"test.tsv:4:", `query "q1" judges document "d1" a second time`}},
		{"corpus not JSON", "test", map[string]string{"corpus.jsonl": "{\"_id\": \"d1\"}\n{\"_id\": \"d2\",\n"},
			[]string{"corpus.jsonl:2:", "invalid JSON record"}},
		{"corpus line without _id", "test", map[string]string{"corpus.jsonl": "{\"id\": \"d1\"}\n"},
			[]string{"corpus.jsonl:1:", `document without "_id"`}},
		{"corpus duplicate id", "test", map[string]string{"corpus.jsonl": "{\"_id\": \"d1\"}\n{\"_id\": \"d2\"}\n{\"_id\": \"d3\"}\n\n{\"_id\": \"d1\"}\n"},
			[]string{"corpus.jsonl:5:", `duplicate document id "d1"`}},
		{"judged documents not in the corpus", "test", map[string]string{"corpus.jsonl": "{\"_id\": \"d2\"}\n"},
			[]string{"3 judged documents", "are not in", "(query/document): q1/d3, q3/d1, q4/d3"}}, // sorted
		{"queries not JSON", "test", map[string]string{"queries.jsonl": "{\"_id\": \"q1\", \"text\": \"a\"}\nq3 third query\n"},
			[]string{"queries.jsonl:2:", "invalid JSON record"}},
		{"query id not a string", "test", map[string]string{"queries.jsonl": "{\"_id\": 1, \"text\": \"a\"}\n"},
			[]string{"queries.jsonl:1:", "invalid JSON record"}},
		{"duplicate query", "test", map[string]string{"queries.jsonl": "{\"_id\": \"q1\", \"text\": \"a\"}\n{\"_id\": \"q1\", \"text\": \"b\"}\n"},
			[]string{"queries.jsonl:2:", `duplicate query id "q1"`}},
		// q1 has empty text and q4 is missing; listed in the order of the qrels.
		{"judged queries without text", "test", map[string]string{"queries.jsonl": "{\"_id\": \"q1\", \"text\": \" \"}\n{\"_id\": \"q3\", \"text\": \"third\"}\n"},
			[]string{"2 queries judged in", "have no text in", "queries.jsonl: q1, q4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := beirFiles()
			for name, content := range tc.edit {
				if content == "" {
					delete(files, name)
				} else {
					files[name] = content
				}
			}
			_, err := LoadBEIR(writeFiles(t, files), tc.split)
			if err == nil {
				t.Fatal("LoadBEIR succeeded, want an error")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

// TestLoadBEIRWrapsErrors checks that the cause stays inspectable through the wrapping.
func TestLoadBEIRWrapsErrors(t *testing.T) {
	t.Parallel()
	_, err := LoadBEIR(writeFiles(t, beirFiles()), "train")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadBEIR with no train split: %v, want an error wrapping fs.ErrNotExist", err)
	}
}

package eval

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// These tests read the shared evaluation data (../shared/data, or DOCENT_EVAL_DATA); they
// skip when it is missing, and fail under CI=true.

func TestSciFact(t *testing.T) {
	t.Parallel()
	dir := evaldata.Path(t, "beir/scifact")
	tests := []struct {
		split           string
		queries, judged int // as the data README states (test) or counted with other tools (train)
		firstQueries    []string
	}{
		{split: "test", queries: 300, judged: 339, firstQueries: []string{"1", "3", "5"}},
		{split: "train", queries: 809, judged: 919, firstQueries: []string{"0", "2", "4"}},
	}
	for _, tc := range tests {
		t.Run(tc.split, func(t *testing.T) {
			t.Parallel()
			ds, err := LoadBEIR(dir, tc.split)
			if err != nil {
				t.Fatal(err)
			}
			judged := 0
			for _, docs := range ds.Qrels {
				judged += len(docs)
			}
			if len(ds.Queries) != tc.queries || len(ds.Qrels) != tc.queries || judged != tc.judged {
				t.Errorf("%d queries, %d judged queries, %d judged pairs; want %d, %d, %d",
					len(ds.Queries), len(ds.Qrels), judged, tc.queries, tc.queries, tc.judged)
			}
			if ds.CorpusDocs != 5183 {
				t.Errorf("CorpusDocs = %d, want 5183", ds.CorpusDocs)
			}
			var ids []string
			for _, q := range ds.Queries[:min(3, len(ds.Queries))] {
				ids = append(ids, q.ID)
			}
			if !slices.Equal(ids, tc.firstQueries) {
				t.Errorf("first queries %q, want %q (the order of queries.jsonl)", ids, tc.firstQueries)
			}

			// Every query is judged and has text; returning exactly its relevant
			// documents scores 1 on every metric, and returning none scores 0.
			var ndcg, recall, mrr, none []float64
			for _, q := range ds.Queries {
				rel, ok := ds.Qrels[q.ID]
				if !ok || q.Text == "" {
					t.Fatalf("query %s: judged %v, text %q", q.ID, ok, q.Text)
				}
				var ideal []string
				for doc, g := range rel {
					if g > 0 {
						ideal = append(ideal, doc)
					}
				}
				slices.SortFunc(ideal, func(a, b string) int { return rel[b] - rel[a] })
				ndcg = append(ndcg, NDCG(ideal, rel, 10))
				recall = append(recall, Recall(ideal, rel, 100))
				mrr = append(mrr, MRR(ideal, rel, 10))
				none = append(none, NDCG([]string{"not-a-document"}, rel, 10))
			}
			if m := []float64{Mean(ndcg), Mean(recall), Mean(mrr)}; !slices.Equal(m, []float64{1, 1, 1}) {
				t.Errorf("perfect run: NDCG@10, Recall@100, MRR@10 = %v, want 1, 1, 1", m)
			}
			if m := Mean(none); m != 0 {
				t.Errorf("empty run: NDCG@10 = %v, want 0", m)
			}
		})
	}
}

func TestClapNQ(t *testing.T) {
	t.Parallel()
	dir := evaldata.Path(t, "qa/clapnq")
	ds, err := LoadClapNQ(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Questions) != 300 {
		t.Errorf("%d questions, want 300", len(ds.Questions))
	}
	if ds.CorpusDocs != 597 {
		t.Errorf("CorpusDocs = %d, want 597", ds.CorpusDocs)
	}
	if q := ds.Questions[0]; q.ID != "6401197308716204890" || q.PassageID != "p0001" || !q.Answerable {
		t.Errorf("first question: ID %q, PassageID %q, Answerable %v; want 6401197308716204890, p0001, true",
			q.ID, q.PassageID, q.Answerable)
	}

	// The passage ids of the corpus, read here without the loader.
	corpus := make(map[string]bool)
	f, err := os.Open(ds.CorpusPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var p struct {
			ID string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		corpus[p.ID] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	answerable := 0
	for _, q := range ds.Questions {
		if q.Text == "" || !corpus[q.PassageID] {
			t.Errorf("question %s: text %q, passage %q in corpus: %v", q.ID, q.Text, q.PassageID, corpus[q.PassageID])
		}
		for _, id := range q.GoldPassageIDs {
			if !corpus[id] {
				t.Errorf("question %s: gold passage %q is not in the corpus", q.ID, id)
			}
		}
		if q.Answerable {
			answerable++
			if len(q.GoldPassageIDs) == 0 || len(q.Answers) == 0 || len(q.GoldSentences) == 0 {
				t.Errorf("answerable question %s: %d gold passages, %d answers, %d sentence sets",
					q.ID, len(q.GoldPassageIDs), len(q.Answers), len(q.GoldSentences))
			}
		} else if len(q.GoldPassageIDs) != 0 || len(q.Answers) != 0 {
			t.Errorf("unanswerable question %s: gold passages %q, answers %q", q.ID, q.GoldPassageIDs, q.Answers)
		}
	}
	if answerable != 150 {
		t.Errorf("%d answerable questions, want 150 (half)", answerable)
	}
}

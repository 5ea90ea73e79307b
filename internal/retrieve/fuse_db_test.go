package retrieve_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// randomEmbedder knows nothing of language: each text's vector is noise seeded by the text.
// It stands for an embedder that does not fit a corpus at all.
type randomEmbedder struct{}

func (randomEmbedder) Dimension() int { return 32 }
func (randomEmbedder) Kind() string   { return "test" }
func (randomEmbedder) Model() string  { return "random" }
func (randomEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, s := range texts {
		h := fnv.New64a()
		h.Write([]byte(s))
		r := rand.New(rand.NewPCG(h.Sum64(), 3))
		v := make([]float32, 32)
		var norm float64
		for j := range v {
			v[j] = float32(r.NormFloat64())
			norm += float64(v[j]) * float64(v[j])
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(norm))
		}
		out[i] = v
	}
	return out, nil
}

// TestHybridDoesNotLoseToLexicalWithAnUninformativeEmbedder: on a corpus where the dense leg
// ranks by noise, hybrid retrieval with the default settings finds the documents the
// queries were drawn from as well as the lexical leg alone (nDCG@10 within 0.002), where
// fixed fusion weights (the default before the weight followed the legs' agreement) lose.
func TestHybridDoesNotLoseToLexicalWithAnUninformativeEmbedder(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	files := zipfCorpus(400, 11)
	dir := t.TempDir()
	writeFiles(t, dir, files)
	in, err := ingest.New(ingest.Config{Source: "test", Roots: []string{dir}, Prune: true}, db.Pool, randomEmbedder{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := in.Run(ctx); err != nil || s.Documents.Failed > 0 {
		t.Fatalf("ingest: %v %+v", err, s.Failures)
	}
	// Queries: two words of a document, which is the one relevant document.
	docs := strings.Split(strings.TrimSpace(files["docs.jsonl"]), "\n")
	r := rand.New(rand.NewPCG(5, 5))
	type query struct{ text, uri string }
	var queries []query
	for i := 0; i < len(docs); i += 5 {
		var d struct{ Text string }
		_, rest, _ := strings.Cut(docs[i], `"text":`)
		fmt.Sscanf(rest, "%q", &d.Text)
		words := strings.Fields(d.Text)
		q := make([]string, 2)
		for j := range q {
			q[j] = words[r.IntN(len(words))]
		}
		queries = append(queries, query{strings.Join(q, " "), fmt.Sprintf("docs.jsonl#d%d", i)})
	}
	uris := documentURIs(t, db)
	for id, uri := range uris {
		uris[id] = strings.TrimPrefix(uri, dir+"/")
	}
	ndcg := func(cfg retrieve.Config, mode retrieve.Mode) float64 {
		rt := newRetriever(t, db, randomEmbedder{}, cfg, nil)
		sum := 0.0
		for _, q := range queries {
			res, err := rt.Retrieve(ctx, retrieve.Request{Query: q.text, Principals: []string{"group:a"}, Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[int64]bool{}
			for _, h := range res.Ranked {
				if seen[h.DocumentID] {
					continue
				}
				seen[h.DocumentID] = true
				if len(seen) > 10 {
					break
				}
				if uris[h.DocumentID] == q.uri {
					sum += 1 / math.Log2(float64(len(seen))+1)
					break
				}
			}
		}
		return sum / float64(len(queries))
	}
	lexical := ndcg(retrieve.Config{}, retrieve.Lexical)
	dense := ndcg(retrieve.Config{}, retrieve.Dense)
	hybrid := ndcg(retrieve.Config{}, retrieve.Hybrid)
	fixed := ndcg(retrieve.Config{AgreementDepth: -1}, retrieve.Hybrid)
	t.Logf("%d queries, nDCG@10: lexical %.4f, dense %.4f, hybrid %.4f, hybrid with a fixed dense weight %.4f", len(queries), lexical, dense, hybrid, fixed)
	if lexical < 0.3 || dense > 0.2 {
		t.Fatalf("the corpus does not test fusion: lexical %.4f should find the documents, dense %.4f should not", lexical, dense)
	}
	if hybrid < lexical-0.002 {
		t.Errorf("hybrid nDCG@10 %.4f is below lexical %.4f with a random embedder", hybrid, lexical)
	}
	// The check above can fail: fixed weights let the noise reorder the lexical ranking.
	if fixed >= lexical-0.002 {
		t.Errorf("hybrid with fixed weights %.4f does not lose to lexical %.4f here: the corpus does not test fusion", fixed, lexical)
	}
}

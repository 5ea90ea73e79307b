package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/api"
)

func decodeSearch(t *testing.T, body []byte) api.SearchResponse {
	t.Helper()
	var s api.SearchResponse
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("search: %v\n%s", err, body)
	}
	return s
}

// TestSearchHonoursTheLimit: /v1/search returns up to limit results (1–20, default 10) when
// that many passages match, whatever an answer's evidence count and token budget are, and
// the limit never shows a caller a passage it may not read. (Before, every search stopped at
// the retriever's 8 items of an answer's evidence, within its 2,000-token budget.)
func TestSearchHonoursTheLimit(t *testing.T) {
	t.Parallel()
	extra := map[string]string{}
	// 30 engineering documents and 30 HR documents, each a long passage about the same rare
	// word: more than 20 results for either group, and far more than 2,000 tokens together.
	body := strings.Repeat("The quillwort assay measures spore density in the greenhouse beds. ", 30)
	for i := range 30 {
		extra[fmt.Sprintf("engineering/quillwort-%02d.md", i)] = fmt.Sprintf("# Quillwort note %d\n\n%s\n", i, body)
		extra[fmt.Sprintf("hr/quillwort-secret-%02d.md", i)] = fmt.Sprintf("# Quillwort HR file %d\n\n%s\n", i, body)
	}
	e := newEnv(t, options{extraDocuments: extra})
	search := func(key string, limit int) api.SearchResponse {
		t.Helper()
		req := map[string]any{"query": "quillwort assay spore density"}
		if limit > 0 {
			req["limit"] = limit
		}
		status, _, out := e.post("/v1/search", e.keys[key], req)
		if status != http.StatusOK {
			t.Fatalf("search with limit %d: %d %s", limit, status, out)
		}
		return decodeSearch(t, out)
	}
	for _, tc := range []struct{ limit, want int }{{1, 1}, {0, 10}, {10, 10}, {20, 20}} {
		for key, own := range map[string]string{"eng": "engineering/", "hr": "hr/"} {
			res := search(key, tc.limit)
			if len(res.Results) != tc.want {
				t.Errorf("%s, limit %d: %d results, want %d", key, tc.limit, len(res.Results), tc.want)
			}
			seen := map[int64]bool{}
			for i, r := range res.Results {
				if !strings.HasPrefix(r.Document.URI, own) {
					t.Errorf("%s, limit %d: result %d is %s, which it may not read", key, tc.limit, i+1, r.Document.URI)
				}
				if r.N != i+1 || seen[r.ChunkID] {
					t.Errorf("%s, limit %d: result %d numbered %d, chunk %d (repeated: %v)", key, tc.limit, i+1, r.N, r.ChunkID, seen[r.ChunkID])
				}
				seen[r.ChunkID] = true
			}
		}
	}
	// A caller who may see fewer matching passages than the limit gets those only.
	extraOnly := search("admin", 20) // admin's key holds group:hr only
	for _, r := range extraOnly.Results {
		if !strings.HasPrefix(r.Document.URI, "hr/") {
			t.Errorf("the admin key (group:hr) got %s", r.Document.URI)
		}
	}
	// The limit is validated: 0 is the default, 21 and -1 are refused.
	for _, limit := range []int{21, -1} {
		status, _, out := e.post("/v1/search", e.keys["eng"], map[string]any{"query": "quillwort", "limit": limit})
		if status != http.StatusBadRequest || !strings.Contains(string(out), `"field":"limit"`) {
			t.Errorf("limit %d: %d %s", limit, status, out)
		}
	}
	// An answer's evidence is still bounded by its own count: max_sources 20 gives the model
	// what fits in its prompt, not 20 long passages.
	status, _, out := e.post("/v1/answer", e.keys["eng"], map[string]any{"question": "What does the quillwort assay measure?", "max_sources": 20},
		"Accept", "text/event-stream")
	if status != http.StatusOK {
		t.Fatalf("answer: %d %s", status, out)
	}
	for _, ev := range events(t, out) {
		if ev.Type != "sources" {
			continue
		}
		var sources []api.Source
		if err := json.Unmarshal([]byte(ev.Data), &sources); err != nil {
			t.Fatal(err)
		}
		if len(sources) == 0 || len(sources) > 8 {
			t.Errorf("an answer was given %d sources, want 1 to 8 (its evidence count)", len(sources))
		}
	}
}

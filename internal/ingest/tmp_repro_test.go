package ingest_test

import (
	"path/filepath"
	"testing"
)

func TestTmpRepro(t *testing.T) {
	h := newHarness(t, map[string]string{
		"c/f.jsonl": `{"id": "r0", "title": "A", "text": "alpha", "acl": ["user:kate"]}
{"id": "r1", "title": "B", "text": "beta"}
{"id": "r2", "title": "C", "text": "gamma", "acl": ["group:fin", "group:hr"]}
`,
		".docent-acl": "public\n",
	})
	_, o := h.mustRun()
	t.Logf("run1 %v %v", o, h.tags())
	write(t, filepath.Join(h.dir, "c/f.jsonl"), `{"id": "r0", "title": "A2", "text": "alpha2", "acl": ["user:kate"], "acl": ["public"]}
{"id": "r1", "title": "B", "text": "beta"}
{"id": "r2", "title": "C", "text": "gamma", "acl": ["group:fin", "group:hr"]}
`)
	_, o = h.mustRun()
	t.Logf("run2 %v %v", o, h.tags())
	_, o = h.mustRun()
	t.Logf("run3 %v %v", o, h.tags())
	assertStatsConsistent(t, h.db)
}

package extract

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var hostileJSONL = []string{
	`{"_id": "1", "text": "t", "acl": ["group:hr"]}`, `{"_id": "1", "text": "t", "ACL": ["group:hr"]}`,
	`{"_id": "1", "acl": ["group:hr"], "acl": ["public"]}`, `{"_id": "1", "acl": ["a"], "\u0041CL": ["b"]}`,
	`{"_id": "1", "metadata": {"acl": ["public"]}}`, `{"_id": "1", "extra": {"x": [{"Acl": 1}]}}`,
	`{"_id": "1", "metadata": {"a": [[[[[[[[1]]]]]]]]}}`, `{"_id": "1", "acl": null}`, `{"_id": "1", "acl": "group:hr"}`,
	`{"_id": "1", "text": "acl: [x]"}`, `{"_id": "1", "acls": []}`, `{"id": 2, "_id": "1", "acl": []}` + "\n" + `{"id": 2}`,
}

// FuzzJSONLRecords checks the JSON Lines reader against encoding/json for what ingestion
// relies on: a bounded cost (budgetCheck), and tags exact or refused: a record that is
// accepted has the tags of its single top-level "acl" (read token by token, so that a
// duplicate is seen) and no other key folding to acl anywhere, and a record SplitJSONL
// accepts is one JSONLRecord decodes.
func FuzzJSONLRecords(f *testing.F) {
	seeds := slices.Concat(hostileJSONL, jsonlSeeds(f, "beir/scifact/corpus.jsonl", 50), jsonlSeeds(f, "qa/clapnq/corpus.jsonl", 50))
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var recs []Record
		docs := map[int]Document{}
		errs := map[int]error{}
		budgetCheck(t, len(data), func() {
			recs = SplitJSONL([]byte(data))
			for i, r := range recs {
				docs[i], errs[i] = JSONLRecord(r.Raw)
			}
		})
		for i, r := range recs {
			doc, err := docs[i], errs[i]
			checkFrontMatterError(t, r.Err)
			checkFrontMatterError(t, err)
			if r.Err == nil && err != nil && !IsACLError(err) && !strings.Contains(err.Error(), "is a ") {
				t.Fatalf("line %d: SplitJSONL accepts %q, JSONLRecord fails: %v", r.Line, r.Raw, err)
			}
			if err != nil {
				continue
			}
			keys, dup := jsonACLKeys(t, r.Raw)
			if dup {
				t.Fatalf("line %d: %q gives acl twice, and was accepted", r.Line, r.Raw)
			}
			var ref map[string]any
			if json.Unmarshal(r.Raw, &ref) != nil {
				t.Fatalf("line %d: accepted %q, which encoding/json refuses", r.Line, r.Raw)
			}
			v, hasACL := ref["acl"]
			switch {
			case len(keys) == 0 && doc.ACL != nil:
				t.Fatalf("line %d: tags %q without an acl key in %q", r.Line, doc.ACL, r.Raw)
			case len(keys) > 0 && (len(keys) != 1 || keys[0] != "/acl" || !hasACL):
				t.Fatalf("line %d: accepted %q (tags %q) with acl keys %q", r.Line, r.Raw, doc.ACL, keys)
			case hasACL:
				want, perr := parseACL(v)
				if perr != nil || !cmp.Equal(want, doc.ACL) {
					t.Fatalf("line %d: tags %q, encoding/json reads %q (%v)", r.Line, doc.ACL, want, perr)
				}
			}
			if k := aclKeys(doc.Metadata, ""); len(k) > 0 {
				t.Fatalf("line %d: metadata keeps acl keys %q", r.Line, k)
			}
		}
	})
}

package extract

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// The fuzz targets of this file check front matter (YAML, TOML, JSON) and JSON Lines records
// for what ingestion relies on:
//
//   - no panic, and a bounded cost: time and allocated bytes proportional to the input
//     (budgetCheck), whatever aliases, nesting or size it has;
//   - tags exact or refused: when another decoder (yaml.v3, BurntSushi/toml, encoding/json)
//     finds a key that folds to acl anywhere in the input, the result is either an error or
//     exactly the tags of a single top-level "acl"; when it finds none, no tags.
//
// Their corpora are seeded from the shared evaluation data (the go.dev site's front matter,
// SciFact and ClapNQ records) when it is there: go test -fuzz FuzzFrontMatterYAML ...

// budgetCheck fails t when f allocated or took more than a budget proportional to n bytes
// of input. The budgets are an order of magnitude above what the parsers need, so that they
// catch blow-ups (an alias bomb, quadratic nesting) without flaking on a loaded machine.
func budgetCheck(t *testing.T, n int, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	if limit := uint64(16<<20 + 4096*n); allocated > limit {
		t.Fatalf("%d bytes of input allocated %d bytes (budget %d)", n, allocated, limit)
	}
	if limit := 2*time.Second + time.Duration(n)*50*time.Microsecond; took > limit {
		t.Fatalf("%d bytes of input took %v (budget %v)", n, took, limit)
	}
}

// aclKeys returns the paths of the keys that fold to acl in a decoded value, and the
// top-level "acl" value.
func aclKeys(v any, path string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if isACLKey(k) {
				out = append(out, path+"/"+k)
			}
			out = append(out, aclKeys(e, path+"/"+k)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, aclKeys(e, path+"[]")...)
		}
	}
	return out
}

// checkTags asserts the tags invariant against a reference decoding: keys are the acl-like
// keys the reference found, value its top-level "acl".
func checkTags(t *testing.T, input string, fields map[string]any, err error, keys []string, value any, hasValue bool) {
	t.Helper()
	if err != nil {
		return
	}
	fm, ierr := interpret(fields)
	switch {
	case len(keys) == 0 && ierr == nil && fm.acl != nil:
		t.Fatalf("tags %q from %q, where the reference decoder finds no acl key", fm.acl, input)
	case len(keys) > 0 && ierr == nil && (len(keys) != 1 || keys[0] != "/acl" || !hasValue):
		t.Fatalf("accepted %q (tags %q) although the reference finds acl keys %q", input, fm.acl, keys)
	case len(keys) == 1 && keys[0] == "/acl" && ierr == nil:
		want, perr := parseACL(value)
		if perr != nil || !cmp.Equal(want, fm.acl) {
			t.Fatalf("tags %q from %q, the reference reads %q (%v)", fm.acl, input, want, perr)
		}
	}
	if ierr != nil && !IsACLError(ierr) {
		t.Fatalf("interpret error %v is not an ACLError", ierr)
	}
}

// checkFrontMatterError asserts that an error is an *Error with reason invalid.
func checkFrontMatterError(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if err != nil && (!errors.As(err, &e) || e.Reason != ReasonInvalid) {
		t.Fatalf("error %v (%T) is not an *Error with reason invalid", err, err)
	}
}

// goDevFrontMatter returns the front matter blocks of the go.dev site's files: YAML between
// --- lines and go.dev's JSON comments, for seeds.
func goDevFrontMatter(f *testing.F) (yamlBlocks, jsonBlocks []string) {
	dir := seedDir(f, "docs/go-website/content")
	if dir == "" {
		return nil, nil
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s := string(data)
		if rest, ok := strings.CutPrefix(s, "---\n"); ok {
			if block, _, ok := strings.Cut(rest, "\n---\n"); ok {
				yamlBlocks = append(yamlBlocks, block)
			}
		}
		if rest, ok := strings.CutPrefix(strings.TrimLeft(s, " \n"), "<!--"); ok {
			if block, _, ok := strings.Cut(rest, "-->"); ok {
				jsonBlocks = append(jsonBlocks, block)
			}
		}
		return nil
	})
	return yamlBlocks, jsonBlocks
}

// seedDir returns a folder of the evaluation data, or "" when it is missing (fuzzing then
// starts from the built-in seeds), except under CI=true, where it fails.
func seedDir(f *testing.F, sub string) string {
	p := filepath.Join(evaldata.Dir(), filepath.FromSlash(sub))
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			f.Fatalf("evaluation data missing (CI=true): %v", err)
		}
		return ""
	}
	return p
}

// jsonlSeeds returns the first n records of a JSON Lines file of the evaluation data.
func jsonlSeeds(f *testing.F, sub string, n int) []string {
	p := seedDir(f, sub)
	if p == "" {
		return nil
	}
	file, err := os.Open(p)
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	var out []string
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<20)
	for len(out) < n && sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// hostileYAML are inputs that once broke or fooled the reader.
var hostileYAML = []string{
	"acl: [group:hr]", "acl:[group:hr]", "- acl: [group:hr]", "acl: [group:hr]\nacl: [public]", "ACL: [group:hr]",
	"acl: [group:hr]\nAcl: [public]", "params:\n  acl: [group:hr]", "<<: {acl: [public]}", "acl: &a [x]\nb: *a",
	"a: &a [\"lol\",\"lol\",\"lol\"]\nb: &b [*a,*a,*a]\nc: &c [*b,*b,*b]\nd: [*c,*c,*c]", "acl:", "acl: {a: b}",
	"acl: [1, 2]", "? acl\n: [group:hr]", "\"acl\": x", "acl : x", "title: \"acl: [x]\"", "acl: !!str x",
}

func FuzzFrontMatterYAML(f *testing.F) {
	yamlBlocks, _ := goDevFrontMatter(f)
	for _, s := range slices.Concat(hostileYAML, yamlBlocks) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		in := "---\n" + content + "\n---\nbody\n"
		var fields map[string]any
		var err error
		budgetCheck(t, len(in), func() { fields, _, err = splitFrontMatter(in) })
		checkFrontMatterError(t, err)
		if err != nil || fields == nil {
			return
		}
		// The reference: yaml.v3's own decoder (which refuses duplicate keys and limits
		// aliasing). When it fails where we succeeded, it is on something we read
		// differently on purpose (timestamps) or it is stricter: no reference then.
		if hasLine(content, "---", "...") {
			return // the block ends before the content does: no reference to compare with
		}
		var ref map[string]any
		if yaml.Unmarshal([]byte(content+"\n"), &ref) != nil {
			return
		}
		norm, nerr := normalizeValue(ref, 0)
		if nerr != nil {
			t.Fatalf("we accepted %q, nested deeper than the limit (%v)", content, nerr)
		}
		refMap, _ := norm.(map[string]any)
		v, ok := refMap["acl"]
		checkTags(t, content, fields, err, aclKeys(refMap, ""), v, ok)
	})
}

var hostileTOML = []string{
	"acl = [\"group:hr\"]", "ACL = [\"group:hr\"]", "acl = [\"a\"]\nacl = [\"b\"]", "[acl]\ngroups = [\"hr\"]",
	"[params]\nacl = [\"group:hr\"]", "params.acl = \"x\"", "a = [[[[1]]]]", "a = {b = {c = {d = 1}}}",
	"a.b.c.d.e = 1", "[a.b.c]\nd = 1", "s = \"[[[[\" # {{{{", "m = '''\n[[[\n'''", "acl = \"group:hr\"",
	"\"acl\" = [\"x\"]", "'acl' = [\"x\"]", "\"a\".\"acl\" = 1", "date = 2024-05-01T10:00:00.5Z",
}

func FuzzFrontMatterTOML(f *testing.F) {
	for _, s := range hostileTOML {
		f.Add(s)
	}
	// go.dev has no TOML front matter: its YAML blocks rewritten as TOML strings are seeds.
	yamlBlocks, _ := goDevFrontMatter(f)
	for _, b := range yamlBlocks[:min(len(yamlBlocks), 100)] {
		var lines []string
		for line := range strings.SplitSeq(b, "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && !strings.ContainsAny(k, " -") {
				lines = append(lines, k+" = "+strings.TrimSpace(jsonString(v)))
			}
		}
		f.Add(strings.Join(lines, "\n"))
	}
	f.Fuzz(func(t *testing.T, content string) {
		in := "+++\n" + content + "\n+++\nbody\n"
		var fields map[string]any
		var err error
		budgetCheck(t, len(in), func() { fields, _, err = splitFrontMatter(in) })
		checkFrontMatterError(t, err)
		if err != nil || fields == nil {
			return
		}
		if hasLine(content, "+++") {
			return // the block ends before the content does: no reference to compare with
		}
		var ref map[string]any
		if _, rerr := toml.Decode(content+"\n", &ref); rerr != nil { // the block as splitFrontMatter sees it
			t.Fatalf("we accepted %q, BurntSushi/toml refuses it: %v", content, rerr)
		}
		norm, nerr := normalizeValue(ref, 0)
		if nerr != nil {
			t.Fatalf("we accepted %q, nested deeper than the limit (%v)", content, nerr)
		}
		refMap, _ := norm.(map[string]any)
		v, ok := refMap["acl"]
		checkTags(t, content, fields, err, aclKeys(refMap, ""), v, ok)
	})
}

// hasLine reports whether s has a line that is one of delims (trailing blanks ignored).
func hasLine(s string, delims ...string) bool {
	for line := range strings.SplitSeq(s, "\n") {
		if slices.Contains(delims, strings.TrimRight(line, " \t")) {
			return true
		}
	}
	return false
}

func jsonString(s string) string {
	b, _ := json.Marshal(strings.TrimSpace(s))
	return string(b)
}

var hostileJSON = []string{
	`{"acl": ["group:hr"]}`, `{"ACL": ["group:hr"]}`, `{"acl": ["a"], "acl": ["b"]}`, `{"acl": ["a"], "\u0061cl": ["b"]}`,
	`{"Params": {"acl": ["x"]}}`, `{"a": [[[[[[1]]]]]]}`, `{"Title": "x", "Template": true}`, `{"acl": "group:hr"}`,
	`{"acl": null}`, `{"acl": [1]}`, `{"a": "acl: x"}`, `{"acl ": []}`, `{"Redirect": "/x"}`,
}

func FuzzFrontMatterJSON(f *testing.F) {
	_, jsonBlocks := goDevFrontMatter(f)
	for _, s := range slices.Concat(hostileJSON, jsonBlocks) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		in := "<!--" + content + "-->\nbody\n"
		var fields map[string]any
		var err error
		budgetCheck(t, len(in), func() { fields, _, err = splitJSONComment(in) })
		checkFrontMatterError(t, err)
		if err != nil || fields == nil {
			return
		}
		keys, dup := jsonACLKeys(t, []byte(content))
		if dup {
			t.Fatalf("accepted %q, which gives acl twice", content)
		}
		var ref map[string]any
		if json.Unmarshal([]byte(content), &ref) != nil {
			t.Fatalf("accepted %q, which encoding/json refuses", content)
		}
		v, ok := ref["acl"]
		checkTags(t, content, fields, err, keys, v, ok)
	})
}

// jsonFrame is an open object or array while jsonACLKeys reads tokens.
type jsonFrame struct {
	object  bool
	wantKey bool
	seen    bool // an acl-like key was seen in this object
	path    string
}

// jsonACLKeys returns the paths of the acl-like keys of a JSON document ("/acl" at the top),
// read token by token so that duplicates are seen, and whether an acl-like key repeats in
// one object.
func jsonACLKeys(t *testing.T, b []byte) (keys []string, dup bool) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var stack []jsonFrame
	path := func() string {
		if len(stack) == 0 {
			return ""
		}
		return stack[len(stack)-1].path + "/."
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return keys, dup
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			top := &stack[n-1]
			k, _ := tok.(string)
			top.wantKey = false
			if isACLKey(k) {
				keys = append(keys, top.path+"/"+k)
				dup = dup || top.seen
				top.seen = true
			}
			continue
		}
		switch tok {
		case json.Delim('{'):
			p := path()
			if len(stack) == 0 {
				p = ""
			}
			stack = append(stack, jsonFrame{object: true, wantKey: true, path: p})
			continue
		case json.Delim('['):
			stack = append(stack, jsonFrame{path: path() + "[]"})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
}

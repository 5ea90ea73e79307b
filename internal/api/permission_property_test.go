package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/api"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/metrics"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/trace"
)

// TestPermissionProperty is a property test of the whole permission model: random documents
// in random folders with random tags (valid, invalid and malformed, in front matter, JSON
// Lines records, sidecars, folder files and the run's flags), random callers (API keys and a
// JWT, users and admins), and random re-tags, edits, breakages, repairs and deletions across
// several ingest runs. After every run, each caller searches for and asks about documents
// (JSON, Server-Sent Events, and the same question again, which the cache answers) and each
// admin reads every trace recorded so far. A model computed from what the test wrote, never
// from what Docent stored, says who may see each document: any response that shows a
// document's secret word to a caller the model does not allow is a leak, and fails the test.
//
// Every document carries a unique marker (what callers ask about) and a unique secret word
// (in its title and in the sentence with the marker, never in a question), so a leak is a
// plain substring of a response. The model is the most a caller may see: where the rules
// leave a choice (a lower-precedence tag file being invalid, an upper-case ACL key with
// valid tags), hiding is always allowed. Conversely, a caller the model clearly allows
// must find the document by its marker, so that the test cannot pass by showing nothing.
//
// DOCENT_PROPERTY_SEEDS=N runs N random seeds (printed) instead of the fixed ones.
func TestPermissionProperty(t *testing.T) {
	t.Parallel()
	seeds := []uint64{1, 2}
	if n, err := strconv.Atoi(os.Getenv("DOCENT_PROPERTY_SEEDS")); err == nil && n > 0 {
		seeds = seeds[:0]
		for range n {
			seeds = append(seeds, rand.Uint64())
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			newPropWorld(t, seed).run(4)
		})
	}
}

// The tags the random world draws from, and the folders its files live in ("" is the root).
var (
	propTags    = []string{"public", "group:eng", "group:hr", "group:fin", "user:kate", "user:omar"}
	propFolders = []string{"", "a", "a/b", "c"}
)

// propDecl is one declaration of tags (a document's own, a sidecar, a folder's .docent-acl)
// as the test wrote it.
type propDecl struct {
	present bool
	// grants is what the declaration may give at most: its tags when it is valid (or when the
	// rules leave it a choice), nil when it must hide the document.
	grants []string
	// clean: exactly valid, so the document must be visible to callers it grants.
	clean bool
	text  string // the file (sidecar, folder) or header (front matter) as written
	label string // what it is, for failure messages
}

// propDoc is one document: a file, or one record of a JSON Lines file.
type propDoc struct {
	file    *propFile
	id      string // record id for JSON Lines, else ""
	marker  string
	secret  string
	secrets []string // every secret word it ever had (old versions must not linger)
	own     propDecl
}

type propFile struct {
	rel     string // slash path relative to the root
	kind    string // md, txt, html, jsonl
	docs    []*propDoc
	sidecar propDecl
}

// propCaller is a caller with the principals the model matches.
type propCaller struct {
	name       string
	token      string
	principals []string // public included
	admin      bool
	// conversations are the caller's stored conversations, read back after every run.
	conversations []string
}

type propWorld struct {
	t       *testing.T
	rng     *rand.Rand
	root    string
	files   []*propFile
	gone    []*propDoc // deleted documents: visible to no one
	folders map[string]propDecl
	runTags []string
	callers []*propCaller
	srv     *httptest.Server
	db      *dbtest.DB
	ingest  func() ingest.Summary
	traces  []string // trace ids of every request so far
	words   map[string]bool
	checks  struct{ leaks, found, requests int }
}

func newPropWorld(t *testing.T, seed uint64) *propWorld {
	t.Helper()
	ctx := context.Background()
	w := &propWorld{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), root: t.TempDir(),
		folders: map[string]propDecl{}, words: map[string]bool{}}
	t.Logf("seed %d", seed)
	if w.rng.IntN(2) == 0 {
		w.runTags = []string{w.pickTag()}
	}
	for _, f := range propFolders {
		if w.rng.IntN(3) > 0 {
			w.folders[f] = w.tagFile("folder " + f)
		}
	}
	for range 10 + w.rng.IntN(6) {
		w.addFile()
	}

	w.db = dbtest.New(t)
	logger := slog.New(slog.DiscardHandler)
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	w.ingest = func() ingest.Summary {
		t.Helper()
		in, err := ingest.New(ingest.Config{Source: "prop", Roots: []string{w.root}, ACL: w.runTags, Prune: true}, w.db.Pool, emb, logger)
		if err != nil {
			t.Fatal(err)
		}
		s, err := in.Run(ctx)
		if err != nil {
			t.Fatalf("ingest: %v", err)
		}
		return s
	}
	secret := []byte("a-property-test-secret-of-32+-bytes!!")
	for i := range 6 {
		c := &propCaller{name: fmt.Sprintf("key%d", i), principals: []string{"public"}, admin: i >= 4}
		for _, tag := range propTags[1:] {
			if w.rng.IntN(3) == 0 {
				c.principals = append(c.principals, tag)
			}
		}
		role := index.RoleUser
		if c.admin {
			role = index.RoleAdmin
		}
		key, prefix, hash, err := auth.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := index.CreateAPIKey(ctx, w.db.Pool, c.name, prefix, hash, c.principals[1:], role); err != nil {
			t.Fatal(err)
		}
		c.token = key
		w.callers = append(w.callers, c)
	}
	// A JWT caller: sub kate, group eng.
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "kate", "groups": []string{"eng"},
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	w.callers = append(w.callers, &propCaller{name: "jwt-kate", token: tok, principals: []string{"public", "group:eng", "user:kate"}})

	authn, err := auth.New(ctx, auth.Config{JWTSecret: secret}, auth.DBKeys{DB: w.db.Pool}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authn.Close(context.Background()) })
	// The first ingest run creates the index the retriever needs.
	w.write()
	w.ingest()
	r, err := retrieve.New(retrieve.Config{}, w.db.Pool, emb, nil, "", logger)
	if err != nil {
		t.Fatal(err)
	}
	a, err := answer.New(answer.Config{}, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	traces, err := trace.New(trace.Config{FlushEvery: 10 * time.Millisecond}, w.db.Pool, m, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = traces.Close(context.Background()) })
	h, err := api.New(api.Config{MinEvidence: 0.01, CacheSize: 100, RateLimit: 1e6, RateBurst: 1e6}, w.db.Pool, r, a, authn, traces, m, logger)
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewServer(h)
	t.Cleanup(w.srv.Close)
	return w
}

// run checks the world, then mutates it, re-ingests and checks again, rounds times.
func (w *propWorld) run(rounds int) {
	w.check(0)
	for round := 1; round < rounds; round++ {
		w.mutate()
		w.write()
		w.ingest()
		w.check(round)
	}
	w.t.Logf("%d requests, %d documents found by callers allowed to see them, %d leaks", w.checks.requests, w.checks.found, w.checks.leaks)
	if w.checks.found == 0 {
		w.t.Error("no caller found any document: the test checks nothing")
	}
}

// word returns a new random word of letters, unique in the world, starting with prefix.
func (w *propWorld) word(prefix string) string {
	for {
		b := []byte(prefix)
		for range 9 {
			b = append(b, byte('a'+w.rng.IntN(26)))
		}
		if s := string(b); !w.words[s] {
			w.words[s] = true
			return s
		}
	}
}

func (w *propWorld) pickTag() string { return propTags[w.rng.IntN(len(propTags))] }

func (w *propWorld) pickTags() []string {
	tags := []string{w.pickTag()}
	if w.rng.IntN(3) == 0 {
		tags = append(tags, w.pickTag())
	}
	return tags
}

// tagFile returns a random sidecar or .docent-acl: valid, empty, or invalid.
func (w *propWorld) tagFile(label string) propDecl {
	switch w.rng.IntN(6) {
	case 0:
		return propDecl{present: true, text: "group:finance\nEveryone\n", label: label + " with Everyone"}
	case 1:
		return propDecl{present: true, text: "group:Eng\n", label: label + " with an upper-case tag"}
	case 2:
		return propDecl{present: true, clean: true, text: "# nobody yet\n", label: label + " without tags"}
	}
	tags := w.pickTags()
	return propDecl{present: true, grants: tags, clean: true, text: "# who may read\n" + strings.Join(tags, "\n") + "\n",
		label: label + " " + strings.Join(tags, ",")}
}

// frontMatter returns a random Markdown header declaring (or failing to declare) tags, and
// the declaration it makes.
func (w *propWorld) frontMatter(secret string) (string, propDecl) {
	title := "Notes on " + secret
	tags := w.pickTags()
	list := "[" + strings.Join(tags, ", ") + "]"
	quoted := `["` + strings.Join(tags, `", "`) + `"]`
	valid := func(text, label string) (string, propDecl) {
		return text, propDecl{present: true, grants: tags, clean: true, label: label}
	}
	invalid := func(text, label string) (string, propDecl) {
		return text, propDecl{present: true, label: label}
	}
	switch w.rng.IntN(16) {
	case 0:
		return valid("---\ntitle: "+title+"\nacl: "+list+"\n---\n", "yaml acl "+list)
	case 1:
		return valid("---\ntitle: "+title+"\nacl:\n  - "+strings.Join(tags, "\n  - ")+"\n---\n", "yaml block acl "+list)
	case 2:
		return valid("+++\ntitle = \""+title+"\"\nacl = "+quoted+"\n+++\n", "toml acl "+list)
	case 3:
		return valid("<!--{\n  \"Title\": \""+title+"\",\n  \"acl\": "+quoted+"\n}-->\n", "json comment acl "+list)
	case 4:
		return "---\ntitle: " + title + "\nacl: []\n---\n", propDecl{present: true, clean: true, label: "yaml acl []"}
	case 5:
		// Upper-case key with valid tags: read as the document's tags or refused; either way
		// it may grant no more than its tags.
		return "---\ntitle: " + title + "\nACL: " + list + "\n---\n", propDecl{present: true, grants: tags, label: "yaml ACL " + list}
	case 6:
		return invalid("---\ntitle: "+title+"\nacl: [Everyone]\n---\n", "yaml acl [Everyone]")
	case 7:
		return invalid("---\ntitle: "+title+"\nacl:"+list+"\n---\n", "acl: without a space")
	case 8:
		return invalid("---\ntitle: "+title+"\nacl: "+list+"\n\n", "front matter without its closing ---")
	case 9:
		return invalid("\n---\ntitle: "+title+"\nacl: "+list+"\n---\n", "a blank line before the opening ---")
	case 10:
		return invalid(" ---\ntitle: "+title+"\nacl: "+list+"\n---\n", "a space before the opening ---")
	case 11:
		return invalid("---\ntitle: "+title+"\n- acl: "+list+"\n---\n", "- acl: in front matter")
	case 12:
		return invalid("---\ntitle: "+title+"\nacl: [group:hr]\nacl: [public]\n---\n", "a duplicated acl key")
	case 13:
		return invalid("---\ntitle: "+title+"\nacl: "+list+"\nACL: [public]\n---\n", "acl and ACL keys")
	case 14:
		return invalid("---\ntitle: "+title+"\nacl:\n---\n", "acl without a value")
	}
	return "---\ntitle: " + title + "\n---\n", propDecl{label: "front matter without acl"}
}

// record returns a random JSON Lines record and its declaration.
func (w *propWorld) record(d *propDoc) (string, propDecl) {
	tags := w.pickTags()
	quoted := `["` + strings.Join(tags, `", "`) + `"]`
	text := fmt.Sprintf("The codename %s stands for the %s programme.", d.marker, d.secret)
	base := fmt.Sprintf(`{"id": %q, "title": "Notes on %s", "text": %q`, d.id, d.secret, text)
	switch w.rng.IntN(7) {
	case 0, 1:
		return base + `, "acl": ` + quoted + "}", propDecl{present: true, grants: tags, clean: true, label: "record acl " + quoted}
	case 2:
		return base + `, "ACL": ` + quoted + "}", propDecl{present: true, grants: tags, label: "record ACL " + quoted}
	case 3:
		return base + `, "acl": ` + quoted + `, "acl": ["public"]}`, propDecl{present: true, label: "record with acl twice"}
	case 4:
		return base + `, "acl": ["Everyone"]}`, propDecl{present: true, label: "record acl Everyone"}
	case 5:
		return base + `, "acl": [1]}`, propDecl{present: true, label: "record acl [1]"}
	}
	return base + "}", propDecl{label: "record without acl"}
}

func (w *propWorld) addFile() {
	kinds := []string{"md", "md", "txt", "html", "jsonl"}
	f := &propFile{kind: kinds[w.rng.IntN(len(kinds))]}
	f.rel = path.Join(propFolders[w.rng.IntN(len(propFolders))], w.word("f")+"."+f.kind)
	n := 1
	if f.kind == "jsonl" {
		n = 2 + w.rng.IntN(3)
	}
	for i := range n {
		d := &propDoc{file: f, marker: w.word("zq")}
		if f.kind == "jsonl" {
			d.id = fmt.Sprintf("r%d", i)
		}
		w.rewrite(d)
		f.docs = append(f.docs, d)
	}
	if w.rng.IntN(3) == 0 {
		f.sidecar = w.tagFile("sidecar of " + f.rel)
	}
	w.files = append(w.files, f)
}

// rewrite gives d a new secret word and, where the format allows, a new declaration of its
// own tags.
func (w *propWorld) rewrite(d *propDoc) {
	d.secret = w.word("sx")
	d.secrets = append(d.secrets, d.secret)
	d.own = propDecl{}
	switch d.file.kind {
	case "md":
		text, decl := w.frontMatter(d.secret)
		decl.text = text
		d.own = decl
	case "jsonl":
		text, decl := w.record(d)
		decl.text = text
		d.own = decl
	}
}

// content returns a file's bytes.
func (f *propFile) content() string {
	var b strings.Builder
	for _, d := range f.docs {
		sentence := fmt.Sprintf("The codename %s stands for the %s programme.", d.marker, d.secret)
		switch f.kind {
		case "md":
			b.WriteString(d.own.text)
			fmt.Fprintf(&b, "\n# Notes on %s\n\n%s\n\nThe rest of this page is about something else entirely.\n", d.secret, sentence)
		case "txt":
			fmt.Fprintf(&b, "Notes on %s\n\n%s\n", d.secret, sentence)
		case "html":
			fmt.Fprintf(&b, "<!doctype html><html><head><title>Notes on %s</title></head><body><main><h1>Notes on %s</h1><p>%s</p></main></body></html>\n",
				d.secret, d.secret, sentence)
		case "jsonl":
			b.WriteString(d.own.text + "\n")
		}
	}
	return b.String()
}

// mutate changes a random part of the world.
func (w *propWorld) mutate() {
	for range 3 + w.rng.IntN(5) {
		switch w.rng.IntN(7) {
		case 0: // edit a document (new secret, new own tags)
			if docs := w.docs(); len(docs) > 0 {
				w.rewrite(docs[w.rng.IntN(len(docs))])
			}
		case 1: // re-tag, break or repair a sidecar
			if len(w.files) > 0 {
				f := w.files[w.rng.IntN(len(w.files))]
				if f.sidecar.present && w.rng.IntN(3) == 0 {
					f.sidecar = propDecl{}
				} else {
					f.sidecar = w.tagFile("sidecar of " + f.rel)
				}
			}
		case 2: // re-tag, break, repair or remove a folder's tags
			folder := propFolders[w.rng.IntN(len(propFolders))]
			if _, ok := w.folders[folder]; ok && w.rng.IntN(3) == 0 {
				delete(w.folders, folder)
			} else {
				w.folders[folder] = w.tagFile("folder " + folder)
			}
		case 3: // delete a file
			if len(w.files) > 1 {
				i := w.rng.IntN(len(w.files))
				w.gone = append(w.gone, w.files[i].docs...)
				w.files = slices.Delete(w.files, i, i+1)
			}
		default: // a new file
			w.addFile()
		}
	}
}

// write makes the folder match the world.
func (w *propWorld) write() {
	t := w.t
	t.Helper()
	if err := os.RemoveAll(w.root); err != nil {
		t.Fatal(err)
	}
	put := func(rel, content string) {
		p := filepath.Join(w.root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(w.root, 0o755); err != nil {
		t.Fatal(err)
	}
	for folder, d := range w.folders {
		put(path.Join(folder, ".docent-acl"), d.text)
	}
	for _, f := range w.files {
		put(f.rel, f.content())
		if f.sidecar.present {
			put(f.rel+".acl", f.sidecar.text)
		}
	}
}

func (w *propWorld) docs() []*propDoc {
	var out []*propDoc
	for _, f := range w.files {
		out = append(out, f.docs...)
	}
	return out
}

// chain returns the declarations that decide d's tags, in order of precedence, up to and
// including the first one present (the one whose tags apply), and the run's tags when none is.
func (w *propWorld) chain(d *propDoc) (decls []propDecl, runTags bool) {
	if d.own.present {
		return []propDecl{d.own}, false
	}
	if d.file.sidecar.present {
		return []propDecl{d.file.sidecar}, false
	}
	for dir := path.Dir(d.file.rel); ; dir = path.Dir(dir) {
		if dir == "." {
			dir = ""
		}
		if decl, ok := w.folders[dir]; ok {
			return []propDecl{decl}, false
		}
		if dir == "" {
			return nil, true
		}
	}
}

// grants returns the most d may be visible to (tags), and whether the model is sure that
// those tags apply, so that a caller holding one of them must find d. The rules leave a
// choice when a tag file of lower precedence than the one that decides (the sidecar, the
// nearest .docent-acl) is invalid: hiding the document then is allowed too.
func (w *propWorld) grants(d *propDoc) (tags []string, sure bool) {
	decls, run := w.chain(d)
	if run {
		return w.runTags, len(w.runTags) > 0
	}
	sure = decls[0].clean
	if d.file.sidecar.present && !d.file.sidecar.clean {
		sure = false
	}
	if folder, ok := w.nearestFolder(d); ok && !folder.clean {
		sure = false
	}
	return decls[0].grants, sure
}

// nearestFolder returns the .docent-acl nearest to d's file, if there is one.
func (w *propWorld) nearestFolder(d *propDoc) (propDecl, bool) {
	for dir := path.Dir(d.file.rel); ; dir = path.Dir(dir) {
		if dir == "." {
			dir = ""
		}
		if decl, ok := w.folders[dir]; ok {
			return decl, true
		}
		if dir == "" {
			return propDecl{}, false
		}
	}
}

// allowed reports whether principals may see d.
func (w *propWorld) allowed(d *propDoc, principals []string) bool {
	tags, _ := w.grants(d)
	for _, tag := range tags {
		if slices.Contains(principals, tag) {
			return true
		}
	}
	return false
}

// leaks fails the test for every secret word in body that principals may not see.
func (w *propWorld) leaks(body []byte, principals []string, what string) {
	w.t.Helper()
	w.checks.requests++
	for _, d := range w.docs() {
		for _, s := range d.secrets {
			if bytes.Contains(body, []byte(s)) && (s != d.secret || !w.allowed(d, principals)) {
				w.checks.leaks++
				tags, _ := w.grants(d)
				decls, _ := w.chain(d)
				w.reportLeak("LEAK in %s: %s (principals %v) sees %s of %s (current secret %v; may be seen by %v; decided by %v)\nfile: %q\nsidecar: %q\nfolders: %v",
					what, w.callerOf(principals), principals, s, w.uri(d), s == d.secret, tags, labels(decls),
					d.file.content(), d.file.sidecar.text, w.folderTexts())
			}
		}
	}
	for _, d := range w.gone {
		for _, s := range d.secrets {
			if bytes.Contains(body, []byte(s)) {
				w.checks.leaks++
				w.reportLeak("LEAK in %s: principals %v see %s of the deleted %s", what, principals, s, w.uri(d))
			}
		}
	}
}

// reportLeak fails the test; past the first few leaks it only counts them (the total is
// reported at the end), so that one broken rule does not bury the output.
func (w *propWorld) reportLeak(format string, args ...any) {
	w.t.Helper()
	if w.checks.leaks > 10 {
		w.t.Fail()
		return
	}
	w.t.Errorf(format, args...)
}

// folderTexts returns each folder's .docent-acl as written.
func (w *propWorld) folderTexts() map[string]string {
	out := map[string]string{}
	for folder, d := range w.folders {
		out["/"+folder] = d.text
	}
	return out
}

func labels(decls []propDecl) []string {
	var out []string
	for _, d := range decls {
		out = append(out, d.label)
	}
	return out
}

func (w *propWorld) callerOf(principals []string) string {
	for _, c := range w.callers {
		if slices.Equal(c.principals, principals) {
			return c.name
		}
	}
	return "?"
}

func (w *propWorld) uri(d *propDoc) string {
	if d.id != "" {
		return d.file.rel + "#" + d.id
	}
	return d.file.rel
}

// check has every caller search for and ask about a sample of documents (always including
// the first few, so that questions repeat across rounds and meet the cache), then every admin
// read every trace so far.
func (w *propWorld) check(round int) {
	docs := w.docs()
	for _, c := range w.callers {
		sample := docs[:min(3, len(docs))]
		for range 5 {
			sample = append(sample, docs[w.rng.IntN(len(docs))])
		}
		for _, d := range sample {
			w.checkSearch(c, d, round)
			q := map[string]any{"question": "What does the codename " + d.marker + " stand for?"}
			for _, stream := range []bool{false, false, true} { // the second is answered from the cache
				body := w.request(c, "/v1/answer", q, stream)
				w.leaks(body, c.principals, fmt.Sprintf("round %d answer (stream %v) about %s", round, stream, w.uri(d)))
				if !stream {
					w.noteTrace(body)
					w.noteConversation(c, body)
				}
			}
		}
		// A question about every document at once, with the filters of the source.
		var markers []string
		for _, d := range docs {
			markers = append(markers, d.marker)
		}
		body := w.request(c, "/v1/answer", map[string]any{"question": strings.Join(markers, " "), "max_sources": 20,
			"filters": map[string]any{"sources": []string{"prop"}}}, false)
		w.leaks(body, c.principals, fmt.Sprintf("round %d answer about every document", round))
		w.noteTrace(body)
	}
	// Every conversation so far, restored by its owner: its documents may have been re-tagged,
	// edited or deleted since.
	for _, c := range w.callers {
		for _, id := range c.conversations {
			status, body := w.getPath(c, "/v1/conversations/"+id)
			if status != http.StatusOK {
				w.t.Fatalf("conversation %s of %s: status %d: %s", id, c.name, status, body)
			}
			w.leaks(body, c.principals, fmt.Sprintf("round %d conversation %s restored by %s", round, id, c.name))
		}
	}
	time.Sleep(50 * time.Millisecond) // traces are written in the background
	for _, c := range w.callers {
		if !c.admin {
			continue
		}
		for _, id := range w.traces {
			status, body := w.getTrace(c, id)
			if status == http.StatusNotFound {
				continue // not written yet
			}
			if status != http.StatusOK {
				w.t.Fatalf("trace %s: status %d: %s", id, status, body)
			}
			w.leaks(body, c.principals, fmt.Sprintf("round %d trace %s read by admin", round, id))
		}
	}
	// Deleted documents are gone for everyone.
	for _, d := range w.gone {
		for _, c := range w.callers {
			body := w.request(c, "/v1/search", map[string]any{"query": d.marker}, false)
			w.leaks(body, c.principals, fmt.Sprintf("round %d search for deleted %s", round, w.uri(d)))
		}
	}
}

// checkSearch searches for d's marker as c: no leak, and d is found when the model is sure c
// may see it.
func (w *propWorld) checkSearch(c *propCaller, d *propDoc, round int) {
	body := w.request(c, "/v1/search", map[string]any{"query": d.marker, "limit": 5}, false)
	w.leaks(body, c.principals, fmt.Sprintf("round %d search for %s", round, w.uri(d)))
	w.noteTrace(body)
	if _, sure := w.grants(d); sure && w.allowed(d, c.principals) {
		if !bytes.Contains(body, []byte(d.secret)) {
			decls, run := w.chain(d)
			w.t.Errorf("round %d: %s (principals %v) may see %s (decided by %v, run tags %v) but its search found it not: %s\nfile: %q",
				round, c.name, c.principals, w.uri(d), labels(decls), run, body, d.file.content())
		} else {
			w.checks.found++
		}
	}
}

func (w *propWorld) noteTrace(body []byte) {
	var r struct {
		TraceID string `json:"trace_id"`
	}
	if json.Unmarshal(body, &r) == nil && r.TraceID != "" {
		w.traces = append(w.traces, r.TraceID)
	}
}

func (w *propWorld) request(c *propCaller, route string, body any, stream bool) []byte {
	w.t.Helper()
	accept := ""
	if stream {
		accept = "text/event-stream"
	}
	x := request(w.t, http.MethodPost, w.srv.URL+route, c.token, body, "Accept", accept)
	if x.status != http.StatusOK {
		data, _ := json.Marshal(body)
		w.t.Fatalf("%s %s as %s: status %d: %s", route, data, c.name, x.status, x.body)
	}
	return x.body
}

// noteConversation keeps the conversation an answer to c was stored in.
func (w *propWorld) noteConversation(c *propCaller, body []byte) {
	var r struct {
		ConversationID *string `json:"conversation_id"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.ConversationID == nil {
		w.t.Fatalf("an answer to %s without a conversation: %s", c.name, body)
	}
	c.conversations = append(c.conversations, *r.ConversationID)
}

func (w *propWorld) getTrace(c *propCaller, id string) (int, []byte) {
	return w.getPath(c, "/v1/traces/"+id)
}

func (w *propWorld) getPath(c *propCaller, path string) (int, []byte) {
	w.t.Helper()
	x := request(w.t, http.MethodGet, w.srv.URL+path, c.token, nil)
	return x.status, x.body
}

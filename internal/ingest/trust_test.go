package ingest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
)

// The tests of this file attack ingestion as someone who can write into an ingested share,
// and as a careless author or operator would: links out of the share, FIFOs, broken tag
// files and front matter, hostile names. What they check is what a caller could see.

// visible returns the tags of the chunks whose text contains s and that someone can see
// (non-empty tags), by document URI.
func (h *harness) visible(s string) map[string]string {
	h.t.Helper()
	rows, err := h.db.Pool.Query(context.Background(), `
		SELECT d.uri, array_to_string(c.acl, ',') FROM chunks c JOIN documents d ON d.id = c.document_id
		WHERE strpos(c.text, $1) > 0 AND c.acl <> '{}'`, s)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var uri, tags string
		if err := rows.Scan(&uri, &tags); err != nil {
			h.t.Fatal(err)
		}
		out[uri] = tags
	}
	return out
}

// aclSource returns the stored acl_source of a document, or "" when it is not stored.
func (h *harness) aclSource(uri string) string {
	h.t.Helper()
	var src string
	err := h.db.Pool.QueryRow(context.Background(), `SELECT acl_source FROM documents WHERE uri = $1`, uri).Scan(&src)
	if err != nil && !strings.Contains(err.Error(), "no rows") {
		h.t.Fatal(err)
	}
	return src
}

func refusedReasons(s ingest.Summary) map[string]string {
	out := map[string]string{}
	for _, f := range s.Refused {
		out[f.URI] = f.Reason
	}
	return out
}

// secretFile writes a file outside every root, as /etc/shadow is.
func secretFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shadow")
	write(t, p, "root:$6$saltsalt$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nsecretword nologin\n")
	return p
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestSymlinksOutOfTheRootAreRefused is finding 1: a link to /etc/shadow in a public folder
// published the machine's shadow file. Links, FIFOs and devices are never read through:
// the ones that leave the run's folders, loop or lead nowhere are listed; a stored document
// whose file became such a link is no longer served.
func TestSymlinksOutOfTheRootAreRefused(t *testing.T) {
	t.Parallel()
	for _, prune := range []bool{true, false} {
		t.Run(map[bool]string{true: "prune", false: "no-prune"}[prune], func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, map[string]string{
				"handbook/.docent-acl":       "public\n",
				"handbook/team-contacts.txt": "Call Ada on extension 42.\n",
				"handbook/holidays.md":       "# Holidays\n\nEvery employee gets 27 vacation days.\n",
				"hr/.docent-acl":             "group:hr\n",
				"hr/salaries.md":             "# Salary bands\n\nA senior engineer earns 118,000 euros.\n",
			})
			withPrune := func(c *ingest.Config) { c.Prune = prune }
			h.mustRun(withPrune)
			secret := secretFile(t)
			// The attack of finding 1, and its variants.
			symlink(t, secret, filepath.Join(h.dir, "handbook/team-contacts.txt"))                   // a stored file becomes a link out
			symlink(t, secret, filepath.Join(h.dir, "handbook/new-contacts.txt"))                    // a new link out
			symlink(t, filepath.Dir(secret), filepath.Join(h.dir, "handbook/etc"))                   // a folder link out
			symlink(t, "../hr/salaries.md", filepath.Join(h.dir, "handbook/bands.md"))               // a link into another folder
			symlink(t, "loop-b", filepath.Join(h.dir, "handbook/loop-a"))                            // a loop
			symlink(t, "loop-a", filepath.Join(h.dir, "handbook/loop-b"))                            //
			symlink(t, "..", filepath.Join(h.dir, "handbook/up"))                                    // a folder link to an ancestor
			symlink(t, "nowhere.md", filepath.Join(h.dir, "handbook/dangling.md"))                   // a link to nothing
			symlink(t, "/dev/zero", filepath.Join(h.dir, "handbook/zero.txt"))                       // a device, outside
			if err := syscall.Mkfifo(filepath.Join(h.dir, "handbook/pipe.txt"), 0o644); err != nil { // opening it would block
				t.Fatal(err)
			}

			done := make(chan struct{})
			var s ingest.Summary
			var outcomes map[string]string
			go func() {
				defer close(done)
				s, outcomes = h.mustRun(withPrune)
			}()
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				t.Fatal("the run hung (on the FIFO?)")
			}

			for _, secretWord := range []string{"nologin", "99999", "secretword"} {
				if v := h.visible(secretWord); len(v) > 0 {
					t.Fatalf("the shadow file is searchable: %v", v)
				}
			}
			if v := h.visible("118,000"); len(v) != 1 || v["hr/salaries.md"] != "group:hr" {
				t.Errorf("the salary bands are visible as %v; want only hr/salaries.md for group:hr", v)
			}
			wantRefused := map[string]string{
				"handbook/team-contacts.txt": "outside_root", "handbook/new-contacts.txt": "outside_root", "handbook/etc": "outside_root",
				"handbook/loop-a": "symlink_loop", "handbook/loop-b": "symlink_loop", "handbook/up": "symlink_loop",
				"handbook/dangling.md": "broken_symlink", "handbook/zero.txt": "outside_root", "handbook/pipe.txt": "not_regular",
			}
			if got := refusedReasons(s); !mapsEqual(got, wantRefused) {
				t.Errorf("refused paths %v, want %v", got, wantRefused)
			}
			if outcomes["handbook/bands.md"] != "skipped:symlink" {
				t.Errorf("the link to hr/salaries.md: %q, want skipped:symlink", outcomes["handbook/bands.md"])
			}
			if s.Status != index.RunSucceeded {
				t.Errorf("status %s: refusing links is not a failure", s.Status)
			}
			// The stored document whose file became a link out: deleted with --prune, else
			// hidden; never served.
			switch src := h.aclSource("handbook/team-contacts.txt"); {
			case prune && src != "":
				t.Errorf("with --prune the document whose file became a link out is still stored (%s)", src)
			case !prune && src != "hidden":
				t.Errorf("without --prune the document whose file became a link out has acl_source %q, want hidden", src)
			}
			if v := h.visible("extension 42"); len(v) > 0 {
				t.Errorf("the old version of the replaced file is still served: %v", v)
			}
			runs, err := index.RecentRuns(context.Background(), h.db.Pool, 1, 100)
			if err != nil {
				t.Fatal(err)
			}
			recorded := map[string]string{}
			for _, f := range runs[0].Failures {
				recorded[f.URI] = f.Reason
			}
			if !mapsEqual(recorded, wantRefused) {
				t.Errorf("recorded with the run: %v, want %v", recorded, wantRefused)
			}

			// The link is replaced by a regular file again: read, tagged and served again.
			if err := os.Remove(filepath.Join(h.dir, "handbook/team-contacts.txt")); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(h.dir, "handbook/team-contacts.txt"), "Call Ada on extension 42.\n")
			h.mustRun(withPrune)
			if v := h.visible("extension 42"); v["handbook/team-contacts.txt"] != "public" {
				t.Errorf("restored file: %v, want public", v)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSymlinkedRootIsResolved: a PATH that is itself a link is the folder it points to; the
// confinement is that folder.
func TestSymlinkedRootIsResolved(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{".docent-acl": "public\n", "a.md": "# A\n\nThe depot opens at six.\n"})
	link := filepath.Join(t.TempDir(), "docs")
	symlink(t, h.dir, link)
	s, _ := h.mustRun(func(c *ingest.Config) { c.Roots = []string{link} })
	if s.Documents.Added != 1 {
		t.Fatalf("a linked PATH: %+v", s.Documents)
	}
}

// TestTagFilesAreConfined: tag files obey the same rules: one that is a link out of the run's
// folders, a FIFO, or unreadable fails the files it applies to, which are hidden.
func TestTagFilesAreConfined(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"hr/.docent-acl":       "group:hr\n",
		"hr/salaries.md":       "# Salary bands\n\nA senior engineer earns 118,000 euros.\n",
		"eng/deploy.md":        "# Deploying\n\nRun make deploy from the release branch.\n",
		"eng/.docent-acl":      "group:eng\n",
		"ops/.docent-acl":      "group:ops\n",
		"ops/runbook.md":       "# Runbook\n\nRestart the fleet manager at midnight.\n",
		"shared/public.acl.in": "public\n",
	})
	h.mustRun()
	outside := filepath.Join(t.TempDir(), "everyone")
	write(t, outside, "public\n")
	symlink(t, outside, filepath.Join(h.dir, "hr/.docent-acl"))                // a tag file that is a link out
	symlink(t, outside, filepath.Join(h.dir, "eng/deploy.md.acl"))             // a sidecar that is a link out
	if err := os.Remove(filepath.Join(h.dir, "ops/.docent-acl")); err != nil { // a tag file that is a FIFO
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(h.dir, "ops/.docent-acl"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, outcomes := h.mustRun()
	for _, uri := range []string{"hr/salaries.md", "eng/deploy.md", "ops/runbook.md"} {
		if outcomes[uri] != "failed:invalid_acl" {
			t.Errorf("%s: %s, want failed:invalid_acl", uri, outcomes[uri])
		}
	}
	for _, word := range []string{"118,000", "make deploy", "midnight"} {
		if v := h.visible(word); len(v) > 0 {
			t.Errorf("%q is visible: %v", word, v)
		}
	}
	if len(s.Hidden) != 3 {
		t.Errorf("hidden: %v", s.Hidden)
	}
	// A tag file that is a link inside the run's folders is read.
	symlink(t, "../shared/public.acl.in", filepath.Join(h.dir, "eng/deploy.md.acl"))
	_, outcomes = h.mustRun()
	if v := h.visible("make deploy"); v["eng/deploy.md"] != "public" {
		t.Errorf("sidecar linked inside the root: %v (outcome %s)", v, outcomes["eng/deploy.md"])
	}
}

// TestInvalidSidecarHidesTheDocument is finding 2: an invalid sidecar kept the document's
// previous, broader tags, and a later change of its folder's tags skipped it.
func TestInvalidSidecarHidesTheDocument(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"hr/.docent-acl":                "group:hr\n",
		"hr/disciplinary-procedure.md":  "# Disciplinary procedure\n\nA first warning is given in writing.\n",
		"hr/onboarding.md":              "# Onboarding\n\nNew starters get a laptop on day one.\n",
		"hr/policy.md":                  "---\nacl: [group:hr-leads]\n---\n# Policy\n\nPolicies are reviewed every April.\n",
		"hr/policy.md.acl":              "group:hr\n",
		"public/.docent-acl":            "public\n",
		"public/holidays.md":            "# Holidays\n\n27 vacation days.\n",
		"public/notes.txt":              "Lunch is at noon.\n",
		"public/notes.txt.acl":          "public\n",
		"public/sub/.docent-acl.backup": "whatever\n",
	})
	h.mustRun()
	write(t, filepath.Join(h.dir, "hr/disciplinary-procedure.md.acl"), "group:finance\nEveryone\n")
	write(t, filepath.Join(h.dir, "hr/policy.md.acl"), "group:hr\nEveryone\n") // invalid beside valid front matter
	write(t, filepath.Join(h.dir, "public/.docent-acl"), "public\nEveryone\n") // invalid above a valid sidecar
	s, outcomes := h.mustRun()
	for _, uri := range []string{"hr/disciplinary-procedure.md", "hr/policy.md", "public/holidays.md", "public/notes.txt"} {
		if outcomes[uri] != "failed:invalid_acl" {
			t.Errorf("%s: %s, want failed:invalid_acl", uri, outcomes[uri])
		}
	}
	tags := h.tags()
	for _, uri := range []string{"hr/disciplinary-procedure.md", "hr/policy.md", "public/holidays.md", "public/notes.txt"} {
		if tags[uri] != "" || h.aclSource(uri) != "hidden" {
			t.Errorf("%s has tags %q (%s): want none (hidden)", uri, tags[uri], h.aclSource(uri))
		}
	}
	if tags["hr/onboarding.md"] != "group:hr" {
		t.Errorf("onboarding: %q", tags["hr/onboarding.md"])
	}
	if s.Status != index.RunPartial {
		t.Errorf("status %s", s.Status)
	}

	// The folder's tags change: applied to the other documents; the one with the invalid
	// sidecar stays hidden (and is not reported unchanged).
	write(t, filepath.Join(h.dir, "hr/.docent-acl"), "group:hr-leads\n")
	_, outcomes = h.mustRun()
	tags = h.tags()
	if tags["hr/onboarding.md"] != "group:hr-leads" || tags["hr/disciplinary-procedure.md"] != "" {
		t.Errorf("after the folder's change: onboarding %q, disciplinary %q", tags["hr/onboarding.md"], tags["hr/disciplinary-procedure.md"])
	}
	if outcomes["hr/disciplinary-procedure.md"] != "failed:invalid_acl" {
		t.Errorf("disciplinary procedure on the next run: %s", outcomes["hr/disciplinary-procedure.md"])
	}

	// Fixed: the sidecar's tags apply, without re-embedding the unchanged text.
	h.emb.embedded()
	write(t, filepath.Join(h.dir, "hr/disciplinary-procedure.md.acl"), "group:finance\n")
	write(t, filepath.Join(h.dir, "hr/policy.md.acl"), "group:hr\n")
	write(t, filepath.Join(h.dir, "public/.docent-acl"), "public\n")
	_, outcomes = h.mustRun()
	tags = h.tags()
	for uri, want := range map[string]string{"hr/disciplinary-procedure.md": "group:finance", "hr/policy.md": "group:hr-leads", "public/holidays.md": "public", "public/notes.txt": "public"} {
		if tags[uri] != want {
			t.Errorf("fixed: %s has %q (%s), want %q", uri, tags[uri], outcomes[uri], want)
		}
	}
	if n := h.emb.embedded(); n != 0 {
		t.Errorf("restoring tags re-embedded %d texts", n)
	}
}

// TestMalformedTagDeclarationsAreInvalid is finding 3: malformed front matter and JSON Lines
// tags fell back to the folder's tags (public in a public folder).
func TestMalformedTagDeclarationsAreInvalid(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		".docent-acl":     "public\n",
		"ok.md":           "---\nacl: [group:hr]\n---\n# OK\n\nokword is for hr.\n",
		"nospace.md":      "---\nacl:[group:hr]\n---\n# A\n\nwordnospace\n",
		"unclosed.md":     "---\nacl: [group:hr]\n\n# B\n\nwordunclosed\n",
		"blankfirst.md":   "\n---\nacl: [group:hr]\n---\n# C\n\nwordblankfirst\n",
		"spacefirst.md":   " ---\nacl: [group:hr]\n---\n# D\n\nwordspacefirst\n",
		"listitem.md":     "---\n- acl: [group:hr]\n---\n# E\n\nwordlistitem\n",
		"duplicated.md":   "---\nacl: [group:hr]\nacl: [public]\n---\n# F\n\nwordduplicated\n",
		"uppercase.md":    "---\nACL: [group:hr]\n---\n# G\n\nworduppercase\n",
		"toml.md":         "+++\nAcl = [\"group:hr\"]\n+++\n# H\n\nwordtoml\n",
		"gohtml.html":     "<!--{\"acl\": [\"group:hr\"], \"acl\": [\"public\"]}-->\n<p>wordgohtml</p>\n",
		"records.jsonl":   "{\"_id\": \"r1\", \"text\": \"wordrecordupper\", \"ACL\": [\"group:hr\"]}\n{\"_id\": \"r2\", \"text\": \"wordrecordtwice\", \"acl\": [\"group:hr\"], \"acl\": [\"public\"]}\n{\"_id\": \"r3\", \"text\": \"wordrecordok\", \"acl\": [\"group:hr\"]}\n",
		"metadataacl.md":  "---\nparams:\n  acl: [group:hr]\n---\n# I\n\nwordnested\n",
		"afterblock.md":   "---\ntitle: J\n---\nacl: [group:hr]\n\nwordafterblock\n",
		"noblock.md":      "acl: [group:hr]\n\n# K\n\nwordnoblock\n",
		"htmlcomment.md":  "<!-- acl: group:hr -->\n\n# L\n\nwordhtmlcomment\n",
		"meta.html":       "<html><head><meta name=\"acl\" content=\"group:hr\"></head><body><p>wordmeta</p></body></html>",
		"plain-about.txt": "acl: [group:hr]\n\nwordplaintext: a plain text file cannot declare tags; its folder's apply\n",
		// Tags no caller's identity can equal: KELVIN SIGN for k, a decomposed accent.
		"kelvin.md":          "---\nacl: [\"user:\u212Aate\"]\n---\n# M\n\nwordkelvin\n",
		"decomposed.txt":     "worddecomposed\n",
		"decomposed.txt.acl": "user:jose\u0301\n",
	}
	h := newHarness(t, files)
	s, outcomes := h.mustRun()
	invalid := []string{"nospace.md", "unclosed.md", "blankfirst.md", "spacefirst.md", "listitem.md", "duplicated.md", "uppercase.md",
		"toml.md", "gohtml.html", "records.jsonl#r1", "records.jsonl#r2", "metadataacl.md", "afterblock.md", "noblock.md", "htmlcomment.md", "meta.html", "kelvin.md", "decomposed.txt"}
	for _, uri := range invalid {
		if outcomes[uri] != "failed:invalid_acl" {
			t.Errorf("%s: %q, want failed:invalid_acl", uri, outcomes[uri])
		}
	}
	for _, word := range []string{"wordnospace", "wordunclosed", "wordblankfirst", "wordspacefirst", "wordlistitem", "wordduplicated",
		"worduppercase", "wordtoml", "wordgohtml", "wordrecordupper", "wordrecordtwice", "wordnested", "wordafterblock", "wordnoblock",
		"wordhtmlcomment", "wordmeta", "wordkelvin", "worddecomposed"} {
		if v := h.visible(word); len(v) > 0 {
			t.Errorf("%s is visible: %v", word, v)
		}
	}
	if v := h.visible("okword"); v["ok.md"] != "group:hr" {
		t.Errorf("ok.md: %v", v)
	}
	if v := h.visible("wordrecordok"); v["records.jsonl#r3"] != "group:hr" {
		t.Errorf("records.jsonl#r3: %v", v)
	}
	if v := h.visible("wordplaintext"); v["plain-about.txt"] != "public" {
		t.Errorf("plain-about.txt: %v", v)
	}
	if len(s.Failures) != len(invalid) {
		t.Errorf("%d failures, want %d: %+v", len(s.Failures), len(invalid), s.Failures)
	}

	// A stored document whose front matter breaks is hidden, not given its folder's public.
	write(t, filepath.Join(h.dir, "ok.md"), "---\nacl:[group:hr]\n---\n# OK\n\nokword is for hr.\n")
	write(t, filepath.Join(h.dir, "records.jsonl"), "{\"_id\": \"r3\", \"text\": \"wordrecordok\", \"acl\": [\"group:hr\"], \"Acl\": []}\n")
	_, outcomes = h.mustRun()
	if outcomes["ok.md"] != "failed:invalid_acl" || outcomes["records.jsonl#r3"] != "failed:invalid_acl" {
		t.Errorf("broken later: ok.md %s, r3 %s", outcomes["ok.md"], outcomes["records.jsonl#r3"])
	}
	if v := h.visible("okword"); len(v) > 0 {
		t.Errorf("okword visible after its front matter broke: %v", v)
	}
	if v := h.visible("wordrecordok"); len(v) > 0 {
		t.Errorf("r3 visible after its record broke: %v", v)
	}
}

// TestEmptyOwnTagsStayEmpty: a document that declares `acl: []` (visible to no one) in a
// public folder was given the folder's tags by the next run of the unchanged file.
func TestEmptyOwnTagsStayEmpty(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		".docent-acl":  "public\n",
		"draft.md":     "---\nacl: []\n---\n# Draft\n\nworddraft\n",
		"drafts.jsonl": "{\"_id\": \"1\", \"text\": \"wordrecorddraft\", \"acl\": []}\n",
	})
	for run := range 3 {
		h.mustRun()
		for _, word := range []string{"worddraft", "wordrecorddraft"} {
			if v := h.visible(word); len(v) > 0 {
				t.Fatalf("run %d: %s is visible: %v", run+1, word, v)
			}
		}
	}
}

// TestFailedSelfTaggingExtractionHides: a file that can declare its own tags and fails to
// extract (here a YAML alias bomb, finding 9) is hidden: its new version may restrict it.
func TestFailedSelfTaggingExtractionHides(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{".docent-acl": "public\n", "plan.md": "# Plan\n\nThe merger closes in May.\n"})
	h.mustRun()
	var bomb strings.Builder
	bomb.WriteString("---\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		prev := string(rune('a' + i))
		bomb.WriteString(name + ": &" + name + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ",") + "]\n")
	}
	bomb.WriteString("acl: [group:board]\n---\n# Plan\n\nThe merger closes in May.\n")
	write(t, filepath.Join(h.dir, "plan.md"), bomb.String())
	start := time.Now()
	_, outcomes := h.mustRun()
	if outcomes["plan.md"] != "failed:invalid_acl" { // a block that fails and declares acl
		t.Errorf("alias bomb: %q", outcomes["plan.md"])
	}
	if v := h.visible("merger"); len(v) > 0 {
		t.Errorf("the previous public version is still served: %v", v)
	}
	t.Logf("run with the alias bomb took %v", time.Since(start))
}

// TestDeepFrontMatterFailsAlone is finding 13: TOML front matter nested 50,000 deep failed as
// a write_error from PostgreSQL and made the batch retry one document at a time.
func TestDeepFrontMatterFailsAlone(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		".docent-acl": "public\n",
		"deep.md":     "+++\na = " + strings.Repeat("[", 50000) + strings.Repeat("]", 50000) + "\n+++\n# Deep\n\ntext\n",
		"deep.jsonl":  "{\"_id\": \"1\", \"text\": \"x\", \"meta\": " + strings.Repeat("[", 50000) + strings.Repeat("]", 50000) + "}\n",
		"deepmeta.md": "---\nmeta: " + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + "\n---\n# Deep\n\ntext\n",
	}
	for i := range 5 {
		files["ok"+string(rune('a'+i))+".md"] = "# Fine\n\nA fine document.\n"
	}
	h := newHarness(t, files)
	s, outcomes := h.mustRun()
	for _, uri := range []string{"deep.md", "deep.jsonl#1", "deepmeta.md"} {
		if outcomes[uri] != "failed:invalid" {
			t.Errorf("%s: %q, want failed:invalid", uri, outcomes[uri])
		}
	}
	if s.Documents.Added != 5 || s.Documents.Failed != 3 {
		t.Errorf("summary %+v", s.Documents)
	}
	for _, f := range s.Failures {
		if f.Reason == "write_error" {
			t.Errorf("%s reached the database: %s", f.URI, f.Message)
		}
	}
}

// TestHostileNames is finding 12: a name that is not UTF-8 failed every run; names of
// 252-255 bytes failed as invalid_acl (their sidecar name is too long to exist).
func TestHostileNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("n", 252) + ".md" // 255 bytes
	h := newHarness(t, map[string]string{
		".docent-acl":              "group:staff\n",
		"bad\xff\xfename.md":       "# Bad\n\nwordbadname\n",
		"bad\xff/inside.md":        "# Inside\n\nwordinside\n",
		long:                       "# Long\n\nwordlongname\n",
		strings.Repeat("m", 252):   "wordlong252\n",
		"esc\x1b[31mred\x1b[0m.md": "# Escape\n\nwordescape\n",
	})
	s, outcomes := h.mustRun()
	if s.Status != index.RunSucceeded {
		t.Fatalf("status %s (%+v)", s.Status, s.Failures)
	}
	want := map[string]string{`bad\xff\xfename.md`: "invalid_name", `bad\xff`: "invalid_name"}
	if got := refusedReasons(s); !mapsEqual(got, want) {
		t.Errorf("refused %v, want %v", got, want)
	}
	for _, word := range []string{"wordlongname", "wordlong252", "wordescape"} {
		if v := h.visible(word); len(v) != 1 {
			t.Errorf("%s: %v (outcomes %v)", word, v, outcomes)
		}
	}
	runs, err := index.RecentRuns(context.Background(), h.db.Pool, 1, 10)
	if err != nil || len(runs) != 1 || runs[0].Status != index.RunSucceeded {
		t.Fatalf("recorded: %+v %v", runs, err)
	}
}

// TestRunsAreAlwaysFinished is finding 12 and "What to build": whatever goes wrong once the
// run has started, it ends recorded, and its summary says how.
func TestRunsAreAlwaysFinished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lastRun := func(h *harness) index.Run {
		t.Helper()
		runs, err := index.RecentRuns(ctx, h.db.Pool, 1, 100)
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs %+v, %v", runs, err)
		}
		return runs[0]
	}
	t.Run("embedder panics", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, sampleCorpus)
		h.emb.panics = true
		s, _, err := h.run()
		if err == nil || !strings.Contains(err.Error(), "panic") || s.Status != index.RunFailed || s.Error == "" {
			t.Fatalf("err %v, summary %+v", err, s)
		}
		if r := lastRun(h); r.Status != index.RunFailed || !strings.Contains(r.Error, "panic") {
			t.Errorf("recorded %s %q", r.Status, r.Error)
		}
	})
	t.Run("progress callback panics", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, sampleCorpus)
		s, _, err := h.run(func(c *ingest.Config) { c.Progress = func(ingest.Progress) { panic("bar") } })
		if err != nil || s.Status != index.RunSucceeded {
			t.Fatalf("err %v, summary %+v", err, s)
		}
	})
	t.Run("prune fails", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, sampleCorpus)
		h.mustRun()
		if _, err := h.db.Pool.Exec(ctx, `
			CREATE FUNCTION no_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'deletes are refused'; END $$;
			CREATE TRIGGER no_delete BEFORE DELETE ON documents FOR EACH ROW EXECUTE FUNCTION no_delete();`); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(h.dir, "handbook/notes.txt")); err != nil {
			t.Fatal(err)
		}
		s, _, err := h.run()
		if err == nil || s.Status != index.RunFailed || !strings.Contains(s.Error, "deletes are refused") {
			t.Fatalf("err %v, summary %+v", err, s)
		}
		if r := lastRun(h); r.Status != index.RunFailed {
			t.Errorf("recorded %s", r.Status)
		}
	})
	t.Run("failure messages that are not UTF-8", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, map[string]string{".docent-acl": "public\n", "r.jsonl": "{\"_id\": {\"\xff\xfe\": 1}}\n{\"_id\": \"ok\", \"text\": \"fine\"}\n"})
		s, _, err := h.run()
		if err != nil || s.Status != index.RunPartial {
			t.Fatalf("err %v, summary %+v", err, s)
		}
		if r := lastRun(h); r.Status != index.RunPartial || len(r.Failures) != 1 {
			t.Errorf("recorded %s %+v", r.Status, r.Failures)
		}
	})
}

// TestNothingRefusedIsReadTwice: a folder reachable through several links is read once,
// under its own path.
func TestNothingRefusedIsReadTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{".docent-acl": "public\n", "docs/a.md": "# A\n\nwordonce\n"})
	symlink(t, "docs", filepath.Join(h.dir, "alias"))
	symlink(t, "docs/a.md", filepath.Join(h.dir, "b.md"))
	_, outcomes := h.mustRun()
	if v := h.visible("wordonce"); len(v) != 1 {
		t.Errorf("read %d times: %v", len(v), v)
	}
	keys := make([]string, 0, len(outcomes))
	for k, v := range outcomes {
		keys = append(keys, k+"="+v)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"alias=skipped:symlink", "b.md=skipped:symlink", "docs/a.md=added"}) {
		t.Errorf("outcomes %v", keys)
	}
}

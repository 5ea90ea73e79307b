package main

import (
	"context"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// reindex.Config checks itself now; the commands word its errors with their own flags, and
// refuse them before connecting to anything (the database here does not answer).
func TestReindexFlagsAreRefusedBeforeConnecting(t *testing.T) {
	t.Parallel()
	const nowhere = "postgres://docent@127.0.0.1:1/none"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"reindex", "--batch-size", "0"}, "--batch-size must be at least 1"},
		{[]string{"reindex", "--batch-size", "-3"}, "--batch-size must be at least 1"},
		{[]string{"reindex", "--dimension", "-1"}, "--dimension and --tolerance cannot be negative"},
		{[]string{"reindex", "--tolerance", "-0.5"}, "--dimension and --tolerance cannot be negative"},
		{[]string{"reindex", "--hnsw-m", "0"}, "--hnsw-m must be between 2 and 100, --hnsw-ef-construction between twice --hnsw-m and 1000"},
		{[]string{"reindex", "--hnsw-m", "101"}, "--hnsw-m must be between 2 and 100"},
		{[]string{"reindex", "--hnsw-m", "70"}, "between twice --hnsw-m and 1000"}, // the default ef_construction, 128, is below 140
		{[]string{"reindex", "--hnsw-ef-construction", "0"}, "between twice --hnsw-m and 1000"},
		{[]string{"reindex", "--hnsw-ef-construction", "1001"}, "between twice --hnsw-m and 1000"},
		{[]string{"reindex", "--rechunk", "--chunk-target-tokens", "600", "--chunk-max-tokens", "500"}, "chunk config:"},
		{[]string{"reindex", "--chunk-target-tokens", "60"}, "need --rechunk"},
		{[]string{"activate", "2", "--eval", "gate", "--tolerance", "-1"}, "--tolerance cannot be negative"},
	} {
		code, _, stderr := runIngest(t, nowhere, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, "ingest "+tc.args[0]+": "+tc.want) && !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, exitUsage, tc.want)
		}
		if strings.Contains(stderr, "127.0.0.1:1") {
			t.Errorf("%v: connected before checking the flags: %s", tc.args, stderr)
		}
	}
}

// TestURLPrefixFlag: --url-prefix must be an http(s) URL without a query or a fragment,
// refused before connecting; a valid one gives the files their URLs, and the printed summary
// lists a document's dropped javascript: url as a warning.
func TestURLPrefixFlag(t *testing.T) {
	t.Parallel()
	const nowhere = "postgres://docent@127.0.0.1:1/none"
	dir := t.TempDir()
	for _, p := range []string{"javascript:alert(1)//", "docs.example/", "https://docs.example/?v=1", "https://docs.example/#top"} {
		code, _, stderr := runIngest(t, nowhere, "run", "--url-prefix", p, dir)
		if code != exitUsage || !strings.Contains(stderr, "ingest run: --url-prefix: ") || strings.Contains(stderr, "127.0.0.1:1") {
			t.Errorf("--url-prefix %q: exit %d, stderr %q", p, code, stderr)
		}
	}

	db := dbtest.New(t)
	writeFiles(t, dir, map[string]string{
		".docent-acl":  "public\n",
		"a dir/b é.md": "# B\n\nSome text.\n",
		"evil.md":      "---\nurl: javascript:alert(1)\n---\n# Evil\n\nText.\n",
	})
	code, stdout, stderr := runIngest(t, db.URL, "run", "--source", "docs", "--url-prefix", "https://docs.example/kb", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "evil.md: invalid_url: url dropped: the url's scheme \"javascript\" is not allowed") {
		t.Errorf("the summary does not warn about the dropped url:\n%s", stdout)
	}
	var u string
	if err := db.Pool.QueryRow(context.Background(), `SELECT url FROM documents WHERE uri = 'a dir/b é.md'`).Scan(&u); err != nil {
		t.Fatal(err)
	}
	if u != "https://docs.example/kb/a%20dir/b%20%C3%A9.md" {
		t.Errorf("url %q", u)
	}
}

// DOCENT_TAG_GRAPHS must be a count; a wrong one is refused by every command that builds
// graphs, before connecting.
func TestTagGraphsSettingIsChecked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, v := range []string{"many", "-1", "1001", "1.5"} {
		for _, args := range [][]string{{"run", dir}, {"reindex"}, {"activate", "2"}} {
			code, _, stderr := runIngestEnv(t, map[string]string{"DOCENT_DATABASE_URL": "postgres://docent@127.0.0.1:1/none", "DOCENT_TAG_GRAPHS": v}, args...)
			if code != exitUsage || !strings.Contains(stderr, "DOCENT_TAG_GRAPHS: "+`"`+v+`" is not a number from 0 to 1000`) || strings.Contains(stderr, "127.0.0.1:1") {
				t.Errorf("DOCENT_TAG_GRAPHS=%s, %v: exit %d, stderr %q", v, args, code, stderr)
			}
		}
	}
	for v, want := range map[string]int{"": 16, "16": 16, "0": -1, " 3 ": 3} {
		opt, err := tagIndexes(func(k string) string {
			if k == "DOCENT_TAG_GRAPHS" {
				return v
			}
			return ""
		})
		if err != nil || opt.MaxTags != want {
			t.Errorf("DOCENT_TAG_GRAPHS=%q: MaxTags %d, %v; want %d", v, opt.MaxTags, err, want)
		}
	}
}

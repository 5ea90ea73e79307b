package main

import (
	"strings"
	"testing"
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

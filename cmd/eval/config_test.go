package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// runEvalEnv runs the command in-process with these variables besides the test server's URL.
func runEvalEnv(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	server := dbtest.ServerURL()
	getenv := func(k string) string {
		if k == "DOCENT_DATABASE_URL" {
			return server
		}
		return vars[k]
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, env{getenv: getenv, stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

// eval builds its embedder as ingest does: DOCENT_EMBED_DIMENSION was ignored, so an
// evaluation measured another index than the one ingest would build.
func TestEvalHonoursEmbedDimension(t *testing.T) {
	dbtest.New(t)
	code, stdout, stderr := runEvalEnv(t, map[string]string{"DOCENT_EMBED_DIMENSION": "64"},
		"beir", "--dataset", "testdata/mini", "--mode", "dense", "--rerank", "none", "--json")
	dropEvalDatabases(t, stderr)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, rest, _ := strings.Cut(stderr, "into database ")
	name := strings.Fields(rest)[0]
	u, err := url.Parse(dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	conn, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var dim int
	if err := conn.QueryRow(context.Background(), `SELECT dimension FROM index_generations WHERE status = 'active'`).Scan(&dim); err != nil || dim != 64 {
		t.Errorf("the evaluation index has %d dimensions (%v), want DOCENT_EMBED_DIMENSION's 64", dim, err)
	}

	if code, _, stderr := runEvalEnv(t, map[string]string{"DOCENT_EMBED_DIMENSION": "many"}, "beir", "--dataset", "testdata/mini"); code == exitOK || !strings.Contains(stderr, "DOCENT_EMBED_DIMENSION") {
		t.Errorf("DOCENT_EMBED_DIMENSION=many: exit %d, %s", code, stderr)
	}
}

// eval accepts the rerankers the server accepts, and no other: "http" was eval's alone.
func TestEvalRerankerKindsAreTheServers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vars map[string]string
		args []string
		want string
	}{
		{nil, []string{"--rerank", "http"}, `--rerank: "http" is not none, builtin, tei or cohere`},
		{map[string]string{"DOCENT_RERANKER": "http"}, nil, `DOCENT_RERANKER: "http" is not none, builtin, tei or cohere`},
		{nil, []string{"--rerank", "tei"}, "--rerank=tei: "}, // no DOCENT_RERANKER_URL
		{nil, []string{"--rerank", "builtin", "--builtin-weights", "1,2"}, "--builtin-weights"},
	} {
		args := append([]string{"beir", "--dataset", "testdata/mini"}, tc.args...)
		code, _, stderr := runEvalEnv(t, tc.vars, args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want %d and %q", tc.vars, tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}

// TestDefaultMinEvidenceIsTheFittedThreshold: the server's default DOCENT_MIN_EVIDENCE is
// the threshold fitted with the strength model in use, not a number left from an older fit.
func TestDefaultMinEvidenceIsTheFittedThreshold(t *testing.T) {
	got, err := minEvidence(func(string) string { return "" })
	if err != nil || got != retrieve.DefaultMinStrength {
		t.Errorf("default %s = %v (%v), want retrieve.DefaultMinStrength %v", config.MinEvidence, got, err, retrieve.DefaultMinStrength)
	}
}

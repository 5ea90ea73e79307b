package main

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// runIngest runs the command in-process with DOCENT_DATABASE_URL set to url.
func runIngest(t *testing.T, url string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "DOCENT_DATABASE_URL" {
			return url
		}
		return ""
	}
	code = run(context.Background(), args, env{getenv: getenv, stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

func TestMigrateFromScratchThenIdempotent(t *testing.T) {
	t.Parallel()
	db := dbtest.NewEmpty(t)
	ctx := context.Background()

	code, stdout, stderr := runIngest(t, db.URL, "migrate")
	if code != exitOK || !strings.Contains(stdout, "applied 00001_schema.sql") {
		t.Fatalf("first migrate: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if err := index.CheckSchema(ctx, db.Pool); err != nil {
		t.Errorf("after migrate: %v", err)
	}
	code, stdout, stderr = runIngest(t, db.URL, "migrate")
	if code != exitOK || !strings.Contains(stdout, "schema is up to date") || strings.Contains(stdout, "applied") {
		t.Errorf("second migrate: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	const secretURL = "postgres://admin:hunter2@db.example.com/docent"
	tests := []struct {
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{nil, exitUsage, "", "usage: ingest <command>"},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"help"}, exitOK, "migrate", ""},
		{[]string{"migrate", "--help"}, exitOK, "usage: ingest migrate", ""},
		{[]string{"help", "migrate"}, exitOK, "usage: ingest migrate", ""},
		{[]string{"help", "--help"}, exitOK, "usage: ingest <command>", ""},
		{[]string{"--help", "nope"}, exitOK, "usage: ingest <command>", ""},
		{[]string{"migrate", "--bogus"}, exitUsage, "", "flag provided but not defined: -bogus"},
		{[]string{"migrate", "extra"}, exitUsage, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runIngest(t, secretURL, tt.args...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, "hunter2") {
				t.Errorf("output shows the database password:\n%s%s", stdout, stderr)
			}
		})
	}
}

func TestMigrateUnreachableDatabase(t *testing.T) {
	t.Parallel()
	code, _, stderr := runIngest(t, "postgres://docent:secret@127.0.0.1:1/docent?connect_timeout=2", "migrate")
	if code != exitFatal || !strings.Contains(stderr, "127.0.0.1:1") || strings.Contains(stderr, "secret") {
		t.Errorf("exit %d, stderr: %s; want exit 1 naming the server but not the password", code, stderr)
	}
}

// TestComposeRunsRealCommands: the ingest commands docker-compose.yml runs exist.
func TestComposeRunsRealCommands(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Entrypoint []string `yaml:"entrypoint"`
			Command    []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for name, s := range c.Services {
		argv := append(slices.Clone(s.Entrypoint), s.Command...)
		if len(argv) < 2 || argv[0] != "ingest" {
			continue
		}
		checked++
		code, stdout, stderr := runIngest(t, "", argv[1], "--help")
		if code != exitOK {
			t.Errorf("service %s runs `%s`, which ingest does not know: exit %d\n%s%s", name, strings.Join(argv, " "), code, stdout, stderr)
		}
	}
	if checked < 2 {
		t.Errorf("found %d services running ingest, want migrate and ingest", checked)
	}
}

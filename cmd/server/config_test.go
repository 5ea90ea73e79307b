package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// DOCENT_MAX_BODY reads the size grammar of every size setting: 1GiB was refused while
// DOCENT_PDF_MEMORY_LIMIT=1GiB worked.
func TestMaxBodyTakesEverySizeSpelling(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1GiB": 1 << 30, "64KiB": 64 << 10, "+64KiB": 64 << 10, "2MB": 2e6, "512k": 512e3, "1 MiB": 1 << 20, "65536": 65536} {
		c, err := loadConfig(func(k string) string {
			if k == "DOCENT_MAX_BODY" {
				return in
			}
			return ""
		})
		if err != nil || c.api.MaxBodyBytes != want {
			t.Errorf("DOCENT_MAX_BODY=%q: %d, %v; want %d", in, c.api.MaxBodyBytes, err, want)
		}
	}
	if _, err := loadConfig(func(k string) string {
		if k == "DOCENT_MAX_BODY" {
			return "1 GiB of it"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "DOCENT_MAX_BODY") {
		t.Errorf("DOCENT_MAX_BODY=\"1 GiB of it\": %v, want an error naming the variable", err)
	}
}

// `server keys` is a program of subcommands like ingest's: help, unknown commands and
// usage errors, before any database is reached.
func TestKeysCommands(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"keys"}, exitUsage, "", "usage: server keys create"},
		{[]string{"keys", "help"}, exitOK, "usage: server keys create", ""},
		{[]string{"keys", "--help"}, exitOK, "usage: server keys create", ""},
		{[]string{"keys", "help", "create"}, exitOK, "-principal", ""},
		{[]string{"keys", "list", "--help"}, exitOK, "-all", ""},
		{[]string{"keys", "rotate"}, exitUsage, "", `server keys: unknown command "rotate"`},
		{[]string{"keys", "create", "--principal", "public"}, exitUsage, "", "server keys create: --name is required"},
		{[]string{"keys", "create", "--name", "k"}, exitUsage, "", "give at least one --principal"},
		{[]string{"keys", "revoke"}, exitUsage, "", "server keys revoke: give the name of the key"},
		{[]string{"keys", "list", "--bogus"}, exitUsage, "", "flag provided but not defined: -bogus"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, func(string) string { return "" }, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errOut.String(), tc.stderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out.String(), errOut.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}

// DOCENT_CONVERSATION_RETENTION: 30 days by default, 0 keeps, a negative or malformed value is
// a configuration error naming the variable.
func TestConversationRetention(t *testing.T) {
	t.Parallel()
	with := func(v string) func(string) string {
		return func(k string) string {
			if k == "DOCENT_CONVERSATION_RETENTION" {
				return v
			}
			return ""
		}
	}
	for in, want := range map[string]time.Duration{"": 720 * time.Hour, "0": 0, "24h": 24 * time.Hour} {
		if c, err := loadConfig(with(in)); err != nil || c.convRetention != want {
			t.Errorf("DOCENT_CONVERSATION_RETENTION=%q: %v, %v; want %v", in, c.convRetention, err, want)
		}
	}
	for _, in := range []string{"-1h", "a month"} {
		if _, err := loadConfig(with(in)); err == nil || !strings.Contains(err.Error(), "DOCENT_CONVERSATION_RETENTION") {
			t.Errorf("DOCENT_CONVERSATION_RETENTION=%q: %v, want an error naming the variable", in, err)
		}
	}
}

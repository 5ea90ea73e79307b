package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/reindex"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// feedbackCorpus is a small corpus of distinct topics, with a JSON Lines collection whose
// records are documents named "faq.jsonl#<id>".
var feedbackCorpus = map[string]string{
	".docent-acl":   "public\n",
	"parking.md":    "# Parking at the depot\n\nParking at the depot is free for staff. Visitors park in bay C, beside the loading dock, and register at reception.\n",
	"expenses.md":   "# Travel expenses\n\nTravel expenses are reimbursed within thirty days. Submit receipts for hotels, trains and taxis through the expenses portal before the end of the month.\n",
	"vacation.md":   "# Vacation days\n\nEmployees get twenty-eight vacation days a year. Unused vacation days carry over until the end of March.\n",
	"security.md":   "# Badge security\n\nLost badges must be reported to security within an hour. A replacement badge is issued at the security desk on the ground floor.\n",
	"onboarding.md": "# Onboarding checklist\n\nNew hires receive a laptop, a badge and a mentor on their first day. The onboarding checklist lists the trainings to finish in the first week.\n",
	"faq.jsonl": `{"_id": "wifi", "title": "Guest wifi", "text": "The guest wifi network is called Northwind-Guest; its password changes every Monday and is posted at reception."}
{"_id": "printer", "title": "Printers", "text": "Printers on every floor print double-sided by default; colour printing needs a manager's approval."}
`,
}

// feedbackDB returns a database with feedbackCorpus ingested, and the URIs of its documents
// by their last path element or record id.
func feedbackDB(t *testing.T) (*dbtest.DB, map[string]string) {
	t.Helper()
	db := dbtest.New(t)
	dir := t.TempDir()
	for name, content := range feedbackCorpus {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{Source: "t", Roots: []string{dir}}, db.Pool, emb, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := in.Run(context.Background()); err != nil || s.Documents.Failed > 0 {
		t.Fatalf("ingest: %v %v", err, s.Failures)
	}
	rows, err := db.Pool.Query(context.Background(), `SELECT uri FROM documents`)
	if err != nil {
		t.Fatal(err)
	}
	uris := map[string]string{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			t.Fatal(err)
		}
		uris[eval.JudgmentID(filepath.Base(u))] = u
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"parking.md", "expenses.md", "vacation.md", "security.md", "onboarding.md", "wifi", "printer"} {
		if uris[want] == "" {
			t.Fatalf("no document %s among %v", want, uris)
		}
	}
	return db, uris
}

// rated is an answer to store, with its rating.
type rated struct {
	id, question, rewritten string
	cited                   []string
	rating, reason, comment string
}

// storeRatings writes a trace per answer and its rating, as the server would.
func storeRatings(t *testing.T, db *dbtest.DB, answers []rated) {
	t.Helper()
	ctx := context.Background()
	principals := sha256.Sum256([]byte("principals"))
	caller := sha256.Sum256([]byte("caller"))
	var traces []index.Trace
	for _, a := range answers {
		traces = append(traces, index.Trace{ID: a.id, Route: index.AnswerRoute, PrincipalHash: principals[:], CallerHash: caller[:],
			Question: a.question, RewrittenQuery: a.rewritten, CitedURIs: a.cited, Outcome: index.OutcomeAnswered, Involved: []int64{}})
	}
	if err := index.InsertTraces(ctx, db.Pool, traces); err != nil {
		t.Fatal(err)
	}
	for _, a := range answers {
		if _, err := index.PutFeedback(ctx, db.Pool, index.Feedback{TraceID: a.id, PrincipalHash: principals[:], CallerHash: caller[:],
			Rating: a.rating, Reason: a.reason, Comment: a.comment}); err != nil {
			t.Fatal(err)
		}
	}
}

func exportRun(t *testing.T, db *dbtest.DB, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"feedback", "export", "--database-url", db.URL}, args...),
		func(string) string { return "" }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestFeedbackExportJSONL(t *testing.T) {
	t.Parallel()
	db, uris := feedbackDB(t)
	storeRatings(t, db, []rated{
		{id: "a1", question: "Where do visitors park?", cited: []string{uris["parking.md"]}, rating: "up"},
		{id: "a2", question: "And how fast?", rewritten: "How fast are travel expenses reimbursed?",
			cited: []string{uris["expenses.md"], uris["vacation.md"]}, rating: "down", reason: "incomplete", comment: "says nothing about taxis"},
		{id: "a3", question: "What is the meaning of life?", rating: "down", reason: "other"},
	})
	code, out, stderr := exportRun(t, db, "--format", "jsonl")
	if code != exitOK || !strings.Contains(stderr, "exported 3 ratings") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var lines []feedbackLine
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var l feedbackLine
		if err := dec.Decode(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out)
	}
	byID := map[string]feedbackLine{}
	for _, l := range lines {
		byID[l.TraceID] = l
		if l.Time.IsZero() || time.Since(l.Time) > time.Hour {
			t.Errorf("%s: time %v", l.TraceID, l.Time)
		}
	}
	a2 := byID["a2"]
	if a2.Rating != "down" || a2.Reason == nil || *a2.Reason != "incomplete" || a2.Comment == nil || *a2.Comment != "says nothing about taxis" ||
		a2.Question != "And how fast?" || a2.Rewritten == nil || !slices.Equal(a2.CitedURIs, []string{uris["expenses.md"], uris["vacation.md"]}) {
		t.Errorf("a2 exported as %+v", a2)
	}
	if a1 := byID["a1"]; a1.Reason != nil || a1.Comment != nil || !slices.Equal(a1.CitedURIs, []string{uris["parking.md"]}) {
		t.Errorf("a1 exported as %+v", a1)
	}
	if a3 := byID["a3"]; a3.CitedURIs == nil || len(a3.CitedURIs) != 0 {
		t.Errorf("a3 (no citation) exported as %+v, want cited_uris []", a3)
	}

	// Filters.
	if code, out, _ := exportRun(t, db, "--format", "jsonl", "--rating", "down"); code != exitOK || strings.Count(out, "\n") != 2 || strings.Contains(out, `"a1"`) {
		t.Errorf("--rating down: exit %d\n%s", code, out)
	}
	if code, out, _ := exportRun(t, db, "--format", "jsonl", "--since", "1h"); code != exitOK || strings.Count(out, "\n") != 3 {
		t.Errorf("--since 1h: exit %d\n%s", code, out)
	}
	tomorrow := time.Now().UTC().AddDate(0, 0, 2).Format("2006-01-02")
	if code, out, _ := exportRun(t, db, "--format", "jsonl", "--since", tomorrow); code != exitOK || out != "" {
		t.Errorf("--since %s: exit %d\n%s", tomorrow, code, out)
	}
	// Into a directory, once: a second export does not overwrite the first.
	dir := t.TempDir()
	if code, _, stderr := exportRun(t, db, "--format", "jsonl", "--out", dir); code != exitOK {
		t.Fatalf("--out: exit %d: %s", code, stderr)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "feedback.jsonl")); err != nil || string(data) != out3(t, db) {
		t.Errorf("feedback.jsonl: %v\n%s", err, data)
	}
	if code, _, stderr := exportRun(t, db, "--format", "jsonl", "--out", dir); code != exitUsage || !strings.Contains(stderr, "exists") {
		t.Errorf("export over an existing file: exit %d: %s", code, stderr)
	}
}

// out3 is the JSON Lines export on standard output.
func out3(t *testing.T, db *dbtest.DB) string {
	t.Helper()
	_, out, _ := exportRun(t, db, "--format", "jsonl")
	return out
}

func TestFeedbackExportUsage(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	for _, args := range [][]string{
		{},
		{"--format", "csv"},
		{"--format", "jsonl", "--rating", "meh"},
		{"--format", "jsonl", "--since", "yesterday"},
		{"--format", "jsonl", "--since", "-3h"},
		{"--format", "beir"},
		{"--format", "beir", "--out", t.TempDir(), "--split", "../x"},
		{"--format", "jsonl", "extra"},
	} {
		if code, _, stderr := exportRun(t, db, args...); code != exitUsage || stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 with a message", args, code, stderr)
		}
	}
	if code, _, stderr := exportRun(t, db, "--format", "beir", "--out", t.TempDir()); code != exitFatal || !strings.Contains(stderr, "nothing to evaluate") {
		t.Errorf("beir without ratings: exit %d: %s", code, stderr)
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"72h":                  now.Add(-72 * time.Hour),
		"7d":                   now.AddDate(0, 0, -7),
		"2026-12-01":           time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		"2026-12-01T08:00:00Z": time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// TestFeedbackExportBEIRFeedsTheGate: the BEIR export loads as `eval beir` loads a dataset
// (every judged document in the corpus), and the reindex gate runs on it for real against
// the live index: the questions find the documents their answers cited, JSON Lines records
// included, so the judgments name documents the way the gate names them.
func TestFeedbackExportBEIRFeedsTheGate(t *testing.T) {
	t.Parallel()
	db, uris := feedbackDB(t)
	storeRatings(t, db, []rated{
		{id: "q-park", question: "Where do visitors park at the depot?", cited: []string{uris["parking.md"]}, rating: "down", reason: "wrong"},
		{id: "q-exp", question: "And the receipts?", rewritten: "How are travel expenses and receipts reimbursed?", cited: []string{uris["expenses.md"]}, rating: "up"},
		{id: "q-badge", question: "I lost my badge, what do I do?", cited: []string{uris["security.md"], uris["onboarding.md"]}, rating: "down"},
		{id: "q-wifi", question: "What is the guest wifi password?", cited: []string{uris["wifi"]}, rating: "down", reason: "outdated"},
		{id: "q-none", question: "Who won the match?", rating: "down"},
		{id: "q-gone", question: "Where is the canteen?", cited: []string{"deleted/canteen.md"}, rating: "down"},
	})
	dir := filepath.Join(t.TempDir(), "flagged")
	code, _, stderr := exportRun(t, db, "--format", "beir", "--out", dir)
	if code != exitOK || !strings.Contains(stderr, "exported 4 queries judging 5 documents") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, err := eval.LoadBEIR(dir, "test")
	if err != nil {
		t.Fatalf("eval beir's loader refuses the export: %v", err)
	}
	if data.CorpusDocs != 5 || len(data.Queries) != 4 {
		t.Errorf("%d documents, %d queries; want 5 and 4", data.CorpusDocs, len(data.Queries))
	}
	wantQrels := map[string]map[string]int{
		"q-park":  {uris["parking.md"]: 1},
		"q-exp":   {uris["expenses.md"]: 1},
		"q-badge": {uris["security.md"]: 1, uris["onboarding.md"]: 1},
		"q-wifi":  {"wifi": 1}, // a JSON Lines record: its record id, as the gate and eval beir name it
	}
	for q, docs := range wantQrels {
		if !mapsEqual(data.Qrels[q], docs) {
			t.Errorf("qrels of %s: %v, want %v", q, data.Qrels[q], docs)
		}
	}
	for _, q := range data.Queries {
		if q.ID == "q-exp" && q.Text != "How are travel expenses and receipts reimbursed?" {
			t.Errorf("a follow-up's query is %q, want the rewritten question", q.Text)
		}
	}
	corpus, err := os.ReadFile(filepath.Join(dir, "corpus.jsonl"))
	// vacation.md was never cited: its text must not be there; security.md's must.
	if err != nil || strings.Contains(string(corpus), "twenty-eight") || !strings.Contains(string(corpus), "Lost badges") {
		t.Errorf("corpus: %v\n%s", err, corpus)
	}

	// The gate, as `ingest reindex --eval DIR` runs it: an equal generation, judged on the export.
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	embedders := func(context.Context, index.Generation) (retrieve.Embedder, error) { return emb, nil }
	res, err := reindex.Run(context.Background(), db.Pool, reindex.Config{Embedder: emb, Embedders: embedders,
		Gate: &reindex.Gate{Dir: dir}}, slog.New(slog.DiscardHandler))
	if err != nil || res.Gate == nil || !res.Gate.Passed || res.Gate.Queries != 4 {
		t.Fatalf("gate on the export: %v %+v", err, res)
	}
	t.Log(res.Gate.Summary())
	// The judged documents are found: with names the gate did not recognise every query would
	// score 0.
	if res.Gate.Hybrid[0] < 0.7 || res.Gate.Dense[0] < 0.4 {
		t.Errorf("nDCG@10 on the export: %s; the gate does not find the cited documents", res.Gate.Summary())
	}

	// A second export into the same directory refuses, and leaves the first whole.
	before, _ := os.ReadFile(filepath.Join(dir, "qrels", "test.tsv"))
	if code, _, stderr := exportRun(t, db, "--format", "beir", "--out", dir); code != exitUsage || !strings.Contains(stderr, "exists") {
		t.Errorf("a second export: exit %d: %s", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "qrels", "test.tsv")); !bytes.Equal(before, after) {
		t.Error("the second export changed the first's qrels")
	}
	// --rating up: only the rewritten follow-up.
	up := filepath.Join(t.TempDir(), "up")
	if code, _, stderr := exportRun(t, db, "--format", "beir", "--rating", "up", "--out", up); code != exitOK {
		t.Fatalf("--rating up: exit %d: %s", code, stderr)
	}
	if data, err := eval.LoadJudgments(up, "test"); err != nil || len(data.Queries) != 1 || data.Queries[0].ID != "q-exp" {
		t.Errorf("--rating up: %v %+v", err, data)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

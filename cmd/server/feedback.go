package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/index"
)

const feedbackUsage = `usage: server feedback export --format jsonl|beir [--since DURATION|DATE] [--rating up|down] [--out DIR]

Export the ratings callers gave answers (POST /v1/answers/{id}/feedback). An operator's tool:
it reads the database directly (--database-url), so it sees every rating with its question
and cited documents, whoever asked; no API key or permission tag restricts it.

  --format jsonl  one JSON object a line per rating, oldest first: time, rating, reason,
                  comment, question, the question as retrieval ran it, the cited documents'
                  URIs, trace id. To --out DIR/feedback.jsonl, else to standard output.
  --format beir   an evaluation set in the BEIR layout in --out DIR (corpus.jsonl,
                  queries.jsonl, qrels/<split>.tsv), for ` + "`eval beir --dataset DIR`" + ` and
                  ` + "`ingest reindex --eval DIR`" + `: each rated answer's question is a query and
                  the documents it cited are its relevant documents (grade 1).`

var feedbackProgram = cmdconfig.Program[env]{
	Name:  "server feedback",
	Usage: feedbackUsage,
	Commands: []cmdconfig.Command[env]{
		{Name: "export", Summary: "export the ratings as JSON Lines or as a BEIR evaluation set", Run: feedbackExport},
	},
}

func feedbackUsageError(e env, format string, a ...any) int {
	fmt.Fprintf(e.stderr, "server feedback export: %s\n", fmt.Sprintf(format, a...))
	return exitUsage
}

func feedbackExport(ctx context.Context, args []string, e env) int {
	fs := cmdconfig.NewFlagSet("server feedback export", feedbackUsage)
	dbURL := cmdconfig.DatabaseURLFlag(fs)
	format := fs.String("format", "", "jsonl or beir (required)")
	sinceFlag := fs.String("since", "", "only ratings given since: a duration back from now (72h, 7d) or a date (2026-12-01, RFC 3339)")
	rating := fs.String("rating", "", "only ratings up or down (default both)")
	out := fs.String("out", "", "directory to write into (required for beir; jsonl writes to standard output without it)")
	split := fs.String("split", "test", "beir: the qrels split to write (qrels/<split>.tsv)")
	if code := cmdconfig.Parse(fs, args, false, e.stdout, e.stderr); code >= 0 {
		return code
	}
	if *format != "jsonl" && *format != "beir" {
		return feedbackUsageError(e, "--format must be jsonl or beir")
	}
	if *rating != "" && *rating != index.RatingUp && *rating != index.RatingDown {
		return feedbackUsageError(e, "--rating must be up or down")
	}
	since, err := parseSince(*sinceFlag, time.Now())
	if err != nil {
		return feedbackUsageError(e, "--since: %v", err)
	}
	if *format == "beir" && *out == "" {
		return feedbackUsageError(e, "--format beir needs --out DIR")
	}
	if *split == "" || strings.ContainsAny(*split, `/\`) || *split == "." || *split == ".." {
		return feedbackUsageError(e, "--split must be a plain name, like test")
	}
	pool, err := index.Open(ctx, cmdconfig.DatabaseURL(*dbURL, e.getenv))
	if err != nil {
		fmt.Fprintf(e.stderr, "server feedback export: %v\n", err)
		return exitFatal
	}
	defer pool.Close()
	filter := index.FeedbackFilter{Since: since, Rating: *rating}
	var summary string
	if *format == "jsonl" {
		summary, err = exportJSONL(ctx, pool, filter, *out, e.stdout)
	} else {
		summary, err = exportBEIR(ctx, pool, filter, *out, *split)
	}
	var exists *existsError
	if errors.As(err, &exists) {
		return feedbackUsageError(e, "%v", err)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "server feedback export: %v\n", err)
		return exitFatal
	}
	fmt.Fprintln(e.stderr, summary)
	return exitOK
}

// parseSince reads --since: empty for no bound, a duration back from now (Go's syntax, or a
// whole number of days such as 7d), or a date (2006-01-02, in UTC) or RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 100*366 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, errors.New("a duration back from now must not be negative")
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (72h, 7d) nor a date (2026-12-01, 2026-12-01T08:00:00Z)", s)
}

// feedbackLine is one rating in the JSON Lines export.
type feedbackLine struct {
	Time      time.Time `json:"time"`
	Rating    string    `json:"rating"`
	Reason    *string   `json:"reason"`
	Comment   *string   `json:"comment"`
	Question  string    `json:"question"`
	Rewritten *string   `json:"rewritten_question"` // the follow-up as retrieval ran it
	CitedURIs []string  `json:"cited_uris"`
	TraceID   string    `json:"trace_id"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// exportJSONL writes one line per rating, to dir/feedback.jsonl or, without dir, to stdout.
func exportJSONL(ctx context.Context, db index.DBTX, f index.FeedbackFilter, dir string, stdout io.Writer) (string, error) {
	var n int
	write := func(w io.Writer) error {
		enc := json.NewEncoder(w)
		return index.EachFeedback(ctx, db, f, func(r index.FeedbackRecord) error {
			n++
			cited := r.CitedURIs
			if cited == nil {
				cited = []string{}
			}
			return enc.Encode(feedbackLine{Time: r.Time.UTC(), Rating: r.Rating, Reason: optional(r.Reason),
				Comment: optional(r.Comment), Question: r.Question, Rewritten: optional(r.Rewritten), CitedURIs: cited, TraceID: r.TraceID})
		})
	}
	if dir == "" {
		bw := bufio.NewWriter(stdout)
		if err := write(bw); err != nil {
			return "", err
		}
		if err := bw.Flush(); err != nil {
			return "", err
		}
		return fmt.Sprintf("exported %d ratings", n), nil
	}
	path := filepath.Join(dir, "feedback.jsonl")
	if err := writeNew(path, write); err != nil {
		return "", err
	}
	return fmt.Sprintf("exported %d ratings to %s", n, path), nil
}

// beirQuery is a query of the BEIR export and its judged documents.
type beirQuery struct {
	id, text string
	docs     []string // judgment ids, in citation order
}

// exportBEIR writes the rated answers as an evaluation set in dir: queries.jsonl (the
// question, or the rewritten one of a follow-up, under the answer's id), qrels/<split>.tsv
// (each cited document, grade 1) and corpus.jsonl (each judged document's title and text
// from the index). Documents are named by their judgment id (eval.JudgmentID: the URI, or
// the record id of a JSON Lines record), which is how both `eval beir` and the reindex gate
// name a retrieved document. A cited document no longer in the index, or whose id cannot be
// written in a qrels line, is left out; a query left with none is left out.
func exportBEIR(ctx context.Context, db index.DBTX, f index.FeedbackFilter, dir, split string) (string, error) {
	var queries []beirQuery
	var uris []string
	seenURI := map[string]bool{}
	rated, unjudged := 0, 0
	err := index.EachFeedback(ctx, db, f, func(r index.FeedbackRecord) error {
		rated++
		text := r.Question
		if strings.TrimSpace(r.Rewritten) != "" {
			text = r.Rewritten
		}
		if len(r.CitedURIs) == 0 || strings.TrimSpace(text) == "" {
			unjudged++
			return nil
		}
		queries = append(queries, beirQuery{id: r.TraceID, text: text, docs: r.CitedURIs})
		for _, u := range r.CitedURIs {
			if !seenURI[u] {
				seenURI[u] = true
				uris = append(uris, u)
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	docs := map[string]index.DocumentText{}
	for start := 0; start < len(uris); start += 500 {
		batch, err := index.DocumentTexts(ctx, db, uris[start:min(start+500, len(uris))])
		if err != nil {
			return "", err
		}
		for u, d := range batch {
			docs[u] = d
		}
	}
	// The corpus, in order of first citation, one record per judgment id.
	var corpus []index.DocumentText
	corpusID := map[string]string{} // URI → judgment id
	written := map[string]bool{}
	dropped := 0
	for _, u := range uris {
		d, ok := docs[u]
		id := eval.JudgmentID(u)
		if !ok || id == "" || strings.ContainsAny(id, "\t\r\n") {
			dropped++
			continue
		}
		corpusID[u] = id
		if !written[id] {
			written[id] = true
			corpus = append(corpus, index.DocumentText{URI: id, Title: d.Title, Text: d.Text})
		}
	}
	var kept []beirQuery
	for _, q := range queries {
		var judged []string
		seen := map[string]bool{}
		for _, u := range q.docs {
			if id, ok := corpusID[u]; ok && !seen[id] {
				seen[id] = true
				judged = append(judged, id)
			}
		}
		if len(judged) == 0 {
			unjudged++
			continue
		}
		q.docs = judged
		kept = append(kept, q)
	}
	if len(kept) == 0 {
		return "", fmt.Errorf("none of the %d ratings selected has a question with a cited document still in the index: nothing to evaluate on", rated)
	}
	if err := writeBEIR(dir, split, kept, corpus); err != nil {
		return "", err
	}
	return fmt.Sprintf("exported %d queries judging %d documents to %s (%d ratings; %d without a cited document in the index left out, %d cited documents no longer indexed)",
		len(kept), len(corpus), dir, rated, unjudged, dropped), nil
}

// writeBEIR writes the three files of the layout, none of which may exist yet.
func writeBEIR(dir, split string, queries []beirQuery, corpus []index.DocumentText) error {
	paths := []string{filepath.Join(dir, "corpus.jsonl"), filepath.Join(dir, "queries.jsonl"), filepath.Join(dir, "qrels", split+".tsv")}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return &existsError{path: p}
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "qrels"), 0o755); err != nil {
		return err
	}
	err := writeNew(paths[0], func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, d := range corpus {
			if err := enc.Encode(map[string]string{"_id": d.URI, "title": d.Title, "text": d.Text}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = writeNew(paths[1], func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, q := range queries {
			if err := enc.Encode(map[string]string{"_id": q.id, "text": q.text}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeNew(paths[2], func(w io.Writer) error {
		if _, err := fmt.Fprintln(w, "query-id\tcorpus-id\tscore"); err != nil {
			return err
		}
		for _, q := range queries {
			for _, d := range q.docs {
				if _, err := fmt.Fprintf(w, "%s\t%s\t1\n", q.id, d); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// existsError is an export that would overwrite a file.
type existsError struct{ path string }

func (e *existsError) Error() string {
	return e.path + " exists: export into a new or empty directory (nothing was written)"
}

// writeNew writes path through fill, whole or not at all: into a temporary file in the same
// directory, renamed to path once complete. An existing path is refused, not replaced.
func writeNew(path string, fill func(io.Writer) error) (err error) {
	if _, err := os.Lstat(path); err == nil {
		return &existsError{path: path}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriter(tmp)
	if err := fill(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Link rather than rename: it fails if path appeared meanwhile, where rename would replace it.
	if err := os.Link(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Remove(tmp.Name())
}

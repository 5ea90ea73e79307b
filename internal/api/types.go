package api

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AnswerRequest is the body of POST /v1/answer.
type AnswerRequest struct {
	Question   string  `json:"question"`
	History    []Turn  `json:"history"`
	MaxSources int     `json:"max_sources"`
	Filters    Filters `json:"filters"`
	// ConversationID continues the caller's stored conversation (see GET
	// /v1/conversations/{id}); absent to start one. Not together with History.
	ConversationID string `json:"conversation_id"`
}

// Turn is one message of the conversation so far.
type Turn struct {
	Role    string `json:"role"` // user or assistant
	Content string `json:"content"`
}

// Filters restrict retrieval.
type Filters struct {
	Sources []string `json:"sources"`
}

// SearchRequest is the body of POST /v1/search.
type SearchRequest struct {
	Query   string  `json:"query"`
	Limit   int     `json:"limit"`
	Filters Filters `json:"filters"`
}

// Limits of a request, beyond the query length the retriever checks.
const (
	maxSourcesLimit = 20
	maxHistory      = 20
	maxTurnChars    = 8000
	maxFilterValues = 50
)

// invalid returns the 400 error naming the field.
func invalid(field, format string, a ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Field: field, Message: field + ": " + fmt.Sprintf(format, a...)}
}

func (r *AnswerRequest) validate() error {
	if strings.TrimSpace(r.Question) == "" {
		return invalid("question", "required")
	}
	if r.MaxSources == 0 {
		r.MaxSources = 5
	}
	if r.MaxSources < 1 || r.MaxSources > maxSourcesLimit {
		return invalid("max_sources", "must be between 1 and %d", maxSourcesLimit)
	}
	if len(r.History) > 0 && r.ConversationID != "" {
		return invalid("history", "give either history (a conversation you keep) or conversation_id (one the server keeps), not both")
	}
	if len(r.History) > maxHistory {
		return invalid("history", "at most %d turns", maxHistory)
	}
	for i, t := range r.History {
		if t.Role != "user" && t.Role != "assistant" {
			return invalid(fmt.Sprintf("history[%d].role", i), "must be user or assistant")
		}
		if n := utf8.RuneCountInString(t.Content); n > maxTurnChars {
			return invalid(fmt.Sprintf("history[%d].content", i), "longer than %d characters", maxTurnChars)
		}
	}
	return r.Filters.validate()
}

func (r *SearchRequest) validate() error {
	if strings.TrimSpace(r.Query) == "" {
		return invalid("query", "required")
	}
	if r.Limit == 0 {
		r.Limit = 10
	}
	if r.Limit < 1 || r.Limit > maxSourcesLimit {
		return invalid("limit", "must be between 1 and %d", maxSourcesLimit)
	}
	return r.Filters.validate()
}

// validSourceName is what `ingest run --source` accepts: no other value can name a source.
var validSourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

func (f *Filters) validate() error {
	if len(f.Sources) > maxFilterValues {
		return invalid("filters.sources", "at most %d sources", maxFilterValues)
	}
	for i, s := range f.Sources {
		if !validSourceName.MatchString(s) {
			return invalid(fmt.Sprintf("filters.sources[%d]", i),
				"must be a source name (lower-case letters, digits, '.', '_' and '-', at most 100)")
		}
	}
	return nil
}

// AnswerResponse is the answer to POST /v1/answer, also the `answer` event of the stream.
type AnswerResponse struct {
	ID            string             `json:"id"`
	Answer        string             `json:"answer"`
	Refused       bool               `json:"refused"`
	Reason        *string            `json:"reason"` // no_evidence, model_unavailable, or null
	Grounded      bool               `json:"grounded"`
	Citations     []Citation         `json:"citations"`
	Sentences     []Sentence         `json:"sentences"`
	Fallback      *string            `json:"fallback"` // extractive, or null
	Model         string             `json:"model"`
	PromptVersion string             `json:"prompt_version"`
	Cached        bool               `json:"cached"`
	TimingsMS     map[string]float64 `json:"timings_ms"`
	TraceID       string             `json:"trace_id"`
	// ConversationID is the stored conversation this answer was added to; null when none was
	// stored (the request carried its own history, or the caller is anonymous).
	ConversationID *string `json:"conversation_id"`
	// QueryTruncated: the question was longer than the server uses whole; retrieval ran
	// with its most informative words and the answerer read its beginning and end.
	QueryTruncated bool `json:"query_truncated"`
	// DroppedSentences counts the claims of the model's answer that their citations did not
	// support, removed before the answer was sent (DOCENT_VALIDATION drop or fallback).
	DroppedSentences int `json:"dropped_sentences"`
	// FallbackReason says why the extractive answer replaced the model's: model_unavailable,
	// model_error, no_valid_citation or ungrounded; null without a fallback.
	FallbackReason *string `json:"fallback_reason"`
}

// Citation is a source an answer cites as [n].
type Citation struct {
	N        int      `json:"n"`
	ChunkID  int64    `json:"chunk_id"`
	Document Document `json:"document"`
	Pages    *Pages   `json:"pages"`
	// Locator names where the passage is beyond its pages: a spreadsheet's sheet and cell
	// range ("Budget!A1:F40"), an e-book's chapter; null when the pages say it all.
	Locator *string `json:"locator"`
	// OCR: some of the passage was recognised from a scanned image, not read from text.
	OCR     bool   `json:"ocr"`
	Heading string `json:"heading"`
	Snippet string `json:"snippet"`
}

// Document names the document a passage comes from. URL, when the document has one, is an
// http or https link to it (with #page=N for a page of a PDF); null otherwise, and a client
// then shows the passage through GET /v1/chunks/{id}.
type Document struct {
	URI    string  `json:"uri"`
	Title  string  `json:"title"`
	Source string  `json:"source"`
	URL    *string `json:"url"`
}

// Pages is a page range, 1-based and inclusive, and what a page is: "page" (a PDF's) or
// "slide" (a presentation's).
type Pages struct {
	Start int    `json:"start"`
	End   int    `json:"end"`
	Unit  string `json:"unit"`
}

// Sentence is one sentence of an answer with the sources it cites and whether they support it.
type Sentence struct {
	Text      string `json:"text"`
	Citations []int  `json:"citations"`
	Supported bool   `json:"supported"`
}

// Source is one piece of evidence: in the `sources` event of a stream, and in search results.
type Source struct {
	N        int      `json:"n"`
	ChunkID  int64    `json:"chunk_id"`
	ChunkIDs []int64  `json:"chunk_ids"`
	Document Document `json:"document"`
	Pages    *Pages   `json:"pages"`
	Locator  *string  `json:"locator"` // as in Citation
	OCR      bool     `json:"ocr"`
	Heading  string   `json:"heading"`
	Text     string   `json:"text"`
}

// SearchResponse answers POST /v1/search.
type SearchResponse struct {
	ID    string `json:"id"`
	Query string `json:"query"` // as retrieval ran it: normalised, and shortened when too long
	// QueryTruncated: the query was longer than the server runs whole; Query holds the most
	// informative words it ran with instead.
	QueryTruncated bool               `json:"query_truncated"`
	Results        []Source           `json:"results"`
	TimingsMS      map[string]float64 `json:"timings_ms"`
	TraceID        string             `json:"trace_id"`
}

// documentURL is the link of a passage: the document's URL, with #page=N when the passage
// starts on page N of a paged document (a PDF: not a deck's slide, which viewers do not
// address so) and the URL has no fragment of its own; nil without a URL.
func documentURL(u string, page int, unit string) *string {
	if u == "" {
		return nil
	}
	if page > 0 && pageUnit(unit) == "page" && !strings.Contains(u, "#") {
		u += "#page=" + strconv.Itoa(page)
	}
	return &u
}

func pages(start, end int, unit string) *Pages {
	if start == 0 {
		return nil
	}
	return &Pages{Start: start, End: max(start, end), Unit: pageUnit(unit)}
}

// pageUnit is unit, or "page" for documents stored (and answers cached) before units.
func pageUnit(unit string) string { return cmp.Or(unit, "page") }

// locator is l, or nil for none.
func locator(l string) *string {
	if l == "" {
		return nil
	}
	return &l
}

package api

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/index"
)

// Neighbours of GET /v1/chunks/{id}: chunks either side of the one asked for.
const (
	defaultChunkAround = 1
	maxChunkAround     = 3
)

// ChunkResponse answers GET /v1/chunks/{id}: a passage for a client to show when the
// document has no URL (or beside it), with the chunks around it that the caller may see.
type ChunkResponse struct {
	Chunk    PassageChunk   `json:"chunk"`
	Before   []PassageChunk `json:"before"` // in document order, nearest last
	After    []PassageChunk `json:"after"`  // in document order, nearest first
	Document ChunkDocument  `json:"document"`
}

// ChunkDocument is the document of a passage: Document with its page count.
type ChunkDocument struct {
	Document
	PageCount *int   `json:"page_count"` // null for formats without pages
	PageUnit  string `json:"page_unit"`  // what page_count counts: "page" or "slide"
}

// PassageChunk is one chunk of a passage.
type PassageChunk struct {
	ID          int64    `json:"id"`
	Ordinal     int      `json:"ordinal"`
	Text        string   `json:"text"`
	Heading     string   `json:"heading"`
	HeadingPath []string `json:"heading_path"`
	Pages       *Pages   `json:"pages"`
	Locator     *string  `json:"locator"` // as in Citation
	OCR         bool     `json:"ocr"`
}

// errNoSuchChunk is the one answer for a chunk that does not exist, that the caller may not
// see, and an id that is not one: the three cannot be told apart.
var errNoSuchChunk = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such chunk"}

// chunk serves GET /v1/chunks/:id?around=N: the chunk and up to N chunks (default 1, at most
// maxChunkAround) either side of it in its document, each filtered by the caller's
// principals in the query (index.ChunkPassage).
func (s *Server) chunk(c echo.Context) error {
	around := defaultChunkAround
	if a := c.QueryParam("around"); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 || n > maxChunkAround {
			return invalid("around", "must be between 0 and %d", maxChunkAround)
		}
		around = n
	}
	// The trace records the chunks shown (a trace reader sees it only if it may read them
	// all), not the id asked for: that may be one the caller cannot see.
	tr := s.startTrace(c, "/v1/chunks", ask.NewCaller(principalOf(c)), "")
	defer s.finishTrace(tr)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		tr.Fail(errNoSuchChunk)
		return errNoSuchChunk
	}
	p, err := index.ChunkPassage(c.Request().Context(), s.db, id, around, principalOf(c).Principals)
	if errors.Is(err, index.ErrNotFound) {
		tr.Fail(errNoSuchChunk)
		return errNoSuchChunk
	}
	if err != nil {
		tr.Fail(err)
		return err
	}
	tr.Involve(p.Chunk.ID)
	for _, ch := range slices.Concat(p.Before, p.After) {
		tr.Involve(ch.ID)
	}
	resp := ChunkResponse{Chunk: passageChunk(p.Chunk, p.PageUnit), Before: passageChunks(p.Before, p.PageUnit),
		After: passageChunks(p.After, p.PageUnit),
		Document: ChunkDocument{Document: Document{URI: p.URI, Title: p.Title, Source: p.Source,
			URL: documentURL(p.URL, p.Chunk.PageStart, p.PageUnit)}, PageUnit: pageUnit(p.PageUnit)}}
	if p.Pages > 0 {
		resp.Document.PageCount = &p.Pages
	}
	// The passage is what this caller may see: no shared cache may keep it.
	c.Response().Header().Set(echo.HeaderCacheControl, "private, no-store")
	return c.JSON(http.StatusOK, resp)
}

func passageChunk(ch index.PassageChunk, unit string) PassageChunk {
	path := ch.HeadingPath
	if path == nil {
		path = []string{}
	}
	return PassageChunk{ID: ch.ID, Ordinal: ch.Ordinal, Text: ch.Text, Heading: strings.Join(path, " > "),
		HeadingPath: path, Pages: pages(ch.PageStart, ch.PageEnd, unit), Locator: locator(ch.Locator), OCR: ch.OCR}
}

func passageChunks(chs []index.PassageChunk, unit string) []PassageChunk {
	out := make([]PassageChunk, len(chs))
	for i, ch := range chs {
		out[i] = passageChunk(ch, unit)
	}
	return out
}

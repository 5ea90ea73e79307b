// Package widget serves the chat widget: widget.js, a hand-written script (no framework, no
// build step) embedded in the binary, that a page includes with one tag (docs/widget.md).
//
// GET /widget.js is cached briefly and revalidated by its ETag, so that a new release reaches
// pages within minutes; GET /widget.js?v=<Hash> (the URL a page can pin, see Path) is cached
// for a year, immutable, since its content never changes under that URL. The script holds no
// secret, so any origin may load it (CORS *, Cross-Origin-Resource-Policy: cross-origin).
package widget

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

//go:embed widget.js
var source []byte

// hash is the first 16 hex digits of the script's SHA-256: its version in URLs and ETags.
var hash = func() string {
	sum := sha256.Sum256(source)
	return hex.EncodeToString(sum[:8])
}()

// Caching of the two URLs.
const (
	// cacheShort lets a page pick up a new release within 5 minutes, revalidating by ETag.
	cacheShort = "public, max-age=300, must-revalidate"
	// cacheImmutable is for the hashed URL, whose content cannot change.
	cacheImmutable = "public, max-age=31536000, immutable"
)

// Hash is the version of the embedded script (hex digits of its SHA-256).
func Hash() string { return hash }

// Path is the script's immutable URL path: /widget.js?v=<Hash>.
func Path() string { return "/widget.js?v=" + hash }

// Source returns the script (a copy).
func Source() []byte { return append([]byte(nil), source...) }

// gzipped is the script compressed, served to clients that accept gzip.
var gzipped = func() []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(source)
	_ = zw.Close()
	return b.Bytes()
}()

// GzipSize is the size of the script gzipped, as served.
func GzipSize() int { return len(gzipped) }

// The strong entity tags of the two representations (RFC 9110: they differ by encoding).
var (
	etag     = `"` + hash + `"`
	etagGzip = `"` + hash + `-gz"`
)

// ServeHTTP serves GET and HEAD of the script: with ?v= equal to its hash, cacheable for a
// year; otherwise (no v, or the v of another version) the current script, cacheable for
// 5 minutes. If-None-Match with its ETag gets 304.
func ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Add("Vary", "Accept-Encoding")
	body, tag := source, etag
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, tag = gzipped, etagGzip
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", tag)
	if r.URL.Query().Get("v") == hash {
		h.Set("Cache-Control", cacheImmutable)
	} else {
		h.Set("Cache-Control", cacheShort)
	}
	if matches(r.Header.Get("If-None-Match")) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip (not with q=0).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		for param := range strings.SplitSeq(params, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(param), "=")
			if strings.EqualFold(name, "q") {
				q, err := strconv.ParseFloat(value, 64)
				return err == nil && q > 0
			}
		}
		return true
	}
	return false
}

// matches reports whether an If-None-Match header names one of the script's ETags (weakly,
// as RFC 9110 says for If-None-Match: either encoding is the same script).
func matches(header string) bool {
	for tag := range strings.SplitSeq(header, ",") {
		if tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/"); tag == "*" || tag == etag || tag == etagGzip {
			return true
		}
	}
	return false
}

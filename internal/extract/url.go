package extract

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// MaxURLLen bounds a document's URL, in bytes. Browsers take longer ones, but a link to a
// source is a few dozen bytes; anything near this is not a link worth rendering.
const MaxURLLen = 2048

// SourceURL checks a document's source URL (front matter `url:`, a JSON Lines record's
// "url", an HTML page's canonical link, or one made from ingest's --url-prefix) and returns
// it normalised. Only absolute http and https URLs with a host are accepted: the URL is
// rendered as a link by the widget and other clients, so a javascript:, data:, vbscript: or
// file: URL, a relative one, one with credentials (user:password@) or with control,
// invisible (bidirectional overrides, zero-width) or space characters in it is refused with an error that says why. The result has a
// lower-case scheme and host and is at most MaxURLLen bytes.
func SourceURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("the url is empty")
	case len(s) > MaxURLLen:
		return "", fmt.Errorf("the url is longer than %d bytes", MaxURLLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			// Cf: bidirectional overrides and zero-width characters, which make a link read
			// as another one.
			return "", fmt.Errorf("the url contains a space, a control or an invisible character (%U): percent-encode it", r)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("the url cannot be parsed: %v", errors.Unwrap(err))
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "":
		return "", errors.New("the url is relative: give an absolute http or https url")
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("the url's scheme %q is not allowed: only http and https", truncate(scheme, 20))
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "", errors.New("the url has no host")
	case u.User != nil:
		return "", errors.New("the url contains credentials (user@ or user:password@)")
	}
	u.Scheme = scheme
	u.Host = strings.ToLower(u.Host)
	out := u.String()
	if len(out) > MaxURLLen {
		return "", fmt.Errorf("the url is longer than %d bytes once encoded", MaxURLLen)
	}
	return out, nil
}

// JoinURLPath appends a slash-separated relative file path to a URL prefix (as SourceURL
// accepts it), percent-encoding each segment: spaces, non-ASCII letters, '?', '#' and '%'
// in a file name become part of the path, never a query or a fragment. The prefix's own
// query and fragment, if any, are refused by the caller (see ValidURLPrefix).
func JoinURLPath(prefix, rel string) (string, error) {
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return SourceURL(prefix + strings.Join(segs, "/"))
}

// ValidURLPrefix checks ingest's --url-prefix: an http or https URL (SourceURL) without a
// query or a fragment, since file paths are appended to it. It returns the prefix
// normalised, ending with a slash.
func ValidURLPrefix(s string) (string, error) {
	p, err := SourceURL(s)
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(p) // parsed once already
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.Contains(p, "#") {
		return "", errors.New("the url prefix has a query or a fragment: file paths are appended to it")
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p, nil
}

// documentURL reads a declared url value (a string) with SourceURL. It returns the URL, or
// "" and why the declaration was refused; ("", "") when nothing was declared.
func documentURL(v any, declared bool) (string, string) {
	if !declared {
		return "", ""
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Sprintf("url is a %s, not a string", describe(v))
	}
	u, err := SourceURL(s)
	if err != nil {
		return "", err.Error()
	}
	return u, ""
}

// takeURL removes every field whose name is url in any case from fields (a URL is stored
// only once checked, never as metadata) and returns the one lookupField would choose.
func takeURL(fields map[string]any) (any, bool) {
	v, ok := lookupField(fields, "url")
	for k := range fields {
		if strings.EqualFold(k, "url") {
			delete(fields, k)
		}
	}
	return v, ok
}

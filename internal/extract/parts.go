package extract

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Part is a document derived from a file beside the file's own document: an attachment of
// an e-mail ("attachment/2/report.pdf"), a message of a mailbox ("message/3"), or an
// attachment of one of its messages ("message/3/attachment/1/notes.txt"). Ingestion stores
// it under the file's URI followed by "#" and its Fragment, with the file's permission tags:
// a derived document never declares its own (its ACL and URL are ignored), so that what a
// sender puts in an attachment cannot widen who sees it.
type Part struct {
	Fragment string // unique within the file; see validFragment
	Document
	Err error // an *Error when the part could not be extracted (its Document is then empty)
}

// validFragment reports whether s can name a Part: 1 to maxFragment bytes of valid UTF-8
// without control characters, "#", "?" or "\", no empty or dot segment between its slashes.
func validFragment(s string) bool {
	if s == "" || len(s) > maxFragment || !utf8.ValidString(s) ||
		strings.ContainsAny(s, "#?\\") || strings.ContainsFunc(s, unicode.IsControl) {
		return false
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// fragmentName turns an attachment's file name into a fragment segment: its base name,
// without the characters validFragment refuses, cut to 128 bytes; "" when nothing is left.
func fragmentName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(strings.ToValidUTF8(name, ""))
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), r == '#', r == '?', r == '/', r == utf8.RuneError:
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "." || name == ".." || name == "" {
		return ""
	}
	for len(name) > 128 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// partFragment joins a prefix ("attachment", "message/3/attachment"), a number and an
// optional file name into a fragment.
func partFragment(prefix string, n int, name string) string {
	f := fmt.Sprintf("%s/%d", prefix, n)
	if name = fragmentName(name); name != "" {
		f += "/" + name
	}
	return f
}

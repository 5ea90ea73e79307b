package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Everything ingest prints that comes from the data (file names, failure messages, notes,
// errors that quote a path) goes through printable or writeJSON: a file name with terminal
// escape sequences must never reach a terminal as one.

// printable returns s with what a terminal could interpret escaped: control characters
// (C0, DEL, C1 — among them ESC and the 8-bit CSI) as \xNN, invisible format characters
// (bidirectional overrides, zero-width ones) and line or paragraph separators as \u{NNNN},
// and bytes that are not UTF-8 as \xNN.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if needsEscape(r) {
			clean = false
			break
		}
	}
	if clean && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x100 && needsEscape(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u{%04x}`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r)
}

// printableLines escapes each line of s (see printable), keeping its line breaks: for
// multi-line error messages.
func printableLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = printable(l)
	}
	return strings.Join(lines, "\n")
}

// writeJSON writes v as indented JSON with, beyond what encoding/json escapes, DEL, C1
// controls and invisible format characters escaped too (\u00XX): some terminals act on an
// 8-bit CSI, and `cat report.json` must be as safe as `ingest status`. Those characters can
// only occur inside JSON strings, where the escape means the same character.
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	out := buf.Bytes()
	if bytes.IndexFunc(out, func(r rune) bool { return r >= 0x7f && needsEscape(r) }) >= 0 {
		var b bytes.Buffer
		for _, r := range string(out) {
			if r >= 0x7f && needsEscape(r) {
				fmt.Fprintf(&b, `\u%04x`, r)
				continue
			}
			b.WriteRune(r)
		}
		out = b.Bytes()
	}
	_, err := w.Write(out)
	return err
}

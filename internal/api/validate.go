package api

import (
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// checkContentType accepts exactly the media type application/json (case-insensitive, with
// parameters, a charset only if it is UTF-8), given once.
func checkContentType(values []string) error {
	refuse := func(msg string) error {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: msg}
	}
	if len(values) != 1 {
		return refuse("send the request as application/json, with one Content-Type header")
	}
	mediaType, params, err := mime.ParseMediaType(values[0])
	if err != nil || mediaType != "application/json" {
		return refuse("send the request as application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return refuse("send the request as application/json in UTF-8")
	}
	return nil
}

// checkEncoding refuses a body that is not valid UTF-8, or whose JSON escapes a lone
// surrogate ("\ud800"): JSON decoders turn both into U+FFFD without a word, so the text that
// would reach retrieval and the database is not what the client sent.
func checkEncoding(data []byte) error {
	if !utf8.Valid(data) {
		return invalid("body", "not valid UTF-8")
	}
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' || i+1 >= len(data) {
			continue
		}
		if data[i+1] != 'u' {
			i++ // an escaped character, perhaps a backslash: skip it
			continue
		}
		r, ok := hex4(data, i+2)
		if !ok {
			continue // the JSON decoder reports the syntax error
		}
		switch {
		case 0xDC00 <= r && r <= 0xDFFF:
			return invalid("body", "a JSON string escapes a lone surrogate (\\u%04x)", r)
		case 0xD800 <= r && r <= 0xDBFF:
			if lo, ok := hex4(data, i+8); !ok || i+7 >= len(data) || data[i+6] != '\\' || data[i+7] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
				return invalid("body", "a JSON string escapes a lone surrogate (\\u%04x)", r)
			}
			i += 11 // both escapes
		default:
			i += 5
		}
	}
	return nil
}

// hex4 reads four hexadecimal digits at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(data[i:i+4]), 16, 16)
	return rune(v), err == nil
}

// checkStrings walks every string of a decoded request (struct fields by their JSON names,
// slices, pointers) and refuses control characters other than tab, line feed and carriage
// return: NUL, which PostgreSQL cannot store in text, first of all. It covers fields added
// later without anyone remembering to.
func checkStrings(v any) error {
	return walkStrings(reflect.ValueOf(v), "")
}

func walkStrings(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walkStrings(v.Elem(), path)
	case reflect.String:
		for i, r := range v.String() {
			if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
				return invalid(path, "contains the control character %U at byte %d", r, i)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			key := fmt.Sprint(iter.Key().Interface())
			if err := walkStrings(iter.Key(), path); err != nil {
				return err
			}
			if err := walkStrings(iter.Value(), join(path, key)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if err := walkStrings(v.Field(i), join(path, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// wantsStream reports whether the client asked for Server-Sent Events (see prefersStream).
func wantsStream(c echo.Context) bool {
	return prefersStream(c.Request().Header.Values(echo.HeaderAccept))
}

// prefersStream reports whether Accept headers prefer Server-Sent Events to JSON: they name
// text/event-stream (case-insensitively) with a q-value above 0 and at least that of
// application/json (given by application/json, application/* or */*). Wildcards alone mean
// JSON, the default; q=0 means "not acceptable".
func prefersStream(accept []string) bool {
	stream, json := -1.0, -1.0 // -1: not given
	jsonSpecificity := 0
	for _, header := range accept {
		for part := range strings.SplitSeq(header, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			mediaType, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(s, 64); err != nil || q < 0 || q > 1 {
					continue
				}
			}
			switch mediaType {
			case "text/event-stream":
				stream = q
			case "application/json", "application/*", "*/*":
				// The most specific range that matches JSON decides its q-value.
				specificity := map[string]int{"*/*": 1, "application/*": 2, "application/json": 3}[mediaType]
				if specificity > jsonSpecificity {
					json, jsonSpecificity = q, specificity
				}
			}
		}
	}
	return stream > 0 && stream >= json
}

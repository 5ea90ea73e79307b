package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// A JSON Lines collection holds one document per line, as BEIR corpora do:
//
//	{"_id": "4983", "title": "Microstructural development of ...", "text": "Alterations of ..."}
//
// SplitJSONL finds the records and their ids quickly, so that ingestion can compare them
// with the index without decoding every text; JSONLRecord decodes one record.

// Record is one line of a JSON Lines collection.
type Record struct {
	ID   string // the record's "id", else its "_id": a string, or a number as written
	Line int    // 1-based line number in the file
	Raw  []byte // the line, trimmed; it shares the memory of the data passed to SplitJSONL
	Err  error  // an *Error (ReasonInvalid) when the line is not a valid record; ID is then set if it was found
}

// SplitJSONL splits a JSON Lines collection into records, skipping blank lines, and finds
// each record's id without decoding the rest. A line that is not a valid JSON object, or has
// no usable id, or tries to declare permission tags and cannot be read exactly (an *ACLError:
// "ACL", "acl" twice, an acl inside "metadata"), gets an Err naming its line; its ID is set
// when the line has one before the problem, so that the caller can tell which document it
// was. Records that share an id all get an Err: which one is the document cannot be known.
func SplitJSONL(data []byte) []Record {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	records := make([]Record, 0, bytes.Count(data, []byte{'\n'})+1)
	first := make(map[string]int) // id -> index in records of its first line
	for line := 1; len(data) > 0; line++ {
		raw := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		r := Record{Line: line, Raw: raw}
		id, err := recordID(raw)
		r.ID = id
		if err != nil {
			r.Err = withRecordLine(err, line)
		}
		if id != "" {
			if prev, dup := first[id]; dup {
				p := &records[prev]
				if r.Err == nil {
					r.Err = &Error{Reason: ReasonInvalid, Err: fmt.Errorf("line %d: duplicate id %q (first on line %d)", line, id, p.Line)}
				}
				if p.Err == nil {
					p.Err = &Error{Reason: ReasonInvalid, Err: fmt.Errorf("line %d: id %q is also the id of line %d: which record is the document cannot be known", p.Line, id, line)}
				}
			} else {
				first[id] = len(records)
			}
		}
		records = append(records, r)
	}
	return records
}

// withRecordLine puts a line number before the message of an *Error.
func withRecordLine(err error, line int) error {
	var e *Error
	if !errors.As(err, &e) {
		return &Error{Reason: ReasonInvalid, Err: fmt.Errorf("line %d: %w", line, err)}
	}
	msg := fmt.Errorf("line %d: %w", line, e.Err)
	if IsACLError(err) {
		return &Error{Reason: e.Reason, Err: &ACLError{Err: msg}}
	}
	return &Error{Reason: e.Reason, Err: msg}
}

// recordID validates a line as one JSON object and returns its id: the value of "id", else
// of "_id" (the last one if a key repeats, as decoders do). It also checks the permission
// key (see checkKey). On an error the id is returned when it was found before the problem.
func recordID(b []byte) (string, error) {
	id, found, err := scanRecord(b)
	if err == nil && !found {
		err = &Error{Reason: ReasonInvalid, Err: errors.New(`no "id" or "_id" field`)}
	}
	return id, err
}

// scanRecord validates a record (see recordID) and returns its id, if it has one.
func scanRecord(b []byte) (id string, found bool, err error) {
	s := jsonScanner{b: b}
	var uid string
	var hasID, hasUID bool
	current := func() (string, bool) {
		switch {
		case hasID:
			return id, true
		case hasUID:
			return uid, true
		}
		return "", false
	}
	err = s.object(func(key string) error {
		switch key {
		case "id", "_id":
			v, err := s.idValue(key)
			if err != nil {
				return err
			}
			if key == "id" {
				id, hasID = v, true
			} else {
				uid, hasUID = v, true
			}
			return nil
		case "metadata":
			// Its fields are the document's metadata: no acl among them either.
			return s.value(1, true)
		}
		return s.value(1, false)
	})
	if err == nil {
		err = s.aclErr
	}
	id, found = current()
	return id, found, err
}

// checkJSONObject validates b as one JSON object within maxMetadataDepth, with the
// permission key at most once, spelled acl, at the top (see jsonScanner.checkKey).
func checkJSONObject(b []byte) error {
	s := jsonScanner{b: b}
	if err := s.object(func(string) error { return s.value(1, false) }); err != nil {
		return err
	}
	return s.aclErr
}

// jsonScanner validates JSON and reads the few values SplitJSONL needs. It notes the
// first problem with a permission key in aclErr and goes on, so that the record's id can
// still be found.
type jsonScanner struct {
	b       []byte
	i       int
	aclSeen bool  // a top-level acl key was seen
	aclErr  error // the first misplaced, misspelled or repeated permission key
}

// jsonSyntaxError is invalid JSON at a byte offset.
type jsonSyntaxError struct {
	offset int
	msg    string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at column %d: %s", e.offset+1, e.msg)
}

func (s *jsonScanner) errorf(format string, args ...any) error {
	return &Error{Reason: ReasonInvalid, Err: &jsonSyntaxError{offset: s.i, msg: fmt.Sprintf(format, args...)}}
}

// object scans one JSON object that is the whole input, calling field after each
// top-level key and its colon; field must consume the value.
func (s *jsonScanner) object(field func(key string) error) error {
	s.space()
	if !s.consume('{') {
		return &Error{Reason: ReasonInvalid, Err: errors.New("not a JSON object")}
	}
	s.space()
	if !s.consume('}') {
		for {
			s.space()
			start := s.i
			key, err := s.key()
			if err != nil {
				return err
			}
			s.checkKey(key, start, true, false)
			s.space()
			if !s.consume(':') {
				return s.errorf("expected ':' after object key")
			}
			s.space()
			if err := field(key); err != nil {
				return err
			}
			s.space()
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return s.errorf("expected ',' or '}' in object")
		}
	}
	s.space()
	if s.i != len(s.b) {
		return s.errorf("unexpected data after the object")
	}
	return nil
}

// checkKey notes a problem with a permission key: at the top, acl must be spelled so and
// given once; anywhere else (metadata included) a key that folds to acl is a misplaced
// declaration.
func (s *jsonScanner) checkKey(key string, offset int, top, inMetadata bool) {
	if s.aclErr != nil || !isACLKey(key) {
		return
	}
	col := offset + 1
	switch {
	case !top && inMetadata:
		s.aclErr = &Error{Reason: ReasonInvalid, Err: &ACLError{Err: fmt.Errorf("column %d: %q inside \"metadata\" does not set permission tags: put \"acl\" at the top of the record", col, key)}}
	case !top:
		s.aclErr = &Error{Reason: ReasonInvalid, Err: &ACLError{Err: fmt.Errorf("column %d: %q inside a nested object: the permission key \"acl\" must be a top-level key", col, key)}}
	case key != "acl":
		s.aclErr = &Error{Reason: ReasonInvalid, Err: &ACLError{Err: fmt.Errorf("column %d: the permission key must be written \"acl\", not %q", col, key)}}
	case s.aclSeen:
		s.aclErr = &Error{Reason: ReasonInvalid, Err: &ACLError{Err: fmt.Errorf("column %d: \"acl\" is given twice: which one applies cannot be known", col)}}
	default:
		s.aclSeen = true
	}
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// key reads an object key. Keys with escapes are decoded; they are rare.
func (s *jsonScanner) key() (string, error) {
	start := s.i
	escaped, err := s.str()
	if err != nil {
		return "", err
	}
	return s.decodeString(start, escaped)
}

func (s *jsonScanner) decodeString(start int, escaped bool) (string, error) {
	raw := s.b[start:s.i]
	if !escaped && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	// Escapes, or invalid UTF-8 that encoding/json replaces with U+FFFD: decode as it does,
	// so that an id means the same here and in JSONLRecord.
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", &Error{Reason: ReasonInvalid, Err: fmt.Errorf("invalid JSON string at column %d: %w", start+1, err)}
	}
	return v, nil
}

// idValue reads an id: a non-empty string, or a number kept as written.
func (s *jsonScanner) idValue(key string) (string, error) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '"' {
		escaped, err := s.str()
		if err != nil {
			return "", err
		}
		v, err := s.decodeString(start, escaped)
		if err != nil {
			return "", err
		}
		if strings.TrimSpace(v) == "" {
			return "", &Error{Reason: ReasonInvalid, Err: fmt.Errorf("%q is empty", key)}
		}
		return v, nil
	}
	if s.i < len(s.b) && (s.b[s.i] == '-' || '0' <= s.b[s.i] && s.b[s.i] <= '9') {
		if err := s.number(); err != nil {
			return "", err
		}
		return string(s.b[start:s.i]), nil
	}
	if err := s.value(1, false); err != nil {
		return "", err
	}
	return "", &Error{Reason: ReasonInvalid, Err: fmt.Errorf("%q must be a string or a number, not %s", key, truncate(string(s.b[start:s.i]), 40))}
}

// str skips a string, reporting whether it has escapes.
func (s *jsonScanner) str() (escaped bool, err error) {
	if !s.consume('"') {
		return false, s.errorf("expected a string")
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return false, s.errorf("unterminated string")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) || !isHex4(s.b[s.i+2:s.i+6]) {
					return false, s.errorf(`invalid \u escape`)
				}
				s.i += 6
			default:
				return false, s.errorf("invalid escape \\%c", s.b[s.i+1])
			}
		case c < 0x20:
			return false, s.errorf("control character in string")
		default:
			s.i++
		}
	}
	return false, s.errorf("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number skips a number.
func (s *jsonScanner) number() error {
	s.consume('-')
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	switch {
	case s.consume('0'):
	case digits() == 0:
		return s.errorf("invalid number")
	}
	if s.consume('.') && digits() == 0 {
		return s.errorf("invalid number")
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if digits() == 0 {
			return s.errorf("invalid number")
		}
	}
	return nil
}

// value skips any JSON value, nested depth deep (a top-level field's value is at depth
// 1). Keys that may fold to acl are checked; inMetadata says the value is under "metadata".
func (s *jsonScanner) value(depth int, inMetadata bool) error {
	if depth > maxMetadataDepth {
		return &Error{Reason: ReasonInvalid, Err: fmt.Errorf("column %d: nested deeper than %d levels", s.i+1, maxMetadataDepth)}
	}
	if s.i >= len(s.b) {
		return s.errorf("unexpected end of line")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, err := s.str()
		return err
	case c == '{':
		s.i++
		s.space()
		if s.consume('}') {
			return nil
		}
		for {
			s.space()
			start := s.i
			escaped, err := s.str()
			if err != nil {
				return err
			}
			// Only short keys can fold to acl; decode those.
			if n := s.i - start; n <= 16 || escaped && n <= 100 {
				if key, err := s.decodeString(start, escaped); err == nil {
					s.checkKey(key, start, false, inMetadata)
				}
			}
			s.space()
			if !s.consume(':') {
				return s.errorf("expected ':' after object key")
			}
			s.space()
			if err := s.value(depth+1, inMetadata); err != nil {
				return err
			}
			s.space()
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				return nil
			}
			return s.errorf("expected ',' or '}' in object")
		}
	case c == '[':
		s.i++
		s.space()
		if s.consume(']') {
			return nil
		}
		for {
			s.space()
			if err := s.value(depth+1, inMetadata); err != nil {
				return err
			}
			s.space()
			if s.consume(',') {
				continue
			}
			if s.consume(']') {
				return nil
			}
			return s.errorf("expected ',' or ']' in array")
		}
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.errorf("unexpected character %q", s.b[s.i])
}

func (s *jsonScanner) literal(lit string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return s.errorf("invalid literal")
	}
	s.i += len(lit)
	return nil
}

// JSONLRecord decodes one record of a JSON Lines collection (a Record's Raw). "title" is
// the title; "text" is running text, split into paragraphs at blank lines; "acl", a list of
// strings or one string, is the ACL; the fields of a "metadata" object and every other
// top-level field except the id go into Metadata (the "metadata" object wins a clash). A
// record with a title but no text gets the title as its text, so that it can be found.
func JSONLRecord(raw []byte) (Document, error) {
	doc := newDocument("application/jsonl")
	// The scanner first: nesting within budget, the permission key exact (encoding/json
	// would keep the last of two "acl" and ignore "ACL").
	if _, _, err := scanRecord(raw); err != nil {
		var e *Error
		if errors.As(err, &e) && !IsACLError(err) {
			err = &Error{Reason: e.Reason, Err: fmt.Errorf("decode record: %w", e.Err)}
		}
		return Document{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return Document{}, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("decode record: %w", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Document{}, &Error{Reason: ReasonInvalid, Err: errors.New("decode record: unexpected data after the object")}
	}
	if fields == nil {
		return Document{}, &Error{Reason: ReasonInvalid, Err: errors.New("decode record: not a JSON object")}
	}
	title, err := stringField(fields, "title")
	if err != nil {
		return Document{}, err
	}
	body, err := stringField(fields, "text")
	if err != nil {
		return Document{}, err
	}
	if v, ok := fields["acl"]; ok {
		acl, err := parseACL(v)
		if err != nil {
			return Document{}, aclErrorf("record: %w", err)
		}
		doc.ACL = acl
	}
	var meta map[string]any
	if v, ok := fields["metadata"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return Document{}, &Error{Reason: ReasonInvalid, Err: fmt.Errorf(`record: "metadata" is a %s, not an object`, describe(v))}
		}
		meta = m
	}
	for k, v := range fields {
		switch k {
		case "title", "text", "acl", "id", "_id", "metadata":
			continue
		}
		n, err := normalizeValue(v, 1)
		if err != nil {
			return Document{}, invalidf("record: %q: %v", k, err)
		}
		doc.Metadata[k] = n
	}
	for k, v := range meta {
		n, err := normalizeValue(v, 2)
		if err != nil {
			return Document{}, invalidf("record: \"metadata\": %q: %v", k, err)
		}
		doc.Metadata[k] = n
	}
	// The record's "url" (else one in its "metadata"): checked, and never kept as metadata.
	metaURL, metaHas := takeURL(meta)
	if v, ok := takeURL(fields); ok {
		metaURL, metaHas = v, true
	}
	takeURL(doc.Metadata)
	doc.URL, doc.URLRefused = documentURL(metaURL, metaHas)

	title = textnorm.CollapseLine(title)
	body = textnorm.Collapse(blankLines(normalizeNewlines(body)))
	if body == "" {
		body = title
	}
	var e emitter
	for _, para := range strings.Split(body, "\n\n") {
		e.paragraph(para)
	}
	doc.Document = e.document(title)
	return finish(doc), nil
}

// stringField returns a string field of a record: "" when it is absent or null, an error
// when it is not a string.
func stringField(fields map[string]any, key string) (string, error) {
	switch v := fields[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", &Error{Reason: ReasonInvalid, Err: fmt.Errorf("record: %q is a %s, not a string", key, describe(v))}
	}
}

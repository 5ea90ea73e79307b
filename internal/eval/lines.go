package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// eachLine calls fn with every line of the file at path that is not blank, without its line
// ending, and its 1-based line number. An error from fn comes back as "path:line: error", so
// that a bad record can be found in an editor. Lines may be of any length (a corpus
// document is one line).
func eachLine(path string, fn func(n int, line []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err // *fs.PathError already names the file
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", path, err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) > 0 {
			if ferr := fn(n, line); ferr != nil {
				return fmt.Errorf("%s:%d: %w", path, n, ferr)
			}
		}
		if err != nil { // io.EOF, after the last line
			return nil
		}
	}
}

// decodeJSONLine decodes one JSON Lines record into v: exactly one JSON value per line.
func decodeJSONLine(line []byte, v any) error {
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("invalid JSON record: %w", err)
	}
	return nil
}

// corpusIDs reads the "_id" of every line of a JSON Lines corpus and returns them as a set.
// Every line must be a JSON object with a non-empty, unique "_id"; the other fields are not
// kept (the ingestion pipeline reads the documents themselves).
func corpusIDs(path string) (map[string]struct{}, error) {
	ids := make(map[string]struct{})
	err := eachLine(path, func(_ int, line []byte) error {
		var doc struct {
			ID string `json:"_id"`
		}
		if err := decodeJSONLine(line, &doc); err != nil {
			return err
		}
		if doc.ID == "" {
			return errors.New(`document without "_id"`)
		}
		if _, dup := ids[doc.ID]; dup {
			return fmt.Errorf("duplicate document id %q", doc.ID)
		}
		ids[doc.ID] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no documents", path)
	}
	return ids, nil
}

// listSome formats ids for an error message: all of them up to limit, then a count of the rest.
func listSome(ids []string, limit int) string {
	if len(ids) <= limit {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:limit], ", "), len(ids)-limit)
}

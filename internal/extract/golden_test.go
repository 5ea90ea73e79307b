package extract

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/chunk"
)

// update rewrites golden files instead of comparing with them: go test -run Golden -update.
var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden extracts the realistic documents in testdata/text and compares a readable dump
// of each result with its .golden file.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/text/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, file := range files {
		if strings.HasSuffix(file, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if Detect(file, data) == FormatJSONL {
				got = dumpJSONL(t, data)
			} else {
				doc, err := Text(file, data)
				if err != nil {
					t.Fatal(err)
				}
				checkDocument(t, file, doc)
				got = dumpDocument(doc)
			}
			golden := file + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run Golden -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s differs from %s (-want +got):\n%s", file, golden, diff)
			}
		})
	}
	if n < 5 {
		t.Errorf("only %d documents in testdata/text", n)
	}
}

// dumpDocument renders a document for a golden file: its fields, then each block with its
// kind, level and text.
func dumpDocument(doc Document) string {
	var b strings.Builder
	meta, _ := json.Marshal(doc.Metadata) // maps marshal with sorted keys
	acl := "none"
	if doc.ACL != nil {
		acl = fmt.Sprintf("%q", doc.ACL)
	}
	fmt.Fprintf(&b, "title: %q\ncontent-type: %s\nskip: %q\nacl: %s\nmetadata: %s\n", doc.Title, doc.ContentType, doc.Skip, acl, meta)
	names := map[chunk.Kind]string{chunk.Paragraph: "paragraph", chunk.Heading: "heading", chunk.ListItem: "list item", chunk.Code: "code", chunk.Table: "table"}
	for _, blk := range doc.Blocks {
		fmt.Fprintf(&b, "\n--- %s", names[blk.Kind])
		if blk.Kind == chunk.Heading {
			fmt.Fprintf(&b, " %d", blk.Level)
		}
		fmt.Fprintf(&b, " [%d,%d)\n%s\n", blk.Start, blk.End, doc.Text[blk.Start:blk.End])
	}
	return b.String()
}

func dumpJSONL(t *testing.T, data []byte) string {
	var b strings.Builder
	for _, r := range SplitJSONL(data) {
		fmt.Fprintf(&b, "=== line %d id %q", r.Line, r.ID)
		if r.Err != nil {
			fmt.Fprintf(&b, " error: %v\n\n", r.Err)
			continue
		}
		doc, err := JSONLRecord(r.Raw)
		if err != nil {
			fmt.Fprintf(&b, " record error: %v\n\n", err)
			continue
		}
		checkDocument(t, fmt.Sprintf("line %d", r.Line), doc)
		b.WriteString("\n" + dumpDocument(doc) + "\n")
	}
	return b.String()
}

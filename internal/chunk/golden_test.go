package chunk

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// fixtures returns the paths of the fixture documents in testdata/.
func fixtures(t testing.TB) []string {
	t.Helper()
	var paths []string
	for _, pattern := range []string{"testdata/*.md", "testdata/*.txt"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Fatal("no fixtures in testdata/")
	}
	return paths
}

// TestGolden splits each fixture in testdata/ and compares the chunks with the JSON in its
// .golden.json file. Run `go test ./internal/chunk -update` to accept new output, after
// reading the diff.
func TestGolden(t *testing.T) {
	for _, path := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fx := loadFixture(t, path)
			c, err := New(fx.cfg)
			if err != nil {
				t.Fatal(err)
			}
			chunks := c.Split(fx.doc)
			if err := checkChunks(fx.doc, c.Config(), chunks); err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(golden{Config: c.Config(), Chunks: chunks}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			goldenPath := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("chunks differ from %s (-want +got):\n%s", goldenPath, cmp.Diff(string(want), string(got)))
			}
		})
	}
}

type golden struct {
	Config Config
	Chunks []Chunk
}

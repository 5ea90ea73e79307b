package evaldata

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"unicode"
)

// ScaleStats describes the sentences a scale corpus was drawn from.
type ScaleStats struct {
	Sentences, SciFact, ClapNQ int
}

// ScaleCorpus generates a corpus for benchmarks at scale, as JSON Lines: the documents of
// ScaleDocuments, each with the tags of ScaleTags.
func ScaleCorpus(scifactPath, clapnqPath string, docs int, seed uint64) ([]byte, ScaleStats, error) {
	list, st, err := ScaleDocuments(scifactPath, clapnqPath, docs, seed)
	if err != nil {
		return nil, st, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, d := range list {
		if err := enc.Encode(map[string]any{"id": d.ID, "title": "", "text": d.Text, "acl": ScaleTags(d.ID)}); err != nil {
			return nil, st, err
		}
	}
	return buf.Bytes(), st, nil
}

// ScaleDocument is one document of a scale corpus.
type ScaleDocument struct {
	ID   string // d000000, d000001, ...
	Text string
}

// ScaleDocuments generates the documents of a corpus for benchmarks at scale: docs documents
// of two or three sentences drawn with a fixed seed from the distinct sentences (five words
// or more) of SciFact's abstracts (scifactPath) and ClapNQ's passages (clapnqPath). It is
// deterministic for the same input files and no two documents have the same text.
func ScaleDocuments(scifactPath, clapnqPath string, docs int, seed uint64) ([]ScaleDocument, ScaleStats, error) {
	var sentences []string
	seen := map[string]bool{}
	add := func(s string) bool {
		s = strings.Join(strings.Fields(s), " ")
		// Fragments ("(n = 17)", a lone heading) are not sentences.
		if len(strings.Fields(s)) < 5 || seen[s] {
			return false
		}
		seen[s] = true
		sentences = append(sentences, s)
		return true
	}
	var st ScaleStats
	err := ReadJSONL(scifactPath, func(rec map[string]any) {
		text, _ := rec["text"].(string)
		for _, s := range splitSentences(text) {
			if add(s) {
				st.SciFact++
			}
		}
	})
	if err != nil {
		return nil, st, err
	}
	err = ReadJSONL(clapnqPath, func(rec map[string]any) {
		// ClapNQ gives each passage's sentences.
		meta, _ := rec["metadata"].(map[string]any)
		list, _ := meta["sentences"].([]any)
		for _, v := range list {
			if s, ok := v.(string); ok && add(s) {
				st.ClapNQ++
			}
		}
	})
	if err != nil {
		return nil, st, err
	}
	st.Sentences = len(sentences)
	if len(sentences) < 1000 {
		return nil, st, fmt.Errorf("only %d sentences in the evaluation data", len(sentences))
	}

	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]ScaleDocument, 0, docs)
	texts := map[string]bool{}
	for i := range docs {
		var text string
		for {
			n := 2 + rng.IntN(2)
			parts := make([]string, n)
			for j := range parts {
				parts[j] = sentences[rng.IntN(len(sentences))]
			}
			text = strings.Join(parts, " ")
			if !texts[text] {
				break
			}
		}
		texts[text] = true
		out = append(out, ScaleDocument{ID: fmt.Sprintf("d%06d", i), Text: text})
	}
	return out, st, nil
}

// ScaleTags are the permission tags of a scale corpus document, from the hash of its id:
// group:all, and group:s50, s10, s1 and s01 for the lowest 50%, 10%, 1% and 0.1% of hashes
// (nested), so a caller with principal group:sX sees about X% of the documents.
func ScaleTags(id string) []string {
	h := sha256.Sum256([]byte(id))
	permille := binary.BigEndian.Uint64(h[:8]) % 1000
	tags := []string{"group:all"}
	for _, t := range []struct {
		below uint64
		tag   string
	}{{500, "group:s50"}, {100, "group:s10"}, {10, "group:s1"}, {1, "group:s01"}} {
		if permille < t.below {
			tags = append(tags, t.tag)
		}
	}
	return tags
}

// splitSentences splits running text after '.', '!' or '?' followed by a space and an upper-
// case letter or a digit: abbreviations in mid-sentence ("et al. showed", "e.g. the") stay.
func splitSentences(text string) []string {
	var out []string
	rs := []rune(text)
	start := 0
	for i := 0; i+2 < len(rs); i++ {
		if (rs[i] == '.' || rs[i] == '!' || rs[i] == '?') && rs[i+1] == ' ' &&
			(unicode.IsUpper(rs[i+2]) || unicode.IsDigit(rs[i+2])) {
			out = append(out, string(rs[start:i+1]))
			start = i + 2
		}
	}
	if start < len(rs) {
		out = append(out, string(rs[start:]))
	}
	return out
}

// ReadJSONL calls fn with each record of the JSON Lines file at path.
func ReadJSONL(path string, fn func(map[string]any)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("%s line %d: %w", path, line, err)
		}
		fn(rec)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

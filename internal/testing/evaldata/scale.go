package evaldata

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
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
	sentences, st, err := scaleSentences(scifactPath, clapnqPath)
	if err != nil {
		return nil, st, err
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

// scaleSentences returns the distinct sentences (five words or more) of SciFact's abstracts
// and ClapNQ's passages, in the order of the files.
func scaleSentences(scifactPath, clapnqPath string) ([]string, ScaleStats, error) {
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
	return sentences, st, nil
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

// LongDocuments makes part of a scale corpus's documents as long as a chunk: a document
// whose id falls in the long share (by a hash of the id independent of ScaleTags) gets
// sentences until its length, counted by Count (chunk.CountTokens), reaches a target drawn
// between MinTokens and MaxTokens.
type LongDocuments struct {
	Permille             int // documents in 1,000 that are long
	MinTokens, MaxTokens int
	Count                func(string) int
}

// ScaleFiles describes a corpus written by WriteScaleCorpus.
type ScaleFiles struct {
	Files        []string
	SHA256       [32]byte // of the files' bytes, in order
	Docs, Long   int
	Tokens       int64 // Count over every document (0 without long documents)
	ScaleStats         // the sentences drawn from
	LongMinToken int   // the shortest and longest long document
	LongMaxToken int
}

// WriteScaleCorpus writes a scale corpus of docs documents as JSON Lines files of perFile
// documents each (scale-00000.jsonl, ...) into dir, with the tags of ScaleTags, streaming (a
// million documents, half of them of 350 tokens, are about 1.2 GB). Each document is drawn from a generator
// seeded with (seed, its number), so the first n documents of a larger corpus are the corpus
// of n documents with the same seed and options. Short documents are two or three sentences
// as in ScaleDocuments (but not the same draws); long ones are described by long. No two
// documents have the same text.
func WriteScaleCorpus(dir, scifactPath, clapnqPath string, docs, perFile int, seed uint64, long LongDocuments) (ScaleFiles, error) {
	var out ScaleFiles
	sentences, st, err := scaleSentences(scifactPath, clapnqPath)
	out.ScaleStats = st
	if err != nil {
		return out, err
	}
	if perFile < 1 || (long.Permille > 0 && (long.Count == nil || long.MinTokens < 1 || long.MaxTokens < long.MinTokens)) {
		return out, errors.New("WriteScaleCorpus: perFile must be positive, and long documents need Count and 1 <= MinTokens <= MaxTokens")
	}
	sum := sha256.New()
	seen := make(map[[16]byte]struct{}, docs)
	var f *os.File
	var w *bufio.Writer
	closeFile := func() error {
		if f == nil {
			return nil
		}
		err := errors.Join(w.Flush(), f.Close())
		f = nil
		return err
	}
	defer func() { _ = closeFile() }()
	out.LongMinToken = math.MaxInt
	for i := range docs {
		if i%perFile == 0 {
			if err := closeFile(); err != nil {
				return out, err
			}
			path := filepath.Join(dir, fmt.Sprintf("scale-%05d.jsonl", i/perFile))
			if f, err = os.Create(path); err != nil {
				return out, err
			}
			w = bufio.NewWriterSize(io.MultiWriter(f, sum), 1<<20)
			out.Files = append(out.Files, path)
		}
		id := fmt.Sprintf("d%06d", i)
		h := sha256.Sum256([]byte("length:" + id))
		isLong := long.Permille > 0 && int(binary.BigEndian.Uint64(h[:8])%1000) < long.Permille
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		var text string
		var tokens int
		for {
			var parts []string
			tokens = 0
			if isLong {
				target := long.MinTokens + rng.IntN(long.MaxTokens-long.MinTokens+1)
				for misses := 0; tokens < target && misses < 20; {
					s := sentences[rng.IntN(len(sentences))]
					n := long.Count(s)
					if tokens+n > long.MaxTokens {
						misses++
						continue
					}
					parts = append(parts, s)
					tokens += n
				}
			} else {
				for range 2 + rng.IntN(2) {
					parts = append(parts, sentences[rng.IntN(len(sentences))])
				}
			}
			text = strings.Join(parts, " ")
			key := sha256.Sum256([]byte(text))
			if _, dup := seen[[16]byte(key[:16])]; !dup {
				seen[[16]byte(key[:16])] = struct{}{}
				break
			}
		}
		if long.Count != nil {
			if !isLong {
				tokens = long.Count(text)
			}
			out.Tokens += int64(tokens)
		}
		if isLong {
			out.Long++
			out.LongMinToken = min(out.LongMinToken, tokens)
			out.LongMaxToken = max(out.LongMaxToken, tokens)
		}
		line, err := json.Marshal(map[string]any{"id": id, "title": "", "text": text, "acl": ScaleTags(id)})
		if err != nil {
			return out, err
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return out, err
		}
		out.Docs++
	}
	if err := closeFile(); err != nil {
		return out, err
	}
	copy(out.SHA256[:], sum.Sum(nil))
	if out.Long == 0 {
		out.LongMinToken = 0
	}
	return out, nil
}

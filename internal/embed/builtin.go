package embed

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// BuiltinModel names the built-in embedder's feature function. Any change to what
// Builtin computes (tokenisation, features, weights, hashing, stop words) must give it a
// new version, because vectors of different versions must never share an index.
const BuiltinModel = "hash-ngram-v1"

// DefaultBuiltinDimension is the built-in embedder's dimension when none is configured.
const DefaultBuiltinDimension = 384

// maxDimension is the largest vector Docent's index can hold (halfvec under HNSW, see the
// index_generations table). Bigger vectors could not be stored, so they are refused early.
const maxDimension = 4000

// minBuiltinDimension keeps hash collisions bearable: below it, unrelated words share too
// many buckets for the similarities to mean much.
const minBuiltinDimension = 32

// BuiltinConfig configures the built-in embedder.
type BuiltinConfig struct {
	Dimension int // length of every vector; default 384, between 32 and 4000
}

func (c BuiltinConfig) validate() error {
	if c.Dimension < minBuiltinDimension || c.Dimension > maxDimension {
		return fmt.Errorf("embed: BuiltinConfig.Dimension: %d is not between %d and %d", c.Dimension, minBuiltinDimension, maxDimension)
	}
	return nil
}

// Builtin is a deterministic embedder that needs no network and no model files: it hashes
// lexical features of the text into a vector ("feature hashing").
//
// The features are the words (runs of letters, digits and combining marks of the NFKC-
// normalised, lower-cased text), the bigrams of consecutive words that are not English stop
// words, and the character 3- to 5-grams of each such word with start and end markers
// ("<de", "dep", ..., "loy>"). A feature seen tf times weighs 1 + ln(tf) times its kind's
// weight; stop words keep a small unigram weight and no n-grams. Each n-gram adds its weight
// to one of Dimension buckets, with a sign taken from another bit of its hash so that
// collisions cancel out on average instead of piling up; words and bigrams, which weigh
// more, are spread over two buckets so that one collision cannot erase them. The vector is
// then scaled to unit length.
//
// What it captures is lexical and sub-word similarity: shared words and phrases, shared
// stems and inflections ("deploy" and "deploying"), compounds and typos ("configuraton").
// It does not capture meaning: synonyms and paraphrases ("car" and "automobile") do not
// match, and a question shares little with an answer that uses other words.
//
// Hashing into few dimensions also adds noise: the cosine of unrelated texts scatters by
// about 1/√Dimension (0.05 at 384), while a three-word query that matches one phrase of a
// 350-token chunk scores only about 0.1. In a test with three-word queries taken from one
// of 4,000 chunks of 260 words, the chunk ranked in the top ten for about half the queries
// at 384 dimensions and two thirds at 1,024. It is a sound default beside full-text search
// and a fallback when no model server is available, not a replacement for a neural model.
//
// Text with no words at all (empty, whitespace, punctuation) gets one fixed unit vector, so
// that no vector is ever zero (pgvector's cosine distance of a zero vector is NaN). Vectors
// are identical across runs, processes and machines up to float32 rounding.
//
// A Builtin is safe for concurrent use.
type Builtin struct {
	dim  int
	pool sync.Pool // *hashScratch
}

// NewBuiltin returns the built-in embedder.
func NewBuiltin(cfg BuiltinConfig) (*Builtin, error) {
	cfg.Dimension = cmp.Or(cfg.Dimension, DefaultBuiltinDimension)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Builtin{dim: cfg.Dimension}, nil
}

// Kind returns "builtin".
func (*Builtin) Kind() string { return "builtin" }

// Model returns the versioned name of the feature function, BuiltinModel.
func (*Builtin) Model() string { return BuiltinModel }

// Dimension returns the length of every vector.
func (b *Builtin) Dimension() int { return b.dim }

// Embed returns one unit vector per text, in order. It fails only when ctx is done.
func (b *Builtin) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	// One allocation for all vectors; each is capped so that an append cannot run into
	// its neighbour.
	buf := make([]float32, len(texts)*b.dim)
	s, _ := b.pool.Get().(*hashScratch)
	if s == nil {
		s = newHashScratch()
	}
	defer b.put(s)
	for i, text := range texts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("embed text %d: %w", i, err)
		}
		v := buf[i*b.dim : (i+1)*b.dim : (i+1)*b.dim]
		s.features(text)
		s.project(v)
		out[i] = v
	}
	return out, nil
}

// put returns s to the pool unless an unusually large text made it big.
func (b *Builtin) put(s *hashScratch) {
	if len(s.table) > maxPooledTable {
		return
	}
	b.pool.Put(s)
}

// Feature kinds, kept in the low bits of a feature's key.
const (
	kindWord    = 1 // a word that is not a stop word
	kindStop    = 2 // a stop word
	kindBigram  = 3 // two consecutive non-stop words
	kindNgram   = 4 // a character 3-, 4- or 5-gram of a non-stop word
	kindNothing = 5 // the single feature of a text without words
	kindBits    = 3
	kindMask    = 1<<kindBits - 1
)

// kindWeight is the weight of one occurrence of each kind. A word of six letters has
// fifteen n-grams, so n-grams weigh less each: together they count about as much as the
// word itself. Bigrams reward shared phrases without drowning single words. Read-only.
var kindWeight = [8]float64{
	kindWord:    1,
	kindStop:    0.15,
	kindBigram:  0.7,
	kindNgram:   0.3,
	kindNothing: 1,
}

// Seeds that keep the hashes of different kinds apart.
const (
	seedWord   = 0x9e3779b97f4a7c15
	seedBigram = 0xbf58476d1ce4e5b9
	seedNgram  = 0x94d049bb133111eb
)

// Markers around a word for its n-grams, outside the range of Unicode code points so that
// they cannot collide with any character.
const (
	markStart = unicode.MaxRune + 1
	markEnd   = unicode.MaxRune + 2
)

const (
	minTable       = 1 << 10
	maxPooledTable = 1 << 16
	fnvPrime       = 1099511628211
)

// fnvStep folds one rune into an FNV-1a style hash. The final mix64 gives the avalanche that
// FNV alone lacks.
func fnvStep(h uint64, r rune) uint64 { return (h ^ uint64(r)) * fnvPrime }

// mix64 is the finaliser of MurmurHash3: every input bit affects every output bit.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// key makes a table key from a hash and a kind. It is never 0, the empty slot.
func key(h uint64, kind uint64) uint64 { return mix64(h)&^kindMask | kind }

// wordHash is the hash of a lower-cased word, the same for the stop word list.
func wordHash(word []rune) uint64 {
	h := uint64(seedWord)
	for _, r := range word {
		h = fnvStep(h, r)
	}
	return h
}

// entry is one slot of the feature table.
type entry struct {
	key   uint64
	count uint32
}

// hashScratch holds the buffers of one Embed call: an open-addressing table of the text's
// features with their counts, the slots in use (to reset only those) and the current word.
type hashScratch struct {
	table []entry
	used  []int32
	word  []rune
	gram  []rune
}

func newHashScratch() *hashScratch {
	return &hashScratch{table: make([]entry, minTable), word: make([]rune, 0, 64), gram: make([]rune, 0, 66)}
}

// add counts one occurrence of the feature k.
func (s *hashScratch) add(k uint64) {
	mask := len(s.table) - 1
	i := int(k>>kindBits) & mask
	for {
		e := &s.table[i]
		if e.key == k {
			e.count++
			return
		}
		if e.key == 0 {
			e.key, e.count = k, 1
			s.used = append(s.used, int32(i))
			if 2*len(s.used) > len(s.table) {
				s.grow()
			}
			return
		}
		i = (i + 1) & mask
	}
}

// grow doubles the table, keeping the load factor at most one half.
func (s *hashScratch) grow() {
	old := s.table
	s.table = make([]entry, 2*len(old))
	mask := len(s.table) - 1
	used := s.used[:0]
	for _, j := range s.used {
		e := old[j]
		i := int(e.key>>kindBits) & mask
		for s.table[i].key != 0 {
			i = (i + 1) & mask
		}
		s.table[i] = e
		used = append(used, int32(i))
	}
	s.used = used
}

// features fills the table with the features of text.
func (s *hashScratch) features(text string) {
	if !isASCII(text) {
		if !utf8.ValidString(text) {
			// Invalid bytes become U+FFFD, which is not a letter: they separate words.
			text = strings.ToValidUTF8(text, "\uFFFD")
		}
		text = norm.NFKC.String(text)
	}
	var prev uint64 // hash of the previous non-stop word in the sentence; 0 for none
	s.word = s.word[:0]
	for _, r := range text {
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			if asciiWord[r] {
				s.word = append(s.word, r)
				continue
			}
		} else if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) {
			s.word = append(s.word, unicode.ToLower(r))
			continue
		}
		if len(s.word) > 0 {
			prev = s.addWord(prev)
			s.word = s.word[:0]
		}
		switch r {
		case '.', '!', '?', ';', '\n', '\u3002': // a bigram does not span sentences
			prev = 0
		}
	}
	if len(s.word) > 0 {
		s.addWord(prev)
	}
	if len(s.used) == 0 {
		s.add(key(0, kindNothing))
	}
}

// addWord adds the features of s.word, which follows the word hashed prev, and returns what
// the next word's prev is.
func (s *hashScratch) addWord(prev uint64) uint64 {
	h := wordHash(s.word)
	if len(s.word) <= maxStopWordLen {
		if _, ok := stopWords[h]; ok {
			s.add(key(h, kindStop))
			return prev
		}
	}
	s.add(key(h, kindWord))
	if prev != 0 {
		s.add(key((prev^seedBigram)*fnvPrime^h, kindBigram))
	}
	g := append(s.gram[:0], markStart)
	g = append(g, s.word...)
	g = append(g, markEnd)
	s.gram = g
	for i := 0; i+3 <= len(g); i++ {
		gh := fnvStep(fnvStep(seedNgram, g[i]), g[i+1])
		for n := 3; n <= 5 && i+n <= len(g); n++ {
			gh = fnvStep(gh, g[i+n-1])
			s.add(key(gh, kindNgram))
		}
	}
	return h
}

// project writes the unit vector of the table's features into v and resets the table.
func (s *hashScratch) project(v []float32) {
	dim := uint64(len(v))
	for _, i := range s.used {
		e := &s.table[i]
		kind := e.key & kindMask
		w := kindWeight[kind] * logWeight(e.count)
		if kind == kindNgram {
			addSigned(v, e.key, dim, w)
		} else {
			// A word or bigram weighs as much as a dozen n-grams: in one bucket, a single
			// collision with another word could erase a match. Two buckets halve the damage.
			w *= math.Sqrt2 / 2
			addSigned(v, e.key, dim, w)
			addSigned(v, mix64(e.key), dim, w)
		}
		*e = entry{}
	}
	s.used = s.used[:0]
	if !normalize(v) {
		// The features cancelled out exactly (possible only with very few): fall back to
		// the vector of a text without words rather than return zeros.
		s.add(key(0, kindNothing))
		s.project(v)
	}
}

// addSigned adds ±w to the bucket of the hash h: its high 32 bits pick the bucket
// (multiply-shift, uniform for any dimension), bit 31 the sign. The kind is in the low bits.
func addSigned(v []float32, h, dim uint64, w float64) {
	if h&(1<<31) != 0 {
		w = -w
	}
	v[(h>>32)*dim>>32] += float32(w)
}

// logWeight is 1 + ln(tf), the sublinear term frequency weight.
func logWeight(tf uint32) float64 {
	if int(tf) < len(logWeights) {
		return logWeights[tf]
	}
	return 1 + math.Log(float64(tf))
}

var logWeights = func() (w [64]float64) {
	for i := 1; i < len(w); i++ {
		w[i] = 1 + math.Log(float64(i))
	}
	return w
}()

// normalize scales v to unit length and reports whether it could (v was not zero).
func normalize(v []float32) bool {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return false
	}
	inv := 1 / math.Sqrt(sum)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiWord tells which ASCII characters (already lower-cased) belong to words.
var asciiWord = func() (t [utf8.RuneSelf]bool) {
	for r := '0'; r <= '9'; r++ {
		t[r] = true
	}
	for r := 'a'; r <= 'z'; r++ {
		t[r] = true
	}
	return t
}()

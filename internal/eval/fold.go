package eval

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Folds: every evaluation set is split the same way, so that settings can be chosen on some
// folds and reported on the others. The fold of an item depends on its key alone, never on
// the order of the file or on the other items:
//
//	fold(key, n) = uint64(first 8 bytes of SHA-256(key), big-endian) mod n
//
// The key is the item's own id: a BEIR query id, a ClapNQ question id, an MTRAG
// conversation id (the unit that must not be split: its turns share a topic), the "id" of a
// question/answer pair, the anchor of a FAQ heading. SHA-256 rather than FNV: FNV's low bits,
// which the modulus keeps, hardly depend on the last bytes of the key.

// MaxFolds bounds the number of folds: more would leave most folds empty.
const MaxFolds = 1000

// Fold returns the fold, in [0, n), of the item whose key is key. n must be at least 1.
func Fold(key string, n int) int {
	if n < 1 {
		panic(fmt.Sprintf("eval.Fold: %d folds", n))
	}
	h := sha256.Sum256([]byte(key))
	return int(binary.BigEndian.Uint64(h[:8]) % uint64(n))
}

// FoldSelection selects the items of some folds of a split into N folds. The zero value
// selects everything.
type FoldSelection struct {
	N    int   // folds; 0: no split
	Keep []int // the folds kept, ascending; every fold when empty
}

// ParseFolds returns the selection of --folds n --fold spec: spec is empty (every fold, each
// reported on its own) or a comma-separated list of folds in [0, n) ("4", or "0,1,2,3" to
// tune on four folds of five). n 0 means no split, and then spec must be empty.
func ParseFolds(n int, spec string) (FoldSelection, error) {
	switch {
	case n < 0 || n > MaxFolds:
		return FoldSelection{}, fmt.Errorf("--folds %d: want 0 (no split) to %d", n, MaxFolds)
	case n == 0 && spec != "":
		return FoldSelection{}, fmt.Errorf("--fold %q needs --folds N", spec)
	case n == 1 && spec == "":
		return FoldSelection{}, nil // one fold is no split
	}
	sel := FoldSelection{N: n}
	if spec == "" {
		return sel, nil
	}
	for p := range strings.SplitSeq(spec, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || k < 0 || k >= n {
			return FoldSelection{}, fmt.Errorf("--fold %q: want comma-separated folds from 0 to %d", spec, n-1)
		}
		if slices.Contains(sel.Keep, k) {
			return FoldSelection{}, fmt.Errorf("--fold %q: fold %d is given twice", spec, k)
		}
		sel.Keep = append(sel.Keep, k)
	}
	slices.Sort(sel.Keep)
	return sel, nil
}

// Selects reports whether the item with this key is in the selection.
func (s FoldSelection) Selects(key string) bool {
	if s.N <= 1 || len(s.Keep) == 0 {
		return true
	}
	return slices.Contains(s.Keep, Fold(key, s.N))
}

// Folds are the folds the selection keeps, ascending (nil without a split).
func (s FoldSelection) Folds() []int {
	if s.N <= 1 {
		return nil
	}
	if len(s.Keep) > 0 {
		return s.Keep
	}
	all := make([]int, s.N)
	for i := range all {
		all[i] = i
	}
	return all
}

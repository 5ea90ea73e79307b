package eval

import "hash/fnv"

// Fold returns the fold, 0 to n−1, of the question, query or task with the given id: FNV-1a
// (32 bits) of the id modulo n. It depends on the id alone, never on the order of a file,
// so a set's folds stay the same when its questions are reordered, filtered or added to.
// Settings are chosen on some folds and reported on the others (docs/retrieval.md). n must
// be at least 1.
func Fold(id string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

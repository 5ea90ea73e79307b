package main

import (
	"flag"

	"github.com/docent-rag/docent/internal/eval"
)

// foldFlags select folds of a set: --folds N --fold K[,K...] (internal/eval's Fold: a hash
// of each item's id, the same rule for every set and every command).
type foldFlags struct {
	n    int
	keep string
}

func (f *foldFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.n, "folds", 0, "split the set into N folds by a hash of each query's id (0: no split)")
	fs.StringVar(&f.keep, "fold", "", "with --folds: evaluate only these folds, comma-separated (0 to N-1; default: every fold)")
}

func (f foldFlags) parse() (eval.FoldSelection, error) {
	return eval.ParseFolds(f.n, f.keep)
}

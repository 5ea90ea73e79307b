package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/retrieve"
)

// Fitting the evidence strength model (`eval qa --fit`): a logistic regression of "the
// question is answerable" on the model's inputs (coverage, gap, agreement; or those
// --fit-inputs names, among them the candidates of candidates.go), on the tuning
// folds of several sets at once, each set weighted equally (a question of a set of n weighs
// 1/n), every input's weight constrained to be ≥ 0 so that strength grows with each input.
// The threshold is then the one that refuses the most unanswerable questions in the worse
// set while answering at least minAnswered of the answerable ones in every set, on the
// tuning folds. Held-out folds are only reported.

const (
	// minAnswered is the share of answerable questions the default threshold must answer in
	// every tuning set.
	minAnswered = 0.85
	// fitRidge is the L2 penalty on the input weights (not the intercept), per unit of
	// total weight: enough to keep Newton's steps finite on separable data.
	fitRidge = 1e-3
	// maxFeatureLines bounds a features dump (a set has hundreds of questions).
	maxFeatureLines = 1_000_000
)

// modelInputs are the inputs of retrieve.StrengthModel, in the order of its weights: what
// --fit fits unless --fit-inputs names others.
var modelInputs = []string{"coverage", "gap", "agreement"}

// maxFitInputs bounds --fit-inputs: the fit tries every subset of the inputs.
const maxFitInputs = 12

// inputValue is the named input of a question: one of the model's inputs, or a candidate
// of the dump (candidateInputs).
func inputValue(r qaFeatures, name string) (float64, bool) {
	switch name {
	case "coverage":
		return r.Inputs.Coverage, true
	case "gap":
		return r.Inputs.Gap, true
	case "agreement":
		return r.Inputs.Agreement, true
	}
	v, ok := r.Candidates[name]
	return v, ok
}

// inputVector is the question's values of the named inputs (0 for one it lacks).
func inputVector(r qaFeatures, names []string) []float64 {
	x := make([]float64, len(names))
	for i, n := range names {
		x[i], _ = inputValue(r, n)
	}
	return x
}

// parseFitInputs checks a --fit-inputs list: known names (the model's inputs or the
// candidates), each once, at most maxFitInputs.
func parseFitInputs(s string) ([]string, error) {
	if s == "" {
		return modelInputs, nil
	}
	var names []string
	for n := range strings.SplitSeq(s, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(modelInputs, n) && !slices.Contains(candidateNames, n) {
			return nil, fmt.Errorf("--fit-inputs: unknown input %q (inputs: %s)", n, strings.Join(append(slices.Clone(modelInputs), candidateNames...), ", "))
		}
		if slices.Contains(names, n) {
			return nil, fmt.Errorf("--fit-inputs: %q twice", n)
		}
		names = append(names, n)
	}
	if len(names) > maxFitInputs {
		return nil, fmt.Errorf("--fit-inputs: %d inputs, at most %d", len(names), maxFitInputs)
	}
	return names, nil
}

// fitModel is a fitted strength model: σ(w[0] + Σ w[i+1]·input i).
type fitModel struct {
	names []string
	w     []float64
}

func (m fitModel) strength(r qaFeatures) float64 {
	return sigmoid(dot(m.w, append([]float64{1}, inputVector(r, m.names)...)))
}

func (m fitModel) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "σ(%.2f", m.w[0])
	for i, n := range m.names {
		fmt.Fprintf(&b, " + %.2f·%s", m.w[i+1], n)
	}
	b.WriteString(")")
	return b.String()
}

// scorer is a strength model as a function of a dumped question.
type scorer func(qaFeatures) float64

// inUse is the model retrieval uses.
func inUse(r qaFeatures) float64 { return retrieve.DefaultStrengthModel.Strength(r.Inputs) }

// fitSet is one set's questions for the fit.
type fitSet struct {
	name string
	rows []qaFeatures
}

// runFit fits the model on the tuning folds of the dumps and prints the weights, the
// threshold and, for each set, the figures of the tuning and held-out folds beside those of
// the model in use (retrieve.DefaultStrengthModel at DOCENT_MIN_EVIDENCE's default).
func runFit(paths []string, names []string, n int, tune []int, e env) int {
	var sets []fitSet
	for _, p := range paths {
		rows, err := readFeatures(p)
		if err != nil {
			fmt.Fprintf(e.stderr, "eval qa: --fit: %v\n", err)
			return exitUsage
		}
		sets = append(sets, fitSet{name: strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)), rows: rows})
	}
	isTune := func(r qaFeatures) bool { return slices.Contains(tune, eval.Fold(r.FoldKey, n)) }
	var tuning [][]qaFeatures
	for _, s := range sets {
		t := slices.DeleteFunc(slices.Clone(s.rows), func(r qaFeatures) bool { return !isTune(r) })
		if !hasBothClasses(t) {
			fmt.Fprintf(e.stderr, "eval qa: --fit: %s has no answerable or no unanswerable question in the tuning folds\n", s.name)
			return exitUsage
		}
		tuning = append(tuning, t)
	}
	w := fitStrength(tuning, names)
	// The weights go into the code with two decimals: the threshold and the figures are
	// those of the rounded weights.
	for i := range w {
		w[i] = math.Round(w[i]*100) / 100
	}
	m := fitModel{names: names, w: w}
	th, ok := chooseThreshold(m.strength, tuning, minAnswered)
	fmt.Fprintf(e.stdout, "strength = %s, fitted on folds %s of %d (%s; each set weighted equally, weights ≥ 0)\n",
		m, fmtInts(tune), n, strings.Join(setNames(sets), ", "))
	if ok {
		fmt.Fprintf(e.stdout, "threshold %.2f: refuses the most unanswerable questions in the worse tuning set while answering ≥ %.2f of answerable ones in each\n", th, minAnswered)
	} else {
		fmt.Fprintf(e.stdout, "no threshold answers ≥ %.2f of answerable questions in every tuning set; the best-answering one is %.2f\n", minAnswered, th)
	}
	current, err := minEvidence(func(string) string { return "" })
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitFatal
	}
	fmt.Fprintf(e.stdout, "in use: σ(%.2f + %.2f·coverage + %.2f·gap + %.2f·agreement) at %.2f\n",
		retrieve.DefaultStrengthModel.Intercept, retrieve.DefaultStrengthModel.Coverage, retrieve.DefaultStrengthModel.Gap,
		retrieve.DefaultStrengthModel.Agreement, current)
	fmt.Fprintln(e.stdout, "set\tfolds\tquestions\tAUC fitted\tanswered/refused fitted\tAUC in use\tanswered/refused in use")
	for _, s := range sets {
		for _, part := range []struct {
			name string
			in   bool
		}{{"tune", true}, {"held out", false}} {
			rows := slices.DeleteFunc(slices.Clone(s.rows), func(r qaFeatures) bool { return isTune(r) != part.in })
			a1, r1 := answeredRefused(m.strength, rows, th)
			a2, r2 := answeredRefused(inUse, rows, current)
			fmt.Fprintf(e.stdout, "%s\t%s\t%d\t%.3f\t%.2f/%.2f\t%.3f\t%.2f/%.2f\n", s.name, part.name, len(rows),
				aucOf(m.strength, rows), a1, r1, aucOf(inUse, rows), a2, r2)
		}
	}
	return exitOK
}

func setNames(sets []fitSet) []string {
	var out []string
	for _, s := range sets {
		out = append(out, fmt.Sprintf("%s %d", s.name, len(s.rows)))
	}
	return out
}

func hasBothClasses(rows []qaFeatures) bool {
	var pos, neg bool
	for _, r := range rows {
		pos = pos || r.Answerable
		neg = neg || !r.Answerable
	}
	return pos && neg
}

// readFeatures reads a --features dump; every line must be a question with a fold key and
// inputs and candidates within [0, 1].
func readFeatures(path string) ([]qaFeatures, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseFeatures(f, path)
}

func parseFeatures(r io.Reader, name string) ([]qaFeatures, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var rows []qaFeatures
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		if len(rows) >= maxFeatureLines {
			return nil, fmt.Errorf("%s: more than %d lines", name, maxFeatureLines)
		}
		var q qaFeatures
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		if q.FoldKey == "" {
			return nil, fmt.Errorf("%s:%d: no \"fold_key\" (a dump of an older eval qa?)", name, line)
		}
		for i, v := range inputVector(q, modelInputs) {
			if !(v >= 0 && v <= 1) {
				return nil, fmt.Errorf("%s:%d: input %s = %v is not within [0, 1]", name, line, modelInputs[i], v)
			}
		}
		for k, v := range q.Candidates {
			if !slices.Contains(candidateNames, k) {
				return nil, fmt.Errorf("%s:%d: unknown candidate input %q", name, line, k)
			}
			if !(v >= 0 && v <= 1) {
				return nil, fmt.Errorf("%s:%d: candidate %s = %v is not within [0, 1]", name, line, k, v)
			}
		}
		rows = append(rows, q)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(rows) == 0 {
		return nil, errors.New(name + ": no questions")
	}
	return rows, nil
}

// fitStrength returns the weights (intercept first, then the named inputs) of the logistic
// regression on the sets, each set weighing 1 in all, every input weight ≥ 0. The problem is
// convex, so its constrained optimum is the unconstrained optimum over some subset of the
// inputs (the others at 0) whose weights are all ≥ 0: every subset is fitted by Newton's
// method and the best feasible one kept.
func fitStrength(sets [][]qaFeatures, names []string) []float64 {
	var x [][]float64
	var y, wt []float64
	for _, s := range sets {
		for _, r := range s {
			x = append(x, append([]float64{1}, inputVector(r, names)...))
			y = append(y, b2f(r.Answerable))
			wt = append(wt, 1/float64(len(s)))
		}
	}
	d := len(names) + 1
	best, bestLL := make([]float64, d), math.Inf(-1)
	for mask := range 1 << len(names) {
		free := []int{0}
		for j := range names {
			if mask&(1<<j) != 0 {
				free = append(free, j+1)
			}
		}
		w := newton(x, y, wt, free, d)
		feasible := true
		for _, j := range free[1:] {
			feasible = feasible && w[j] >= 0
		}
		if ll := penalisedLL(x, y, wt, w); feasible && ll > bestLL {
			best, bestLL = w, ll
		}
	}
	return best
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// newton maximises the penalised log-likelihood over the weights in free (the others 0).
func newton(x [][]float64, y, wt []float64, free []int, d int) []float64 {
	w := make([]float64, d)
	k := len(free)
	for range 100 {
		g := make([]float64, k)
		h := make([][]float64, k)
		for i := range h {
			h[i] = make([]float64, k)
		}
		for i, xi := range x {
			p := sigmoid(dot(w, xi))
			for a, ja := range free {
				g[a] += wt[i] * (y[i] - p) * xi[ja]
				for b, jb := range free {
					h[a][b] += wt[i] * p * (1 - p) * xi[ja] * xi[jb]
				}
			}
		}
		for a, ja := range free {
			if ja != 0 {
				g[a] -= fitRidge * w[ja]
				h[a][a] += fitRidge
			}
		}
		step := solve(h, g)
		size := 0.0
		for a, ja := range free {
			w[ja] += step[a]
			size = max(size, math.Abs(step[a]))
		}
		if size < 1e-10 {
			break
		}
	}
	return w
}

func penalisedLL(x [][]float64, y, wt, w []float64) float64 {
	ll := 0.0
	for i, xi := range x {
		z := dot(w, xi)
		// log σ(z) = −log(1+e^−z), log(1−σ(z)) = −log(1+e^z), computed stably.
		if y[i] > 0 {
			ll -= wt[i] * softplus(-z)
		} else {
			ll -= wt[i] * softplus(z)
		}
	}
	for _, v := range w[1:] {
		ll -= fitRidge / 2 * v * v
	}
	return ll
}

func softplus(z float64) float64 {
	if z > 30 {
		return z
	}
	return math.Log1p(math.Exp(z))
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// solve solves m·v = g by Gaussian elimination with partial pivoting (m is positive
// definite: the ridge sees to it).
func solve(m [][]float64, g []float64) []float64 {
	n := len(g)
	a := make([][]float64, n)
	for i := range a {
		a[i] = append(slices.Clone(m[i]), g[i])
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		a[c], a[p] = a[p], a[c]
		if a[c][c] == 0 {
			continue
		}
		for r := c + 1; r < n; r++ {
			f := a[r][c] / a[c][c]
			for k := c; k <= n; k++ {
				a[r][k] -= f * a[c][k]
			}
		}
	}
	v := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		s := a[r][n]
		for k := r + 1; k < n; k++ {
			s -= a[r][k] * v[k]
		}
		if a[r][r] != 0 {
			v[r] = s / a[r][r]
		}
	}
	return v
}

// chooseThreshold returns the threshold, on a grid of 0.01, that refuses the largest share
// of unanswerable questions in the set where that share is smallest, among those that answer
// at least minAns of the answerable questions in every set (the lowest such threshold on a
// tie); ok is false when none does, and then the threshold is the one whose worst set
// answers the most.
func chooseThreshold(m scorer, sets [][]qaFeatures, minAns float64) (th float64, ok bool) {
	bestRefused, bestAnswered := -1.0, -1.0
	fallback := 0.0
	for t := 1; t < 100; t++ {
		v := float64(t) / 100
		worstAns, worstRef := 1.0, 1.0
		for _, s := range sets {
			a, r := answeredRefused(m, s, v)
			worstAns, worstRef = min(worstAns, a), min(worstRef, r)
		}
		if worstAns > bestAnswered {
			bestAnswered, fallback = worstAns, v
		}
		if worstAns >= minAns && worstRef > bestRefused {
			bestRefused, th, ok = worstRef, v, true
		}
	}
	if !ok {
		return fallback, false
	}
	return th, true
}

// answeredRefused returns the shares of answerable questions at or above th and of
// unanswerable ones below it.
func answeredRefused(m scorer, rows []qaFeatures, th float64) (answered, refused float64) {
	var na, nu float64
	for _, r := range rows {
		s := m(r)
		if r.Answerable {
			na++
			if s >= th {
				answered++
			}
		} else {
			nu++
			if s < th {
				refused++
			}
		}
	}
	return answered / max(1, na), refused / max(1, nu)
}

func aucOf(m scorer, rows []qaFeatures) float64 {
	s := make([]float64, len(rows))
	l := make([]bool, len(rows))
	for i, r := range rows {
		s[i], l[i] = m(r), r.Answerable
	}
	return eval.ROCAUC(s, l)
}

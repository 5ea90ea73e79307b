package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/retrieve"
)

// synthetic draws n questions whose label follows σ(w·(1, coverage, gap, agreement)).
func synthetic(rng *rand.Rand, n int, w []float64) []qaFeatures {
	rows := make([]qaFeatures, n)
	for i := range rows {
		cov := rng.Float64()
		r := qaFeatures{ID: fmt.Sprint(i), FoldKey: fmt.Sprint(i),
			Inputs: retrieve.StrengthInputs{Coverage: cov, Gap: cov * rng.Float64(), Agreement: rng.Float64()}}
		r.Answerable = rng.Float64() < sigmoid(dot(w, append([]float64{1}, inputVector(r, modelInputs)...)))
		rows[i] = r
	}
	return rows
}

// gradient of the penalised log-likelihood fitStrength maximises, at w.
func gradient(sets [][]qaFeatures, w []float64) []float64 {
	g := make([]float64, len(w))
	for _, s := range sets {
		for _, r := range s {
			x := append([]float64{1}, inputVector(r, modelInputs)...)
			d := (b2f(r.Answerable) - sigmoid(dot(w, x))) / float64(len(s))
			for j := range g {
				g[j] += d * x[j]
			}
		}
	}
	for j := 1; j < len(w); j++ {
		g[j] -= fitRidge * w[j]
	}
	return g
}

// TestFitStrengthRecoversWeights: on data drawn from a known model the fit finds its
// weights, and its answer is optimal (the gradient vanishes).
func TestFitStrengthRecoversWeights(t *testing.T) {
	t.Parallel()
	want := []float64{-2.5, 4, 1.5, 1}
	rng := rand.New(rand.NewPCG(1, 2))
	sets := [][]qaFeatures{synthetic(rng, 20000, want)}
	got := fitStrength(sets, modelInputs)
	for j := range want {
		if math.Abs(got[j]-want[j]) > 0.4 {
			t.Errorf("weights %.3f, want about %v", got, want)
			break
		}
	}
	for j, g := range gradient(sets, got) {
		if math.Abs(g) > 1e-6 {
			t.Errorf("gradient[%d] = %g at the fitted weights %.3f: not the optimum", j, g, got)
		}
	}
}

// TestFitStrengthWeightsNonNegative: an input that lowers the chance of an answer gets the
// weight 0, never a negative one (strength must grow with every input), and the result is
// the constrained optimum (KKT: zero gradient on the free weights, none pointing into the
// negative side of a pinned one).
func TestFitStrengthWeightsNonNegative(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	sets := [][]qaFeatures{synthetic(rng, 5000, []float64{-1, 3, 0, -2})}
	got := fitStrength(sets, modelInputs)
	if got[3] != 0 {
		t.Fatalf("agreement weight %.3f, want 0 (it lowers the chance of an answer)", got[3])
	}
	g := gradient(sets, got)
	for j := range got {
		switch {
		case j > 0 && got[j] < 0:
			t.Errorf("weight %d = %g < 0", j, got[j])
		case j == 0 || got[j] > 0:
			if math.Abs(g[j]) > 1e-6 {
				t.Errorf("free weight %d: gradient %g", j, g[j])
			}
		case g[j] > 1e-9:
			t.Errorf("pinned weight %d: gradient %g > 0, raising it would fit better", j, g[j])
		}
	}
}

// TestFitStrengthWeighsSetsEqually: a set ten times larger does not outvote a smaller one;
// copying every question of a set changes nothing.
func TestFitStrengthWeighsSetsEqually(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	a, b := synthetic(rng, 400, []float64{-3, 6, 0, 0}), synthetic(rng, 400, []float64{-1, 0, 0, 3})
	w1 := fitStrength([][]qaFeatures{a, b}, modelInputs)
	w2 := fitStrength([][]qaFeatures{a, append(append(append([]qaFeatures{}, b...), b...), b...)}, modelInputs)
	for j := range w1 {
		if math.Abs(w1[j]-w2[j]) > 1e-6 {
			t.Fatalf("weights %.4f with the second set once, %.4f with it three times", w1, w2)
		}
	}
}

// TestChooseThreshold: the threshold refuses the most in the worse set among those that
// answer ≥ 85% of answerable questions in each set; without one, the best-answering.
func TestChooseThreshold(t *testing.T) {
	t.Parallel()
	// A model whose strength is coverage itself (σ(logit)), so that the inputs are strengths.
	m := func(r qaFeatures) float64 { return retrieve.StrengthModel{Coverage: 1}.Strength(r.Inputs) }
	row := func(s float64, ans bool) qaFeatures {
		return qaFeatures{Answerable: ans, Inputs: retrieve.StrengthInputs{Coverage: math.Log(s / (1 - s))}}
	}
	var a, b []qaFeatures
	for i := range 20 { // answerable at 0.505, 0.515, ..., 0.695 in a; 0.305 ... 0.495 in b
		a = append(a, row(0.505+float64(i)/100, true))
		b = append(b, row(0.305+float64(i)/100, true))
	}
	for i := range 10 { // unanswerable at 0.105 ... 0.195 in a, 0.255 ... 0.345 in b
		a = append(a, row(0.105+float64(i)/100, false))
		b = append(b, row(0.255+float64(i)/100, false))
	}
	// b answers ≥ 85% (17 of 20) up to 0.33 (refusing 0.255..0.325: 8 of 10); a answers all.
	th, ok := chooseThreshold(m, [][]qaFeatures{a, b}, 0.85)
	if !ok || math.Abs(th-0.33) > 1e-9 {
		t.Errorf("threshold %v (ok %v), want 0.33", th, ok)
	}
	if _, ok := chooseThreshold(m, [][]qaFeatures{a, b}, 1.01); ok {
		t.Error("a threshold answering more than all answerable questions")
	}
}

func TestParseFeatures(t *testing.T) {
	t.Parallel()
	ok := `{"id":"q1","fold_key":"c1","answerable":true,"gold_found":true,"strength":0.5,"inputs":{"coverage":0.5,"gap":0.1,"agreement":1,"dense_rank_of_lexical_top":1,"normalized_bm25":0.7,"dense_top":0.3}}` + "\n\n"
	rows, err := parseFeatures(strings.NewReader(ok), "f")
	if err != nil || len(rows) != 1 || rows[0].FoldKey != "c1" || rows[0].Inputs.Agreement != 1 {
		t.Fatalf("%+v, %v", rows, err)
	}
	for _, tt := range []struct{ in, want string }{
		{"", "no questions"},
		{`{"id":"q1","fold":0,"answerable":true}`, "unknown field"},
		{`{"id":"q1","answerable":true}`, "fold_key"},
		{`{"id":"q1","fold_key":"k","inputs":{"coverage":1.5}}`, "coverage = 1.5"},
		{`{"id":"q1","fold_key":"k","inputs":{"gap":-0.1}}`, "gap = -0.1"},
		{`{"id":`, "f:1"},
		{`{"id":"q1","fold_key":"k","candidates":{"sentence":1.5}}`, "sentence = 1.5"},
		{`{"id":"q1","fold_key":"k","candidates":{"mystery":0.5}}`, "unknown candidate"},
	} {
		if _, err := parseFeatures(strings.NewReader(tt.in), "f"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.want)
		}
	}
}

// FuzzParseFeatures: a dump line is a question whose inputs are within [0, 1], or an error.
func FuzzParseFeatures(f *testing.F) {
	f.Add([]byte(`{"id":"q1","fold_key":"c1","answerable":true,"inputs":{"coverage":0.5,"gap":0.1,"agreement":1}}`))
	f.Add([]byte(`{"id":"q1","fold_key":"c1","inputs":{"coverage":NaN}}`))
	f.Add([]byte(`{"id":"q1","fold_key":"c1","inputs":{},"candidates":{"sentence":0.5,"pairs":2}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := parseFeatures(bytes.NewReader(data), "f")
		if err != nil {
			return
		}
		for _, r := range rows {
			for _, v := range inputVector(r, modelInputs) {
				if !(v >= 0 && v <= 1) || r.FoldKey == "" {
					t.Fatalf("accepted %+v", r)
				}
			}
			for k, v := range r.Candidates {
				if !(v >= 0 && v <= 1) || !slices.Contains(candidateNames, k) {
					t.Fatalf("accepted candidate %s = %v", k, v)
				}
			}
		}
	})
}

// TestQAFit runs `eval qa --fit` on two dumps: it prints the weights and a threshold, and
// says which folds it tuned on; a dump without fold keys, or no --tune-folds, is refused.
func TestQAFit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 8))
	write := func(name string, rows []qaFeatures) string {
		var b bytes.Buffer
		for i, r := range rows {
			r.FoldKey = fmt.Sprintf("%s-%d", name, i)
			if err := json.NewEncoder(&b).Encode(r); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, name+".jsonl")
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a", synthetic(rng, 600, []float64{-2, 4, 1, 1}))
	b := write("b", synthetic(rng, 300, []float64{-2, 3, 2, 1}))
	code, stdout, stderr := runEval(t, "qa", "--fit", a+","+b, "--folds", "5", "--tune-folds", "0,1,2")
	if code != exitOK || !strings.Contains(stdout, "strength = σ(") || !strings.Contains(stdout, "fitted on folds 0,1,2 of 5") ||
		!strings.Contains(stdout, "threshold 0.") || !strings.Contains(stdout, "a\theld out\t") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The weights printed are those of the tuning folds alone.
	var tune [][]qaFeatures
	for _, p := range []string{a, b} {
		rows, err := readFeatures(p)
		if err != nil {
			t.Fatal(err)
		}
		var kept []qaFeatures
		for _, r := range rows {
			if f := eval.Fold(r.FoldKey, 5); f <= 2 {
				kept = append(kept, r)
			}
		}
		tune = append(tune, kept)
	}
	w := fitStrength(tune, modelInputs)
	if want := fmt.Sprintf("σ(%.2f + %.2f·coverage", w[0], w[1]); !strings.Contains(stdout, want) {
		t.Errorf("output %s: want the tuning folds' fit %s", stdout, want)
	}
	code, stdout, stderr = runEval(t, "qa", "--fit", a+","+b, "--folds", "5", "--tune-folds", "0,1,2", "--fit-inputs", "coverage,sentence")
	if first, _, _ := strings.Cut(stdout, "\n"); code != exitOK || !strings.Contains(first, "·coverage + ") || !strings.Contains(first, "·sentence)") || strings.Contains(first, "gap") {
		t.Errorf("--fit-inputs coverage,sentence: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runEval(t, "qa", "--fit", a, "--folds", "5", "--tune-folds", "0,1,2", "--fit-inputs", "coverage,mystery"); code != exitUsage || !strings.Contains(stderr, "mystery") {
		t.Errorf("--fit-inputs with an unknown input: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runEval(t, "qa", "--fit", a, "--folds", "5"); code != exitUsage || !strings.Contains(stderr, "--tune-folds") {
		t.Errorf("--fit without --tune-folds: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runEval(t, "qa", "--fit", a, "--tune-folds", "0,1"); code != exitUsage || !strings.Contains(stderr, "--folds") {
		t.Errorf("--tune-folds without --folds: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runEval(t, "qa", "--fit", a, "--folds", "3", "--tune-folds", "0,1,2"); code != exitUsage || !strings.Contains(stderr, "no fold held out") {
		t.Errorf("every fold tuning: exit %d, %s", code, stderr)
	}
	old := filepath.Join(dir, "old.jsonl")
	if err := os.WriteFile(old, []byte(`{"id":"q","fold":1,"answerable":true,"inputs":{}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runEval(t, "qa", "--fit", old, "--folds", "5", "--tune-folds", "0"); code != exitUsage || !strings.Contains(stderr, "old.jsonl:1") {
		t.Errorf("an old dump: exit %d, %s", code, stderr)
	}
}

// TestFitCandidateInputs: --fit-inputs fits the named inputs, a candidate read from the
// dump's candidates like a model input; a candidate that lowers the chance of an answer gets
// 0; unknown or repeated names, or too many, are refused.
func TestFitCandidateInputs(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 10))
	rows := make([]qaFeatures, 8000)
	for i := range rows {
		s, p := rng.Float64(), rng.Float64()
		rows[i] = qaFeatures{ID: fmt.Sprint(i), FoldKey: fmt.Sprint(i), Candidates: map[string]float64{"sentence": s, "pairs": p},
			Inputs: retrieve.StrengthInputs{Coverage: rng.Float64()}}
		rows[i].Answerable = rng.Float64() < sigmoid(-2+4*s-1*p)
	}
	names, err := parseFitInputs("coverage,sentence,pairs")
	if err != nil {
		t.Fatal(err)
	}
	w := fitStrength([][]qaFeatures{rows}, names)
	if math.Abs(w[0]+2) > 0.4 || math.Abs(w[1]) > 0.3 || math.Abs(w[2]-4) > 0.5 || w[3] != 0 {
		t.Errorf("weights %.3f for %v, want about -2, 0, 4 and exactly 0 for pairs (it lowers the chance)", w, names)
	}
	m := fitModel{names: names, w: w}
	if got := m.String(); !strings.Contains(got, "·sentence") || !strings.Contains(got, "·pairs") {
		t.Errorf("model %s: want every input named", got)
	}
	if got, _ := parseFitInputs(""); !slices.Equal(got, modelInputs) {
		t.Errorf("no --fit-inputs: %v, want the model's inputs", got)
	}
	for _, bad := range []string{"coverage,mystery", "sentence,sentence", strings.Join(append(slices.Clone(modelInputs), candidateNames...), ","), "dense_top"} {
		if _, err := parseFitInputs(bad); err == nil {
			t.Errorf("--fit-inputs %q accepted", bad)
		}
	}
}

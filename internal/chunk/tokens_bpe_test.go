package chunk

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// TestCountTokensAgainstCL100K measures how far CountTokens is from OpenAI's cl100k_base
// tokenizer (whose vocabulary the loader embeds, so this runs offline) on the chunks of the
// fixtures in testdata/, and keeps the error within the bounds that CountTokens documents.
func TestCountTokensAgainstCL100K(t *testing.T) {
	// SetBpeLoader sets a variable of the tiktoken package; nothing else here uses it.
	tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
	enc, err := tiktoken.GetEncoding("cl100k_base")
	if err != nil {
		t.Fatal(err)
	}
	// The worst under-count of a chunk each fixture may have. Code is under-counted more than
	// prose because cl100k_base spends tokens on indentation and line breaks, which are free
	// here (and in WordPiece). The other fixtures are measured and logged only (blob: random
	// base64; cjk: several scripts).
	bounded := map[string]float64{"guide": -0.10, "paged": -0.10, "longpara": -0.10, "plain": -0.10, "longcode": -0.25}
	var all []float64
	var report strings.Builder
	fmt.Fprintf(&report, "%-10s %6s %8s %8s %8s %8s %8s\n", "fixture", "chunks", "approx", "cl100k", "total", "mean|e|", "worst")
	for _, path := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		fx := loadFixture(t, path)
		c, err := New(fx.cfg)
		if err != nil {
			t.Fatal(err)
		}
		var approx, real int
		var errs []float64
		for _, ch := range c.Split(fx.doc) {
			n := len(enc.Encode(ch.Text, nil, nil))
			approx += ch.Tokens
			real += n
			errs = append(errs, float64(ch.Tokens-n)/float64(n))
		}
		total := float64(approx-real) / float64(real)
		mean := 0.0
		for _, e := range errs {
			mean += math.Abs(e)
		}
		mean /= float64(len(errs))
		worst := slices.Min(errs) // the worst under-count
		fmt.Fprintf(&report, "%-10s %6d %8d %8d %+7.1f%% %7.1f%% %+7.1f%%\n", name, len(errs), approx, real, 100*total, 100*mean, 100*worst)
		if bound, ok := bounded[name]; ok {
			all = append(all, errs...)
			// CountTokens errs on the side of counting more, by at most about a half.
			if total < 0 || total > 0.5 {
				t.Errorf("%s: CountTokens is %+.1f%% off cl100k_base in total, want within [0%%, +50%%]", name, 100*total)
			}
			if worst < bound {
				t.Errorf("%s: a chunk is under-counted by %.1f%%, want at most %.0f%%", name, -100*worst, -100*bound)
			}
		}
	}
	slices.Sort(all)
	fmt.Fprintf(&report, "chunks of the English fixtures: median error %+.1f%%, 5th percentile %+.1f%%, 95th %+.1f%%\n",
		100*all[len(all)/2], 100*all[len(all)*5/100], 100*all[len(all)*95/100])
	t.Log("CountTokens against cl100k_base:\n" + report.String())
}

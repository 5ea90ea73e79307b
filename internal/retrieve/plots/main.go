// Command plots draws the figures of docs/benchmarks.md ("Retrieval at 1M chunks") from the
// JSON that BenchmarkScaleMix writes (-mix-json), as SVG, with the standard library only:
//
//	go run ./internal/retrieve/plots [-data internal/retrieve/plots/data] [-out docs/img]
//
// It reads every scale-*.json in the data directory (one per corpus size) and writes
// scale-latency.svg and scale-recall.svg (against corpus size, a line per caller) and
// share-latency.svg and share-recall.svg (against the caller's visible share, a line per
// corpus size).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// report is the part of BenchmarkScaleMix's JSON the plots use.
type report struct {
	Chunks  int64         `json:"chunks"`
	Load    []string      `json:"load"`
	Callers []callerPoint `json:"callers"`
}

func main() {
	data := flag.String("data", "internal/retrieve/plots/data", "directory of the benchmark's JSON files (scale-*.json)")
	out := flag.String("out", "docs/img", "directory to write the SVG files to")
	flag.Parse()
	if err := run(*data, *out); err != nil {
		fmt.Fprintln(os.Stderr, "plots:", err)
		os.Exit(1)
	}
}

func run(dataDir, outDir string) error {
	paths, err := filepath.Glob(filepath.Join(dataDir, "scale-*.json"))
	if err != nil {
		return err
	}
	var reports []report
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var r report
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if r.Chunks > 0 && len(r.Callers) > 0 {
			reports = append(reports, r)
		}
	}
	if len(reports) == 0 {
		return fmt.Errorf("no benchmark results in %s (run BenchmarkScaleMix with -mix-json)", dataDir)
	}
	slices.SortFunc(reports, func(a, b report) int { return int(a.Chunks - b.Chunks) })
	shares := []string{}
	for _, r := range reports {
		for _, c := range r.Callers {
			if !slices.Contains(shares, c.Share) {
				shares = append(shares, c.Share)
			}
		}
	}
	sizes := make([]string, len(reports))
	for i, r := range reports {
		sizes[i] = humanCount(r.Chunks)
	}
	note := "load average during the runs: " + loadNote(reports)

	// Against corpus size: a line per caller.
	bySize := func(metric func(c callerPoint) float64) []series {
		var out []series
		for _, s := range shares {
			var pts []point
			for _, r := range reports {
				for _, c := range r.Callers {
					if c.Share == s {
						if v := metric(c); v > 0 && !math.IsNaN(v) {
							pts = append(pts, point{float64(r.Chunks), v})
						}
					}
				}
			}
			out = append(out, series{name: "sees " + s, points: pts})
		}
		return out
	}
	// Against visible share: a line per corpus size.
	byShare := func(metric func(c callerPoint) float64) []series {
		var out []series
		for _, r := range reports {
			var pts []point
			for _, c := range r.Callers {
				share := float64(c.Visible) / float64(r.Chunks)
				if v := metric(c); v > 0 && share > 0 && !math.IsNaN(v) {
					pts = append(pts, point{share * 100, v})
				}
			}
			slices.SortFunc(pts, func(a, b point) int { return cmpFloat(a.x, b.x) })
			out = append(out, series{name: humanCount(r.Chunks) + " chunks", points: pts})
		}
		return out
	}
	p99 := func(c callerPoint) float64 { return c.P99 }
	p50 := func(c callerPoint) float64 { return c.P50 }
	naiveP99 := func(c callerPoint) float64 { return c.NaiveP99 }
	recall := func(c callerPoint) float64 { return c.Recall }
	naiveRecall := func(c callerPoint) float64 { return c.NaiveRecall }

	// labelled names each line of ss with what it shows and draws it solid, dashed or dotted.
	labelled := func(ss []series, what string, dashed, dotted bool) []series {
		for i := range ss {
			ss[i].name += ", " + what
			ss[i].dashed, ss[i].dotted = dashed, dotted
		}
		return ss
	}
	latency := slices.Concat(labelled(bySize(p99), "p99", false, false), labelled(bySize(p50), "p50", true, false),
		labelled(bySize(naiveP99), "naive SQL p99", false, true))
	rec := slices.Concat(labelled(bySize(recall), "retriever", false, false), labelled(bySize(naiveRecall), "naive HNSW", false, true))
	shareLatency := slices.Concat(labelled(byShare(p99), "p99", false, false), labelled(byShare(p50), "p50", true, false))
	charts := []struct {
		file string
		c    chart
	}{
		{"scale-latency.svg", chart{title: "Retrieval latency against corpus size (hybrid, 1 client, warm)", xLabel: "chunks",
			yLabel: "ms (log)", logY: true, series: latency, note: note, targets: []target{{40, "p50 target 40 ms"}, {150, "p99 target 150 ms"}}}},
		{"scale-recall.svg", chart{title: "Dense recall@10 against an exact scan, against corpus size", xLabel: "chunks",
			yLabel: "recall@10", yMin: 0, yMax: 1, series: rec, note: note, targets: []target{{0.95, "target 0.95"}}}},
		{"share-latency.svg", chart{title: "Retrieval latency against the caller's visible share", xLabel: "visible share, % (log)",
			yLabel: "ms (log)", logY: true, series: shareLatency, note: note, targets: []target{{40, "p50 target"}, {150, "p99 target"}}}},
		{"share-recall.svg", chart{title: "Dense recall@10 against the caller's visible share", xLabel: "visible share, % (log)",
			yLabel: "recall@10", yMin: 0, yMax: 1, series: byShare(recall), note: note, targets: []target{{0.95, "target 0.95"}}}},
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, c := range charts {
		path := filepath.Join(outDir, c.file)
		if err := os.WriteFile(path, []byte(c.c.svg()), 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", path, "from", strings.Join(sizes, ", "), "chunks")
	}
	return nil
}

type callerPoint struct {
	Share       string  `json:"share"`
	Visible     int64   `json:"visible"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	NaiveP50    float64 `json:"naive_p50_ms"`
	NaiveP99    float64 `json:"naive_p99_ms"`
	Recall      float64 `json:"recall10"`
	NaiveRecall float64 `json:"naive_recall10"`
}

func loadNote(rs []report) string {
	var parts []string
	for _, r := range rs {
		if len(r.Load) == 2 {
			parts = append(parts, fmt.Sprintf("%s chunks %s / %s", humanCount(r.Chunks), first(r.Load[0]), first(r.Load[1])))
		}
	}
	return strings.Join(parts, "; ")
}

func first(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

func humanCount(n int64) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000_000:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1000:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type point struct{ x, y float64 }

type series struct {
	name           string
	points         []point
	dashed, dotted bool
}

type target struct {
	y     float64
	label string
}

// chart is a line chart with a logarithmic x axis.
type chart struct {
	title, xLabel, yLabel, note string
	logY                        bool
	yMin, yMax                  float64 // linear axes; 0, 0: from the data
	series                      []series
	targets                     []target
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"}

const (
	width, height = 860, 500
	left, right   = 70, 300 // margins; the legend goes on the right
	top, bottom   = 50, 70
)

func (c chart) svg() string {
	xs, ys := []float64{}, []float64{}
	for _, s := range c.series {
		for _, p := range s.points {
			xs, ys = append(xs, p.x), append(ys, p.y)
		}
	}
	for _, t := range c.targets {
		ys = append(ys, t.y)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(c.title))
	if len(xs) == 0 {
		b.WriteString(`<text x="100" y="200">no data</text></svg>` + "\n")
		return b.String()
	}
	x0, x1 := math.Log10(slices.Min(xs)), math.Log10(slices.Max(xs))
	x0, x1 = math.Floor(x0), math.Ceil(x1)
	if x1 == x0 {
		x1 = x0 + 1
	}
	var y0, y1 float64
	if c.logY {
		y0, y1 = math.Floor(math.Log10(slices.Min(ys))), math.Ceil(math.Log10(slices.Max(ys)))
		if y1 == y0 {
			y1 = y0 + 1
		}
	} else {
		y0, y1 = c.yMin, c.yMax
		if y0 == y1 {
			y0, y1 = slices.Min(ys), slices.Max(ys)
		}
	}
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	px := func(x float64) float64 { return float64(left) + (math.Log10(x)-x0)/(x1-x0)*pw }
	py := func(y float64) float64 {
		v := y
		if c.logY {
			v = math.Log10(y)
		}
		return float64(top) + ph - (v-y0)/(y1-y0)*ph
	}
	// Axes and grid.
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#444"/>`+"\n", left, top, pw, ph)
	for e := x0; e <= x1; e++ {
		x := float64(left) + (e-x0)/(x1-x0)*pw
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.0f" stroke="#ddd"/>`+"\n", x, top, x, float64(top)+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x, float64(top)+ph+18, tick(math.Pow(10, e)))
	}
	if c.logY {
		for e := y0; e <= y1; e++ {
			y := py(math.Pow(10, e))
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, float64(left)+pw, y)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, tick(math.Pow(10, e)))
		}
	} else {
		for i := 0; i <= 5; i++ {
			v := y0 + (y1-y0)*float64(i)/5
			y := py(v)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, float64(left)+pw, y)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.2f</text>`+"\n", left-6, y+4, v)
		}
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">%s</text>`+"\n", float64(left)+pw/2, height-bottom+40, html.EscapeString(c.xLabel))
	fmt.Fprintf(&b, `<text x="18" y="%.0f" text-anchor="middle" transform="rotate(-90 18 %.0f)">%s</text>`+"\n", float64(top)+ph/2, float64(top)+ph/2, html.EscapeString(c.yLabel))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="#555">%s</text>`+"\n", left, height-12, html.EscapeString(c.note))
	for _, t := range c.targets {
		y := py(t.y)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#888" stroke-dasharray="2,4"/>`+"\n", left, y, float64(left)+pw, y)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" font-size="10" fill="#666" text-anchor="end">%s</text>`+"\n", float64(left)+pw-4, y-3, html.EscapeString(t.label))
	}
	// Series and legend.
	colour := map[string]string{}
	for i, s := range c.series {
		key := strings.SplitN(s.name, ",", 2)[0]
		col, ok := colour[key]
		if !ok {
			col = palette[len(colour)%len(palette)]
			colour[key] = col
		}
		dash := ""
		switch {
		case s.dashed:
			dash = ` stroke-dasharray="6,4"`
		case s.dotted:
			dash = ` stroke-dasharray="1,3"`
		}
		var pts []string
		for _, p := range s.points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.x), py(p.y)))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), col, dash)
			for _, p := range s.points {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(p.x), py(p.y), col)
			}
		}
		ly := top + 10 + i*18
		lx := width - right + 16
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly, lx+24, ly, col, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+30, ly+4, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// tick writes a power of ten briefly: 0.01, 1, 10, 1k, 1M.
func tick(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

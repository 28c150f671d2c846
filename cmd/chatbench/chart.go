package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// chartPoint is what the chart reads of one -json run.
type chartPoint struct {
	Rooms          int     `json:"rooms"`
	Members        int     `json:"members"`
	Senders        int     `json:"senders"`
	Rate           float64 `json:"rate"`
	DeliveriesPerS float64 `json:"deliveries_per_s"`
	P99            float64 `json:"latency_p99_ms"`
	Lost           int64   `json:"lost"`
}

func (p chartPoint) offered() float64 {
	return float64(p.Rooms*p.Senders*p.Members) * p.Rate
}

func (p chartPoint) series() string {
	return fmt.Sprintf("%d rooms × %d members, %d sender(s)/room", p.Rooms, p.Members, p.Senders)
}

// chart draws, from the JSON lines of runs, delivered messages a second and
// p99 latency against the offered load, one line per room layout:
//
//	chatbench chart -o docs/performance.svg runs.jsonl
func chart(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("chatbench chart", flag.ContinueOnError)
	out := fs.String("o", "performance.svg", "SVG file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("chart: name one or more files of -json lines")
	}
	var points []chartPoint
	for _, name := range fs.Args() {
		ps, err := readPoints(name)
		if err != nil {
			return err
		}
		points = append(points, ps...)
	}
	svg := drawChart(points)
	if err := os.WriteFile(*out, []byte(svg), 0o644); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s from %d runs\n", *out, len(points))
	return nil
}

func readPoints(name string) ([]chartPoint, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	defer f.Close()
	var ps []chartPoint
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var p chartPoint
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			return nil, fmt.Errorf("chart: %s: %w", name, err)
		}
		ps = append(ps, p)
	}
	return ps, sc.Err()
}

// drawChart returns an SVG line chart: deliveries/s (solid, left axis) and
// p99 latency (dashed, right axis) against offered deliveries/s.
func drawChart(points []chartPoint) string {
	const w, h, left, right, top, bottom = 760.0, 420.0, 80.0, 70.0, 40.0, 90.0
	pw, ph := w-left-right, h-top-bottom
	bySeries := map[string][]chartPoint{}
	var maxX, maxY, maxL float64
	for _, p := range points {
		bySeries[p.series()] = append(bySeries[p.series()], p)
		maxX = max(maxX, p.offered())
		maxY = max(maxY, p.DeliveriesPerS, p.offered())
		maxL = max(maxL, p.P99)
	}
	maxX, maxY, maxL = niceCeil(maxX), niceCeil(maxY), niceCeil(maxL)
	x := func(v float64) float64 { return left + v/maxX*pw }
	y := func(v float64) float64 { return top + ph - v/maxY*ph }
	yl := func(v float64) float64 { return top + ph - v/maxL*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="15" font-weight="bold">Delivered messages/s (solid) and p99 latency (dashed) against offered load</text>`+"\n", left)
	for i := 0; i <= 5; i++ {
		vx, vy, vl := maxX*float64(i)/5, maxY*float64(i)/5, maxL*float64(i)/5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(vy), left+pw, y(vy))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(vy)+4, short(vy))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="start">%s ms</text>`+"\n", left+pw+6, yl(vl)+4, short(vl))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(vx), top+ph+18, short(vx))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="2 3"/>`+"\n", x(0), y(0), x(min(maxX, maxY)), y(min(maxX, maxY)))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">offered deliveries/s (rooms × senders × rate × members)</text>`+"\n", left+pw/2, top+ph+38)
	colors := []string{"#0a58ca", "#c4320a", "#1a7f37", "#8250df"}
	names := make([]string, 0, len(bySeries))
	for n := range bySeries {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, name := range names {
		ps := bySeries[name]
		slices.SortFunc(ps, func(a, b chartPoint) int { return cmp.Compare(a.offered(), b.offered()) })
		c := colors[i%len(colors)]
		var solid, dashed []string
		for _, p := range ps {
			solid = append(solid, fmt.Sprintf("%.1f,%.1f", x(p.offered()), y(p.DeliveriesPerS)))
			dashed = append(dashed, fmt.Sprintf("%.1f,%.1f", x(p.offered()), yl(p.P99)))
			mark := "white"
			if p.Lost > 0 {
				mark = c // a filled dot: the run lost deliveries
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s" stroke="%s"/>`+"\n", x(p.offered()), y(p.DeliveriesPerS), mark, c)
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(solid, " "), c)
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="6 4"/>`+"\n", strings.Join(dashed, " "), c)
		ly := h - 30 + float64(i)*14 - float64(len(names)-1)*14
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/><text x="%.1f" y="%.1f">%s</text>`+"\n", left, ly, left+24, ly, c, left+30, ly+4, name)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#666">filled dot: deliveries lost</text>`+"\n", left+pw, h-10)
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func short(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", math.Round(v/1e5)/10)
	case v >= 1e3:
		return fmt.Sprintf("%gk", math.Round(v/1e2)/10)
	}
	return fmt.Sprintf("%g", math.Round(v*10)/10)
}

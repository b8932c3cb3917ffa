package main

import (
	"fmt"
	"html"
	"iter"
	"math"
	"sort"
	"strings"
)

// plotSVG draws latency (p50 dashed, p99 solid; log scale) against achieved throughput for the echo
// ceiling and for session validation, from the open-loop sweep. Hand-written SVG, no dependencies.
func plotSVG(d *dialectReport, r *report) string {
	const (
		w, h                   = 860.0, 480.0
		left, right, top, bott = 70.0, 230.0, 50.0, 60.0
	)
	pw, ph := w-left-right, h-top-bott
	series := map[string][]sweepPoint{}
	var names []string
	maxX, minY, maxY := 0.0, math.Inf(1), 0.0
	for _, p := range d.Sweep {
		if _, ok := series[p.Series]; !ok {
			names = append(names, p.Series)
		}
		series[p.Series] = append(series[p.Series], p)
		maxX = math.Max(maxX, p.RPS)
		for _, v := range []float64{p.P50, p.P99} {
			if v > 0 {
				minY, maxY = math.Min(minY, v), math.Max(maxY, v)
			}
		}
	}
	maxY = math.Max(maxY, 10) // keep the P1 target line in view
	if maxX <= 0 || math.IsInf(minY, 1) {
		return `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`
	}
	minX := math.Inf(1)
	for _, p := range d.Sweep {
		if p.RPS > 0 {
			minX = math.Min(minX, p.RPS)
		}
	}
	lo := math.Pow(10, math.Floor(math.Log10(minY)))
	hi := math.Pow(10, math.Ceil(math.Log10(maxY)))
	// Throughput on a log scale too: validations and the echo ceiling differ by orders of magnitude.
	xlo := math.Pow(10, math.Floor(math.Log10(minX)))
	xhi := math.Pow(10, math.Ceil(math.Log10(maxX*1.05)))
	x := func(v float64) float64 {
		v = math.Max(v, xlo)
		return left + pw*(math.Log10(v)-math.Log10(xlo))/(math.Log10(xhi)-math.Log10(xlo))
	}
	y := func(v float64) float64 {
		v = math.Max(v, lo)
		return top + ph*(1-(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="15" font-weight="bold">crowdgate %s: latency against throughput (open loop)</text>`+"\n", left, html.EscapeString(title(d.Dialect)))
	fmt.Fprintf(&b, `<text x="%.0f" y="40" fill="#555">%s · %s · %s</text>`+"\n", left, html.EscapeString(r.Dataset),
		html.EscapeString(fmt.Sprintf("%d cores", r.Hardware.Cores)), r.Started.UTC().Format("2006-01-02"))
	// Grid and axes.
	for v, stroke := range gridLines(lo, hi) {
		yy := y(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", left, yy, left+pw, yy, stroke)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle" fill="#333">%s</text>`+"\n", left-6, yy, fmtMS(v))
	}
	for v, stroke := range gridLines(xlo, xhi) {
		xx := x(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", xx, top, xx, top+ph, stroke)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#333">%s</text>`+"\n", xx, top+ph+18, fmtCount(v))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">achieved throughput (requests/s, log scale)</text>`+"\n", left+pw/2, h-18)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">latency (ms, log scale)</text>`+"\n", top+ph/2)
	// P1's p99 target.
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="2 3"/>`+"\n", left, y(10), left+pw, y(10))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#c00" text-anchor="end">P1 p99 target 10 ms</text>`+"\n", left+pw-4, y(10)-5)
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"}
	ly := top + 10
	for i, name := range names {
		pts := series[name]
		sort.Slice(pts, func(a, b int) bool { return pts[a].Offered < pts[b].Offered })
		col := colors[i%len(colors)]
		for _, q := range []struct {
			label string
			dash  string
			get   func(sweepPoint) float64
		}{{"p99", "", func(p sweepPoint) float64 { return p.P99 }}, {"p50", ` stroke-dasharray="6 4"`, func(p sweepPoint) float64 { return p.P50 }}} {
			var path []string
			for _, p := range pts {
				if q.get(p) > 0 {
					path = append(path, fmt.Sprintf("%.1f,%.1f", x(p.RPS), y(q.get(p))))
				}
			}
			if len(path) == 0 {
				continue
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", col, q.dash, strings.Join(path, " "))
			for _, p := range pts {
				if q.get(p) > 0 {
					fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: offered %.0f/s, achieved %.0f/s, %s %.2f ms, %d errors</title></circle>`+"\n",
						x(p.RPS), y(q.get(p)), col, html.EscapeString(name), q.label, p.Offered, p.RPS, q.label, q.get(p), p.Errors)
				}
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", left+pw+12, ly, left+pw+38, ly, col, q.dash)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" dominant-baseline="middle">%s %s</text>`+"\n", left+pw+44, ly, html.EscapeString(trunc(name, 22)), q.label)
			ly += 20
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// gridLines yields the grid lines of a log axis from lo to hi, both powers of ten: 1, 2 and 5 times
// each power, with their stroke colour, darker at the powers themselves.
func gridLines(lo, hi float64) iter.Seq2[float64, string] {
	return func(yield func(float64, string) bool) {
		for dec := lo; dec <= hi*1.0001; dec *= 10 {
			for _, m := range []float64{1, 2, 5} {
				v := dec * m
				if v > hi*1.0001 {
					break
				}
				stroke := "#eee"
				if m == 1 {
					stroke = "#ccc"
				}
				if !yield(v, stroke) {
					return
				}
			}
		}
	}
}

func fmtMS(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%gs", v/1000)
	case v >= 1:
		return fmt.Sprintf("%g", v)
	}
	return fmt.Sprintf("%g", math.Round(v*1000)/1000)
}

func fmtCount(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%gk", math.Round(v/100)/10)
	}
	return fmt.Sprintf("%g", v)
}

package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// plot is one SVG of a run: its file name, its caption and its content.
type plot struct{ name, caption, svg string }

// plotsOf are the plots of a dialect's run: latency against throughput (from the sweep) and, after
// a soak, p99 and RSS over its windows.
func plotsOf(d *dialectReport, r *report) []plot {
	var out []plot
	if len(d.Sweep) > 0 {
		out = append(out, plot{"latency-" + d.Dialect + ".svg", title(d.Dialect) + ": latency against throughput", plotSVG(d, r)})
	}
	if d.P8 != nil && len(d.P8.WindowP99) > 0 {
		out = append(out, plot{"soak-" + d.Dialect + ".svg", title(d.Dialect) + ": P8 soak, p99 and RSS over time", soakSVG(d, r)})
	}
	return out
}

// soakSVG draws P8's p99 per window (left axis) and the server's RSS at each window's end (right
// axis) against the soak's time, both from zero so a drift shows at its true size.
func soakSVG(d *dialectReport, r *report) string {
	const (
		w, h                   = 860.0, 420.0
		left, right, top, bott = 70.0, 90.0, 50.0, 60.0
	)
	p8 := d.P8
	pw, ph := w-left-right, h-top-bott
	win := p8.Seconds / float64(len(p8.WindowP99)) / 60 // minutes
	maxP, maxR := 10.0, 0.0
	for _, v := range p8.WindowP99 {
		maxP = math.Max(maxP, v)
	}
	for _, v := range p8.RSSMB {
		maxR = math.Max(maxR, v)
	}
	maxP, maxR = niceCeil(maxP*1.1), niceCeil(math.Max(maxR*1.1, 1))
	x := func(min float64) float64 { return left + pw*min/(p8.Seconds/60) }
	yp := func(v float64) float64 { return top + ph*(1-v/maxP) }
	yr := func(v float64) float64 { return top + ph*(1-v/maxR) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="15" font-weight="bold">crowdgate %s: P8 soak at %.0f validations/s (open loop)</text>`+"\n", left, html.EscapeString(title(d.Dialect)), p8.Rate)
	fmt.Fprintf(&b, `<text x="%.0f" y="40" fill="#555">%s · %d cores · %s · %d errors</text>`+"\n", left, html.EscapeString(r.Dataset), r.Hardware.Cores, r.Started.UTC().Format("2006-01-02"), p8.Errors)
	for i := 0; i <= 5; i++ {
		f := float64(i) / 5
		yy := top + ph*(1-f)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", left, yy, left+pw, yy)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle" fill="#1f77b4">%g</text>`+"\n", left-6, yy, maxP*f)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" dominant-baseline="middle" fill="#2ca02c">%g</text>`+"\n", left+pw+6, yy, maxR*f)
	}
	for m := 0.0; m <= p8.Seconds/60+1e-9; m += win {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#333">%g</text>`+"\n", x(m), top+ph+18, math.Round(m*10)/10)
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">minutes into the soak</text>`+"\n", left+pw/2, h-18)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle" fill="#1f77b4">p99 of each window (ms)</text>`+"\n", top+ph/2)
	fmt.Fprintf(&b, `<text transform="translate(%.1f %.1f) rotate(90)" text-anchor="middle" fill="#2ca02c">server RSS (MB)</text>`+"\n", w-20, top+ph/2)
	var pp, rp []string
	for i, v := range p8.WindowP99 {
		cx, cy := x((float64(i)+0.5)*win), yp(v)
		pp = append(pp, fmt.Sprintf("%.1f,%.1f", cx, cy))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#1f77b4"><title>minutes %g–%g: p99 %.2f ms</title></circle>`+"\n", cx, cy, float64(i)*win, float64(i+1)*win, v)
	}
	for i, v := range p8.RSSMB {
		cx, cy := x(math.Min(float64(i+1)*win, p8.Seconds/60)), yr(v)
		rp = append(rp, fmt.Sprintf("%.1f,%.1f", cx, cy))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#2ca02c"><title>RSS %.0f MB</title></circle>`+"\n", cx, cy, v)
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>`+"\n", strings.Join(pp, " "))
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#2ca02c" stroke-width="2" stroke-dasharray="6 4" points="%s"/>`+"\n", strings.Join(rp, " "))
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

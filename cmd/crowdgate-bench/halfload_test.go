package main

import (
	"strings"
	"testing"
)

func TestHalfLoadTarget(t *testing.T) {
	for _, c := range []struct {
		name          string
		p99, echoP99  float64
		verdict, want string
	}{
		{"within both bounds", 4, 3, "PASS", "1.3×"},
		{"under 10 ms but over twice the echo", 7, 3, "FAIL", "2.3×"},
		{"twice the echo but over 10 ms", 12, 8, "FAIL", "1.5×"},
		{"no echo at the same rate", 4, 0, "FAIL", "no echo run at the same rate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &dialectReport{Dialect: "postgres"}
			d.Phases = []*phase{{Key: "p1-half", Mode: "open", Rate: 3000, RPS: 3000, OK: 30000, P99: c.p99}}
			if c.echoP99 > 0 {
				d.Phases = append(d.Phases, &phase{Key: "echo-half", Mode: "open", Rate: 3000, RPS: 3000, OK: 30000, P99: c.echoP99})
			}
			e := &env{dr: d, o: options{rounds: 5}}
			tg, ok := e.halfLoadTarget()
			if !ok {
				t.Fatal("no target")
			}
			if tg.Verdict != c.verdict || !strings.Contains(tg.Ratio+tg.Notes, c.want) {
				t.Errorf("verdict %s, ratio %q, notes %q; want %s with %q", tg.Verdict, tg.Ratio, tg.Notes, c.verdict, c.want)
			}
		})
	}
}

// The half-load slices are drawn with the sweep: a run with -only p1 still has its plot.
func TestHalfLoadPlotted(t *testing.T) {
	d := &dialectReport{Dialect: "postgres", Sweep: []sweepPoint{
		{Series: halfSeriesP1, Fraction: 0.5, Offered: 3000, RPS: 3000, P50: 0.3, P99: 4},
		{Series: halfSeriesEcho, Fraction: 0.5, Offered: 3000, RPS: 3000, P50: 0.2, P99: 3}}}
	svg := plotSVG(d, &report{Dataset: "short"})
	for _, want := range []string{halfSeriesP1 + " p99", "echo at the same rate", "P1 p99 target"} {
		if !strings.Contains(svg, want) {
			t.Errorf("plot lacks %q:\n%s", want, svg)
		}
	}
}

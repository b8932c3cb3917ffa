package main

import (
	"context"
	"fmt"
	"time"

	"github.com/crowdgate/crowdgate/bench/loadgen"
)

// Series names of the half-load slices in the plot (dialectReport.Sweep).
const (
	halfSeriesP1   = "validation, half-load slices"
	halfSeriesEcho = "echo at the same rate, slices"
)

// halfLoad measures P1's tail: validations, open loop, at half of P1's maximum, in slices
// alternating with the echo handler at the same offered rate. The echo's p99 is what the machine
// itself costs at that rate (the load generator, the kernel, the server's HTTP layer, the other
// processes of the moment); the target is the validations' p99 against it. Each round swaps
// which one goes first, so neither always follows the other's garbage or the flush's writes.
func (e *env) halfLoad(ctx context.Context, rate float64) error {
	o := e.o
	p1 := e.newMeter("p1-half", fmt.Sprintf("P1 validation at half of its maximum (%.0f/s), uniform", rate))
	echo := e.newMeter("echo-half", fmt.Sprintf("echo at the same rate (%.0f/s)", rate))
	d := o.duration / time.Duration(o.rounds)
	var pos uint64 // validations continue the scrambled order: no session comes back within the run
	runP1 := func() error {
		return e.slice(p1, func() (r loadgen.Result, err error) {
			r, err = e.open(ctx, e.validationTarget(e.uniformFrom(777, pos)), rate, d)()
			pos += r.OK + r.Errors + r.Dropped
			return r, err
		})
	}
	runEcho := func() error { return e.slice(echo, e.open(ctx, e.echoTarget(), rate, d)) }
	for i := range o.rounds {
		first, second := runP1, runEcho
		if i%2 == 1 {
			first, second = runEcho, runP1
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
	}
	pp, ep := e.done(p1), e.done(echo)
	e.dr.Sweep = append(e.dr.Sweep,
		sweepPoint{Series: halfSeriesP1, Fraction: 0.5, Offered: rate, RPS: pp.RPS, P50: pp.P50, P99: pp.P99, Errors: pp.Errors + pp.Dropped},
		sweepPoint{Series: halfSeriesEcho, Fraction: 0.5, Offered: rate, RPS: ep.RPS, P50: ep.P50, P99: ep.P99, Errors: ep.Errors + ep.Dropped})
	return nil
}

// halfLoadTarget judges P1's tail: p99 at half load at most twice the echo's p99 at the same rate
// in the same slices, and at most 10 ms.
func (e *env) halfLoadTarget() (target, bool) {
	half, echo := e.phase("p1-half"), e.phase("echo-half")
	if half == nil {
		return target{}, false
	}
	t := target{ID: "P1", What: fmt.Sprintf("p99 at half load (%.0f/s offered, open loop)", half.Rate), Value: fmt.Sprintf("%.2f ms", half.P99),
		Threshold: "≤ 2× echo, ≤ 10 ms"}
	t.Notes = fmt.Sprintf("p50 %.2f ms, max %.1f ms, server CPU %.0f µs/validation, machine %.0f %% busy", half.P50, half.Max,
		half.ServerCPUPerReqUS, half.MachineBusyPct)
	for _, sp := range e.dr.Sweep {
		if sp.Series == "validation (uniform)" && sp.Fraction == 0.5 {
			t.Notes += fmt.Sprintf("; the sweep's run at the same rate: p99 %.2f ms", sp.P99)
		}
	}
	ok := half.P99 <= 10 && half.OK > 0
	if echo != nil && echo.P99 > 0 {
		ratio := half.P99 / echo.P99
		t.Ceiling = fmt.Sprintf("echo p99 %.2f ms at the same rate", echo.P99)
		t.Ratio = fmt.Sprintf("%.1f×", ratio)
		t.Notes += fmt.Sprintf("; echo p50 %.2f ms, %.0f µs/request, %d alternating slices each", echo.P50, echo.ServerCPUPerReqUS, e.o.rounds)
		ok = ok && ratio <= 2
	} else {
		ok = false
		t.Notes += "; no echo run at the same rate"
	}
	t.Verdict = verdict(ok)
	return t, true
}

package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/crowdgate/crowdgate/bench/loadgen"
)

// soakValidations measures P8: validations at half of P1's maximum for the -soak duration, with
// latency drift and memory growth per window (a sixth of the soak).
func (e *env) soakValidations(ctx context.Context) error {
	if e.o.soak <= 0 || e.dr.P1Max <= 0 {
		return nil
	}
	if e.dr.Dialect != "postgres" && slices.Contains(e.o.dialects, "postgres") {
		return nil // soak once, on PostgreSQL
	}
	rate := e.dr.P1Max / 2
	win := max(e.o.soak/6, 10*time.Second) // 30 minutes: the first 5 against the last 5
	pid := e.child.pid()
	var rss []float64
	stop := every(win, func() {
		r, _, _ := procStatus(pid)
		rss = append(rss, float64(r)/1024)
	})
	fmt.Printf("P8 soak: %.0f validations/s for %s\n", rate, e.o.soak)
	_, res, err := e.measure("p8", fmt.Sprintf("P8 soak at %.0f/s for %s", rate, e.o.soak), func() (loadgen.Result, error) {
		return loadgen.Run(ctx, e.validationTarget(e.uniform(8)), loadgen.Options{Concurrency: e.o.openWorkers, Rate: rate, Duration: e.o.soak, Window: win})
	})
	stop()
	if err != nil {
		return err
	}
	r := &p8Report{Rate: rate, Seconds: e.o.soak.Seconds(), Errors: res.AllErrors(), RSSMB: rss}
	for _, h := range res.Windows {
		r.WindowP99 = append(r.WindowP99, msf(h.Quantile(0.99)))
	}
	e.dr.P8 = r
	return nil
}

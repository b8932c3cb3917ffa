package main

import (
	"context"
	"fmt"
	"time"

	"github.com/crowdgate/crowdgate/bench/loadgen"
)

// validationThroughput measures P1 (session validations against the echo ceiling of the same
// process), P2 (durable commits during them) and P7 (memory under that load).
func (e *env) validationThroughput(ctx context.Context) error {
	o := e.o
	// The server loads every live session into memory at start, as crowdgate does (store.WarmSessions);
	// P1 judges the steady state that follows.
	if err := e.waitSessionsLoaded(ctx); err != nil {
		return err
	}
	// Warm-up: connections, PostgreSQL's buffer cache, Go's heap.
	fmt.Printf("warming up for %s\n", o.warmup)
	loadgen.Run(ctx, e.echoTarget(), loadgen.Options{Concurrency: o.concurrency, Duration: o.warmup / 3})
	loadgen.Run(ctx, e.validationTarget(e.uniform(977)), loadgen.Options{Concurrency: o.concurrency, Duration: o.warmup * 2 / 3})

	// P1 (uniform) against the echo ceiling, interleaved; P2 around them (echo commits nothing).
	echo, uni, w, err := e.interleaveCounted(ctx, o.duration,
		e.newMeter("echo", "echo ceiling (same server, same request)"),
		e.newMeter("p1", fmt.Sprintf("P1 validation, uniform over %d sessions", len(e.tokens))),
		e.echoSlices, func(i int) loadgen.Target {
			return e.validationTarget(e.uniformFrom(12345, uint64(i*len(e.tokens)/o.rounds)))
		})
	if err != nil {
		return err
	}
	e.dr.EchoMax, e.dr.P1Max = echo.RPS, uni.RPS
	if w != nil {
		e.dr.P2 = *w
		fmt.Printf("P2: %d commits (%.1f/s, %.3f per validation), %d rows written, during %d validations\n",
			e.dr.P2.Commits, e.dr.P2.CommitsPerS, e.dr.P2.PerValidation, e.dr.P2.RowsWritten, uni.OK)
	}
	// The cache-friendly variant, against its own interleaved ceiling.
	echo2, hot, w, err := e.interleaveCounted(ctx, o.duration,
		e.newMeter("echo-hot", "echo ceiling (paired with the hot set)"),
		e.newMeter("p1-hot", fmt.Sprintf("P1 validation, hot set of %d sessions", min(o.hotTokens, len(e.tokens)))),
		e.echoSlices, func(int) loadgen.Target { return e.validationTarget(e.hot()) })
	if err != nil {
		return err
	}
	e.dr.P1HotMax = hot.RPS
	e.dr.EchoHotMax = echo2.RPS
	if w != nil {
		e.dr.P2Hot = w
		fmt.Printf("P2 (hot set): %d commits (%.1f/s, %.3f per validation)\n", w.Commits, w.CommitsPerS, w.PerValidation)
	}
	half := uni.RPS / 2
	if half < 1 {
		return fmt.Errorf("P1 reached %.1f validations/s: nothing to measure at half load", uni.RPS)
	}
	if err := e.halfLoad(ctx, half); err != nil {
		return err
	}
	for _, p := range []*phase{uni, hot} {
		if p.OK == 0 {
			return fmt.Errorf("%s: no successful validation (%s)", p.Name, p.ErrSummary)
		}
	}
	return nil
}

// interleaveCounted is interleave with, on PostgreSQL, the durable writes made while it ran,
// charged to b's phase (nil without PostgreSQL).
func (e *env) interleaveCounted(ctx context.Context, d time.Duration, a, b *meter, ta, tb func(slice int) loadgen.Target) (*phase, *phase, *p2Report, error) {
	var before dbStats
	if e.pg != nil {
		var err error
		if before, err = e.pg.settledStats(ctx, e.child); err != nil {
			return nil, nil, nil, err
		}
	}
	pa, pb, err := e.interleave(ctx, d, a, b, ta, tb)
	if err != nil || e.pg == nil {
		return pa, pb, nil, err
	}
	after, err := e.pg.settledStats(ctx, e.child)
	if err != nil {
		return nil, nil, nil, err
	}
	w := durableWritesOf(before, after, pb)
	return pa, pb, &w, nil
}

// waitSessionsLoaded waits until the server holds every live session in memory, and reports how
// long that took after the server started.
func (e *env) waitSessionsLoaded(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := e.child.stats()
		if err != nil {
			return err
		}
		if st.SessionsCached >= len(e.tokens) {
			e.dr.SessionsLoadedS = time.Since(e.child.started).Seconds()
			fmt.Printf("server holds %d sessions in memory, %.1f s after it started\n", st.SessionsCached, e.dr.SessionsLoadedS)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server holds %d of %d sessions in memory after 2 minutes", st.SessionsCached, len(e.tokens))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func durableWritesOf(b, a dbStats, p *phase) p2Report {
	r := p2Report{Commits: a.Commits - b.Commits, Rollbacks: a.Rollbacks - b.Rollbacks,
		RowsWritten: (a.TupInserted - b.TupInserted) + (a.TupUpdated - b.TupUpdated) + (a.TupDelete - b.TupDelete),
		BlocksRead:  a.BlksRead - b.BlksRead, Validations: p.OK, Seconds: p.WallS}
	if p.WallS > 0 {
		r.CommitsPerS = float64(r.Commits) / p.WallS
	}
	if p.OK > 0 {
		r.PerValidation = float64(r.Commits) / float64(p.OK)
	}
	return r
}

// sweep measures latency against offered load for the echo ceiling and for validations: the plot.
func (e *env) sweep(ctx context.Context) error {
	// Each validation step continues the scrambled order where the previous one stopped, so no
	// session comes back within the cache TTL.
	var pos uint64
	for _, s := range []struct {
		name string
		max  float64
		t    func() loadgen.Target
	}{{"echo", e.dr.EchoMax, e.echoTarget}, {"validation (uniform)", e.dr.P1Max, func() loadgen.Target {
		return e.validationTarget(e.uniformFrom(4242, pos))
	}}} {
		if s.max <= 0 {
			continue
		}
		for _, f := range e.o.plotFractions {
			rate := s.max * f
			p, r, err := e.measure("sweep", fmt.Sprintf("sweep %s at %.0f%% (%.0f/s)", s.name, 100*f, rate), e.open(ctx, s.t(), rate, e.o.plotDuration))
			pos += r.OK + r.Errors + r.Dropped
			if err != nil {
				return err
			}
			e.dr.Sweep = append(e.dr.Sweep, sweepPoint{Series: s.name, Fraction: f, Offered: rate, RPS: p.RPS, P50: p.P50, P99: p.P99,
				Errors: p.Errors + p.Dropped})
		}
	}
	return nil
}

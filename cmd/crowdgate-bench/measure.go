package main

import (
	"context"
	"fmt"
	"time"

	"github.com/crowdgate/crowdgate/bench/loadgen"
)

// meter accumulates one measured run, possibly made of several slices interleaved with another
// run's (so both see the same background load): the load results, the server's CPU (getrusage of
// the server process), its RSS (VmRSS, and VmHWM reset when the meter starts) and the machine's CPU.
type meter struct {
	key, name    string
	res          loadgen.Result
	wall, driver time.Duration
	cpu          time.Duration
	slow, waits  int64
	waitUS       int64
	hits, misses uint64
	busy, total  uint64
	last         serverStats
	slices       int
}

func (e *env) newMeter(key, name string) *meter {
	resetPeakRSS(e.child.pid())
	return &meter{key: key, name: name, res: loadgen.Result{Hist: loadgen.NewHist(), ErrorKinds: map[string]uint64{}}}
}

// slice runs fn once and adds it to m.
func (e *env) slice(m *meter, fn func() (loadgen.Result, error)) error {
	s0, err := e.child.stats()
	if err != nil {
		return err
	}
	mb0, mt0 := machineCPU()
	d0 := selfCPU()
	t0 := time.Now()
	r, err := fn()
	m.wall += time.Since(t0)
	m.driver += selfCPU() - d0
	mb1, mt1 := machineCPU()
	m.busy, m.total = m.busy+(mb1-mb0), m.total+(mt1-mt0)
	s1, serr := e.child.stats()
	if err == nil {
		err = serr
	}
	m.cpu += s1.cpu() - s0.cpu()
	m.slow += s1.SlowQueries - s0.SlowQueries
	m.hits += s1.CacheHits - s0.CacheHits
	m.misses += s1.CacheMisses - s0.CacheMisses
	m.waits += s1.PoolWaits - s0.PoolWaits
	m.waitUS += s1.PoolWaitUS - s0.PoolWaitUS
	m.last = s1
	m.slices++
	m.res.Mode, m.res.Concurrency, m.res.Rate = r.Mode, r.Concurrency, r.Rate
	m.res.OK += r.OK
	m.res.Errors += r.Errors
	m.res.Dropped += r.Dropped
	m.res.Elapsed += r.Elapsed
	m.res.Bytes += r.Bytes
	if r.Hist != nil {
		m.res.Hist.Merge(r.Hist)
	}
	for k, v := range r.ErrorKinds {
		m.res.ErrorKinds[k] += v
	}
	m.res.Windows = r.Windows
	return err
}

// done turns m into a phase of the report.
func (e *env) done(m *meter) *phase {
	r := m.res
	p := &phase{Key: m.key, Name: m.name, Mode: r.Mode, Conc: r.Concurrency, Rate: r.Rate, OK: r.OK, Errors: r.Errors, Dropped: r.Dropped,
		ErrSummary: r.ErrorSummary(), RPS: r.Throughput(), ElapsedS: r.Elapsed.Seconds(), WallS: m.wall.Seconds()}
	if m.slices > 1 {
		p.Name += fmt.Sprintf(" [%d interleaved slices]", m.slices)
	}
	if r.Hist.Count() > 0 {
		p.P50, p.P90, p.P99, p.Max = msf(r.Hist.Quantile(0.5)), msf(r.Hist.Quantile(0.9)), msf(r.Hist.Quantile(0.99)), msf(r.Hist.Max())
	}
	p.ServerCPUS = m.cpu.Seconds()
	if m.wall > 0 {
		p.ServerCPUPct = 100 * m.cpu.Seconds() / m.wall.Seconds()
		p.DriverCPUPct = 100 * m.driver.Seconds() / m.wall.Seconds()
	}
	if r.OK > 0 {
		p.ServerCPUPerReqUS = float64(m.cpu.Microseconds()) / float64(r.OK)
	}
	if m.total > 0 {
		p.MachineBusyPct = 100 * float64(m.busy) / float64(m.total)
	}
	p.RSSMB, p.PeakRSSMB = float64(m.last.RSSKB)/1024, float64(m.last.HWMKB)/1024
	p.SlowQueries = m.slow
	if n := m.hits + m.misses; n > 0 {
		p.CacheHitPct = 100 * float64(m.hits) / float64(n)
		p.Validations = n
	}
	p.PoolWaits = m.waits
	if m.waits > 0 {
		p.PoolWaitMeanMS = float64(m.waitUS) / 1000 / float64(m.waits)
	}
	e.dr.Phases = append(e.dr.Phases, p)
	fmt.Println(p.line())
	return p
}

// measure records one run.
func (e *env) measure(key, name string, fn func() (loadgen.Result, error)) (*phase, loadgen.Result, error) {
	m := e.newMeter(key, name)
	err := e.slice(m, fn)
	return e.done(m), m.res, err
}

// interleave measures two closed-loop runs of total duration d each in alternating slices, so a
// change of background load on a shared machine hits both alike: the ratio of a target to its
// ceiling stays fair.
func (e *env) interleave(ctx context.Context, d time.Duration, a, b *meter, ta, tb func(slice int) loadgen.Target) (*phase, *phase, error) {
	rounds := e.o.rounds
	for i := 0; i < rounds; i++ {
		if err := e.slice(a, e.closed(ctx, ta(i), e.o.concurrency, d/time.Duration(rounds))); err != nil {
			return nil, nil, err
		}
		if err := e.slice(b, e.closed(ctx, tb(i), e.o.concurrency, d/time.Duration(rounds))); err != nil {
			return nil, nil, err
		}
	}
	return e.done(a), e.done(b), nil
}

func (e *env) echoSlices(int) loadgen.Target { return e.echoTarget() }

func msf(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func (e *env) closed(ctx context.Context, t loadgen.Target, conc int, d time.Duration) func() (loadgen.Result, error) {
	return func() (loadgen.Result, error) {
		return loadgen.Run(ctx, t, loadgen.Options{Concurrency: conc, Duration: d})
	}
}

func (e *env) open(ctx context.Context, t loadgen.Target, rate float64, d time.Duration) func() (loadgen.Result, error) {
	return func() (loadgen.Result, error) {
		return loadgen.Run(ctx, t, loadgen.Options{Concurrency: e.o.openWorkers, Rate: rate, Duration: d})
	}
}

package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crowdgate/crowdgate/bench/dataset"
	"github.com/crowdgate/crowdgate/bench/loadgen"
	"github.com/crowdgate/crowdgate/store/password"
)

// hashRate runs fn on every core for d and returns calls per second.
func hashRate(d time.Duration, fn func() error) (float64, error) {
	n := runtime.GOMAXPROCS(0)
	var count atomic.Int64
	var wg sync.WaitGroup
	var ferr atomic.Value
	start := time.Now()
	deadline := start.Add(d)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := fn(); err != nil {
					ferr.Store(err)
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := ferr.Load().(error); err != nil {
		return 0, err
	}
	return float64(count.Load()) / time.Since(start).Seconds(), nil
}

// passwordThroughput measures P3: {PKCS5S2} password authentications against the hashing ceiling
// measured in the same run, and validation latency while they saturate the server.
func (e *env) passwordThroughput(ctx context.Context) error {
	o := e.o
	// Ceilings, measured here on all cores while the server is idle. The {PKCS5S2} one is measured
	// in slices alternating with the logins', as P1's echo ceiling is: this machine's speed changes
	// with its other tenants from one minute to the next.
	cred, err := dataset.PKCS5S2(benchPassword, []byte(benchSalt))
	if err != nil {
		return err
	}
	cd := max(o.duration/3, time.Second)
	verify := func() error {
		ok, _, err := password.Verify(cred, benchPassword)
		if !ok || err != nil {
			return fmt.Errorf("{PKCS5S2} verify: %v %v", ok, err)
		}
		return nil
	}
	ar, err := hashRate(cd, func() error { _, err := password.Hash(benchPassword); return err })
	if err != nil {
		return err
	}
	// Three alternating measurements a round: verifications in this process (the raw hashing
	// ceiling), verifications in the server behind a bare handler (the CPU ceiling of a login: the
	// same process, pool, HTTP stack and load generator), and the logins.
	m := e.newMeter("p3", "P3 POST /authentication, {PKCS5S2} users on their first login")
	vm := e.newMeter("p3-verify", "P3 ceiling: POST /bench/verify, one {PKCS5S2} verification in the server")
	pk, pkCPU := 0.0, 0.0
	for range o.rounds {
		r, c, err := hashCost(max(cd/time.Duration(o.rounds), 500*time.Millisecond), verify)
		if err != nil {
			return err
		}
		pk, pkCPU = pk+r/float64(o.rounds), pkCPU+c/float64(o.rounds)
		if err := e.slice(vm, e.closed(ctx, e.verifyTarget(), o.p3Conc, o.duration/time.Duration(o.rounds))); err != nil {
			return err
		}
		if err := e.slice(m, e.closed(ctx, e.authTarget(), o.p3Conc, o.duration/time.Duration(o.rounds))); err != nil {
			return err
		}
	}
	if v := e.done(vm); v.OK == 0 {
		return fmt.Errorf("P3: no successful verification in the server (%s)", v.ErrSummary)
	}
	auth := e.done(m)
	e.dr.P3 = p3Report{PKCS5S2PerS: pk, PKCS5S2CPUUS: pkCPU, Argon2idPerS: ar, FirstLoginCeiling: 1 / (1/pk + 1/ar), Users: len(e.pkcs)}
	fmt.Printf("P3 ceilings on %d cores: {PKCS5S2} verify %.0f/s (mean of %d slices between the logins'), argon2id hash %.1f/s, both (a first login with re-hash) %.1f/s\n",
		runtime.GOMAXPROCS(0), pk, o.rounds, ar, e.dr.P3.FirstLoginCeiling)
	e.dr.P3.AuthPerS = auth.RPS
	if auth.OK == 0 {
		return fmt.Errorf("P3: no successful authentication (%s)", auth.ErrSummary)
	}
	if int(e.nextPK.Load()) >= len(e.pkcs) {
		e.dr.Notes = append(e.dr.Notes, fmt.Sprintf("P3 ran out of fresh {PKCS5S2} users (%d): raise -pkcs5s2-share or -users", len(e.pkcs)))
	}

	// P1 while P3 saturates the password pool.
	var wg sync.WaitGroup
	var p3r loadgen.Result
	var p3err error
	wg.Add(1)
	go func() {
		defer wg.Done()
		p3r, p3err = loadgen.Run(ctx, e.authTarget(), loadgen.Options{Concurrency: o.p3Conc, Duration: o.duration})
	}()
	mixed, _, err := e.measure("p3-p1", fmt.Sprintf("P1 validation at %.0f/s while P3 saturates password hashing", o.p3P1Rate),
		e.open(ctx, e.validationTarget(e.uniform(31337)), o.p3P1Rate, o.duration))
	wg.Wait()
	if err != nil {
		return err
	}
	if p3err != nil {
		return p3err
	}
	e.dr.P3.DuringAuthPerS = p3r.Throughput()
	e.dr.P3.P1P99During = mixed.P99
	e.dr.P3.P1ErrorsDuring = mixed.Errors + mixed.Dropped
	fmt.Printf("   (authentications meanwhile: %.1f/s, %d errors)\n", p3r.Throughput(), p3r.AllErrors())

	// The same with validations the session cache answers: is it the database work of a
	// validation, or waiting for a CPU, that the password storm slows down?
	wg.Add(1)
	go func() {
		defer wg.Done()
		p3r, p3err = loadgen.Run(ctx, e.authTarget(), loadgen.Options{Concurrency: o.p3Conc, Duration: o.duration})
	}()
	hot, _, err := e.measure("p3-p1-hot", fmt.Sprintf("P1 validation at %.0f/s, hot set, while P3 saturates password hashing", o.p3P1Rate),
		e.open(ctx, e.validationTarget(e.hot()), o.p3P1Rate, o.duration))
	wg.Wait()
	if err != nil {
		return err
	}
	if p3err != nil {
		return p3err
	}
	e.dr.P3.P1HotP99During = hot.P99
	return nil
}

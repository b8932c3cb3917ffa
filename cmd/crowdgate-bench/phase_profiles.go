package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/crowdgate/crowdgate/bench/loadgen"
)

func (e *env) profiles(ctx context.Context) error {
	if !e.o.pprof {
		return nil
	}
	secs := int(math.Max(2, math.Round(e.o.duration.Seconds())))
	grab := func(name string, load func() error) error {
		if err := e.child.profile("allocs", filepath.Join(e.profDir, name+"-allocs-before.pb.gz")); err != nil {
			return err
		}
		errc := make(chan error, 1)
		go func() {
			errc <- e.child.profile(fmt.Sprintf("profile?seconds=%d", secs), filepath.Join(e.profDir, name+"-cpu.pb.gz"))
		}()
		lerr := load()
		if err := <-errc; err != nil {
			return err
		}
		if lerr != nil {
			return lerr
		}
		if err := e.child.profile("allocs", filepath.Join(e.profDir, name+"-allocs-after.pb.gz")); err != nil {
			return err
		}
		e.dr.Profiles = append(e.dr.Profiles, name)
		return nil
	}
	fmt.Printf("profiling P1 (uniform and hot), P3 and P4 for %ds each\n", secs)
	if err := grab("p1-uniform", func() error {
		_, err := loadgen.Run(ctx, e.validationTarget(e.uniform(99)), loadgen.Options{Concurrency: e.o.concurrency, Duration: time.Duration(secs) * time.Second})
		return err
	}); err != nil {
		return err
	}
	if err := grab("p1-hot", func() error {
		_, err := loadgen.Run(ctx, e.validationTarget(e.hot()), loadgen.Options{Concurrency: e.o.concurrency, Duration: time.Duration(secs) * time.Second})
		return err
	}); err != nil {
		return err
	}
	if err := grab("p3", func() error {
		_, err := loadgen.Run(ctx, e.authTarget(), loadgen.Options{Concurrency: e.o.p3Conc, Duration: time.Duration(secs) * time.Second})
		return err
	}); err != nil {
		return err
	}
	return grab("p4", func() error {
		deadline := time.Now().Add(time.Duration(secs) * time.Second)
		for time.Now().Before(deadline) {
			f, err := e.fetch(ctx, "GET", "/group/membership", "")
			if err != nil {
				return err
			}
			if f.status != 200 {
				return fmt.Errorf("status %d", f.status)
			}
		}
		return nil
	})
}

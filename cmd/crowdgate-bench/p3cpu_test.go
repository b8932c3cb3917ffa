package main

import (
	"errors"
	"testing"
	"time"
)

func TestP3CPUTarget(t *testing.T) {
	for _, c := range []struct {
		login, hash   float64
		verdict, want string
	}{{3900, 3750, "PASS", "1.04×"}, {4200, 3750, "FAIL", "1.12×"}} {
		d := &dialectReport{Dialect: "postgres", P3: p3Report{PKCS5S2PerS: 500, PKCS5S2CPUUS: c.hash}}
		d.Phases = []*phase{{Key: "p3", OK: 1000, ServerCPUPerReqUS: c.login}, {Key: "p3-verify", OK: 1000, ServerCPUPerReqUS: c.hash}}
		tg, ok := (&env{dr: d}).p3CPUTarget()
		if !ok || tg.Verdict != c.verdict || tg.Ratio != c.want {
			t.Errorf("login %.0f µs, hash %.0f µs: %+v; want %s %s", c.login, c.hash, tg, c.verdict, c.want)
		}
	}
	if _, ok := (&env{dr: &dialectReport{}}).p3CPUTarget(); ok {
		t.Error("a target without a P3 run")
	}
}

// hashCost counts every call and charges this process's CPU to them.
func TestHashCost(t *testing.T) {
	rate, cpu, err := hashCost(50*time.Millisecond, func() error {
		for i := 0; i < 100_000; i++ {
			_ = i * i
		}
		return nil
	})
	if err != nil || rate <= 0 || cpu <= 0 {
		t.Errorf("hashCost = %.0f/s, %.1f µs, %v", rate, cpu, err)
	}
	if _, _, err := hashCost(time.Second, func() error { return errors.New("bad hash") }); err == nil {
		t.Error("an error of fn was lost")
	}
}

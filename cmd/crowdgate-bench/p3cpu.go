package main

import (
	"fmt"
	"sync/atomic"
	"time"
)

// hashCost runs fn on every core for d, as hashRate does, and also returns the CPU this process
// spent per call: what one hash costs, to set beside the server's CPU per login.
func hashCost(d time.Duration, fn func() error) (rate, cpuUS float64, err error) {
	var calls atomic.Int64
	c0 := selfCPU()
	rate, err = hashRate(d, func() error { calls.Add(1); return fn() })
	if n := calls.Load(); n > 0 {
		cpuUS = float64((selfCPU() - c0).Microseconds()) / float64(n)
	}
	return rate, cpuUS, err
}

// p3CPUTarget judges the login's overhead: the server's CPU per {PKCS5S2} first login at most
// 1.05× the CPU of one {PKCS5S2} verification, both measured in the same alternating slices.
func (e *env) p3CPUTarget() (target, bool) {
	p3, auth := e.dr.P3, e.phase("p3")
	if p3.PKCS5S2CPUUS <= 0 || auth == nil || auth.ServerCPUPerReqUS <= 0 {
		return target{}, false
	}
	ratio := auth.ServerCPUPerReqUS / p3.PKCS5S2CPUUS
	return target{ID: "P3", What: "server CPU per {PKCS5S2} first login", Value: fmt.Sprintf("%.0f µs", auth.ServerCPUPerReqUS),
		Ceiling: fmt.Sprintf("one {PKCS5S2} verification %.0f µs", p3.PKCS5S2CPUUS), Ratio: fmt.Sprintf("%.2f×", ratio),
		Threshold: "≤ 1.05×", Verdict: verdict(ratio <= 1.05),
		Notes: "server getrusage over the login slices per login; the tool's own CPU per verification in the slices between them"}, true
}

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
// 1.05× the server's CPU per bare verification request (POST /bench/verify), both measured in the
// same alternating slices with the same load generator. The tool's own CPU per verification (no
// HTTP, another process, an otherwise idle machine) is reported beside it.
func (e *env) p3CPUTarget() (target, bool) {
	p3, auth, verify := e.dr.P3, e.phase("p3"), e.phase("p3-verify")
	if auth == nil || auth.ServerCPUPerReqUS <= 0 || verify == nil || verify.ServerCPUPerReqUS <= 0 {
		return target{}, false
	}
	ratio := auth.ServerCPUPerReqUS / verify.ServerCPUPerReqUS
	return target{ID: "P3", What: "server CPU per {PKCS5S2} first login", Value: fmt.Sprintf("%.0f µs", auth.ServerCPUPerReqUS),
		Ceiling: fmt.Sprintf("one {PKCS5S2} verification request %.0f µs", verify.ServerCPUPerReqUS), Ratio: fmt.Sprintf("%.2f×", ratio),
		Threshold: "≤ 1.05×", Verdict: verdict(ratio <= 1.05),
		Notes: fmt.Sprintf("server getrusage per request over alternating slices of logins and of POST /bench/verify (a bare handler verifying one {PKCS5S2} hash through a pool like the store's); a verification in the tool's own process: %.0f µs (%.2f×)",
			p3.PKCS5S2CPUUS, auth.ServerCPUPerReqUS/p3.PKCS5S2CPUUS)}, true
}

package config

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// FuzzConfig feeds arbitrary values to two settings, each through its CROWDGATE_* variable or its
// flag, as serve reads them: loading never panics, and every problem reported names the setting
// (the variable) it is about, so an operator knows what to fix.
func FuzzConfig(f *testing.F) {
	f.Add(uint8(0), "postgres://u:p@db:5432/crowdgate?sslmode=require", false, uint8(1), "0.0.0.0:8095", true)
	f.Add(uint8(2), "/crowd/", false, uint8(3), "ftp://x", false)
	f.Add(uint8(4), "", true, uint8(5), "\x00", false)
	f.Add(uint8(20), "1ms", false, uint8(21), "-5s", true)
	f.Add(uint8(7), "10.0.0.0/33, ,host name", false, uint8(12), "nope", false)
	f.Add(uint8(9), "q83vEjRWeJq8mt7/ASNFZ4mrze8BI0VniavN7wEjRWc=", false, uint8(10), "/k", false)
	f.Fuzz(func(t *testing.T, i1 uint8, v1 string, flag1 bool, i2 uint8, v2 string, flag2 bool) {
		all := Settings()
		s1, s2 := all[int(i1)%len(all)], all[int(i2)%len(all)]
		e := env{}
		var args []string
		for _, in := range []struct {
			s      Setting
			v      string
			asFlag bool
		}{{s1, v1, flag1}, {s2, v2, flag2}} {
			if in.asFlag {
				args = append(args, "--"+in.s.Flag+"="+in.v)
			} else {
				e[in.s.Env] = in.v
			}
		}
		fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cf := AddFlags(fs, ScopeServe)
		if err := fs.Parse(args); err != nil {
			return // the flag package's own refusal (e.g. a bool flag's value), before loading
		}
		_, err := cf.Load(e.getenv)
		if err == nil {
			return
		}
		var ce *configError
		if !errors.As(err, &ce) {
			t.Fatalf("load returned %T, not a configuration error: %v", err, err)
		}
		for _, p := range ce.errs {
			for _, line := range strings.Split(p.Error(), "\n") {
				if !strings.Contains(line, "CROWDGATE_") {
					t.Errorf("problem %q does not name its setting (%s=%q, %s=%q)", line, s1.Env, v1, s2.Env, v2)
				}
			}
		}
	})
}

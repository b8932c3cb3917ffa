package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCounterAcrossChunks(t *testing.T) {
	doc := strings.Repeat(`<membership group="g"><users><user name="a"/><user name="b"/></users><groups><group name="c"/></groups></membership>`, 500)
	for _, size := range []int{1, 2, 3, 7, 11, 12, 13, 64, 4096} {
		c := newCounter("<membership ", "<user name=", "<group name=")
		for i := 0; i < len(doc); i += size {
			c.Write([]byte(doc[i:min(i+size, len(doc))]))
		}
		if c.n[0] != 500 || c.n[1] != 1000 || c.n[2] != 500 || c.bytes != int64(len(doc)) {
			t.Fatalf("chunks of %d: counts %v, %d bytes", size, c.n, c.bytes)
		}
	}
}

func TestReportAndPlot(t *testing.T) {
	r := &report{Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Command: "go run ./cmd/crowdgate-bench -short", Mode: "short",
		Hardware: hardware{CPU: "Test CPU", Cores: 2, MemGiB: 4}, Dataset: "short"}
	d := &dialectReport{Dialect: "postgres", EchoMax: 10000, P1Max: 6000}
	for _, s := range []string{"echo", "validation (uniform)"} {
		for i, f := range []float64{0.25, 0.5, 1} {
			d.Sweep = append(d.Sweep, sweepPoint{Series: s, Fraction: f, Offered: 8000 * f, RPS: 7900 * f, P50: 0.2 * float64(i+1), P99: float64(i+1) * 3})
		}
	}
	d.Phases = []*phase{{Key: "echo", Name: "echo", Mode: "closed", Conc: 32, RPS: 10000, OK: 100000},
		{Key: "p1", Name: "p1", Mode: "closed", Conc: 32, RPS: 6000, OK: 60000},
		{Key: "p1-half", Name: "half", Mode: "open", Rate: 3000, RPS: 3000, OK: 30000, P99: 4}}
	d.P6 = &p6Report{Users: 10, Groups: 2, Memberships: 5, FullS: 1.5, FullPages: 3, DeltaS: 1.2,
		FullPhases: []syncPhase{{"reading", 1}, {"apply users", 0.5}}}
	d.P8 = &p8Report{Rate: 3000, Seconds: 1800, WindowP99: []float64{9.8, 10.7, 13.4, 11.1, 8.7, 10.0}, RSSMB: []float64{150, 149, 149, 148, 146, 146}}
	r.Dialects = []*dialectReport{d}
	e := &env{dr: d, o: options{hotTokens: 100}, tokens: make([]string, 10)}
	e.targets()
	md := r.summaryMarkdown()
	for _, want := range []string{"| P1 | validations/s", "60 %", "**PASS**", "| P6 | Graph full sync, 10 users, 2 groups, 5 memberships | 1.5 s |", "3 pages; reading 1.0 s, apply users 0.5 s",
		"| P6 | Graph delta round of 100 changes | 1200 ms | — | — | ≤ 1 s | **FAIL**"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	svg := plotSVG(d, r)
	if !strings.HasPrefix(svg, "<svg") || strings.Count(svg, "<polyline") != 4 || !strings.Contains(svg, "P1 p99 target") {
		t.Errorf("plot:\n%s", svg)
	}
	dir := t.TempDir()
	md2 := filepath.Join(dir, "BENCHMARKS.md")
	os.WriteFile(md2, []byte("# head\n\n"+mdStart+"\nold\n"+mdEnd+"\n\ntail\n"), 0o644)
	if err := r.writeBenchmarksMD(md2); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(md2)
	if s := string(b); !strings.HasPrefix(s, "# head") || !strings.HasSuffix(s, "tail\n") || strings.Contains(s, "old") ||
		!strings.Contains(s, "Test CPU") {
		t.Errorf("BENCHMARKS.md:\n%s", s)
	}
	for _, name := range []string{"latency-postgres.svg", "soak-postgres.svg"} {
		if _, err := os.Stat(filepath.Join(dir, "bench", "plots", name)); err != nil {
			t.Error(err)
		}
		if !strings.Contains(string(b), "(bench/plots/"+name+")") {
			t.Errorf("BENCHMARKS.md does not show %s", name)
		}
	}
	if soak := soakSVG(d, r); strings.Count(soak, "<circle") != 12 || strings.Count(soak, "<polyline") != 2 {
		t.Errorf("soak plot: want 6 windows' p99 and 6 RSS samples:\n%s", soak)
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"-short"})
	if err != nil || o.spec.Users != 5000 || o.duration != 2*time.Second || o.pprof || len(o.dialects) != 2 {
		t.Fatalf("%+v %v", o, err)
	}
	o, err = parseFlags([]string{"-dialects", "postgres", "-users", "2000", "-duration", "3s"})
	if err != nil || o.spec.Users != 2000 || o.spec.Groups != 5000 || !o.pprof || o.dialects[0] != "postgres" {
		t.Fatalf("%+v %v", o, err)
	}
	for _, bad := range [][]string{{"-dialects", "mysql"}, {"-duration", "1h"}, {"-pkcs5s2-share", "2"}, {"extra"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/bench/dataset"
)

type report struct {
	Started    time.Time        `json:"started"`
	Finished   time.Time        `json:"finished"`
	Command    string           `json:"command"`
	Mode       string           `json:"mode"`
	Hardware   hardware         `json:"hardware"`
	LoadAvg    string           `json:"load_average_at_start"`
	Dataset    string           `json:"dataset"`
	Spec       dataset.Spec     `json:"spec"`
	Dialects   []*dialectReport `json:"dialects"`
	ToolErrors []string         `json:"tool_errors"`
	outDir     string
}

type dialectReport struct {
	Dialect    string      `json:"dialect"`
	Generate   genReport   `json:"generate"`
	Ready      readyReport `json:"ready"`
	Phases     []*phase    `json:"phases"`
	EchoMax    float64     `json:"echo_max_rps"`
	P1Max      float64     `json:"p1_max_rps"`
	P1HotMax   float64     `json:"p1_hot_max_rps"`
	EchoHotMax float64     `json:"echo_hot_max_rps"`
	// SessionsLoadedS is how long after its start the server held every session in memory.
	SessionsLoadedS float64       `json:"sessions_loaded_s"`
	P2              p2Report      `json:"p2"`
	P2Hot           *p2Report     `json:"p2_hot,omitempty"`
	P3              p3Report      `json:"p3"`
	P4              []p4Run       `json:"p4"`
	P5              p5Report      `json:"p5"`
	P6              *p6Report     `json:"p6,omitempty"`
	P8              *p8Report     `json:"p8,omitempty"`
	Sweep           []sweepPoint  `json:"sweep"`
	Targets         []target      `json:"targets"`
	Profiles        []string      `json:"profiles"`
	Explain         []explainLine `json:"explain"`
	Notes           []string      `json:"notes"`
}

type genReport struct {
	TotalS float64            `json:"total_s"`
	Rows   map[string]int     `json:"rows"`
	StepsS map[string]float64 `json:"steps_s"`
}

type readyReport struct {
	OpenMS         float64 `json:"store_open_ms"`
	ReadyMS        float64 `json:"ready_ms"`
	SpawnToReadyMS float64 `json:"exec_to_readyz_ms"`
}

type phase struct {
	Key               string  `json:"key"`
	Name              string  `json:"name"`
	Mode              string  `json:"mode"`
	Conc              int     `json:"connections"`
	Rate              float64 `json:"rate"`
	OK                uint64  `json:"ok"`
	Errors            uint64  `json:"errors"`
	Dropped           uint64  `json:"dropped"`
	ErrSummary        string  `json:"error_summary,omitempty"`
	RPS               float64 `json:"rps"`
	P50               float64 `json:"p50_ms"`
	P90               float64 `json:"p90_ms"`
	P99               float64 `json:"p99_ms"`
	Max               float64 `json:"max_ms"`
	ElapsedS          float64 `json:"elapsed_s"`
	WallS             float64 `json:"wall_s"`
	ServerCPUS        float64 `json:"server_cpu_s"`
	ServerCPUPct      float64 `json:"server_cpu_pct"`
	ServerCPUPerReqUS float64 `json:"server_cpu_per_req_us"`
	DriverCPUPct      float64 `json:"loadgen_cpu_pct"`
	MachineBusyPct    float64 `json:"machine_busy_pct"`
	RSSMB             float64 `json:"rss_mb"`
	PeakRSSMB         float64 `json:"peak_rss_mb"`
	SlowQueries       int64   `json:"slow_queries"`
	Validations       uint64  `json:"session_validations"`
	CacheHitPct       float64 `json:"session_cache_hit_pct"`
	PoolWaits         int64   `json:"db_pool_waits"`
	PoolWaitMeanMS    float64 `json:"db_pool_wait_mean_ms"`
}

func (p *phase) line() string {
	s := fmt.Sprintf("%-62s %8.0f req/s  p50 %6.2f  p90 %6.2f  p99 %7.2f  max %7.1f ms  err %d  server CPU %3.0f%% (%4.0f µs/req)  RSS %3.0f MB",
		trunc(p.Name, 62), p.RPS, p.P50, p.P90, p.P99, p.Max, p.Errors+p.Dropped, p.ServerCPUPct, p.ServerCPUPerReqUS, p.PeakRSSMB)
	if p.ErrSummary != "" {
		s += "  [" + p.ErrSummary + "]"
	}
	if p.Validations > 0 {
		s += fmt.Sprintf("  cache hits %.0f%%", p.CacheHitPct)
	}
	if p.PoolWaits > 0 {
		s += fmt.Sprintf("  pool waits %d (%.1f ms)", p.PoolWaits, p.PoolWaitMeanMS)
	}
	if p.SlowQueries > 0 {
		s += fmt.Sprintf("  (%d statements > 500 ms)", p.SlowQueries)
	}
	return s
}

func trunc(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

type p2Report struct {
	Commits       int64   `json:"commits"`
	Rollbacks     int64   `json:"rollbacks"`
	RowsWritten   int64   `json:"rows_written"`
	BlocksRead    int64   `json:"blocks_read"`
	Validations   uint64  `json:"validations"`
	Seconds       float64 `json:"seconds"`
	CommitsPerS   float64 `json:"commits_per_s"`
	PerValidation float64 `json:"commits_per_validation"`
}

type p3Report struct {
	PKCS5S2PerS       float64 `json:"pkcs5s2_per_s"`
	PKCS5S2CPUUS      float64 `json:"pkcs5s2_cpu_us"` // CPU per verification in the ceiling's slices
	Argon2idPerS      float64 `json:"argon2id_per_s"`
	FirstLoginCeiling float64 `json:"first_login_ceiling_per_s"`
	AuthPerS          float64 `json:"auth_per_s"`
	DuringAuthPerS    float64 `json:"auth_per_s_during_p1"`
	P1P99During       float64 `json:"p1_p99_ms_during"`
	P1ErrorsDuring    uint64  `json:"p1_errors_during"`
	P1HotP99During    float64 `json:"p1_hot_p99_ms_during"`
	Users             int     `json:"fresh_users"`
}

type p4Run struct {
	TotalMS     float64 `json:"total_ms"`
	TTFBMS      float64 `json:"first_byte_ms"`
	HeadersMS   float64 `json:"headers_ms"`
	Bytes       int64   `json:"bytes"`
	RSSBeforeMB float64 `json:"rss_before_mb"`
	PeakRSSMB   float64 `json:"peak_rss_mb"`
	RSSGrowthMB float64 `json:"rss_growth_mb"`
	ServerCPUMS float64 `json:"server_cpu_ms"`
}

type p5Step struct {
	Name   string  `json:"name"`
	MS     float64 `json:"ms"`
	TTFBMS float64 `json:"first_byte_ms"`
	Bytes  int64   `json:"bytes"`
}

type p5Report struct {
	Steps       []p5Step  `json:"steps"`
	TotalMS     float64   `json:"total_ms"`
	ServerCPUMS float64   `json:"server_cpu_ms"`
	ChangesMS   float64   `json:"changes_ms"`
	EventsMS    []float64 `json:"events_ms"`
}

type p8Report struct {
	Rate      float64   `json:"rate"`
	Seconds   float64   `json:"seconds"`
	Errors    uint64    `json:"errors"`
	WindowP99 []float64 `json:"window_p99_ms"`
	RSSMB     []float64 `json:"rss_mb"`
}

type sweepPoint struct {
	Series   string  `json:"series"`
	Fraction float64 `json:"fraction"`
	Offered  float64 `json:"offered_rps"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Errors   uint64  `json:"errors"`
}

type explainLine struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
}

type target struct {
	ID        string `json:"id"`
	What      string `json:"what"`
	Value     string `json:"value"`
	Ceiling   string `json:"ceiling"`
	Ratio     string `json:"ratio"`
	Threshold string `json:"threshold"`
	Verdict   string `json:"verdict"` // PASS, FAIL, info, not run
	Notes     string `json:"notes,omitempty"`
}

func (r *report) toolError(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.ToolErrors = append(r.ToolErrors, msg)
	fmt.Fprintln(os.Stderr, "TOOL ERROR:", msg)
}

func (r *report) missed() int {
	n := 0
	for _, d := range r.Dialects {
		for _, t := range d.Targets {
			if t.Verdict == "FAIL" {
				n++
			}
		}
	}
	return n
}

func (r *report) dir(o options) string {
	if r.outDir == "" {
		r.outDir = filepath.Join(o.out, r.Started.Format("20060102-150405"))
	}
	return r.outDir
}

// --- verdicts ---------------------------------------------------------------------------------

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func (e *env) phase(key string) *phase {
	for _, p := range e.dr.Phases {
		if p.Key == key {
			return p
		}
	}
	return nil
}

// targets judges the run against docs/performance.md.
func (e *env) targets() {
	d := e.dr
	add := func(t target) { d.Targets = append(d.Targets, t) }
	echo, uni, hot, half := e.phase("echo"), e.phase("p1"), e.phase("p1-hot"), e.phase("p1-half")
	echoHot := e.phase("echo-hot")
	if echoHot == nil {
		echoHot = echo
	}
	if echo != nil && uni != nil && echo.RPS > 0 {
		ratio := uni.RPS / echo.RPS
		add(target{ID: "P1", What: fmt.Sprintf("validations/s, tokens uniform over all %d sessions (judged)", len(e.tokens)),
			Value: fmt.Sprintf("%.0f/s", uni.RPS), Ceiling: fmt.Sprintf("echo %.0f/s", echo.RPS), Ratio: pct(ratio),
			Threshold: "≥ 50 %", Verdict: verdict(ratio >= 0.5),
			Notes: fmt.Sprintf("server CPU %.0f µs/validation vs %.0f µs/echo", uni.ServerCPUPerReqUS, echo.ServerCPUPerReqUS)})
		if hot != nil {
			add(target{ID: "P1", What: fmt.Sprintf("validations/s, hot set of %d sessions (cache hits; info)", min(e.o.hotTokens, len(e.tokens))),
				Value: fmt.Sprintf("%.0f/s", hot.RPS), Ceiling: fmt.Sprintf("echo %.0f/s", echoHot.RPS), Ratio: pct(hot.RPS / echoHot.RPS),
				Threshold: "≥ 50 %", Verdict: "info", Notes: fmt.Sprintf("server CPU %.0f µs/validation", hot.ServerCPUPerReqUS)})
		}
	}
	if t, ok := e.halfLoadTarget(); ok {
		add(t)
	}
	if uni != nil {
		errs := uint64(0)
		for _, p := range []*phase{uni, hot, half, e.phase("echo-half")} {
			if p != nil {
				errs += p.Errors + p.Dropped
			}
		}
		add(target{ID: "P1", What: "errors in the P1 runs", Value: fmt.Sprint(errs), Threshold: "0", Verdict: verdict(errs == 0)})
	}
	if d.Dialect == "postgres" && uni != nil {
		p := d.P2
		notes := fmt.Sprintf("%d commits for %d validations (%.2f each); %d rows written", p.Commits, p.Validations, p.PerValidation, p.RowsWritten)
		add(target{ID: "P2", What: "PostgreSQL commits/s during P1 (uniform)", Value: fmt.Sprintf("%.1f/s", p.CommitsPerS), Threshold: "≤ 5/s",
			Verdict: verdict(p.CommitsPerS <= 5), Notes: notes})
		if d.P2Hot != nil {
			add(target{ID: "P2", What: "PostgreSQL commits/s during P1 (hot set; info)", Value: fmt.Sprintf("%.1f/s", d.P2Hot.CommitsPerS),
				Threshold: "≤ 5/s", Verdict: "info", Notes: fmt.Sprintf("%.2f commits per validation; %d rows written", d.P2Hot.PerValidation, d.P2Hot.RowsWritten)})
		}
	} else if d.Dialect != "postgres" {
		add(target{ID: "P2", What: "PostgreSQL commits during P1", Value: "n/a (SQLite)", Verdict: "n/a"})
	}
	if p3 := d.P3; p3.PKCS5S2PerS > 0 && p3.AuthPerS > 0 {
		add(target{ID: "P3", What: "POST /authentication/s, {PKCS5S2} users on first login", Value: fmt.Sprintf("%.1f/s", p3.AuthPerS),
			Ceiling: fmt.Sprintf("{PKCS5S2} %.0f hashes/s", p3.PKCS5S2PerS), Ratio: pct(p3.AuthPerS / p3.PKCS5S2PerS), Threshold: "≥ 90 %",
			Verdict: verdict(p3.AuthPerS/p3.PKCS5S2PerS >= 0.9),
			Notes: fmt.Sprintf("a legacy hash is upgraded to argon2id (%.1f/s on all cores) only when a hashing slot is idle, so a saturated pool only verifies; verify+upgrade would cap at %.1f/s",
				p3.Argon2idPerS, p3.FirstLoginCeiling)})
		add(target{ID: "P3", What: fmt.Sprintf("P1 p99 at %.0f validations/s while P3 saturates", e.o.p3P1Rate), Value: fmt.Sprintf("%.2f ms", p3.P1P99During),
			Threshold: "≤ 25 ms", Verdict: verdict(p3.P1P99During <= 25 && p3.P1ErrorsDuring == 0),
			Notes: fmt.Sprintf("%d errors; authentications meanwhile %.1f/s", p3.P1ErrorsDuring, p3.DuringAuthPerS)})
		if t, ok := e.p3CPUTarget(); ok {
			add(t)
		}
		if p3.P1HotP99During > 0 {
			add(target{ID: "P3", What: fmt.Sprintf("the same with a hot set of %d sessions (cache hits; info)", min(e.o.hotTokens, len(e.tokens))),
				Value: fmt.Sprintf("%.2f ms", p3.P1HotP99During), Threshold: "≤ 25 ms", Verdict: "info"})
		}
	}
	if len(d.P4) > 0 {
		tot, ttfb, grow := median(d.P4, func(r p4Run) float64 { return r.TotalMS }), median(d.P4, func(r p4Run) float64 { return r.TTFBMS }),
			maxOf(d.P4, func(r p4Run) float64 { return r.RSSGrowthMB })
		n := fmt.Sprintf("median of %d; %.1f MB; server CPU %.0f ms", len(d.P4), float64(d.P4[0].Bytes)/1e6, median(d.P4, func(r p4Run) float64 { return r.ServerCPUMS }))
		add(target{ID: "P4", What: "GET /group/membership complete", Value: fmt.Sprintf("%.2f s", tot/1000), Threshold: "≤ 3 s", Verdict: verdict(tot <= 3000), Notes: n})
		add(target{ID: "P4", What: "GET /group/membership first byte", Value: fmt.Sprintf("%.0f ms", ttfb), Threshold: "≤ 200 ms", Verdict: verdict(ttfb <= 200)})
		add(target{ID: "P4", What: "server RSS growth during the document", Value: fmt.Sprintf("%.1f MB", grow), Threshold: "≤ 50 MB", Verdict: verdict(grow <= 50),
			Notes: "peak VmHWM − VmRSS before, server in its own process; worst run"})
	}
	if d.P5.TotalMS > 0 {
		add(target{ID: "P5", What: "Jira full sync sequence (5 calls)", Value: fmt.Sprintf("%.2f s", d.P5.TotalMS/1000), Threshold: "≤ 15 s",
			Verdict: verdict(d.P5.TotalMS <= 15000), Notes: fmt.Sprintf("server CPU %.1f s", d.P5.ServerCPUMS/1000)})
	}
	if len(d.P5.EventsMS) > 0 {
		ev := append([]float64(nil), d.P5.EventsMS...)
		sort.Float64s(ev)
		add(target{ID: "P5", What: "GET /event/{token} after 100 changes", Value: fmt.Sprintf("%.1f ms", ev[len(ev)/2]), Threshold: "≤ 50 ms",
			Verdict: verdict(ev[len(ev)/2] <= 50), Notes: fmt.Sprintf("median of %d, max %.1f ms", len(ev), ev[len(ev)-1])})
	}
	if p := d.P6; p != nil {
		add(target{ID: "P6", What: fmt.Sprintf("Graph full sync, %d users, %d groups, %d memberships", p.Users, p.Groups, p.Memberships),
			Value: fmt.Sprintf("%.1f s", p.FullS), Threshold: "≤ 60 s", Verdict: verdict(p.FullS <= 60),
			Notes: fmt.Sprintf("%d pages; %s", p.FullPages, phaseSplit(p.FullPhases))})
		add(target{ID: "P6", What: "Graph delta round of 100 changes", Value: fmt.Sprintf("%.0f ms", 1000*p.DeltaS),
			Threshold: "≤ 1 s", Verdict: verdict(p.DeltaS <= 1), Notes: fmt.Sprintf("%d rows changed in the replica; %s", p.DeltaWrites, phaseSplit(p.DeltaPhases))})
	} else {
		add(target{ID: "P6", What: "Graph sync", Value: "—", Threshold: "full ≤ 60 s; delta of 100 ≤ 1 s", Verdict: "not run"})
	}
	peak := 0.0
	for _, p := range []*phase{uni, hot, half} {
		if p != nil {
			peak = math.Max(peak, p.PeakRSSMB)
		}
	}
	if peak > 0 {
		add(target{ID: "P7", What: "server RSS under P1 load (peak)", Value: fmt.Sprintf("%.0f MB", peak), Threshold: "≤ 250 MB", Verdict: verdict(peak <= 250)})
	}
	add(target{ID: "P7", What: "ready after start, up-to-date schema", Value: fmt.Sprintf("%.0f ms", d.Ready.ReadyMS), Threshold: "≤ 1 s",
		Verdict: verdict(d.Ready.ReadyMS <= 1000), Notes: fmt.Sprintf("store.Open %.0f ms; exec → /readyz 200 %.0f ms", d.Ready.OpenMS, d.Ready.SpawnToReadyMS)})
	if p8 := d.P8; p8 != nil && len(p8.WindowP99) >= 2 && len(p8.RSSMB) >= 2 {
		first, last := p8.WindowP99[0], p8.WindowP99[len(p8.WindowP99)-1]
		drift := (last - first) / first
		r0, r1 := p8.RSSMB[0], p8.RSSMB[len(p8.RSSMB)-1]
		growth := (r1 - r0) / r0
		add(target{ID: "P8", What: fmt.Sprintf("soak %.0f min at %.0f/s", p8.Seconds/60, p8.Rate), Value: fmt.Sprintf("p99 %.2f → %.2f ms (%+.0f %%), RSS %.0f → %.0f MB (%+.0f %%), %d errors",
			first, last, 100*drift, r0, r1, 100*growth, p8.Errors), Threshold: "0 errors, p99 drift ≤ 10 %, RSS ≤ +5 % (first window against the last)",
			Verdict: verdict(p8.Errors == 0 && drift <= 0.1 && growth <= 0.05)})
	} else {
		add(target{ID: "P8", What: "soak 30 min at 50 % of P1", Value: "—", Verdict: "not run", Notes: "long mode only: -soak 30m"})
	}
}

func pct(f float64) string { return fmt.Sprintf("%.0f %%", 100*f) }

func median[T any](l []T, f func(T) float64) float64 {
	v := make([]float64, len(l))
	for i, x := range l {
		v[i] = f(x)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func maxOf[T any](l []T, f func(T) float64) float64 {
	m := math.Inf(-1)
	for _, x := range l {
		m = math.Max(m, f(x))
	}
	return m
}

// --- Markdown ---------------------------------------------------------------------------------

func title(d string) string {
	if d == "postgres" {
		return "PostgreSQL"
	}
	return "SQLite"
}

func (r *report) summaryMarkdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run of %s (%s mode), dataset %s.  \n", r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Mode, r.Dataset)
	fmt.Fprintf(&b, "Hardware: %s. Load average at start: %s. Server and load generator share the machine.\n\n", r.Hardware, r.LoadAvg)
	var l1 float64
	if _, err := fmt.Sscan(r.LoadAvg, &l1); err == nil && l1 > float64(r.Hardware.Cores) {
		fmt.Fprintf(&b, "**Warning:** the load average (%.1f) exceeded the %d cores when the run started: other processes competed "+
			"for the CPU, so absolute figures are low and noisy; ratios within the run are less affected.\n\n", l1, r.Hardware.Cores)
	}
	for _, d := range r.Dialects {
		fmt.Fprintf(&b, "#### %s: targets\n\n", title(d.Dialect))
		b.WriteString("| id | measured | value | ceiling (same run) | ratio | target | verdict | notes |\n|---|---|---|---|---|---|---|---|\n")
		for _, t := range d.Targets {
			v := t.Verdict
			if v == "PASS" || v == "FAIL" {
				v = "**" + v + "**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", t.ID, t.What, t.Value, dash(t.Ceiling), dash(t.Ratio), dash(t.Threshold), v, t.Notes)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (r *report) detailMarkdown() string {
	var b strings.Builder
	for _, d := range r.Dialects {
		fmt.Fprintf(&b, "#### %s: load runs\n\n", title(d.Dialect))
		b.WriteString("| run | mode | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU | CPU µs/req | load gen CPU | machine busy | server RSS peak | session cache hits |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, p := range d.Phases {
			mode := fmt.Sprintf("closed, %d conns", p.Conc)
			if p.Mode == "open" {
				mode = fmt.Sprintf("open, %.0f/s", p.Rate)
			}
			errs := fmt.Sprint(p.Errors + p.Dropped)
			if p.ErrSummary != "" {
				errs += " (" + p.ErrSummary + ")"
			}
			hits := "—"
			if p.Validations > 0 {
				hits = fmt.Sprintf("%.0f %%", p.CacheHitPct)
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.2f | %.2f | %.2f | %.1f | %s | %.0f %% | %.0f | %.0f %% | %.0f %% | %.0f MB | %s |\n",
				p.Name, mode, p.RPS, p.P50, p.P90, p.P99, p.Max, errs, p.ServerCPUPct, p.ServerCPUPerReqUS, p.DriverCPUPct, p.MachineBusyPct, p.PeakRSSMB, hits)
		}
		b.WriteString("\nServer CPU is the server process's getrusage delta over the run's wall time (100 % = one core); " +
			"machine busy is /proc/stat over all cores (the server, the load generator and PostgreSQL).\n\n")
		if len(d.P5.Steps) > 0 {
			fmt.Fprintf(&b, "Jira full sync (P5), %s:\n\n| call | time | first byte | size |\n|---|---|---|---|\n", title(d.Dialect))
			for _, s := range d.P5.Steps {
				fmt.Fprintf(&b, "| %s | %.0f ms | %.0f ms | %.1f MB |\n", s.Name, s.MS, s.TTFBMS, float64(s.Bytes)/1e6)
			}
			fmt.Fprintf(&b, "| **total** | **%.0f ms** | | |\n\n", d.P5.TotalMS)
		}
		if len(d.P4) > 0 {
			b.WriteString("GET /group/membership (P4):\n\n| run | total | first byte | RSS before | RSS peak | growth | server CPU |\n|---|---|---|---|---|---|---|\n")
			for i, r := range d.P4 {
				fmt.Fprintf(&b, "| %d | %.0f ms | %.0f ms | %.0f MB | %.0f MB | %.1f MB | %.0f ms |\n", i+1, r.TotalMS, r.TTFBMS, r.RSSBeforeMB, r.PeakRSSMB, r.RSSGrowthMB, r.ServerCPUMS)
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Dataset generated in %.1f s (", d.Generate.TotalS)
		var steps []string
		for _, k := range []string{"users", "groups", "user_memberships", "sessions"} {
			if v, ok := d.Generate.StepsS[k]; ok {
				steps = append(steps, fmt.Sprintf("%s %.1f s", k, v))
			}
		}
		b.WriteString(strings.Join(steps, ", ") + ").")
		fmt.Fprintf(&b, " Server ready %.0f ms after process start (store.Open %.0f ms).\n\n", d.Ready.ReadyMS, d.Ready.OpenMS)
		if len(d.Explain) > 0 {
			b.WriteString("EXPLAIN ANALYZE of the hot queries (plans in explain-postgres.md):\n\n| query | top node; timings |\n|---|---|\n")
			for _, x := range d.Explain {
				fmt.Fprintf(&b, "| %s | %s |\n", x.Name, x.Summary)
			}
			b.WriteString("\n")
		}
		for _, n := range d.Notes {
			fmt.Fprintf(&b, "Note: %s\n\n", n)
		}
	}
	return b.String()
}

// replot re-renders an earlier run's results.md and plots from its results.json.
func replot(dir string, o options) error {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	r.outDir = dir
	if _, err := r.write(o); err != nil {
		return err
	}
	if o.writeMD {
		return r.writeBenchmarksMD(o.mdPath)
	}
	return nil
}

// write saves results.md, results.json and the plots into the results folder.
func (r *report) write(o options) (string, error) {
	dir := r.dir(o)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		return "", err
	}
	var plots []plot
	for _, d := range r.Dialects {
		for _, p := range plotsOf(d, r) {
			if err := os.WriteFile(filepath.Join(dir, p.name), []byte(p.svg), 0o644); err != nil {
				return "", err
			}
			plots = append(plots, p)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# crowdgate-bench results\n\nCommand: `%s`\n\n", r.Command)
	b.WriteString(r.summaryMarkdown())
	b.WriteString(r.detailMarkdown())
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](%s)\n\n", p.caption, p.name)
	}
	if len(r.ToolErrors) > 0 {
		b.WriteString("Tool errors:\n\n")
		for _, e := range r.ToolErrors {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	return dir, os.WriteFile(filepath.Join(dir, "results.md"), []byte(b.String()), 0o644)
}

const (
	mdStart = "<!-- crowdgate-bench:results:start (written by -write-benchmarks-md; edit outside these markers) -->"
	mdEnd   = "<!-- crowdgate-bench:results:end -->"
)

// writeBenchmarksMD replaces the results section of BENCHMARKS.md (between the markers) and copies
// the plots next to it, under bench/plots/.
func (r *report) writeBenchmarksMD(path string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w (run from the repository root)", path, err)
	}
	s := string(old)
	i, j := strings.Index(s, mdStart), strings.Index(s, mdEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no results markers", path)
	}
	var b strings.Builder
	b.WriteString(mdStart + "\n\n")
	fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	b.WriteString(r.summaryMarkdown())
	b.WriteString(r.detailMarkdown())
	plotDir := filepath.Join(filepath.Dir(path), "bench", "plots")
	for _, d := range r.Dialects {
		for _, p := range plotsOf(d, r) {
			if err := os.MkdirAll(plotDir, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(plotDir, p.name), []byte(p.svg), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(&b, "![%s](bench/plots/%s)\n\n", p.caption, p.name)
		}
	}
	s = s[:i] + b.String() + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

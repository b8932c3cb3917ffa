// Command crowdgate-bench measures crowdgate against the performance targets P1–P8 of docs/performance.md.
//
// It generates a benchmark directory (D-100k, or a small one with -short) deterministically into a
// fresh database (SQLite and PostgreSQL), starts crowdgate's Crowd REST server on 127.0.0.1 in a child
// process next to a bare echo handler (the ceiling), drives it over loopback with its own load
// generator, and writes a Markdown report and a latency-vs-throughput plot. BENCHMARKS.md explains
// the flags; `go run ./cmd/crowdgate-bench -h` lists them.
//
// The exit status is 1 when the tool itself failed (setup, a broken request, a wrong document), not
// when a target is missed (unless -fail-on-target).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crowdgate/crowdgate/bench/dataset"
	"github.com/crowdgate/crowdgate/internal/serving"
)

type options struct {
	short         bool
	dialects      []string
	pgURL         string
	sqliteDir     string
	out           string
	writeMD       bool
	mdPath        string
	spec          dataset.Spec
	duration      time.Duration
	warmup        time.Duration
	plotDuration  time.Duration
	plotFractions []float64
	concurrency   int
	rounds        int
	openWorkers   int
	hotTokens     int
	p3Conc        int
	p3P1Rate      float64
	p4Runs        int
	pprof         bool
	explain       bool
	soak          time.Duration
	keep          bool
	generateOnly  bool
	failOnTarget  bool
	cacheTTL      time.Duration
	accessFlush   time.Duration
	only          map[string]bool
	serverProcs   int
	// The server's GOGC and GOMEMLIMIT (empty: inherited), to compare garbage-collector settings.
	serverGOGC, serverMemLimit string
	pwWorkers                  int
	replot                     string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == childArg {
		os.Exit(serveChild(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crowdgate-bench:", err)
		return 2
	}
	if o.replot != "" {
		if err := replot(o.replot, o); err != nil {
			fmt.Fprintln(os.Stderr, "crowdgate-bench:", err)
			return 1
		}
		fmt.Println("re-rendered", o.replot)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := runAll(ctx, o, strings.Join(append([]string{"go run ./cmd/crowdgate-bench"}, args...), " "))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crowdgate-bench:", err)
	}
	if rep != nil {
		fmt.Println()
		fmt.Println(rep.summaryMarkdown())
		if dir, werr := rep.write(o); werr != nil {
			fmt.Fprintln(os.Stderr, "crowdgate-bench: writing results:", werr)
			err = errors.Join(err, werr)
		} else {
			fmt.Println("results written to", dir)
		}
		if o.writeMD && err == nil && len(rep.ToolErrors) == 0 {
			if werr := rep.writeBenchmarksMD(o.mdPath); werr != nil {
				fmt.Fprintln(os.Stderr, "crowdgate-bench:", werr)
				err = errors.Join(err, werr)
			} else {
				fmt.Println("updated", o.mdPath)
			}
		}
		for _, e := range rep.ToolErrors {
			fmt.Fprintln(os.Stderr, "TOOL ERROR:", e)
		}
		if len(rep.ToolErrors) > 0 {
			err = errors.Join(err, fmt.Errorf("%d tool errors", len(rep.ToolErrors)))
		}
	}
	if err != nil {
		return 1
	}
	if o.failOnTarget && rep.missed() > 0 {
		fmt.Fprintf(os.Stderr, "crowdgate-bench: %d targets missed\n", rep.missed())
		return 3
	}
	return 0
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("crowdgate-bench", flag.ContinueOnError)
	var o options
	short := fs.Bool("short", false, "CI mode: small dataset (5,000 users), a few seconds per target, SQLite and PostgreSQL, under 2 minutes")
	dialects := fs.String("dialects", "sqlite,postgres", "databases to measure, comma-separated (sqlite, postgres)")
	fs.StringVar(&o.pgURL, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server where the tool may CREATE DATABASE (a fresh database per run, dropped after)")
	fs.StringVar(&o.sqliteDir, "sqlite-dir", "", "directory for the SQLite database file (default: a temporary directory, removed after)")
	fs.StringVar(&o.out, "out", "bench-results", "results folder; each run writes <out>/<timestamp>/")
	fs.BoolVar(&o.writeMD, "write-benchmarks-md", false, "write the results (with hardware and date) into BENCHMARKS.md")
	fs.StringVar(&o.mdPath, "benchmarks-md", "BENCHMARKS.md", "path of BENCHMARKS.md for -write-benchmarks-md")
	users := fs.Int("users", 0, "dataset: users (default: 100,000; -short: 5,000)")
	groups := fs.Int("groups", 0, "dataset: groups (default: 5,000; -short: 300)")
	members := fs.Int("memberships", 0, "dataset: direct user memberships (default: 1,000,000; -short: 30,000)")
	sessions := fs.Int("sessions", 0, "dataset: live SSO sessions (default: 100,000; -short: 5,000)")
	share := fs.String("pkcs5s2-share", "", "dataset: share of users with {PKCS5S2} credentials, 0..1 (default: 0.2; -short: 0.5)")
	distinct := fs.Int("distinct-passwords", 0, "dataset: distinct {PKCS5S2} passwords, one hash each (default 100)")
	seed := fs.Uint64("seed", 0, "dataset seed (default: fixed per size)")
	fs.DurationVar(&o.duration, "duration", 0, "measurement time per load run (default 10s; -short 2s)")
	fs.DurationVar(&o.warmup, "warmup", 0, "warm-up before the first runs (default 3s; -short 1s)")
	fs.DurationVar(&o.plotDuration, "plot-duration", 0, "time per point of the latency-vs-throughput sweep (default 5s; -short 1s)")
	fractions := fs.String("plot-fractions", "", "sweep rates as fractions of each maximum (default 0.1,0.25,0.5,0.75,0.9,1; -short 0.3,0.6,0.9)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "connections of the closed-loop (maximum throughput) runs")
	fs.IntVar(&o.rounds, "rounds", 0, "slices in which the maximum-throughput runs alternate with their echo ceiling (default 5; -short 2)")
	fs.IntVar(&o.openWorkers, "open-workers", 128, "connections available to open-loop (constant rate) runs")
	fs.IntVar(&o.hotTokens, "hot-tokens", 100, "size of the hot token set of the cache-friendly P1 variant (a token must come back within the session cache TTL to hit)")
	fs.IntVar(&o.p3Conc, "p3-concurrency", 16, "connections of the P3 password-authentication load")
	fs.Float64Var(&o.p3P1Rate, "p3-p1-rate", 200, "validations/s sent while P3 saturates password hashing (Atlassian KB: ~170/s made Crowd the bottleneck)")
	fs.IntVar(&o.p4Runs, "p4-runs", 0, "GET /group/membership repetitions (default 3; -short 1)")
	pprofFlag := fs.String("pprof", "auto", "capture CPU and allocation profiles of P1 and P4 (true, false, auto = not with -short)")
	explainFlag := fs.String("explain", "auto", "EXPLAIN ANALYZE the hot queries on PostgreSQL (true, false, auto = not with -short)")
	fs.DurationVar(&o.soak, "soak", 0, "P8: soak at 50% of P1's maximum for this long (long mode, e.g. 30m; 0 = skip)")
	fs.DurationVar(&o.cacheTTL, "session-cache-ttl", 0, "server's session cache TTL (0: the store's default)")
	fs.DurationVar(&o.accessFlush, "access-flush", serving.FlushAccessEvery, "server's interval of the session-access write-behind, as crowdgate's (0: never, to isolate its cost)")
	fs.IntVar(&o.pwWorkers, "password-workers", 0, "server's password hashing pool size (0: the store's default, one per CPU)")
	fs.IntVar(&o.serverProcs, "server-gomaxprocs", 0, "GOMAXPROCS of the server process (0: Go's default, the number of CPUs)")
	fs.StringVar(&o.serverGOGC, "server-gogc", "", "GOGC of the server process (empty: inherited from this one)")
	fs.StringVar(&o.serverMemLimit, "server-gomemlimit", "", "GOMEMLIMIT of the server process, e.g. 200MiB (empty: inherited from this one)")
	fs.StringVar(&o.replot, "replot", "", "re-render results.md and the plots of an earlier run from its results.json (a results folder), and BENCHMARKS.md with -write-benchmarks-md, then stop")
	only := fs.String("only", "", "run only these steps, comma-separated: p1, sweep, p3, p4, p5, profiles, explain, p6, p8 (default: all)")
	fs.BoolVar(&o.keep, "keep", false, "keep the databases (PostgreSQL database, SQLite file) after the run")
	fs.BoolVar(&o.generateOnly, "generate-only", false, "generate the dataset, keep the database and stop (for manual EXPLAIN or profiling)")
	fs.BoolVar(&o.failOnTarget, "fail-on-target", false, "exit 3 when a target is missed")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./cmd/crowdgate-bench [flags]\n\nMeasures crowdgate against targets P1–P8 (see BENCHMARKS.md).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.short = *short
	if *only != "" {
		o.only = map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			s = strings.TrimSpace(s)
			switch s {
			case "p1", "sweep", "p3", "p4", "p5", "profiles", "explain", "p6", "p8":
				o.only[s] = true
			default:
				return o, fmt.Errorf("-only: unknown step %q", s)
			}
		}
	}
	if o.generateOnly {
		o.keep = true
	}
	for _, d := range strings.Split(*dialects, ",") {
		d = strings.TrimSpace(d)
		switch d {
		case "sqlite", "postgres":
			o.dialects = append(o.dialects, d)
		case "":
		default:
			return o, fmt.Errorf("-dialects: unknown dialect %q", d)
		}
	}
	if len(o.dialects) == 0 {
		return o, fmt.Errorf("-dialects: none given")
	}
	o.spec = dataset.D100k()
	def := func(d *time.Duration, full, short time.Duration) {
		if *d == 0 {
			*d = full
			if o.short {
				*d = short
			}
		}
	}
	def(&o.duration, 10*time.Second, 2*time.Second)
	def(&o.warmup, 3*time.Second, time.Second)
	def(&o.plotDuration, 5*time.Second, time.Second)
	if o.rounds <= 0 {
		o.rounds = 5
		if o.short {
			o.rounds = 2
		}
	}
	if o.p4Runs == 0 {
		o.p4Runs = 3
		if o.short {
			o.p4Runs = 1
		}
	}
	o.plotFractions = []float64{0.1, 0.25, 0.5, 0.75, 0.9, 1}
	if o.short {
		o.spec = dataset.Short()
		o.plotFractions = []float64{0.3, 0.6, 0.9}
	}
	if *fractions != "" {
		o.plotFractions = nil
		for _, f := range strings.Split(*fractions, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || v <= 0 || v > 2 {
				return o, fmt.Errorf("-plot-fractions: %q is not a fraction in (0, 2]", f)
			}
			o.plotFractions = append(o.plotFractions, v)
		}
	}
	set := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	set(&o.spec.Users, *users)
	set(&o.spec.Groups, *groups)
	set(&o.spec.Memberships, *members)
	set(&o.spec.Sessions, *sessions)
	set(&o.spec.DistinctPasswords, *distinct)
	if *share != "" {
		v, err := strconv.ParseFloat(*share, 64)
		if err != nil {
			return o, fmt.Errorf("-pkcs5s2-share: %q is not a number", *share)
		}
		o.spec.PKCS5S2Share = v
	}
	if *seed != 0 {
		o.spec.Seed = *seed
	}
	if err := o.spec.Validate(); err != nil {
		return o, err
	}
	if o.spec.Sessions < 1 {
		return o, fmt.Errorf("at least one session is needed for P1")
	}
	boolish := func(name, v string) (bool, error) {
		switch v {
		case "auto":
			return !o.short, nil
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return false, fmt.Errorf("-%s: %q is not true, false or auto", name, v)
	}
	var err error
	if o.pprof, err = boolish("pprof", *pprofFlag); err != nil {
		return o, err
	}
	if o.explain, err = boolish("explain", *explainFlag); err != nil {
		return o, err
	}
	if o.duration < 500*time.Millisecond || o.duration > 10*time.Minute {
		return o, fmt.Errorf("-duration must be within 0.5s..10m")
	}
	if o.soak > 4*time.Hour {
		return o, fmt.Errorf("-soak is bounded to 4h")
	}
	if o.concurrency < 1 || o.concurrency > 1024 || o.openWorkers < 1 || o.openWorkers > 4096 || o.p3Conc < 1 || o.p3Conc > 1024 {
		return o, fmt.Errorf("connection counts must be within 1..1024 (open workers 1..4096)")
	}
	return o, nil
}

// runAll measures every dialect in turn.
func runAll(ctx context.Context, o options, command string) (*report, error) {
	rep := &report{Started: time.Now(), Command: command, Hardware: readHardware(), Spec: o.spec, Dataset: o.spec.Name(),
		Mode: map[bool]string{true: "short", false: "full"}[o.short], LoadAvg: loadAverage()}
	fmt.Printf("crowdgate-bench: %s mode, dataset %s\nhardware: %s; load average %s\n", rep.Mode, rep.Dataset, rep.Hardware, rep.LoadAvg)
	for _, d := range o.dialects {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		fmt.Printf("\n==== %s ====\n", d)
		dr := &dialectReport{Dialect: d}
		rep.Dialects = append(rep.Dialects, dr)
		if err := runDialect(ctx, o, rep, dr); err != nil {
			rep.toolError("%s: %v", d, err)
		}
	}
	rep.Finished = time.Now()
	return rep, nil
}

// tempSQLite returns the SQLite file path and a cleanup.
func tempSQLite(o options) (string, func(), error) {
	dir := o.sqliteDir
	cleanup := func() {}
	if dir == "" {
		d, err := os.MkdirTemp("", "crowdgate-bench-")
		if err != nil {
			return "", nil, err
		}
		dir = d
		if !o.keep {
			cleanup = func() { os.RemoveAll(d) }
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, fmt.Sprintf("crowdgate-bench-%d.db", time.Now().UnixNano()))
	if o.sqliteDir != "" && !o.keep {
		cleanup = func() {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
		}
	}
	return path, cleanup, nil
}

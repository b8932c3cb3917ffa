package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crowdgate/crowdgate/bench/dataset"
	"github.com/crowdgate/crowdgate/bench/loadgen"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/password"
)

const restBase = "/crowd/rest/usermanagement/1"

// env is one dialect's run.
type env struct {
	o       options
	rep     *report
	dr      *dialectReport
	spec    dataset.Spec
	dbURL   string
	pg      *pgAdmin
	child   *child
	addr    string
	auth    string // Authorization header of the jira application
	tokens  []string
	ips     []string
	pkcs    []int // {PKCS5S2} users that have not logged in, in order
	nextPK  atomic.Int64
	smokePK int // the {PKCS5S2} user the smoke test signs in
	http    *http.Client
	profDir string
}

func runDialect(ctx context.Context, o options, rep *report, dr *dialectReport) (err error) {
	e := &env{o: o, rep: rep, dr: dr, spec: o.spec, http: &http.Client{Timeout: 5 * time.Minute,
		Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}}
	jira := dataset.Apps[0]
	e.auth = "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(jira.Name+":"+jira.Password))

	// Database.
	switch dr.Dialect {
	case "postgres":
		pg, err := newPGAdmin(ctx, o.pgURL)
		if err != nil {
			return err
		}
		e.pg, e.dbURL = pg, pg.dbURL
		defer func() {
			if o.keep {
				fmt.Println("kept PostgreSQL database", pg.dbName)
				pg.conn.Close(context.Background())
				return
			}
			if derr := pg.drop(context.Background()); derr != nil {
				err = fmt.Errorf("drop database %s: %w", pg.dbName, derr)
			}
		}()
	default:
		path, cleanup, err := tempSQLite(o)
		if err != nil {
			return err
		}
		defer cleanup()
		e.dbURL = path
		if o.keep {
			fmt.Println("SQLite database:", path)
		}
	}

	// Dataset.
	fmt.Printf("generating %s into %s\n", e.spec.Name(), dr.Dialect)
	st, err := store.Open(ctx, store.Config{URL: e.dbURL}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	info, err := dataset.Generate(ctx, st, e.spec, func(s string) { fmt.Println(s) })
	st.Close()
	if err != nil {
		return err
	}
	dr.Generate = genReport{TotalS: info.Total.Seconds(), Rows: info.Rows, StepsS: map[string]float64{}}
	for k, v := range info.Took {
		dr.Generate.StepsS[k] = v.Seconds()
	}
	fmt.Printf("generated in %.1fs\n", info.Total.Seconds())
	if o.generateOnly {
		return nil
	}
	e.tokens = make([]string, e.spec.Sessions)
	e.ips = make([]string, e.spec.Sessions)
	for i := range e.tokens {
		e.tokens[i] = e.spec.Token(i)
		e.ips[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	e.pkcs = e.spec.PKCS5S2Users()
	if len(e.pkcs) < 2 {
		return fmt.Errorf("the dataset has %d {PKCS5S2} users; P3 needs more (raise -pkcs5s2-share)", len(e.pkcs))
	}
	e.smokePK = e.pkcs[len(e.pkcs)-1]
	e.pkcs = e.pkcs[:len(e.pkcs)-1]

	// Server (P7: readiness on an up-to-date schema).
	c, err := startChild(ctx, e.dbURL, o)
	if err != nil {
		return err
	}
	e.child, e.addr = c, c.ready.Addr
	defer func() {
		if serr := c.stop(); serr != nil && err == nil {
			err = fmt.Errorf("bench server exit: %w", serr)
		}
	}()
	dr.Ready = readyReport{OpenMS: c.ready.OpenMS, ReadyMS: c.ready.ReadyMS, SpawnToReadyMS: ms(c.spawnToReady)}
	fmt.Printf("server pid %d on %s: store opened in %.0f ms, ready %.0f ms after process start (%.0f ms from exec to /readyz 200)\n",
		c.pid(), c.ready.Addr, c.ready.OpenMS, c.ready.ReadyMS, ms(c.spawnToReady))
	if o.pprof {
		e.profDir = filepath.Join(rep.dir(o), "profiles-"+dr.Dialect)
		if err := os.MkdirAll(e.profDir, 0o755); err != nil {
			return err
		}
	}

	if err := e.smoke(ctx); err != nil {
		return fmt.Errorf("smoke test: %w", err)
	}
	if e.pg != nil {
		cp0 := e.pg.forcedCheckpoints(ctx)
		defer func() {
			// One of them is this run's own DROP DATABASE at the end, not counted here.
			if n := e.pg.forcedCheckpoints(context.WithoutCancel(ctx)) - cp0; n > 0 {
				dr.Notes = append(dr.Notes, fmt.Sprintf("PostgreSQL ran %d forced checkpoints during the measurements (other clients' CREATE/DROP DATABASE): "+
					"each stalls I/O for every database of the cluster, which shows as statements over 500 ms and as outliers in p99 and max", n))
			}
		}()
	}
	steps := []struct {
		key, name string
		fn        func(context.Context) error
	}{
		{"p1", "P1/P2 session validation", e.p1},
		{"sweep", "latency sweep", e.sweep},
		{"p3", "P3 password authentication", e.p3},
		{"p4", "P4 membership document", e.p4},
		{"p5", "P5 Jira full sync", e.p5},
		{"profiles", "profiles", e.profiles},
		{"explain", "EXPLAIN", e.explain},
		{"p8", "P8 soak", e.p8},
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if o.only != nil && !o.only[s.key] {
			continue
		}
		if err := s.fn(ctx); err != nil {
			rep.toolError("%s: %s: %v", dr.Dialect, s.name, err)
		}
	}
	e.targets()
	return nil
}

// --- requests ---------------------------------------------------------------------------------

var commonHeaders = []string{"Content-Type: application/xml; charset=UTF-8", "Accept: application/xml",
	"User-Agent: Apache-HttpClient/4.5.13 (Java/17.0.8)"}

func (e *env) factors(i int) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><validation-factors><validation-factor><name>remote_address</name><value>` +
		e.ips[i] + `</value></validation-factor></validation-factors>`)
}

// validateReq builds POST /session/{token} for the session pick(seq) chooses, as Seraph sends it.
func (e *env) validateReq(pick func(uint64) int) func([]byte, uint64) []byte {
	hdr := append([]string{e.auth}, commonHeaders...)
	return func(dst []byte, seq uint64) []byte {
		i := pick(seq)
		return loadgen.Request(dst, "POST", e.addr, restBase+"/session/"+e.tokens[i], hdr, e.factors(i))
	}
}

// echoReq is the same request to the echo handler.
func (e *env) echoReq(pick func(uint64) int) func([]byte, uint64) []byte {
	hdr := append([]string{e.auth}, commonHeaders...)
	return func(dst []byte, seq uint64) []byte {
		i := pick(seq)
		return loadgen.Request(dst, "POST", e.addr, "/bench/echo", hdr, e.factors(i))
	}
}

// uniform visits every session once per len(tokens) requests, in a scrambled order.
func (e *env) uniform(offset uint64) func(uint64) int { return e.uniformFrom(offset, 0) }

// uniformFrom continues the scrambled order from position start (so successive slices of one run
// visit different sessions).
func (e *env) uniformFrom(offset, start uint64) func(uint64) int {
	n := uint64(len(e.tokens))
	return func(seq uint64) int { return int(((seq+start)*2654435761 + offset) % n) }
}

// hot draws from the first hot sessions only: a working set the session cache can hold.
func (e *env) hot() func(uint64) int {
	n := uint64(min(e.o.hotTokens, len(e.tokens)))
	return func(seq uint64) int { return int((seq * 2654435761) % n) }
}

func (e *env) checkValidation(pick func(uint64) int) func(uint64, loadgen.Response) error {
	return func(seq uint64, r loadgen.Response) error {
		if r.Status != 200 {
			return fmt.Errorf("status %d", r.Status)
		}
		if !bytes.Contains(r.Body, []byte("<token>"+e.tokens[pick(seq)]+"</token>")) {
			return fmt.Errorf("answer without the token")
		}
		return nil
	}
}

func (e *env) validationTarget(pick func(uint64) int) loadgen.Target {
	return loadgen.Target{Addr: e.addr, Build: e.validateReq(pick), Check: e.checkValidation(pick), CaptureBody: true}
}

func (e *env) echoTarget() loadgen.Target {
	return loadgen.Target{Addr: e.addr, Build: e.echoReq(e.uniform(0))}
}

// authTarget signs in {PKCS5S2} users that have not logged in yet, one per request.
func (e *env) authTarget() loadgen.Target {
	hdr := append([]string{e.auth}, commonHeaders...)
	return loadgen.Target{Addr: e.addr, Build: func(dst []byte, _ uint64) []byte {
		k := e.nextPK.Add(1) - 1
		if k >= int64(len(e.pkcs)) {
			return nil
		}
		u := e.pkcs[k]
		body := []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><password><value>` + e.spec.Password(u) + `</value></password>`)
		return loadgen.Request(dst, "POST", e.addr, restBase+"/authentication?username="+dataset.UserName(u), hdr, body)
	}}
}

// --- measurement ------------------------------------------------------------------------------

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

// --- smoke ------------------------------------------------------------------------------------

// smoke checks every request the benchmark sends works once, before measuring anything: a broken
// tool must fail loudly rather than measure error pages.
func (e *env) smoke(ctx context.Context) error {
	conn, err := loadgen.Dial(e.addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	var body []byte
	do := func(what string, req []byte, status int, want string) error {
		body = body[:0]
		r, err := conn.Do(req, &body)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if r.Status != status || !bytes.Contains(body, []byte(want)) {
			return fmt.Errorf("%s: status %d, body %.300q (want %d with %q)", what, r.Status, body, status, want)
		}
		return nil
	}
	last := len(e.tokens) - 1
	if err := do("echo", e.echoReq(func(uint64) int { return 0 })(nil, 0), 200, "<session"); err != nil {
		return err
	}
	u := dataset.UserName(e.spec.SessionUser(last))
	if err := do("session validation", e.validateReq(func(uint64) int { return last })(nil, 0), 200, `name="`+u+`"`); err != nil {
		return err
	}
	bad := loadgen.Request(nil, "POST", e.addr, restBase+"/session/NoSuchTokenNoSuchToken00", append([]string{e.auth}, commonHeaders...), e.factors(0))
	if err := do("unknown token", bad, 404, "INVALID_SSO_TOKEN"); err != nil {
		return err
	}
	hdr := append([]string{e.auth}, commonHeaders...)
	pw := loadgen.Request(nil, "POST", e.addr, restBase+"/authentication?username="+dataset.UserName(e.smokePK), hdr,
		[]byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><password><value>`+e.spec.Password(e.smokePK)+`</value></password>`))
	if err := do("{PKCS5S2} authentication", pw, 200, `name="`+dataset.UserName(e.smokePK)+`"`); err != nil {
		return err
	}
	fmt.Println("smoke test passed: echo, validation, unknown token, {PKCS5S2} authentication")
	return nil
}

// --- P1, P2, P7 -------------------------------------------------------------------------------

func (e *env) p1(ctx context.Context) error {
	o := e.o
	// The server loads every live session into memory at start, as crowdgate does (store.WarmSessions);
	// P1 judges the steady state that follows.
	if err := e.waitSessionsLoaded(ctx); err != nil {
		return err
	}
	// Warm-up: connections, PostgreSQL's buffer cache, Go's heap.
	fmt.Printf("warming up for %s\n", o.warmup)
	loadgen.Run(ctx, e.echoTarget(), loadgen.Options{Concurrency: o.concurrency, Duration: o.warmup / 3})
	loadgen.Run(ctx, e.validationTarget(e.uniform(977)), loadgen.Options{Concurrency: o.concurrency, Duration: o.warmup * 2 / 3})

	// P1 (uniform) against the echo ceiling, interleaved; P2 around them (echo commits nothing).
	var before dbStats
	var err error
	if e.pg != nil {
		if before, err = e.pg.settledStats(ctx, e.child); err != nil {
			return err
		}
	}
	echo, uni, err := e.interleave(ctx, o.duration,
		e.newMeter("echo", "echo ceiling (same server, same request)"),
		e.newMeter("p1", fmt.Sprintf("P1 validation, uniform over %d sessions", len(e.tokens))),
		e.echoSlices, func(i int) loadgen.Target {
			return e.validationTarget(e.uniformFrom(12345, uint64(i*len(e.tokens)/o.rounds)))
		})
	if err != nil {
		return err
	}
	e.dr.EchoMax, e.dr.P1Max = echo.RPS, uni.RPS
	if e.pg != nil {
		after, err := e.pg.settledStats(ctx, e.child)
		if err != nil {
			return err
		}
		e.dr.P2 = p2From(before, after, uni)
		fmt.Printf("P2: %d commits (%.1f/s, %.3f per validation), %d rows written, during %d validations\n",
			e.dr.P2.Commits, e.dr.P2.CommitsPerS, e.dr.P2.PerValidation, e.dr.P2.RowsWritten, uni.OK)
	}
	// The cache-friendly variant, against its own interleaved ceiling.
	var hb dbStats
	if e.pg != nil {
		if hb, err = e.pg.settledStats(ctx, e.child); err != nil {
			return err
		}
	}
	echo2, hot, err := e.interleave(ctx, o.duration,
		e.newMeter("echo-hot", "echo ceiling (paired with the hot set)"),
		e.newMeter("p1-hot", fmt.Sprintf("P1 validation, hot set of %d sessions", min(o.hotTokens, len(e.tokens)))),
		e.echoSlices, func(int) loadgen.Target { return e.validationTarget(e.hot()) })
	if err != nil {
		return err
	}
	e.dr.P1HotMax = hot.RPS
	e.dr.EchoHotMax = echo2.RPS
	if e.pg != nil {
		ha, err := e.pg.settledStats(ctx, e.child)
		if err != nil {
			return err
		}
		p := p2From(hb, ha, hot)
		e.dr.P2Hot = &p
		fmt.Printf("P2 (hot set): %d commits (%.1f/s, %.3f per validation)\n", p.Commits, p.CommitsPerS, p.PerValidation)
	}
	half := uni.RPS / 2
	if half < 1 {
		return fmt.Errorf("P1 reached %.1f validations/s: nothing to measure at half load", uni.RPS)
	}
	if err := e.halfLoad(ctx, half); err != nil {
		return err
	}
	for _, p := range []*phase{uni, hot} {
		if p.OK == 0 {
			return fmt.Errorf("%s: no successful validation (%s)", p.Name, p.ErrSummary)
		}
	}
	return nil
}

// waitSessionsLoaded waits until the server holds every live session in memory, and reports how
// long that took after the server started.
func (e *env) waitSessionsLoaded(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := e.child.stats()
		if err != nil {
			return err
		}
		if st.SessionsCached >= len(e.tokens) {
			e.dr.SessionsLoadedS = time.Since(e.child.started).Seconds()
			fmt.Printf("server holds %d sessions in memory, %.1f s after it started\n", st.SessionsCached, e.dr.SessionsLoadedS)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server holds %d of %d sessions in memory after 2 minutes", st.SessionsCached, len(e.tokens))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func p2From(b, a dbStats, p *phase) p2Report {
	r := p2Report{Commits: a.Commits - b.Commits, Rollbacks: a.Rollbacks - b.Rollbacks,
		RowsWritten: (a.TupInserted - b.TupInserted) + (a.TupUpdated - b.TupUpdated) + (a.TupDelete - b.TupDelete),
		BlocksRead:  a.BlksRead - b.BlksRead, Validations: p.OK, Seconds: p.WallS}
	if p.WallS > 0 {
		r.CommitsPerS = float64(r.Commits) / p.WallS
	}
	if p.OK > 0 {
		r.PerValidation = float64(r.Commits) / float64(p.OK)
	}
	return r
}

// sweep measures latency against offered load for the echo ceiling and for validations: the plot.
func (e *env) sweep(ctx context.Context) error {
	// Each validation step continues the scrambled order where the previous one stopped, so no
	// session comes back within the cache TTL.
	var pos uint64
	for _, s := range []struct {
		name string
		max  float64
		t    func() loadgen.Target
	}{{"echo", e.dr.EchoMax, e.echoTarget}, {"validation (uniform)", e.dr.P1Max, func() loadgen.Target {
		return e.validationTarget(e.uniformFrom(4242, pos))
	}}} {
		if s.max <= 0 {
			continue
		}
		for _, f := range e.o.plotFractions {
			rate := s.max * f
			p, r, err := e.measure("sweep", fmt.Sprintf("sweep %s at %.0f%% (%.0f/s)", s.name, 100*f, rate), e.open(ctx, s.t(), rate, e.o.plotDuration))
			pos += r.OK + r.Errors + r.Dropped
			if err != nil {
				return err
			}
			e.dr.Sweep = append(e.dr.Sweep, sweepPoint{Series: s.name, Fraction: f, Offered: rate, RPS: p.RPS, P50: p.P50, P99: p.P99,
				Errors: p.Errors + p.Dropped})
		}
	}
	return nil
}

// --- P3 ---------------------------------------------------------------------------------------

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

func (e *env) p3(ctx context.Context) error {
	o := e.o
	// Ceilings, measured here on all cores while the server is idle. The {PKCS5S2} one is measured
	// in slices alternating with the logins', as P1's echo ceiling is: this machine's speed changes
	// with its other tenants from one minute to the next.
	salt := []byte("0123456789abcdef")
	cred, err := dataset.PKCS5S2("bench-pw-000", salt)
	if err != nil {
		return err
	}
	cd := max(o.duration/3, time.Second)
	verify := func() error {
		ok, _, err := password.Verify(cred, "bench-pw-000")
		if !ok || err != nil {
			return fmt.Errorf("{PKCS5S2} verify: %v %v", ok, err)
		}
		return nil
	}
	ar, err := hashRate(cd, func() error { _, err := password.Hash("bench-pw-000"); return err })
	if err != nil {
		return err
	}
	m := e.newMeter("p3", fmt.Sprintf("P3 POST /authentication, {PKCS5S2} users on their first login [%d interleaved slices]", o.rounds))
	pk, pkCPU := 0.0, 0.0
	for range o.rounds {
		r, c, err := hashCost(max(cd/time.Duration(o.rounds), 500*time.Millisecond), verify)
		if err != nil {
			return err
		}
		pk, pkCPU = pk+r/float64(o.rounds), pkCPU+c/float64(o.rounds)
		if err := e.slice(m, e.closed(ctx, e.authTarget(), o.p3Conc, o.duration/time.Duration(o.rounds))); err != nil {
			return err
		}
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

// --- P4, P5 -----------------------------------------------------------------------------------

// counter counts patterns in a streamed body and notes when its first byte arrived.
type counter struct {
	pats  [][]byte
	n     []int
	tail  []byte
	bytes int64
	first time.Time
}

func newCounter(pats ...string) *counter {
	c := &counter{n: make([]int, len(pats))}
	for _, p := range pats {
		c.pats = append(c.pats, []byte(p))
	}
	return c
}

func (c *counter) Write(p []byte) (int, error) {
	if c.first.IsZero() && len(p) > 0 {
		c.first = time.Now()
	}
	c.bytes += int64(len(p))
	t := len(c.tail)
	buf := append(c.tail, p...)
	keep := 0
	for i, pat := range c.pats {
		// Occurrences lying wholly in the tail were counted by the previous call.
		c.n[i] += bytes.Count(buf[max(0, t-len(pat)+1):], pat)
		keep = max(keep, len(pat)-1)
	}
	if len(buf) > keep {
		buf = buf[len(buf)-keep:]
	}
	c.tail = append(c.tail[:0], buf...)
	return len(p), nil
}

type fetched struct {
	status  int
	total   time.Duration
	ttfb    time.Duration // first body byte
	headers time.Duration
	bytes   int64
	counts  []int
	body    string // when small
}

// fetch runs one request as the jira application and streams the answer through a counter.
func (e *env) fetch(ctx context.Context, method, path, body string, pats ...string) (fetched, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.child.url(restBase+path), rd)
	if err != nil {
		return fetched{}, err
	}
	jira := dataset.Apps[0]
	req.SetBasicAuth(jira.Name, jira.Password)
	req.Header.Set("Accept", "application/xml")
	if body != "" {
		req.Header.Set("Content-Type", "application/xml; charset=UTF-8")
	}
	t0 := time.Now()
	res, err := e.http.Do(req)
	if err != nil {
		return fetched{}, err
	}
	defer res.Body.Close()
	f := fetched{status: res.StatusCode, headers: time.Since(t0)}
	c := newCounter(pats...)
	var small bytes.Buffer
	_, err = io.Copy(io.MultiWriter(c, &limitWriter{&small, 64 << 10}), res.Body)
	f.total = time.Since(t0)
	if !c.first.IsZero() {
		f.ttfb = c.first.Sub(t0)
	}
	f.bytes, f.counts, f.body = c.bytes, c.n, small.String()
	return f, err
}

type limitWriter struct {
	b *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (e *env) membershipsOnce(ctx context.Context) (fetched, int64, int64, time.Duration, error) {
	pid := e.child.pid()
	rss0, _, _ := procStatus(pid)
	resetPeakRSS(pid)
	s0, _ := e.child.stats()
	// Poll too, in case clear_refs is not permitted.
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if r, _, err := procStatus(pid); err == nil && r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	f, err := e.fetch(ctx, "GET", "/group/membership", "", "<membership ", "<user name=", "<group name=")
	close(stop)
	wg.Wait()
	s1, _ := e.child.stats()
	_, hwm, _ := procStatus(pid)
	return f, rss0, max(hwm, peak.Load()), s1.cpu() - s0.cpu(), err
}

func (e *env) p4(ctx context.Context) error {
	l := e.spec.Layout()
	var runs []p4Run
	for i := 0; i < e.o.p4Runs; i++ {
		f, rss0, peak, cpu, err := e.membershipsOnce(ctx)
		if err != nil {
			return err
		}
		if f.status != 200 {
			return fmt.Errorf("GET /group/membership: status %d: %.300s", f.status, f.body)
		}
		want := []int{e.spec.Groups, e.spec.Memberships, len(l.Edges())}
		if f.counts[0] != want[0] || f.counts[1] != want[1] || f.counts[2] != want[2] {
			return fmt.Errorf("GET /group/membership: %d groups, %d user and %d group memberships; want %v", f.counts[0], f.counts[1], f.counts[2], want)
		}
		r := p4Run{TotalMS: msf(f.total), TTFBMS: msf(f.ttfb), HeadersMS: msf(f.headers), Bytes: f.bytes,
			RSSBeforeMB: float64(rss0) / 1024, PeakRSSMB: float64(peak) / 1024, ServerCPUMS: msf(cpu)}
		r.RSSGrowthMB = r.PeakRSSMB - r.RSSBeforeMB
		runs = append(runs, r)
		fmt.Printf("P4 GET /group/membership #%d: %.0f ms total, first byte %.0f ms, %.1f MB, RSS %.0f → peak %.0f MB (+%.1f), server CPU %.0f ms\n",
			i+1, r.TotalMS, r.TTFBMS, float64(f.bytes)/1e6, r.RSSBeforeMB, r.PeakRSSMB, r.RSSGrowthMB, r.ServerCPUMS)
	}
	e.dr.P4 = runs
	return nil
}

var eventTokenRE = regexp.MustCompile(`newEventToken="([^"]+)"`)

func (e *env) p5(ctx context.Context) error {
	l := e.spec.Layout()
	null := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><null-search-restriction/>`
	type step struct {
		name, method, path, body string
		pats                     []string
		want                     []int
	}
	steps := []step{
		{name: "GET /event", method: "GET", path: "/event", pats: []string{"newEventToken="}, want: []int{1}},
		{name: "POST /search users max-results=-1 expand=user", method: "POST", path: "/search?entity-type=user&start-index=0&max-results=-1&expand=user",
			body: null, pats: []string{"<user name="}, want: []int{e.spec.Users}},
		{name: "POST /search groups max-results=-1 expand=group", method: "POST", path: "/search?entity-type=group&start-index=0&max-results=-1&expand=group",
			body: null, pats: []string{"<group name="}, want: []int{e.spec.Groups}},
		{name: "GET /group/membership", method: "GET", path: "/group/membership", pats: []string{"<membership ", "<user name=", "<group name="},
			want: []int{e.spec.Groups, e.spec.Memberships, len(l.Edges())}},
		{name: "GET /event", method: "GET", path: "/event", pats: []string{"newEventToken="}, want: []int{1}},
	}
	s0, _ := e.child.stats()
	var total time.Duration
	var token string
	e.dr.P5 = p5Report{}
	for _, s := range steps {
		f, err := e.fetch(ctx, s.method, s.path, s.body, s.pats...)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if f.status != 200 {
			return fmt.Errorf("%s: status %d: %.300s", s.name, f.status, f.body)
		}
		for i, w := range s.want {
			if f.counts[i] != w {
				return fmt.Errorf("%s: %d × %q, want %d", s.name, f.counts[i], s.pats[i], w)
			}
		}
		if m := eventTokenRE.FindStringSubmatch(f.body); m != nil {
			token = m[1]
		}
		total += f.total
		e.dr.P5.Steps = append(e.dr.P5.Steps, p5Step{Name: s.name, MS: msf(f.total), TTFBMS: msf(f.ttfb), Bytes: f.bytes})
		fmt.Printf("P5 %-48s %8.0f ms  %6.1f MB\n", s.name, msf(f.total), float64(f.bytes)/1e6)
	}
	s1, _ := e.child.stats()
	e.dr.P5.TotalMS = msf(total)
	e.dr.P5.ServerCPUMS = msf(s1.cpu() - s0.cpu())
	fmt.Printf("P5 full sync: %.0f ms (server CPU %.0f ms)\n", e.dr.P5.TotalMS, e.dr.P5.ServerCPUMS)
	if token == "" {
		return fmt.Errorf("no event token in GET /event")
	}

	// 100 changes through the API, as Jira's own writes or another application's would come:
	// 10 new groups, 45 new memberships, 45 user updates.
	changes := 0
	do := func(method, path, body string, status int) error {
		f, err := e.fetch(ctx, method, path, body)
		if err != nil {
			return err
		}
		if f.status != status {
			return fmt.Errorf("%s %s: status %d: %.300s", method, path, f.status, f.body)
		}
		changes++
		return nil
	}
	t0 := time.Now()
	for g := 0; g < 10; g++ {
		if err := do("POST", "/group", fmt.Sprintf(`<group name="bench-new-%02d"><description>added by crowdgate-bench</description><type>GROUP</type><active>true</active></group>`, g), 201); err != nil {
			return err
		}
	}
	for k := 0; k < 45; k++ {
		u := dataset.UserName((100 + k) % e.spec.Users)
		if err := do("POST", fmt.Sprintf("/group/user/direct?groupname=bench-new-%02d", k%10), `<user name="`+u+`"/>`, 201); err != nil {
			return err
		}
	}
	for k := 0; k < 45; k++ {
		i := (1000 + k) % e.spec.Users
		u := dataset.UserName(i)
		body := fmt.Sprintf(`<user name="%s"><first-name>First%d</first-name><last-name>Last%d</last-name><display-name>Renamed %d</display-name><email>%s@example.com</email><active>true</active></user>`, u, i, i, i, u)
		if err := do("PUT", "/user?username="+u, body, 204); err != nil {
			return err
		}
	}
	e.dr.P5.ChangesMS = msf(time.Since(t0))
	var times []float64
	for i := 0; i < 5; i++ {
		f, err := e.fetch(ctx, "GET", "/event/"+token, "", "<operation>")
		if err != nil {
			return err
		}
		if f.status != 200 || f.counts[0] != changes {
			return fmt.Errorf("GET /event/{token} after %d changes: status %d, %d events: %.300s", changes, f.status, f.counts[0], f.body)
		}
		times = append(times, msf(f.total))
	}
	e.dr.P5.EventsMS = times
	sort.Float64s(times)
	fmt.Printf("P5 GET /event/{token} with %d changes: median %.1f ms, max %.1f ms (5 calls)\n", changes, times[2], times[4])
	return nil
}

// --- profiles, EXPLAIN, P8 --------------------------------------------------------------------

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

func (e *env) p8(ctx context.Context) error {
	if e.o.soak <= 0 || e.dr.P1Max <= 0 {
		return nil
	}
	if e.dr.Dialect != "postgres" && contains(e.o.dialects, "postgres") {
		return nil // soak once, on PostgreSQL
	}
	rate := e.dr.P1Max / 2
	win := max(e.o.soak/10, 10*time.Second)
	pid := e.child.pid()
	var rss []float64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(win)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r, _, _ := procStatus(pid)
				rss = append(rss, float64(r)/1024)
			}
		}
	}()
	fmt.Printf("P8 soak: %.0f validations/s for %s\n", rate, e.o.soak)
	_, res, err := e.measure("p8", fmt.Sprintf("P8 soak at %.0f/s for %s", rate, e.o.soak), func() (loadgen.Result, error) {
		return loadgen.Run(ctx, e.validationTarget(e.uniform(8)), loadgen.Options{Concurrency: e.o.openWorkers, Rate: rate, Duration: e.o.soak, Window: win})
	})
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	r := &p8Report{Rate: rate, Seconds: e.o.soak.Seconds(), Errors: res.AllErrors(), RSSMB: rss}
	for _, h := range res.Windows {
		r.WindowP99 = append(r.WindowP99, msf(h.Quantile(0.99)))
	}
	e.dr.P8 = r
	return nil
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

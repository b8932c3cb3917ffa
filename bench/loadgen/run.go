package loadgen

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target describes the requests of one load run.
type Target struct {
	// Addr is the server's host:port.
	Addr string
	// Build appends request number seq (0-based, unique across workers) to dst and returns it; a nil
	// result ends the worker (the generator ran out of distinct requests, e.g. fresh users).
	Build func(dst []byte, seq uint64) []byte
	// Check judges a response; nil accepts status 200 only. Body is filled only when CaptureBody.
	Check func(seq uint64, r Response) error
	// CaptureBody passes response bodies to Check (costs an allocation per response).
	CaptureBody bool
}

// Options bound a load run. Every run is bounded in time (Duration) and optionally in count.
type Options struct {
	// Concurrency is the number of connections: closed loop, each runs requests back to back; open
	// loop, the workers available to send scheduled requests (a request waits for a free one, and
	// that wait counts in its latency).
	Concurrency int
	// Rate is the open-loop arrival rate in requests/s; 0 selects the closed loop.
	Rate float64
	// Duration bounds the run (required).
	Duration time.Duration
	// MaxRequests bounds the number of requests started; 0 means no bound besides Duration.
	MaxRequests uint64
	// Timeout bounds one request (0: 30 s).
	Timeout time.Duration
	// Window, when set, also records one histogram per window of this length (soak drift).
	Window time.Duration
}

// Result is what a load run measured. Latencies are of successful requests; in the open loop they
// run from the scheduled start (so queueing behind a slow server counts: no coordinated omission).
type Result struct {
	Mode        string // "closed" or "open"
	Concurrency int
	Rate        float64 // open loop: scheduled rate
	OK          uint64
	Errors      uint64
	ErrorKinds  map[string]uint64
	Dropped     uint64 // open loop: scheduled requests never sent (backlog full or run over)
	Elapsed     time.Duration
	Hist        *Hist
	Windows     []*Hist
	Bytes       int64
}

// Throughput is successful requests per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// AllErrors is errors plus dropped requests.
func (r Result) AllErrors() uint64 { return r.Errors + r.Dropped }

// ErrorSummary lists the most frequent error kinds.
func (r Result) ErrorSummary() string {
	type kv struct {
		k string
		v uint64
	}
	var l []kv
	for k, v := range r.ErrorKinds {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	var parts []string
	for i, e := range l {
		if i == 3 {
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %s", e.v, e.k))
	}
	if r.Dropped > 0 {
		parts = append(parts, fmt.Sprintf("%d dropped", r.Dropped))
	}
	return strings.Join(parts, "; ")
}

type worker struct {
	t       Target
	o       Options
	conn    *Conn
	buf     []byte
	body    []byte
	hist    *Hist
	windows []*Hist
	ok      uint64
	errs    uint64
	kinds   map[string]uint64
	bytes   int64
}

func newWorker(t Target, o Options, nwin int) *worker {
	w := &worker{t: t, o: o, hist: NewHist(), kinds: map[string]uint64{}}
	if nwin > 0 {
		w.windows = make([]*Hist, nwin)
		for i := range w.windows {
			w.windows[i] = NewHist()
		}
	}
	return w
}

func (w *worker) fail(kind string) {
	w.errs++
	if len(kind) > 120 {
		kind = kind[:120]
	}
	w.kinds[kind]++
}

// one sends request req and records its latency from start. It reports false when the request
// failed at the connection level.
func (w *worker) one(seq uint64, req []byte, start time.Time, win int) {
	if w.conn == nil {
		c, err := Dial(w.t.Addr, w.o.Timeout)
		if err != nil {
			w.fail("dial: " + err.Error())
			time.Sleep(10 * time.Millisecond)
			return
		}
		w.conn = c
	}
	var bp *[]byte
	if w.t.CaptureBody {
		w.body = w.body[:0]
		bp = &w.body
	}
	resp, err := w.conn.Do(req, bp)
	end := time.Now()
	if err != nil {
		w.fail("io: " + err.Error())
		w.conn.Close()
		w.conn = nil
		return
	}
	resp.Body = w.body
	if resp.Close {
		w.conn.Close()
		w.conn = nil
	}
	w.bytes += resp.Bytes
	if w.t.Check != nil {
		if err := w.t.Check(seq, resp); err != nil {
			w.fail(err.Error())
			return
		}
	} else if resp.Status != 200 {
		w.fail(fmt.Sprintf("status %d", resp.Status))
		return
	}
	w.ok++
	d := end.Sub(start)
	w.hist.Record(d)
	if win >= 0 && win < len(w.windows) {
		w.windows[win].Record(d)
	}
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
	}
}

// Run executes one load run and returns its result. ctx cancels it early.
func Run(ctx context.Context, t Target, o Options) (Result, error) {
	if o.Duration <= 0 {
		return Result{}, fmt.Errorf("loadgen: a run needs a duration")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	nwin := 0
	if o.Window > 0 {
		nwin = int((o.Duration + o.Window - 1) / o.Window)
	}
	workers := make([]*worker, o.Concurrency)
	for i := range workers {
		workers[i] = newWorker(t, o, nwin)
	}
	var seq atomic.Uint64
	start := time.Now()
	deadline := start.Add(o.Duration)
	var wg sync.WaitGroup
	var dropped atomic.Uint64
	res := Result{Concurrency: o.Concurrency, Rate: o.Rate}
	if o.Rate <= 0 {
		res.Mode = "closed"
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					now := time.Now()
					if !now.Before(deadline) {
						return
					}
					s := seq.Add(1) - 1
					if o.MaxRequests > 0 && s >= o.MaxRequests {
						return
					}
					req := t.Build(w.buf[:0], s)
					if req == nil {
						return
					}
					w.buf = req
					win := -1
					if o.Window > 0 {
						win = int(now.Sub(start) / o.Window)
					}
					w.one(s, req, now, win)
				}
			}()
		}
		wg.Wait()
	} else {
		res.Mode = "open"
		type job struct {
			seq uint64
			at  time.Time
		}
		backlog := int(o.Rate * 2)
		backlog = max(1000, min(backlog, 200_000))
		jobs := make(chan job, backlog)
		grace := deadline.Add(5 * time.Second) // requests still queued then are dropped
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					if ctx.Err() != nil || time.Now().After(grace) {
						dropped.Add(1)
						continue
					}
					req := t.Build(w.buf[:0], j.seq)
					if req == nil {
						dropped.Add(1)
						continue
					}
					w.buf = req
					win := -1
					if o.Window > 0 {
						win = int(j.at.Sub(start) / o.Window)
					}
					w.one(j.seq, req, j.at, win)
				}
			}()
		}
		interval := float64(time.Second) / o.Rate
		var k uint64
	sched:
		for ctx.Err() == nil {
			now := time.Now()
			if !now.Before(deadline) {
				break
			}
			// Emit every request due by now.
			due := uint64(float64(now.Sub(start))/interval) + 1
			for ; k < due; k++ {
				if o.MaxRequests > 0 && k >= o.MaxRequests {
					break sched
				}
				at := start.Add(time.Duration(float64(k) * interval))
				if !at.Before(deadline) {
					break sched
				}
				select {
				case jobs <- job{seq: k, at: at}:
				default:
					dropped.Add(1)
				}
			}
			next := start.Add(time.Duration(float64(k) * interval))
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
		close(jobs)
		wg.Wait()
	}
	res.Elapsed = time.Since(start)
	if res.Mode == "open" && res.Elapsed > o.Duration {
		// Throughput is judged over the scheduled window; the tail only drains the queue.
		res.Elapsed = o.Duration
	}
	res.Hist = NewHist()
	res.ErrorKinds = map[string]uint64{}
	if nwin > 0 {
		res.Windows = make([]*Hist, nwin)
		for i := range res.Windows {
			res.Windows[i] = NewHist()
		}
	}
	for _, w := range workers {
		w.close()
		res.OK += w.ok
		res.Errors += w.errs
		res.Bytes += w.bytes
		res.Hist.Merge(w.hist)
		for k, v := range w.kinds {
			res.ErrorKinds[k] += v
		}
		for i, h := range w.windows {
			res.Windows[i].Merge(h)
		}
	}
	res.Dropped = dropped.Load()
	return res, ctx.Err()
}

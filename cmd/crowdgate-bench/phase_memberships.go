package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/bench/dataset"
)

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
	var peak int64
	stop := every(10*time.Millisecond, func() {
		if r, _, err := procStatus(pid); err == nil && r > peak {
			peak = r
		}
	})
	f, err := e.fetch(ctx, "GET", "/group/membership", "", "<membership ", "<user name=", "<group name=")
	stop()
	s1, _ := e.child.stats()
	_, hwm, _ := procStatus(pid)
	return f, rss0, max(hwm, peak), s1.cpu() - s0.cpu(), err
}

// membershipDocument measures P4: the whole GET /group/membership document, its first byte, and
// the server's memory while it streams.
func (e *env) membershipDocument(ctx context.Context) error {
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

package loadgen

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHistQuantiles(t *testing.T) {
	h := NewHist()
	for i := 1; i <= 100000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if rel := float64(got-c.want) / float64(c.want); rel < -0.001 || rel > 0.01 {
			t.Errorf("q%.2f = %v, want %v within 1%%", c.q, got, c.want)
		}
	}
	if h.Max() != 100*time.Millisecond || h.Min() != time.Microsecond {
		t.Errorf("min/max %v/%v", h.Min(), h.Max())
	}
	// Every bucket's upper bound maps back to the bucket, and buckets are contiguous.
	for i := 1; i < len64()-1; i++ {
		if index(upper(i)) != i || index(upper(i-1)+1) != i {
			t.Fatalf("bucket %d: upper %d maps to %d", i, upper(i), index(upper(i)))
		}
	}
	o := NewHist()
	o.Record(time.Hour)
	h.Merge(o)
	if h.Count() != 100001 || h.Max() != time.Hour {
		t.Errorf("merge: %v", h)
	}
}

func TestReadResponse(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: 1\r\n\r\n" +
		"HTTP/1.1 204 No Content\r\n\r\n" +
		"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno"
	br := bufio.NewReader(strings.NewReader(raw))
	var body []byte
	want := []struct {
		status int
		body   string
		close  bool
	}{{200, "hello", false}, {200, "abcde", false}, {204, "", false}, {404, "no", true}}
	for i, w := range want {
		body = body[:0]
		r, err := ReadResponse(br, &body)
		if err != nil || r.Status != w.status || string(body) != w.body || r.Close != w.close || r.Bytes != int64(len(w.body)) {
			t.Fatalf("response %d: %+v %q %v", i, r, body, err)
		}
	}
	if _, err := ReadResponse(br, nil); err != io.EOF {
		t.Fatalf("after the last response: %v", err)
	}
}

func testServer(t *testing.T) (*httptest.Server, string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/fail" {
			http.Error(w, "no", 500)
			return
		}
		w.Write([]byte("<ok/>"))
	}))
	t.Cleanup(srv.Close)
	return srv, strings.TrimPrefix(srv.URL, "http://")
}

func TestRunClosedAndOpen(t *testing.T) {
	_, addr := testServer(t)
	build := func(path string) func([]byte, uint64) []byte {
		return func(dst []byte, _ uint64) []byte {
			return Request(dst, "POST", addr, path, []string{"Content-Type: application/xml"}, []byte("<x/>"))
		}
	}
	ctx := context.Background()
	r, err := Run(ctx, Target{Addr: addr, Build: build("/")}, Options{Concurrency: 4, Duration: 300 * time.Millisecond})
	if err != nil || r.OK == 0 || r.Errors != 0 || r.Hist.Count() != r.OK {
		t.Fatalf("closed loop: %+v %v", r, err)
	}
	r, err = Run(ctx, Target{Addr: addr, Build: build("/")}, Options{Concurrency: 4, Rate: 500, Duration: 400 * time.Millisecond, Window: 100 * time.Millisecond})
	// The open loop never sends more than the offered rate; how many complete depends on how busy
	// the machine is, so only an upper bound is asserted.
	if err != nil || r.Errors != 0 || r.OK < 1 || r.OK > 201 || len(r.Windows) != 4 {
		t.Fatalf("open loop at 500/s for 0.4 s: ok=%d errors=%d windows=%d %v", r.OK, r.Errors, len(r.Windows), err)
	}
	r, err = Run(ctx, Target{Addr: addr, Build: build("/fail")}, Options{Concurrency: 2, Duration: 100 * time.Millisecond, MaxRequests: 10})
	if err != nil || r.OK != 0 || r.Errors != 10 || r.ErrorKinds["status 500"] != 10 {
		t.Fatalf("errors: %+v %v", r, err)
	}
	// A nil request ends the run early.
	r, err = Run(ctx, Target{Addr: addr, Build: func(dst []byte, seq uint64) []byte {
		if seq >= 7 {
			return nil
		}
		return build("/")(dst, seq)
	}}, Options{Concurrency: 3, Duration: 5 * time.Second})
	if err != nil || r.OK != 7 || r.Elapsed > 2*time.Second {
		t.Fatalf("exhausted generator: %+v %v", r, err)
	}
}

func BenchmarkHistRecord(b *testing.B) {
	h := NewHist()
	vals := make([]time.Duration, 1024)
	for i := range vals {
		vals[i] = time.Duration(rand.ExpFloat64() * float64(time.Millisecond))
	}
	i := 0
	for b.Loop() {
		h.Record(vals[i&1023])
		i++
	}
}

func BenchmarkReadResponse(b *testing.B) {
	one := "HTTP/1.1 200 OK\r\nCache-Control: no-cache, no-store\r\nContent-Type: application/xml\r\n" +
		"X-Embedded-Crowd-Version: Crowd/5.1.6\r\nX-Crowd-User-Management-Version: 1.4\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n" +
		"Content-Length: 400\r\n\r\n" + strings.Repeat("x", 400)
	rd := strings.NewReader("")
	br := bufio.NewReader(rd)
	for b.Loop() {
		rd.Reset(one)
		br.Reset(rd)
		if _, err := ReadResponse(br, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// Package loadgen is crowdgate's HTTP load generator: raw HTTP/1.1 keep-alive connections, a
// closed-loop (fixed concurrency) and an open-loop (constant arrival rate) driver, and an HDR-style
// log-bucketed latency histogram. It is built for loopback benchmarks on small machines, where the
// generator shares the CPU with the server: requests are pre-formatted bytes and responses are parsed
// just enough to find their end, so the generator costs as little as possible.
package loadgen

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// subBits is the number of bits of precision kept per power of two: 2^7 = 128 sub-buckets, so a
// recorded value is reported within 1/128 (0.8 %) of its true value, like an HDR histogram with two
// significant digits.
const (
	subBits  = 7
	subCount = 1 << subBits
	// maxExp covers values up to 2^(maxExp+subBits) ns (about 2^46 ns = 19 hours).
	maxExp = 40
)

// Hist is a log-linear latency histogram of nanosecond values. The zero value is not usable; use
// NewHist. A Hist is not safe for concurrent use: give each worker its own and Merge them.
type Hist struct {
	counts []uint64
	n      uint64
	min    int64
	max    int64
	sum    float64
}

// NewHist returns an empty histogram.
func NewHist() *Hist {
	return &Hist{counts: make([]uint64, (maxExp+1)*subCount), min: math.MaxInt64}
}

// index maps v (>= 0) to its bucket.
func index(v int64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1 // shift that brings v into [subCount/2 .. subCount) * 2
	if e > maxExp-1 {
		return len64() - 1
	}
	return (e+1)*subCount + int(uint64(v)>>uint(e)) - subCount
}

func len64() int { return (maxExp + 1) * subCount }

// upper returns the largest value that maps to bucket i (HDR's "highest equivalent value").
func upper(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	e := i/subCount - 1
	sub := i%subCount + subCount
	return (int64(sub+1) << uint(e)) - 1
}

// Record adds one latency.
func (h *Hist) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[index(v)]++
	h.n++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds every value of o to h.
func (h *Hist) Merge(o *Hist) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
}

// Count is the number of recorded values.
func (h *Hist) Count() uint64 { return h.n }

// Max is the largest recorded value (exact).
func (h *Hist) Max() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Min is the smallest recorded value (exact).
func (h *Hist) Min() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Mean is the arithmetic mean.
func (h *Hist) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value at quantile q (0 < q <= 1): the highest value of the bucket holding
// the ceil(q*n)-th smallest value, capped at the exact maximum.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := upper(i)
			if v > h.max {
				v = h.max
			}
			if v < h.min {
				v = h.min
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

// String summarises the histogram.
func (h *Hist) String() string {
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v max=%v", h.n, h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99), h.Max())
}

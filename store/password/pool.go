package password

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// Pool runs password hashing with bounded concurrency. Hashing is the only
// CPU-heavy work crowdgate does; letting every login hash at once would
// starve session validations and other cheap requests, so callers queue
// here instead (about one hash per core by default).
//
// Work runs on the calling goroutine once it holds a slot, so a Pool starts
// no goroutines and cannot leak any. Create Pools with NewPool; the zero
// value is not usable.
type Pool struct {
	slots   chan struct{} // a token per running hash
	waiting atomic.Int64  // callers blocked waiting for a slot
	// optionalAfter is when TryHash may run again (Unix nanoseconds): optional hashing is paced
	// to a small share of the pool (optionalShare).
	optionalAfter atomic.Int64
	runs          atomic.Int64 // hashes and checks run, for metrics and tests
	verified      atomic.Int64 // Verify calls that hashed
}

// optionalShare bounds the share of the pool's time TryHash may take: upgrading a legacy hash
// (argon2id, ~10 times a {PKCS5S2} check) must not cost a burst of first logins its throughput.
const optionalShare = 0.05

// NewPool returns a Pool that runs at most workers hashes at once;
// workers <= 0 means runtime.GOMAXPROCS(0).
func NewPool(workers int) *Pool {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &Pool{slots: make(chan struct{}, workers)}
}

// Verify is Verify run inside the pool. It returns ctx.Err() if ctx is done
// before a slot frees up; once a check has started it runs to completion.
func (p *Pool) Verify(ctx context.Context, stored, plain string) (ok, rehash bool, err error) {
	if perr := p.do(ctx, func() { p.verified.Add(1); ok, rehash, err = Verify(stored, plain) }); perr != nil {
		return false, false, perr
	}
	return ok, rehash, err
}

// Hash is Hash run inside the pool, with the same cancellation rule as
// Pool.Verify.
func (p *Pool) Hash(ctx context.Context, plain string) (stored string, err error) {
	if perr := p.do(ctx, func() { stored, err = Hash(plain) }); perr != nil {
		return "", perr
	}
	return stored, err
}

// TryHash is Hash run inside the pool only if every slot is free and optional work is within its
// share of the pool's time (optionalShare); ok is false, and nothing is hashed, otherwise. For
// optional work such as upgrading a legacy hash after a login, which must never delay or crowd
// out the logins themselves.
func (p *Pool) TryHash(plain string) (stored string, ok bool, err error) {
	now := time.Now()
	if p.waiting.Load() > 0 || len(p.slots) > 0 || now.UnixNano() < p.optionalAfter.Load() {
		return "", false, nil // busy, or a slot freeing now belongs to a waiting caller
	}
	select {
	case p.slots <- struct{}{}:
	default:
		return "", false, nil
	}
	defer p.release()
	p.runs.Add(1)
	stored, err = Hash(plain)
	took := time.Since(now)
	p.optionalAfter.Store(now.Add(time.Duration(float64(took) / optionalShare / float64(cap(p.slots)))).UnixNano())
	return stored, err == nil, err
}

// Verifications returns how many passwords Verify has checked: tests count hashing work with it
// instead of timing it.
func (p *Pool) Verifications() int64 { return p.verified.Load() }

// Waiting returns how many callers are queued for a slot, for metrics.
func (p *Pool) Waiting() int {
	return int(p.waiting.Load())
}

// Workers returns how many hashes may run at once, for metrics.
func (p *Pool) Workers() int { return cap(p.slots) }

// acquire takes a slot, waiting until one is free or ctx is done. A request
// whose context is already done does no hashing even if a slot is free:
// its client has gone, and the CPU is better spent on live ones.
func (p *Pool) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pool) release() { <-p.slots }

// do runs fn on the calling goroutine while holding a slot.
func (p *Pool) do(ctx context.Context, fn func()) error {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	p.runs.Add(1)
	fn()
	return nil
}

// Runs returns how many hashes and checks the pool has run (TryHash's included), for metrics.
func (p *Pool) Runs() int64 { return p.runs.Load() }

package store

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"time"
)

// access is an unflushed last-access time (Unix nanoseconds) of a session, and when it becomes
// worth writing (dueAt).
type access struct {
	at   int64
	idle int32
	due  int64
}

func (a access) time() time.Time { return time.Unix(0, a.at).UTC() }

// timeout is the session's idle timeout in nanoseconds.
func (a access) timeout() int64 { return int64(a.idle) * int64(time.Second) }

// accessStep is how far a session's last access may run ahead of the database before it is
// written: a quarter of the idle timeout, at most five minutes, nothing for timeouts under four
// minutes. An active session is then written every few minutes instead of on every flush: the
// write-back was what lengthened the validations' tail (BENCHMARKS.md). Each session's step is
// drawn from [step/2, step) by its hash, so sessions written together (after a start, or a clear)
// do not all come due again together.
func accessStep(k tokenKey, idle int32) int64 {
	d := time.Duration(idle) * time.Second
	if d < 4*time.Minute {
		return 0
	}
	step := int64(min(d/4, 5*time.Minute))
	return step/2 + int64(binary.LittleEndian.Uint64(k[:8])%uint64(step/2))
}

// dueAt is when an access is worth writing, given the session as the table holds it (stored:
// false when it does not): at once for sessions not in the table (their stored state is unknown)
// and for accesses that moved the stored last access by accessStep or more; otherwise when the
// stored expiry comes within half a timeout, so no instance ever expires a session that another
// one has kept alive. Stored state only moves forward, so what this says stays true until the next
// access of the session.
func dueAt(k tokenKey, a access, e cachedSession, stored bool) int64 {
	if !stored || a.at-e.lastAccess >= accessStep(k, a.idle) {
		return a.at
	}
	return e.expires - a.timeout()/2
}

// accessSlot is the width of accessLog's time slots.
const accessSlot = int64(time.Minute)

// accessLog is the unflushed accesses, indexed by the minute each comes due in, so a flush looks
// at the due ones only. It once scanned every access under the cache's lock: 35 ms every 5 s for
// 100,000 sessions in use, which every validation waited for (the P1 tail in BENCHMARKS.md).
// Its methods run under sessionCache.mu.
type accessLog struct {
	at    map[tokenKey]access
	slots map[int64]map[tokenKey]struct{} // by due / accessSlot: each access in exactly one
}

func newAccessLog() accessLog {
	return accessLog{at: map[tokenKey]access{}, slots: map[int64]map[tokenKey]struct{}{}}
}

func (l *accessLog) get(k tokenKey) (access, bool) {
	a, ok := l.at[k]
	return a, ok
}

func (l *accessLog) set(k tokenKey, a access) {
	slot := a.due / accessSlot
	if old, ok := l.at[k]; ok {
		if old.due/accessSlot == slot {
			l.at[k] = a
			return
		}
		l.unslot(k, old)
	}
	l.at[k] = a
	keys := l.slots[slot]
	if keys == nil {
		keys = map[tokenKey]struct{}{}
		l.slots[slot] = keys
	}
	keys[k] = struct{}{}
}

func (l *accessLog) unslot(k tokenKey, a access) {
	slot := a.due / accessSlot
	delete(l.slots[slot], k)
	if len(l.slots[slot]) == 0 {
		delete(l.slots, slot)
	}
}

func (l *accessLog) delete(k tokenKey) {
	if a, ok := l.at[k]; ok {
		l.unslot(k, a)
		delete(l.at, k)
	}
}

// all takes every access.
func (l *accessLog) all() map[tokenKey]access {
	at := l.at
	*l = newAccessLog()
	return at
}

// maxAccessWrites bounds one flush, so a wave of due sessions is written over several flushes
// (the most urgent first) instead of in one long transaction that starves the requests.
const maxAccessWrites = 10_000

// takeDue takes the accesses due at now, at most maxAccessWrites: beyond it, those whose stored
// expiry (expires; unknown ones first) comes first; the others stay for the next flush.
func (l *accessLog) takeDue(now int64, expires func(tokenKey) (int64, bool)) map[tokenKey]access {
	type candidate struct {
		k       tokenKey
		expires int64
	}
	var due []candidate
	for slot, keys := range l.slots { // a few hundred slots at most: due times lie within half a timeout
		if slot > now/accessSlot {
			continue
		}
		for k := range keys {
			if l.at[k].due <= now {
				e, ok := expires(k)
				if !ok {
					e = math.MinInt64
				}
				due = append(due, candidate{k, e})
			}
		}
	}
	if len(due) > maxAccessWrites {
		slices.SortFunc(due, func(a, b candidate) int { return cmp.Compare(a.expires, b.expires) })
		due = due[:maxAccessWrites]
	}
	out := make(map[tokenKey]access, len(due))
	for _, d := range due {
		out[d.k] = l.at[d.k]
		l.delete(d.k)
	}
	return out
}

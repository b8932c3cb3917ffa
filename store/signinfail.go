package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxLoggedName bounds a name taken from an unauthenticated request before it is logged or
// audited: a request can carry a user name of megabytes.
const MaxLoggedName = 255

// CapName returns name cut to MaxLoggedName bytes at a character boundary, marked with "…" when cut.
func CapName(name string) string {
	if len(name) <= MaxLoggedName {
		return name
	}
	cut := MaxLoggedName
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + "…"
}

// maxFailNames bounds the distinct names one aggregated row lists.
const maxFailNames = 5

// failKey is one aggregated audit row: failures of one action from one source in one minute.
type failKey struct {
	action, source string
	minute         int64 // Unix time / 60
}

type failAgg struct {
	id      int64 // the audit row, once written
	count   int   // failures so far
	written int   // the count the row holds
	names   []string
	reason  string
}

// failLog aggregates failed sign-ins by address and minute.
type failLog struct {
	root   *Store // outside any transaction: where timers write
	mu     sync.Mutex
	m      map[failKey]*failAgg
	timer  *time.Timer
	closed bool
}

// FailedSignIn records a failed sign-in by an unauthenticated caller (an application, a console or
// SAML sign-in) so that a flood cannot flood the audit log: the failures of one action from one
// source address within a minute are one FAILURE audit row, written at the first and updated with
// their count, the first distinct (capped) names tried and the last reason when the minute has
// ended. The actor kind and source come from ctx's actor. An error writing the row is logged: the
// caller's answer does not depend on it.
func (s *Store) FailedSignIn(ctx context.Context, action, objectKind, name, reason string) {
	s.shared.counters.signInFailures.Add(1)
	a := ActorFrom(ctx)
	k := failKey{action: action, source: CapName(a.Address), minute: s.now().Unix() / 60}
	name, reason = CapName(name), CapName(reason)
	f := &s.shared.fails
	f.mu.Lock()
	if f.m == nil {
		f.m = map[failKey]*failAgg{}
	}
	agg, seen := f.m[k]
	if !seen {
		agg = &failAgg{}
		f.m[k] = agg
	}
	agg.count++
	agg.reason = reason
	if len(agg.names) < maxFailNames && !slices.Contains(agg.names, name) {
		agg.names = append(agg.names, name)
	}
	// A second past the minute's end, so the minute is over by the store's clock too.
	f.schedule(time.Until(time.Unix((k.minute+1)*60, 0)) + time.Second)
	f.mu.Unlock()
	if seen {
		return
	}
	actx := WithActor(ctx, Actor{Kind: a.Kind, Name: CapName(a.Name), Address: k.source})
	e := AuditEntry{At: s.now(), ActorKind: a.Kind, Actor: CapName(a.Name), Source: k.source, Action: action,
		ObjectKind: objectKind, Object: name, Outcome: "FAILURE", Details: failDetails(k, 1, []string{name}, reason)}
	if err := f.root.q(actx).Create(&e).Error; err != nil {
		s.log.Error("store: audit failed sign-in", "action", action, "err", err)
		return
	}
	f.mu.Lock()
	agg.id, agg.written = e.ID, 1
	f.mu.Unlock()
}

func failDetails(k failKey, count int, names []string, reason string) string {
	d, _ := json.Marshal(map[string]any{"count": count, "minute": time.Unix(k.minute*60, 0).UTC().Format("2006-01-02T15:04Z"),
		"names": names, "reason": reason})
	return string(d)
}

// schedule arranges a flush after wait unless one is pending; f.mu is held.
func (f *failLog) schedule(wait time.Duration) {
	if f.timer != nil || f.closed {
		return
	}
	f.timer = time.AfterFunc(wait, func() {
		f.mu.Lock()
		f.timer = nil
		f.mu.Unlock()
		if err := f.root.FlushSignInFailures(context.Background(), false); err != nil {
			f.root.log.Error("store: write aggregated sign-in failures", "err", err)
		}
	})
}

// stop writes every pending count and schedules no more flushes (Close).
func (f *failLog) stop(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.mu.Unlock()
	return f.root.FlushSignInFailures(ctx, true)
}

// SignInThrottled counts a sign-in attempt refused by throttling before any check: a metric only,
// since a flood of them is exactly what must not reach the audit log.
func (s *Store) SignInThrottled() { s.shared.counters.throttled.Add(1) }

// FlushSignInFailures writes the final counts of the minutes that have ended (of every minute with
// all, as at shutdown) into their audit rows, in one transaction, and forgets those minutes.
func (s *Store) FlushSignInFailures(ctx context.Context, all bool) error {
	now := s.now().Unix() / 60
	type update struct {
		id      int64
		details string
	}
	var ups []update
	f := &s.shared.fails
	f.mu.Lock()
	for k, agg := range f.m {
		if !all && k.minute >= now {
			continue // its minute is still running
		}
		if agg.id != 0 && agg.count != agg.written { // id 0: the first write failed, and was logged
			ups = append(ups, update{agg.id, failDetails(k, agg.count, slices.Clone(agg.names), agg.reason)})
		}
		delete(f.m, k)
	}
	if len(f.m) > 0 {
		f.schedule(time.Minute)
	}
	f.mu.Unlock()
	if len(ups) == 0 {
		return nil
	}
	return f.root.InTx(ctx, func(tx *Store) error {
		for _, u := range ups {
			if err := tx.q(ctx).Exec("UPDATE audit_log SET details = ? WHERE id = ?", u.details, u.id).Error; err != nil {
				return fmt.Errorf("aggregated sign-in failures: %w", err)
			}
		}
		return nil
	})
}

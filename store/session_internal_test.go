package store

import (
	"strconv"
	"testing"
	"time"
)

// TestSessionCacheRaces: a read that raced an invalidation is not cached, and a full load that
// raced one keeps its effect (a single drop is applied to it, a clear discards it).
func TestSessionCacheRaces(t *testing.T) {
	now := time.Now()
	key := func(s string) tokenKey { return keyOf(s) }
	table := func(users ...int64) *sessionTable {
		t := newSessionTable()
		for i, u := range users {
			t.put(key(string(rune('a'+i))), cachedSession{user: t.addUser(User{ID: u}, nil), loaded: now.UnixNano()}, nil)
		}
		return t
	}
	c := newSessionCache(time.Minute)

	gen := c.generation()
	c.drop(key("a"))
	c.put(key("a"), cachedSession{loaded: now.UnixNano()}, sessionUser{User: User{ID: 1}}, gen)
	if _, ok := c.get(key("a"), now); ok {
		t.Error("a read older than a drop was cached")
	}

	gen, ok := c.startWarm(now)
	if !ok {
		t.Fatal("first warm not due")
	}
	if _, ok := c.startWarm(now); ok {
		t.Error("two warms at once")
	}
	c.drop(key("b"))
	c.dropUser(3)
	if !c.endWarm(table(1, 2, 3), gen, now) {
		t.Fatal("warm discarded after single drops")
	}
	if _, ok := c.get(key("a"), now); !ok {
		t.Error("warm did not install a")
	}
	for _, h := range []string{"b", "c"} {
		if _, ok := c.get(key(h), now); ok {
			t.Errorf("%s dropped during the warm came back", h)
		}
	}
	if _, ok := c.startWarm(now.Add(10 * time.Second)); ok {
		t.Error("warm due before half the TTL")
	}
	if _, ok := c.get(key("a"), now.Add(time.Minute)); ok {
		t.Error("entry used after its TTL")
	}

	c.clear()
	if _, ok := c.startWarm(time.Now()); ok {
		t.Error("warm due at once after a clear (a sync clears once per batch)")
	}
	later := time.Now().Add(warmGap)
	gen, ok = c.startWarm(later)
	if !ok {
		t.Fatal("warm not due after a clear and a quiet time")
	}
	c.clear()
	if c.endWarm(table(1), gen, now) {
		t.Error("warm installed after a clear")
	}
	if _, ok := c.get(key("a"), now); ok {
		t.Error("entry from a cleared warm")
	}
	if _, ok := c.startWarm(later.Add(warmGap)); !ok {
		t.Error("warm not due again after a discarded one")
	}
}

// TestSessionTableUsers: a user's sessions share one record while the user is unchanged; a changed
// user gets a new record without disturbing what a reader already took out of the table; a miss
// read during a full load is kept with its own user.
func TestSessionTableUsers(t *testing.T) {
	tb := newSessionTable()
	alice := User{ID: 7, DirectoryID: 1, Name: "alice", Active: true}
	i := tb.addUser(alice, []int64{3, 5})
	if j := tb.addUser(alice, []int64{3, 5}); j != i {
		t.Errorf("an unchanged user got a second record: %d, %d", i, j)
	}
	before := tb.user(i)
	renamed := alice
	renamed.Name = "alice2"
	j := tb.addUser(renamed, []int64{3, 5, 9})
	if j == i {
		t.Fatal("a changed user kept its old record")
	}
	if got := tb.user(j); got.Name != "alice2" || len(got.groups) != 3 || got.groups[2] != 9 {
		t.Errorf("new record: %+v", got)
	}
	if before.Name != "alice" || len(before.groups) != 2 || before.groups[1] != 5 {
		t.Errorf("a record taken out before the change changed: %+v", before)
	}
	if g := tb.user(i).groups; cap(g) != len(g) {
		t.Errorf("groups handed out with room to append into the shared array: len %d cap %d", len(g), cap(g))
	}

	old := newSessionTable()
	old.put(keyOf("miss"), cachedSession{id: 1, user: old.addUser(User{ID: 9, Name: "bob"}, []int64{4}), loaded: 2}, nil)
	fresh := newSessionTable()
	fresh.put(keyOf("miss"), cachedSession{id: 1, user: fresh.addUser(alice, nil), loaded: 1}, nil)
	fresh.put(keyOf("miss"), old.sessions[keyOf("miss")], old)
	if u := fresh.user(fresh.sessions[keyOf("miss")].user); u.Name != "bob" || len(u.groups) != 1 || u.groups[0] != 4 {
		t.Errorf("session copied between tables points at %+v", u)
	}
	fresh.dropUser(9)
	if len(fresh.sessions) != 0 {
		t.Errorf("dropUser left %d sessions", len(fresh.sessions))
	}
}

// TestDueAccess: the periodic flush writes a session's last access once it moved the stored one by
// accessStep, or when the stored expiry is near, and always for sessions it does not hold; short
// timeouts are written every time.
func TestDueAccess(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	const idle = int32(30 * 60)
	c := newSessionCache(time.Hour)
	stored := func(k tokenKey, idle int32) {
		c.table.put(k, cachedSession{idle: idle, lastAccess: t0.UnixNano(),
			expires: t0.Add(time.Duration(idle) * time.Second).UnixNano(), loaded: t0.UnixNano()}, nil)
	}
	active, quiet, short, unknown := keyOf("active"), keyOf("quiet"), keyOf("short"), keyOf("unknown")
	stored(active, idle)
	stored(quiet, idle)
	stored(short, 120)
	touch := func(k tokenKey, at time.Duration, idle int32) {
		c.touch(k, access{at: t0.Add(at).UnixNano(), idle: idle})
	}
	due := func(now time.Duration, want ...tokenKey) {
		t.Helper()
		got := c.takeDueAccess(t0.Add(now))
		if len(got) != len(want) {
			t.Fatalf("at +%v: %d due, want %d", now, len(got), len(want))
		}
		for _, k := range want {
			if _, ok := got[k]; !ok {
				t.Fatalf("at +%v: %x not due", now, k[:4])
			}
		}
		c.written(got)
	}

	touch(active, 10*time.Second, idle)
	touch(quiet, 30*time.Second, idle)
	touch(short, 10*time.Second, 120)
	touch(unknown, 10*time.Second, idle)
	due(10*time.Second, short, unknown)
	due(20 * time.Second) // nothing new

	step := time.Duration(accessStep(active, idle))
	if step < 150*time.Second || step >= 5*time.Minute {
		t.Fatalf("step of a 30-minute session %v, want [2m30s, 5m)", step)
	}
	touch(active, step, idle)
	due(step, active)
	if e := c.table.sessions[active]; e.lastAccess != t0.Add(step).Truncate(time.Second).UnixNano() {
		t.Errorf("written access not recorded: %v", time.Unix(0, e.lastAccess).UTC())
	}
	touch(active, 2*step-2*time.Second, idle)
	due(2*step - 2*time.Second) // short of a step since the write: not yet

	// quiet's access (+30 s) never moved it by a step; it is written before the stored expiry
	// (+30 min) comes within half a timeout.
	due(14*time.Minute + 59*time.Second)
	due(15*time.Minute, quiet)
	if _, ok := c.lastAccess(active); !ok {
		t.Error("an access not yet due was lost")
	}
}

// TestDueAccessSpreadAndBounded: sessions written together come due again spread over half a step,
// and a wave of due sessions is written over several flushes, the soonest stored expiry first.
func TestDueAccessSpreadAndBounded(t *testing.T) {
	const idle = int32(8 * 3600)
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for i := range 1000 {
		d := time.Duration(accessStep(keyOf(string(rune(i))), idle))
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 150*time.Second || hi >= 5*time.Minute || hi-lo < 2*time.Minute {
		t.Errorf("steps of 1,000 sessions span [%v, %v], want spread over [2m30s, 5m)", lo, hi)
	}

	t0 := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	c := newSessionCache(time.Hour)
	urgent := keyOf("urgent")
	for i := range maxAccessWrites * 2 {
		k := keyOf("s" + strconv.Itoa(i))
		if i == maxAccessWrites+7 {
			k = urgent
		}
		exp := t0.Add(time.Duration(idle) * time.Second)
		if k == urgent {
			exp = t0.Add(time.Hour) // stored expiry within half a timeout
		}
		c.table.put(k, cachedSession{idle: idle, lastAccess: t0.UnixNano(), expires: exp.UnixNano()}, nil)
		c.touch(k, access{at: t0.Add(6 * time.Minute).UnixNano(), idle: idle})
	}
	first := c.takeDueAccess(t0.Add(6 * time.Minute))
	if len(first) != maxAccessWrites {
		t.Fatalf("first flush took %d, want %d", len(first), maxAccessWrites)
	}
	if _, ok := first[urgent]; !ok {
		t.Error("the session closest to its stored expiry waited")
	}
	if second := c.takeDueAccess(t0.Add(6 * time.Minute)); len(second) != maxAccessWrites {
		t.Errorf("second flush took %d, want the other %d", len(second), maxAccessWrites)
	}
}

// TestAccessLogIndex: the unflushed accesses are indexed by when they come due, each in exactly
// one slot, so a flush reads the due ones only; re-touches move an access between slots, drops and
// flushes leave no slot behind, and an access put back after a failed flush is due at once.
func TestAccessLogIndex(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	const idle = int32(8 * 3600)
	c := newSessionCache(time.Hour)
	consistent := func() {
		t.Helper()
		n := 0
		for slot, keys := range c.access.slots {
			for k := range keys {
				if a, ok := c.access.at[k]; !ok || a.due/accessSlot != slot {
					t.Fatalf("%x in slot %d, its access %+v (held %v)", k[:4], slot, a, ok)
				}
				n++
			}
			if len(keys) == 0 {
				t.Fatalf("empty slot %d kept", slot)
			}
		}
		if n != len(c.access.at) {
			t.Fatalf("%d accesses in slots, %d held", n, len(c.access.at))
		}
	}
	var keys []tokenKey
	for i := range 1000 {
		k := keyOf("k" + strconv.Itoa(i))
		keys = append(keys, k)
		c.table.put(k, cachedSession{idle: idle, lastAccess: t0.UnixNano(),
			expires: t0.Add(time.Duration(idle) * time.Second).UnixNano(), loaded: t0.UnixNano()}, nil)
		c.touch(k, access{at: t0.Add(time.Second).UnixNano(), idle: idle}) // due in 4 h
	}
	consistent()
	if got := c.takeDueAccess(t0.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("%d taken a minute in, want none", len(got))
	}
	for _, k := range keys[:10] {
		c.touch(k, access{at: t0.Add(6 * time.Minute).UnixNano(), idle: idle}) // a step ahead: due now
	}
	c.drop(keys[0])
	consistent()
	got := c.takeDueAccess(t0.Add(6 * time.Minute))
	if len(got) != 9 {
		t.Fatalf("took %d, want the 9 touched a step ahead and not dropped", len(got))
	}
	if _, ok := got[keys[0]]; ok {
		t.Error("a dropped session's access was taken")
	}
	consistent()

	c.restoreAccess(got) // the flush failed
	consistent()
	if again := c.takeDueAccess(t0.Add(6*time.Minute + 5*time.Second)); len(again) != 9 {
		t.Errorf("after a failed flush %d due again, want 9", len(again))
	}
	if due := c.takeDueAccess(t0.Add(4 * time.Hour)); len(due) != 990 {
		t.Errorf("%d due when the stored expiries came within half a timeout, want 990", len(due))
	}
	consistent()
	if len(c.access.slots) != 0 {
		t.Errorf("%d slots left with nothing unflushed", len(c.access.slots))
	}
}

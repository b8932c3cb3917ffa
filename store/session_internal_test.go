package store

import (
	"testing"
	"time"
)

// TestSessionCacheRaces: a read that raced an invalidation is not cached, and a full load that
// raced one keeps its effect (a single drop is applied to it, a clear discards it).
func TestSessionCacheRaces(t *testing.T) {
	now := time.Now()
	entry := func(user int64) *cachedSession { return &cachedSession{user: &cachedUser{id: user}, loaded: now} }
	c := newSessionCache(time.Minute)

	gen := c.generation()
	c.drop("a")
	c.put("a", entry(1), gen)
	if _, ok := c.get("a", now); ok {
		t.Error("a read older than a drop was cached")
	}

	gen, ok := c.startWarm(now)
	if !ok {
		t.Fatal("first warm not due")
	}
	if _, ok := c.startWarm(now); ok {
		t.Error("two warms at once")
	}
	c.drop("b")
	c.dropUser(3)
	fresh := map[string]*cachedSession{"a": entry(1), "b": entry(2), "c": entry(3)}
	if !c.endWarm(fresh, gen, now) {
		t.Fatal("warm discarded after single drops")
	}
	if _, ok := c.get("a", now); !ok {
		t.Error("warm did not install a")
	}
	for _, h := range []string{"b", "c"} {
		if _, ok := c.get(h, now); ok {
			t.Errorf("%s dropped during the warm came back", h)
		}
	}
	if _, ok := c.startWarm(now.Add(10 * time.Second)); ok {
		t.Error("warm due before half the TTL")
	}
	if _, ok := c.get("a", now.Add(time.Minute)); ok {
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
	if c.endWarm(map[string]*cachedSession{"a": entry(1)}, gen, now) {
		t.Error("warm installed after a clear")
	}
	if _, ok := c.get("a", now); ok {
		t.Error("entry from a cleared warm")
	}
	if _, ok := c.startWarm(later.Add(warmGap)); !ok {
		t.Error("warm not due again after a discarded one")
	}
}

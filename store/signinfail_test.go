package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestFailedSignInsAggregated: failures from one address within a minute are one audit row, there
// at the first failure and holding the count once the minute is flushed; names are capped.
func TestFailedSignInsAggregated(t *testing.T) {
	st := storetest.New(t)
	at := time.Date(2026, 12, 6, 12, 30, 15, 0, time.UTC) // one minute for the whole test
	st.SetClock(func() time.Time { return at })
	from := func(addr string) context.Context {
		return store.WithActor(context.Background(), store.Actor{Kind: store.ActorAdmin, Name: "?", Address: addr})
	}
	long := strings.Repeat("é", 1000)
	for i := range 30 {
		name := "admin"
		if i%3 == 0 {
			name = long
		}
		st.FailedSignIn(from("192.0.2.1"), "CONSOLE_LOGIN", "USER", name, "wrong password")
	}
	st.FailedSignIn(from("192.0.2.2"), "CONSOLE_LOGIN", "USER", "bob", "wrong password")
	rows := func() map[string]store.AuditEntry {
		t.Helper()
		es, err := st.ListAudit(context.Background(), store.AuditFilter{Action: "CONSOLE_LOGIN"})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]store.AuditEntry{}
		for _, e := range es {
			if _, dup := m[e.Source]; dup {
				t.Fatalf("two rows for %s", e.Source)
			}
			m[e.Source] = e
		}
		return m
	}
	if got := rows(); len(got) != 2 || got["192.0.2.1"].Outcome != "FAILURE" {
		t.Fatalf("before the flush: %+v, want a row per address at once", got)
	}
	if err := st.FlushSignInFailures(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	got := rows()
	for addr, want := range map[string]int{"192.0.2.1": 30, "192.0.2.2": 1} {
		var d struct {
			Count int
			Names []string
		}
		if err := json.Unmarshal([]byte(got[addr].Details), &d); err != nil || d.Count != want {
			t.Errorf("%s: details %q, want count %d", addr, got[addr].Details, want)
		}
		for _, n := range append(d.Names, got[addr].Object) {
			if len(n) > store.MaxLoggedName+len("…") {
				t.Errorf("%s: a name of %d bytes was audited", addr, len(n))
			}
		}
	}
	if s := st.Stats(); s.SignInFailures != 31 {
		t.Errorf("failure counter %d, want 31", s.SignInFailures)
	}
	if c := store.CapName(long); len(c) > store.MaxLoggedName+len("…") || !strings.HasSuffix(c, "é…") {
		t.Errorf("CapName cut %q badly", c[len(c)-8:])
	}
}

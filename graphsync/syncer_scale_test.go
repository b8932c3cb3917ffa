package graphsync_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
)

// scaleRun syncs a generated tenant in full, checks the replica, applies 100 changes in Entra and
// syncs them in a delta round, checks again, and logs the durations.
func scaleRun(t *testing.T, dialect string, users, groups, memberships int) (full, delta time.Duration) {
	t.Helper()
	start := time.Now()
	tn := fakegraph.Generate(42, users, groups, memberships, 4)
	gen := time.Since(start)
	e := newEnv(t, dialect, tn, envOpts{fake: fakegraph.Options{PageSize: 999, MemberChunk: 999},
		client: func(c *fakegraph.Client) { c.PageSize = 999 }})

	rep := e.sync(false)
	full = rep.Duration()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	_, _, want := tn.Counts()
	if rep.Mode != store.SyncModeFull || rep.Counts.UsersAdded != users || rep.Counts.GroupsAdded != groups ||
		rep.Counts.MembershipsAdded != want {
		t.Errorf("full round: %+v", rep)
	}
	e.check()

	// 100 changes: 30 renames, 20 disables, 10 deletions, 10 new users in a group, 30 membership changes.
	ids, gids := tn.UserIDs(), tn.GroupIDs()
	for i := range 30 {
		e.must(tn.RenameUser(ids[i*7], fmt.Sprintf("renamed%d@contoso.com", i)))
	}
	for i := range 20 {
		e.must(tn.UpdateUser(ids[1000+i*11], func(u *fakegraph.User) { u.AccountEnabled = !u.AccountEnabled }))
	}
	for i := range 10 {
		e.must(tn.DeleteUser(ids[2000+i*13], i%2 == 0))
	}
	for i := range 10 {
		id := fmt.Sprintf("50000000-0000-4000-8000-%012d", i)
		e.must(tn.AddUser(fakegraph.User{ID: id, UserPrincipalName: fmt.Sprintf("new%d@contoso.com", i), AccountEnabled: true}),
			tn.AddMember(gids[i], id))
	}
	for i := range 15 {
		e.must(tn.AddMember(gids[len(gids)-1-i], ids[3000+i]))
		if m := tn.Members(gids[10+i]); len(m) > 0 && m[0].Kind == fakegraph.KindUser {
			e.must(tn.RemoveMember(gids[10+i], m[0].ID))
		}
	}
	tok := e.token()
	rep = e.sync(false)
	delta = rep.Duration()
	if rep.Mode != store.SyncModeDelta || len(rep.Problems) != 0 {
		t.Errorf("delta round: %+v", rep)
	}
	e.check()
	evs := len(e.events(tok))
	t.Logf("%s: generate %d users/%d groups/%d memberships %s; full sync %s (%d pages, heap in use after %d MiB); "+
		"delta of 100 changes %s (%d changes applied, %d events)", dialect, users, groups, want, gen.Round(time.Millisecond),
		full.Round(time.Millisecond), rep.Pages, ms.HeapInuse>>20, delta.Round(time.Millisecond), rep.Counts.Total(), evs)
	return full, delta
}

// TestSyncScaleSmall: 5,000 users, 300 groups, 30,000 memberships, full and 100-change delta,
// always run (well under 20 s with -race).
func TestSyncScaleSmall(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		start := time.Now()
		scaleRun(t, d, 5000, 300, 30000)
		t.Logf("%s: whole test %s (race detector %t)", d, time.Since(start).Round(time.Millisecond), raceEnabled)
	})
}

// TestSyncScaleD100k measures target P6 on dataset D-100k: full sync ≤ 60 s, a delta of 100
// changes ≤ 1 s. Only with CROWDGATE_SCALE=1 (and not -short). The bounds are checked on PostgreSQL
// without the race detector; SQLite (one writer, no parallel transactions) is measured and logged.
func TestSyncScaleD100k(t *testing.T) {
	if testing.Short() || os.Getenv("CROWDGATE_SCALE") != "1" {
		t.Skip("scale benchmark: set CROWDGATE_SCALE=1 (and CROWDGATE_TEST_POSTGRES for PostgreSQL)")
	}
	forDialects(t, func(t *testing.T, d string) {
		full, delta := scaleRun(t, d, 100_000, 5_000, 1_000_000)
		if d == "postgres" && !raceEnabled && (full > 60*time.Second || delta > time.Second) {
			t.Errorf("P6 missed: full %s (≤ 60 s), delta %s (≤ 1 s)", full, delta)
		}
	})
}

package graphsync_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
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

	e.must(tn.ApplyHundredChanges())
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

// TestFullRoundResumeScale measures (CROWDGATE_SCALE=1; logged, not asserted) a full round of a
// replica that is already up to date against one that continues a round interrupted at about 90 %
// of its pages, with every Graph page answered after CROWDGATE_SCALE_PAGE_DELAY (default 500ms:
// Graph's own pages of 999 objects take about that or longer) and holding CROWDGATE_SCALE_PAGE_SIZE
// objects (default 999, what crowdgate asks for; Graph has been seen to cap users delta pages at 200
// whatever is asked). Users, groups and memberships come from CROWDGATE_SCALE_SIZE
// ("100000,5000,1000000" by default).
func TestFullRoundResumeScale(t *testing.T) {
	if testing.Short() || os.Getenv("CROWDGATE_SCALE") != "1" {
		t.Skip("scale benchmark: set CROWDGATE_SCALE=1 (and CROWDGATE_TEST_POSTGRES for PostgreSQL)")
	}
	delay := 500 * time.Millisecond
	if v := os.Getenv("CROWDGATE_SCALE_PAGE_DELAY"); v != "" {
		delay = storetest.Must(time.ParseDuration(v))
	}
	perPage := 999
	if v := os.Getenv("CROWDGATE_SCALE_PAGE_SIZE"); v != "" {
		perPage = storetest.Must(strconv.Atoi(v))
	}
	size := [3]int{100_000, 5_000, 1_000_000}
	if v := os.Getenv("CROWDGATE_SCALE_SIZE"); v != "" {
		if _, err := fmt.Sscanf(v, "%d,%d,%d", &size[0], &size[1], &size[2]); err != nil {
			t.Fatalf("CROWDGATE_SCALE_SIZE %q: %v", v, err)
		}
	}
	forDialects(t, func(t *testing.T, d string) {
		tn := fakegraph.Generate(42, size[0], size[1], size[2], 4)
		e := newEnv(t, d, tn, envOpts{fake: fakegraph.Options{PageSize: perPage, MemberChunk: perPage},
			client: func(c *fakegraph.Client) { c.PageSize = perPage }})
		e.sync(true)
		slow := func() {
			e.fake.ClearFaults()
			e.fake.ResetRequests()
			e.fake.FailNext(1_000_000, fakegraph.SlowPage(delay))
		}

		slow()
		whole := e.sync(true)
		pages := len(e.fake.Requests())

		e.fake.ClearFaults()
		e.fake.ThrottleEvery(pages*9/10, fakegraph.InternalError())
		if _, err := e.syncer.SyncOnce(t.Context(), true); err == nil {
			t.Fatal("the interrupted round succeeded")
		}
		slow()
		resumed := e.sync(false)
		e.fake.ClearFaults()
		e.check()
		t.Logf("%s, %d users, %d groups, %d memberships, %d objects and %s a page: a full round of an up-to-date replica %s (%d requests); "+
			"one continuing a round interrupted at 90 %% %s (%d requests; %s): %.0f %% of the time",
			d, size[0], size[1], size[2], perPage, delay, whole.Duration().Round(time.Millisecond), pages,
			resumed.Duration().Round(time.Millisecond), len(e.fake.Requests()), resumed.Reason,
			100*resumed.Duration().Seconds()/whole.Duration().Seconds())
	})
}

package graphsync_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
)

// resumeEnv is a generated tenant of about a hundred pages, synced once in full; pages is the
// number of Graph requests that full round made.
func resumeEnv(t *testing.T, d string, cfg graphsync.Config) (e *env, pages int) {
	t.Helper()
	tn := fakegraph.Generate(11, 400, 40, 2000, 3)
	e = newEnv(t, d, tn, envOpts{cfg: cfg, fake: fakegraph.Options{PageSize: 5, MemberChunk: 25},
		client: func(c *fakegraph.Client) { c.PageSize = 5 }})
	e.fake.ResetRequests()
	if rep := e.sync(true); rep.Mode != store.SyncModeFull {
		t.Fatalf("first round: %+v", rep)
	}
	e.check()
	pages = len(e.fake.Requests())
	if pages < 80 {
		t.Fatalf("a full round takes %d requests; the test wants about a hundred", pages)
	}
	// Changes the interrupted round must not apply, and the resumed one must.
	ids, gids := tn.UserIDs(), tn.GroupIDs()
	e.must(tn.RenameUser(ids[3], "renamed3@contoso.com"), tn.DeleteUser(ids[5], false), tn.RemoveMember(gids[0], tn.Members(gids[0])[0].ID),
		tn.AddUser(fakegraph.User{ID: "60000000-0000-4000-8000-000000000001", UserPrincipalName: "new1@contoso.com", AccountEnabled: true}),
		tn.AddMember(gids[1], "60000000-0000-4000-8000-000000000001"))
	return e, pages
}

// interrupt runs a requested full round that Graph fails (500, not retried) at about 90 % of its
// requests, and checks that the replica did not change.
func interrupt(t *testing.T, e *env, pages int) {
	t.Helper()
	before := e.replica()
	e.fake.ResetRequests()
	e.fake.ThrottleEvery(pages*9/10, fakegraph.InternalError())
	if _, err := e.syncer.SyncOnce(t.Context(), true); err == nil {
		t.Fatal("the interrupted round succeeded")
	}
	e.fake.ClearFaults()
	if after := e.replica(); !reflect.DeepEqual(before, after) {
		t.Errorf("the interrupted round changed the replica:\nbefore %+v\nafter  %+v", before, after)
	}
	round, ok := storetestRound(t, e)
	if !ok || round.Users.Pages+round.Groups.Pages < pages*8/10 {
		t.Errorf("staged after the interruption: %+v (ok %t), want at least %d pages", round, ok, pages*8/10)
	}
	e.fake.ResetRequests()
}

func storetestRound(t *testing.T, e *env) (store.SyncFullRound, bool) {
	t.Helper()
	round, ok, err := e.st.SyncStagedRound(t.Context(), e.dir.ID)
	if err != nil {
		t.Fatal(err)
	}
	return round, ok
}

// TestFullRoundResumes: a full round interrupted at about 90 % of its pages leaves the replica as it
// was; the next run continues it, reading less than a fifth of the pages, and the replica ends equal
// to the tenant (what an uninterrupted round gives, e.check), the stage dropped.
func TestFullRoundResumes(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e, pages := resumeEnv(t, d, graphsync.Config{})
		interrupt(t, e, pages)
		rep := e.sync(false)
		if rep.Mode != store.SyncModeFull || !strings.HasPrefix(rep.Reason, "continuing the full round interrupted after ") {
			t.Errorf("resumed run: mode %s, reason %q", rep.Mode, rep.Reason)
		}
		n := len(e.fake.Requests())
		if n >= pages/5 {
			t.Errorf("the resumed run made %d requests, want fewer than %d (a fifth of %d)", n, pages/5, pages)
		}
		t.Logf("full round: %d requests; resumed after the interruption: %d requests", pages, n)
		e.check()
		if _, ok := storetestRound(t, e); ok {
			t.Error("the stage was not dropped after the round was applied")
		}
		// The next round is a delta round from the resumed round's links.
		e.fake.ResetRequests()
		if rep := e.sync(false); rep.Mode != store.SyncModeDelta || rep.Counts.Total() != 0 {
			t.Errorf("round after: %+v", rep)
		}
		e.check()
	})
}

// TestFullRoundResumeLinkExpired: when Graph no longer accepts the link the interrupted round stopped
// at, the round starts over, and the run's reason says so.
func TestFullRoundResumeLinkExpired(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e, pages := resumeEnv(t, d, graphsync.Config{})
		interrupt(t, e, pages)
		e.fake.FailNext(1, fakegraph.SyncStateNotFound(410))
		rep := e.sync(false)
		startedOver(t, e, rep, pages, strings.Contains(rep.Reason, "; started over: Graph no longer accepts the interrupted full round's next link"))
	})
}

// TestFullRoundResumeConfigChanged: a changed configuration starts the interrupted round over.
func TestFullRoundResumeConfigChanged(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e, pages := resumeEnv(t, d, graphsync.Config{})
		interrupt(t, e, pages)
		e.cfg.ExcludeGuests = true
		e.syncer = e.newSyncer(e.st)
		rep := e.sync(false)
		startedOver(t, e, rep, pages, rep.Reason == "configuration changed; started over: the configuration or the tenant changed since the interrupted full round began")
	})
}

// TestFullRoundResumeOtherTenant: a round staged while reading another tenant (SourceKey) is not
// continued: the next full round starts over.
func TestFullRoundResumeOtherTenant(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e, pages := resumeEnv(t, d, graphsync.Config{SourceKey: "tenant-a/app"})
		interrupt(t, e, pages)
		e.cfg.SourceKey = "tenant-b/app"
		e.syncer = e.newSyncer(e.st)
		rep := e.sync(true)
		startedOver(t, e, rep, pages, rep.Reason == "requested; started over: the configuration or the tenant changed since the interrupted full round began")
	})
}

// startedOver checks a run that did not continue an interrupted round: a full round (reasonOK: its
// reason says why it started over) that read a whole round again and left the replica equal to the tenant.
func startedOver(t *testing.T, e *env, rep graphsync.Report, pages int, reasonOK bool) {
	t.Helper()
	if rep.Mode != store.SyncModeFull || !reasonOK {
		t.Errorf("run: mode %s, reason %q", rep.Mode, rep.Reason)
	}
	if n := len(e.fake.Requests()); n < pages {
		t.Errorf("the restarted run made %d requests, want a whole round (%d or more)", n, pages)
	}
	e.check()
}

// failApply is a Store whose ApplySync fails from the n-th call on (n 0: never).
type failApply struct {
	graphsync.Store
	calls, from int
}

var errApplyDown = errors.New("database down")

func (f *failApply) ApplySync(ctx context.Context, dirID int64, b store.SyncBatch) (store.SyncResult, error) {
	f.calls++
	if f.from > 0 && f.calls >= f.from {
		return store.SyncResult{}, errApplyDown
	}
	return f.Store.ApplySync(ctx, dirID, b)
}

// TestFullRoundApplyResumes: a full round whose writes stop after the sweep (the database went away)
// keeps its staged round; the next run applies it again from the stage, reading from Graph only
// what changed meanwhile (one page per delta link), and the replica ends equal to the tenant.
func TestFullRoundApplyResumes(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e, pages := resumeEnv(t, d, graphsync.Config{})
		fa := &failApply{Store: e.st, from: 2} // the sweep is written, the users are not
		e.syncer = e.newSyncer(fa)
		e.fake.ResetRequests()
		if _, err := e.syncer.SyncOnce(t.Context(), true); !errors.Is(err, errApplyDown) {
			t.Fatalf("the run whose writes fail: %v", err)
		}
		if _, ok := storetestRound(t, e); !ok {
			t.Fatal("no staged round after the apply failed")
		}
		fa.from = 0
		e.fake.ResetRequests()
		rep := e.sync(false)
		// The sweep cleared the delta links, which is a reason of its own.
		if want := fmt.Sprintf("no delta links (first sync, or the last full round did not finish); continuing the full round interrupted after %d pages",
			pages); rep.Mode != store.SyncModeFull || !strings.HasPrefix(rep.Reason, want) {
			t.Errorf("next run: mode %s, reason %q, want it to begin with %q", rep.Mode, rep.Reason, want)
		}
		if n := len(e.fake.Requests()); n != 2 {
			t.Errorf("the run applying the staged round made %d requests, want 2 (one per delta link; a full round takes %d)", n, pages)
		}
		e.check()
		if _, ok := storetestRound(t, e); ok {
			t.Error("the stage was not dropped after the round was applied")
		}
	})
}

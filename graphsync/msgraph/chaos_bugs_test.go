package msgraph_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// Minimal regressions for syncer bugs the chaos test found, each named after the bug (all fixed; the
// matching switches in chaos_model_test.go are on). A new bug gets its test here, skipped while it
// is known.

var errInjected = errors.New("injected: connection reset")

func bugTenant(t *testing.T, users []string, groups map[string]string, members [][2]string) *fakegraph.Tenant {
	t.Helper()
	tn := fakegraph.NewTenant()
	for _, id := range users {
		if err := tn.AddUser(fakegraph.User{ID: id, UserPrincipalName: id + "@contoso.com", AccountEnabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	for id, name := range groups {
		if err := tn.AddGroup(fakegraph.Group{ID: id, DisplayName: name, SecurityEnabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range members {
		if err := tn.AddMember(m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

func (w *world) sync(full bool) graphsync.Report {
	w.t.Helper()
	rep, err := w.syncer.SyncOnce(w.t.Context(), full)
	if err != nil {
		w.t.Fatalf("SyncOnce: %v", err)
	}
	return rep
}

func (w *world) must(errs ...error) {
	w.t.Helper()
	for _, err := range errs {
		if err != nil {
			w.t.Fatal(err)
		}
	}
}

// TestKnownBugResumedDeltaRoundIsStale: a delta run fails on the second groups page, so the
// committed groups link is a next link. The tenant then renames a group that sorts before the
// point where that round stopped. The next run (no faults) finishes the old round and ends
// successfully, but the rename made after that round began is not in the replica: it arrives one
// run later.
func TestKnownBugResumedDeltaRoundIsStale(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			tn := bugTenant(t, nil, map[string]string{"g1": "one", "g2": "two", "g3": "three"}, nil)
			w := newWorld(t, d, tn, fakegraph.Options{PageSize: 1}, graphsync.Config{}, true, nil)
			w.sync(false)
			w.must(tn.UpdateGroup("g2", func(g *fakegraph.Group) { g.DisplayName = "two-b" }),
				tn.UpdateGroup("g3", func(g *fakegraph.Group) { g.DisplayName = "three-b" }))
			w.src.failGroups = func(link string) error {
				if strings.Contains(link, "$skiptoken") {
					return errInjected
				}
				return nil
			}
			if _, err := w.syncer.SyncOnce(t.Context(), false); !errors.Is(err, errInjected) {
				t.Fatalf("first run: %v, want the injected error", err)
			}
			w.src.failGroups = nil
			w.must(tn.UpdateGroup("g1", func(g *fakegraph.Group) { g.DisplayName = "one-b" }))
			w.sync(false)
			if got := w.replica().Groups["g1"].Name; got != "one-b" {
				t.Errorf("after a fault-free run g1 is %q, want one-b", got)
			}
		})
	}
}

// TestKnownBugFullRoundDecisionLost: a group without a name is not replicated; when it gets one, the
// delta run that reads it makes it live in the page's transaction and turns into a full round to
// learn its members. That full round fails. The next run must still be a full round (the decision
// is stored with the page), or the revived group never gets its members.
func TestKnownBugFullRoundDecisionLost(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			tn := bugTenant(t, []string{"u1"}, map[string]string{"g1": "team", "g2": "  "}, [][2]string{{"g2", "u1"}})
			w := newWorld(t, d, tn, fakegraph.Options{}, graphsync.Config{}, true, nil)
			w.sync(false)
			if _, live := w.replica().Groups["g2"]; live {
				t.Fatal("g2 has no name and should not be replicated")
			}
			w.must(tn.UpdateGroup("g2", func(g *fakegraph.Group) { g.DisplayName = "team-2" }))
			w.src.failGroups = func(link string) error {
				if link == "" { // the full round's first groups page
					return errInjected
				}
				return nil
			}
			if _, err := w.syncer.SyncOnce(t.Context(), false); !errors.Is(err, errInjected) {
				t.Fatalf("escalated run: %v, want the injected error", err)
			}
			w.src.failGroups = nil
			if rep := w.sync(false); rep.Mode != store.SyncModeFull {
				t.Errorf("the run after the failed full round is %s, want %s", rep.Mode, store.SyncModeFull)
			}
			if r := w.replica(); !r.Members["g2 > u1"] {
				t.Errorf("g2 is %+v, but u1 is not its member: %v", r.Groups["g2"], r.Members)
			}
		})
	}
}

// TestKnownBugLaggedMemberLost: users delta has not caught up with a new user that groups delta
// already lists as a member. The membership is reported as a problem and dropped; when the user
// arrives in the next run, the membership is not applied (until a periodic full round).
func TestKnownBugLaggedMemberLost(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			tn := bugTenant(t, []string{"u1"}, map[string]string{"g1": "team"}, [][2]string{{"g1", "u1"}})
			w := newWorld(t, d, tn, fakegraph.Options{}, graphsync.Config{}, true, nil)
			w.sync(false)
			tn.LagNewUsers(true)
			w.must(tn.AddUser(fakegraph.User{ID: "u2", UserPrincipalName: "u2@contoso.com", AccountEnabled: true}), tn.AddMember("g1", "u2"))
			tn.LagNewUsers(false)
			w.sync(false) // u2 is not there yet: nothing to check
			tn.CatchUp()
			w.sync(false)
			if r := w.replica(); r.Users["u2"].Name == "" || !r.Members["g1 > u2"] {
				t.Errorf("after the user arrived: user %+v, member of g1 %t; want both", r.Users["u2"], r.Members["g1 > u2"])
			}
		})
	}
}

// TestKnownBugNestingOffDeltaWritesEdges: with nested groups off, a full round writes no
// group-in-group edge, but a delta round that sees a group nested into another writes one.
func TestKnownBugNestingOffDeltaWritesEdges(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			tn := bugTenant(t, []string{"u1"}, map[string]string{"g1": "parent", "g2": "child"}, [][2]string{{"g2", "u1"}})
			w := newWorld(t, d, tn, fakegraph.Options{}, graphsync.Config{}, false, nil)
			w.sync(false)
			w.must(tn.AddMember("g1", "g2"))
			w.sync(false)
			if r := w.replica(); r.Members["g1 >> g2"] {
				t.Errorf("nesting is off, yet the replica holds g1 >> g2: %v", r.Members)
			}
		})
	}
}

// TestKnownBugDeltaAndFullDisagreeOnClash: g2 waits outside the replica behind g1 for the name
// "team". In one delta round g1 is renamed and g3 (a larger id than g2) is created as "team": g3
// takes the name and g2 keeps waiting. A full round then gives the name to g2 and deletes g3 with
// its members. A delta round and a full round over the same tenant must agree.
func TestKnownBugDeltaAndFullDisagreeOnClash(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			tn := bugTenant(t, []string{"u1"}, map[string]string{"g1": "team", "g2": "team"}, nil)
			w := newWorld(t, d, tn, fakegraph.Options{}, graphsync.Config{}, true, nil)
			w.sync(false)
			w.must(tn.UpdateGroup("g1", func(g *fakegraph.Group) { g.DisplayName = "team-renamed" }),
				tn.AddGroup(fakegraph.Group{ID: "g3", DisplayName: "team", SecurityEnabled: true}), tn.AddMember("g3", "u1"))
			w.sync(false)
			delta := w.replica()
			w.sync(true)
			if full := w.replica(); diffViewsCount(delta, full) > 0 {
				t.Errorf("a full round changed the replica of a delta round:\n%s", strings.Join(diffViews(delta, full, 10), "\n"))
			}
		})
	}
}

func diffViewsCount(a, b view) int { return len(diffViews(a, b, 1)) }

// TestKnownBugResetMidBodyNotRetried: a connection cut in the middle of a page's body is a
// transient fault like a 503, but the source returns it as a decode error at once.
func TestKnownBugResetMidBodyNotRetried(t *testing.T) {
	fake := fakegraph.New(bugTenant(t, []string{"u1", "u2"}, nil, nil), fakegraph.Options{})
	defer fake.Close()
	src := chaosSDKSource(t, fake, &chaosCredential{fake: fake})
	fake.FailNext(1, fakegraph.ResetMidBody())
	p, err := src.UsersDelta(t.Context(), "")
	if err != nil || len(p.Items) != 2 {
		t.Fatalf("UsersDelta after a reset: %d users, %v; want the page, read again", len(p.Items), err)
	}
}

// TestKnownBugExpiredTokenNotRefreshed: the access token expires between two pages; Graph answers
// 401 and the credential would now hand out a fresh token, but the source does not ask for one.
func TestKnownBugExpiredTokenNotRefreshed(t *testing.T) {
	fake := fakegraph.New(bugTenant(t, []string{"u1", "u2"}, nil, nil), fakegraph.Options{})
	defer fake.Close()
	cred := &chaosCredential{fake: fake}
	src := chaosSDKSource(t, fake, cred)
	cred.old, cred.stale = fake.Token(), 1
	fake.SetToken("token-2")
	p, err := src.UsersDelta(t.Context(), "")
	if err != nil || len(p.Items) != 2 {
		t.Fatalf("UsersDelta with an expired token: %d users, %v; want the page after one fresh token", len(p.Items), err)
	}
	if got := len(fake.Requests()); got != 2 {
		t.Errorf("fake saw %d requests, want 2 (the 401, then the retry)", got)
	}
}

// TestKnownBugFilterScopeWithNestingOff: with a group filter and nested groups off, a full round
// takes the groups nested in a chosen group (and their users) into scope, as Config.Groups says;
// a delta round that removes a membership recomputes the scope from the replica, which holds no
// group-in-group edges, and drops them with their users. The next full round brings them back.
func TestKnownBugFilterScopeWithNestingOff(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			tn := bugTenant(t, []string{"u1", "u2", "u3"}, map[string]string{"g1": "chosen", "g2": "nested"},
				[][2]string{{"g1", "g2"}, {"g1", "u2"}, {"g1", "u3"}, {"g2", "u1"}})
			w := newWorld(t, d, tn, fakegraph.Options{}, graphsync.Config{Groups: []string{"g1"}}, false, nil)
			w.sync(false)
			if r := w.replica(); r.Groups["g2"].Name != "nested" || !r.Users["u1"].Active {
				t.Fatalf("full round: g2 %+v, u1 %+v; want both in scope", r.Groups["g2"], r.Users["u1"])
			}
			w.must(tn.RemoveMember("g1", "u3"))
			w.sync(false)
			if r := w.replica(); r.Groups["g2"].Name != "nested" || !r.Users["u1"].Active || !r.Members["g2 > u1"] {
				t.Errorf("after a delta round: g2 %+v, u1 %+v, g2 > u1 %t; want all still there", r.Groups["g2"], r.Users["u1"], r.Members["g2 > u1"])
			}
		})
	}
}

// TestKnownBugUserKeptByClashLoser: with a group filter, a user who is in scope only through a
// chosen group that lost a name clash stays live and active after leaving that group: the removal
// is ignored because the group is not live, and the scope is not recomputed.
func TestKnownBugUserKeptByClashLoser(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			tn := bugTenant(t, []string{"u1", "u2"}, map[string]string{"g1": "team", "g2": "team"}, [][2]string{{"g1", "u1"}, {"g2", "u2"}})
			w := newWorld(t, d, tn, fakegraph.Options{}, graphsync.Config{Groups: []string{"g1", "g2"}}, true, nil)
			w.sync(false)
			w.must(tn.RemoveMember("g2", "u2"))
			w.sync(false)
			if u, live := w.replica().Users["u2"]; live {
				t.Errorf("u2 left every group in scope but is still live: %+v", u)
			}
		})
	}
}

// TestKnownBugFilterScopeLostWithFailedRun: with a group filter, a delta page removes the only
// membership that kept a user in scope, and the run fails on a later page, before its scope pass.
// The next run resumes after that page: the user must still leave the replica (the dirty scope is
// stored with the page as the decision for a full round).
func TestKnownBugFilterScopeLostWithFailedRun(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			tn := bugTenant(t, []string{"u1", "u2"}, map[string]string{"g1": "chosen", "g2": "other"},
				[][2]string{{"g1", "u1"}, {"g1", "u2"}, {"g2", "u1"}})
			w := newWorld(t, d, tn, fakegraph.Options{PageSize: 1}, graphsync.Config{Groups: []string{"g1", "g2"}}, true, nil)
			w.sync(false)
			w.must(tn.RemoveMember("g1", "u2"), tn.UpdateGroup("g2", func(g *fakegraph.Group) { g.Description = "changed" }))
			w.src.failGroups = func(link string) error {
				if strings.Contains(link, "$skiptoken") {
					return errInjected
				}
				return nil
			}
			if _, err := w.syncer.SyncOnce(t.Context(), false); !errors.Is(err, errInjected) {
				t.Fatalf("first run: %v, want the injected error", err)
			}
			w.src.failGroups = nil
			w.sync(false)
			r := w.replica()
			if u, live := r.Users["u2"]; live {
				t.Errorf("u2 left every group in scope but is still live: %+v", u)
			}
			if !r.Users["u1"].Active || r.Groups["g2"].Description != "changed" {
				t.Errorf("u1 %+v, g2 %+v; want u1 active, g2 changed", r.Users["u1"], r.Groups["g2"])
			}
		})
	}
}

// TestKnownBugReactivatedBeforeRemovals: a disabled user is enabled again and, in the same window,
// removed from a group. The users round comes first; the groups round fails before the removal.
// The user must not be active with the group the tenant took away (it stays inactive until the
// groups round is read; since delta rounds are read whole before they are applied, the failed run
// writes nothing and the next run reads the same delta round again). Found by the chaos test (seeds 52 and
// 60 with -chaos.seeds=60 -chaos.rounds=300).
func TestKnownBugReactivatedBeforeRemovals(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			tn := bugTenant(t, []string{"u1"}, map[string]string{"g1": "admins"}, [][2]string{{"g1", "u1"}})
			w := newWorld(t, d, tn, fakegraph.Options{}, graphsync.Config{}, true, nil)
			w.must(tn.UpdateUser("u1", func(u *fakegraph.User) { u.AccountEnabled = false }))
			w.sync(false)
			w.must(tn.UpdateUser("u1", func(u *fakegraph.User) { u.AccountEnabled = true }), tn.RemoveMember("g1", "u1"))
			w.src.failGroups = func(string) error { return errInjected }
			if _, err := w.syncer.SyncOnce(t.Context(), false); !errors.Is(err, errInjected) {
				t.Fatalf("run: %v, want the injected error", err)
			}
			if r := w.replica(); r.Users["u1"].Active && r.Members["g1 > u1"] {
				t.Errorf("after a failed run u1 is active and a member of g1, which the tenant removed")
			}
			w.src.failGroups = nil
			if r := w.replica(); r.Users["u1"].Active || !r.Members["g1 > u1"] {
				t.Errorf("the failed run wrote: u1 %+v, member of g1 %t", r.Users["u1"], r.Members["g1 > u1"])
			}
			if rep := w.sync(false); rep.Mode != store.SyncModeDelta {
				t.Errorf("the next run is %s, want %s", rep.Mode, store.SyncModeDelta)
			}
			if r := w.replica(); !r.Users["u1"].Active || r.Members["g1 > u1"] {
				t.Errorf("after a fault-free run: u1 %+v, member of g1 %t; want active, not a member", r.Users["u1"], r.Members["g1 > u1"])
			}
		})
	}
}

package graphsync_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// env is a fake tenant served by fakegraph, an AZURE_AD directory in a real store, and a Syncer
// between them reading through fakegraph.Client (graphsync/msgraph tests the SDK source).
type env struct {
	t      *testing.T
	url    string
	st     *store.Store
	dir    store.Directory
	fake   *fakegraph.Server
	tn     *fakegraph.Tenant
	src    graphsync.Source
	cfg    graphsync.Config
	syncer *graphsync.Syncer
}

type envOpts struct {
	fake     fakegraph.Options
	cfg      graphsync.Config
	client   func(*fakegraph.Client)
	wrap     func(graphsync.Source) graphsync.Source
	noNested bool
	// securityOnly keeps the default group scope (security groups); otherwise the env replicates
	// Microsoft 365 groups too, as smallTenant's Executives is one.
	securityOnly bool
}

func newEnv(t *testing.T, dialect string, tn *fakegraph.Tenant, o envOpts) *env {
	t.Helper()
	e := &env{t: t, url: storetest.URL(t, dialect), tn: tn, cfg: o.cfg}
	if !o.securityOnly {
		e.cfg.UnifiedGroups = true
	}
	e.st = e.otherInstance()
	e.fake = fakegraph.New(tn, o.fake)
	t.Cleanup(e.fake.Close)
	e.dir = storetest.Must(e.st.CreateDirectory(context.Background(), store.Directory{Name: "Entra ID", Kind: store.DirectoryAzureAD,
		Active: true, NestedGroups: !o.noNested}))
	e.src = newSource(e.fake, o.client)
	if o.wrap != nil {
		e.src = o.wrap(e.src)
	}
	e.syncer = e.newSyncer(e.st)
	return e
}

// otherInstance opens another Store on the env's database, as a second crowdgate instance would.
func (e *env) otherInstance() *store.Store {
	e.t.Helper()
	s, err := store.Open(context.Background(), store.Config{URL: e.url, PasswordWorkers: 1}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

func (e *env) newSyncer(st graphsync.Store) *graphsync.Syncer {
	e.t.Helper()
	s, err := graphsync.New(e.cfg, e.src, st, e.dir.ID, testLogger(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// sync runs one round and fails the test on error.
func (e *env) sync(full bool) graphsync.Report {
	e.t.Helper()
	rep, err := e.syncer.SyncOnce(e.t.Context(), full)
	if err != nil {
		e.t.Fatalf("SyncOnce: %v", err)
	}
	return rep
}

func (e *env) token() store.EventToken {
	return storetest.Must(e.st.CurrentEventToken(context.Background(), 1))
}

func (e *env) events(tok store.EventToken) []string {
	e.t.Helper()
	evs, _, err := e.st.EventsSince(context.Background(), tok, 1, []int64{e.dir.ID})
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = strings.TrimSpace(fmt.Sprintf("%s %s %s %s", ev.Entity, ev.Operation, ev.Name, ev.OtherName))
	}
	return out
}

func (e *env) must(errs ...error) {
	e.t.Helper()
	for _, err := range errs {
		if err != nil {
			e.t.Fatal(err)
		}
	}
}

// replica is the live part of a directory: users and groups not listed outside, by external id,
// and their direct memberships as "group > user" and "group >> group" lines.
type replica struct {
	Users   map[string]store.SyncUser
	Groups  map[string]store.SyncGroup
	Members []string
}

func (e *env) replica() replica {
	e.t.Helper()
	live := storetest.Must(storetest.LiveReplica(context.Background(), e.st, e.dir.ID))
	r := replica{Users: live.Users, Groups: live.Groups, Members: []string{}}
	for _, m := range live.UserMembers {
		r.Members = append(r.Members, m[0]+" > "+m[1])
	}
	for _, m := range live.GroupMembers {
		r.Members = append(r.Members, m[0]+" >> "+m[1])
	}
	slices.Sort(r.Members)
	return r
}

// expected computes the replica the tenant should produce, independently of graphsync's mapping
// code: UPN names, the documented field fallbacks, guests and the group filter.
func (e *env) expected() replica {
	e.t.Helper()
	tn := e.tn
	want := replica{Users: map[string]store.SyncUser{}, Groups: map[string]store.SyncGroup{}, Members: []string{}}
	inGroup := map[string]bool{}
	typed := func(id string) bool {
		g, _ := tn.Group(id)
		if slices.Contains(g.GroupTypes, "Unified") {
			return e.cfg.UnifiedGroups
		}
		return g.SecurityEnabled
	}
	if len(e.cfg.Groups) == 0 {
		for _, id := range tn.GroupIDs() {
			inGroup[id] = typed(id)
		}
	} else {
		var queue []string
		for _, id := range tn.GroupIDs() {
			g, _ := tn.Group(id)
			if !typed(id) {
				continue
			}
			for _, f := range e.cfg.Groups {
				if strings.EqualFold(f, id) || strings.EqualFold(f, g.DisplayName) {
					inGroup[id], queue = true, append(queue, id)
				}
			}
		}
		for len(queue) > 0 {
			id := queue[0]
			queue = queue[1:]
			for _, m := range tn.Members(id) {
				if m.Kind == fakegraph.KindGroup && !inGroup[m.ID] && typed(m.ID) {
					inGroup[m.ID], queue = true, append(queue, m.ID)
				}
			}
		}
	}
	inUser := map[string]bool{}
	for _, id := range tn.UserIDs() {
		u, _ := tn.User(id)
		if e.cfg.ExcludeGuests && u.UserType == "Guest" {
			continue
		}
		inUser[id] = len(e.cfg.Groups) == 0
	}
	for gid, in := range inGroup {
		if !in {
			continue
		}
		for _, m := range tn.Members(gid) {
			if m.Kind == fakegraph.KindUser {
				if _, ok := inUser[m.ID]; ok {
					inUser[m.ID] = true
				}
			}
		}
	}
	for id, in := range inUser {
		if !in {
			continue
		}
		u, _ := tn.User(id)
		want.Users[id] = u.WantSyncUser()
	}
	protected := map[string]string{}
	names := e.cfg.ProtectedNames
	if names == nil {
		names = graphsync.DefaultProtectedNames
	}
	licence := storetest.Must(e.st.SyncProtectedGroups(context.Background()))
	for _, n := range slices.Concat(names, []string{e.cfg.AdminGroup}, licence) {
		protected[strings.ToLower(n)] = e.cfg.BoundGroups[n]
	}
	for gid, in := range inGroup {
		if !in {
			continue
		}
		g, _ := tn.Group(gid)
		want.Groups[gid] = store.SyncGroup{ExternalID: gid, Name: g.DisplayName, Description: g.Description}
		if bound, ok := protected[strings.ToLower(g.DisplayName)]; ok && bound != gid {
			want.Groups[gid] = store.SyncGroup{ExternalID: gid, Name: g.DisplayName + "#" + gid[:8], Description: g.Description}
		}
		for _, m := range tn.Members(gid) {
			switch {
			case m.Kind == fakegraph.KindUser && inUser[m.ID]:
				want.Members = append(want.Members, gid+" > "+m.ID)
			case m.Kind == fakegraph.KindGroup && inGroup[m.ID] && !e.noNested():
				want.Members = append(want.Members, gid+" >> "+m.ID)
			}
		}
	}
	slices.Sort(want.Members)
	return want
}

func (e *env) noNested() bool { return !e.dir.NestedGroups }

// check asserts the live replica is exactly what the tenant should produce.
func (e *env) check() {
	e.t.Helper()
	if diff := cmp.Diff(e.expected(), e.replica()); diff != "" {
		e.t.Errorf("replica differs from the tenant (-want +got):\n%s", diff)
	}
}

func (e *env) user(ext string) store.User {
	e.t.Helper()
	return storetest.Must(e.st.UserByExternalID(context.Background(), e.dir.ID, ext))
}

func (e *env) outside(ext string) string {
	e.t.Helper()
	o := storetest.Must(e.st.SyncLookup(context.Background(), e.dir.ID, []string{ext}))[ext]
	if o.Outside == nil {
		return ""
	}
	return o.Outside.Reason
}

func forDialects(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) { fn(t, d) })
	}
}

// TestSyncFullThenDelta: a full round replicates the tenant exactly; a delta round applies renames
// (keys kept), disables, soft and permanent deletions, new users and guests, membership changes,
// nesting, a renamed and a deleted group; a round without changes writes no events.
func TestSyncFullThenDelta(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e := newEnv(t, d, smallTenant(t), envOpts{fake: fakegraph.Options{PageSize: 2, MemberChunk: 2}})
		tok := e.token()
		rep := e.sync(false)
		if rep.Mode != store.SyncModeFull || rep.Counts.UsersAdded != 5 || rep.Counts.GroupsAdded != 4 || rep.Counts.MembershipsAdded != 6 {
			t.Errorf("first round: %+v", rep)
		}
		e.check()
		if n := len(e.events(tok)); n != 15 {
			t.Errorf("first round wrote %d events, want 15", n)
		}
		aliceKey, roomKey := e.user(alice).Key(), e.user(room).Key()

		e.must(
			e.tn.RenameUser(alice, "alice.jones@contoso.com"),
			e.tn.UpdateUser(alice, func(u *fakegraph.User) { u.Surname, u.DisplayName = "Jones", "Alice Jones" }),
			e.tn.UpdateUser(bob, func(u *fakegraph.User) { u.AccountEnabled = false }),
			e.tn.DeleteUser(dave, true),
			e.tn.DeleteUser(room, false),
			e.tn.AddUser(fakegraph.User{ID: erin, UserPrincipalName: "erin@contoso.com", DisplayName: "Erin", AccountEnabled: true}),
			e.tn.AddUser(fakegraph.User{ID: frank, UserPrincipalName: "frank_example.org#EXT#@contoso.onmicrosoft.com",
				Mail: "frank@example.org", DisplayName: "Frank", UserType: "Guest", AccountEnabled: true}),
			e.tn.AddMember(jiraUsers, erin),
			e.tn.RemoveMember(jiraUsers, bob),
			e.tn.AddMember(executives, frank),
			e.tn.AddMember(confUsers, executives),
			e.tn.UpdateGroup(confUsers, func(g *fakegraph.Group) { g.DisplayName = "confluence-software-users" }),
			e.tn.DeleteGroup(emptyGroup, false),
		)
		tok = e.token()
		rep = e.sync(false)
		if rep.Mode != store.SyncModeDelta || len(rep.Problems) != 0 {
			t.Errorf("delta round: %+v", rep)
		}
		e.check()
		if got := e.user(alice); got.Key() != aliceKey || got.Name != "alice.jones@contoso.com" {
			t.Errorf("renamed alice: key %s name %s, want key %s", got.Key(), got.Name, aliceKey)
		}
		// Removed users are deactivated by default, keeping their key.
		if got := e.user(room); got.Active || got.Key() != roomKey || e.outside(room) != store.OutsideRemoved {
			t.Errorf("soft-deleted room: %+v (%s)", got, e.outside(room))
		}
		if got := e.user(dave); got.Active || e.outside(dave) != store.OutsideRemoved {
			t.Errorf("deleted dave: %+v", got)
		}
		evs := e.events(tok)
		for _, want := range []string{"USER UPDATED alice.jones@contoso.com alice@contoso.com", "USER CREATED erin@contoso.com",
			"USER_MEMBERSHIP DELETED bob@contoso.com jira-users", "GROUP DELETED confluence-users", "GROUP CREATED confluence-software-users",
			"GROUP_MEMBERSHIP CREATED Executives confluence-software-users", "GROUP UPDATED empty-group", "USER UPDATED dave@contoso.com"} { // empty-group soft-deleted: deactivated
			if !slices.Contains(evs, want) {
				t.Errorf("delta events lack %q: %q", want, evs)
			}
		}

		// Nothing changed: nothing written.
		tok = e.token()
		rep = e.sync(false)
		if rep.Counts.Total() != 0 || len(e.events(tok)) != 0 {
			t.Errorf("no-op delta: %+v, events %q", rep.Counts, e.events(tok))
		}
		// Nor by a full reconciliation.
		rep = e.sync(true)
		if rep.Mode != store.SyncModeFull || rep.Counts.Total() != 0 || len(e.events(tok)) != 0 {
			t.Errorf("no-op full: %+v, events %q", rep.Counts, e.events(tok))
		}
		e.check()
	})
}

// TestSyncDeleteRemovedUsers: with UserRemoval delete, users deleted permanently are gone; a soft
// delete ("changed", restorable for 30 days) only deactivates, and the restored user comes back
// (a full round, which reads its memberships) with its key.
func TestSyncDeleteRemovedUsers(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e := newEnv(t, d, smallTenant(t), envOpts{cfg: graphsync.Config{UserRemoval: graphsync.RemovalDelete}})
		e.sync(false)
		daveKey := e.user(dave).Key()
		e.must(e.tn.DeleteUser(dave, false), e.tn.DeleteUser(bob, true))
		rep := e.sync(false)
		if rep.Counts.UsersRemoved != 2 {
			t.Errorf("counts: %+v", rep.Counts)
		}
		if _, err := e.st.UserByExternalID(context.Background(), e.dir.ID, bob); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("bob: %v, want deleted", err)
		}
		if u := e.user(dave); u.Active || e.outside(dave) != store.OutsideRemoved {
			t.Errorf("soft-deleted dave: %+v", u)
		}
		e.check()
		e.must(e.tn.RestoreUser(dave), e.tn.AddMember(executives, dave))
		rep = e.sync(false)
		if rep.Mode != store.SyncModeFull || rep.Reason != "user "+dave+" was restored" {
			t.Errorf("restore: %+v", rep)
		}
		if u := e.user(dave); !u.Active || u.Key() != daveKey {
			t.Errorf("restored dave: %+v", u)
		}
		e.check()
		// A full round after deletions in Entra that delta never reported (mark-and-sweep).
		e.must(e.tn.DeleteUser(alice, true))
		e.tn.ExpireDeltaTokens()
		rep = e.sync(false)
		if rep.Mode != store.SyncModeFull || !strings.Contains(rep.Reason, "expired") {
			t.Errorf("after expiry: mode %s reason %q", rep.Mode, rep.Reason)
		}
		e.check()
	})
}

// TestSyncDeactivationEndsSessions: a user disabled or removed in Entra loses its SSO sessions.
func TestSyncDeactivationEndsSessions(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e := newEnv(t, d, smallTenant(t), envOpts{})
		e.sync(false)
		ctx := context.Background()
		session := func(ext string) string {
			_, tok, err := e.st.CreateSession(ctx, store.NewSession{UserID: e.user(ext).ID})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		tokA, tokB := session(alice), session(bob)
		e.must(e.tn.UpdateUser(alice, func(u *fakegraph.User) { u.AccountEnabled = false }), e.tn.DeleteUser(bob, false))
		e.sync(false)
		for _, tok := range []string{tokA, tokB} {
			if _, err := e.st.SessionByToken(ctx, tok); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("session survived deactivation: %v", err)
			}
		}
	})
}

// TestSyncExcludeGuests: guests stay out; a guest who becomes a member comes in with its groups
// (the delta round turns into a full round, since the replica never saw its memberships).
func TestSyncExcludeGuests(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e := newEnv(t, d, smallTenant(t), envOpts{cfg: graphsync.Config{ExcludeGuests: true}})
		e.sync(false)
		e.check()
		if _, ok := e.replica().Users[carol]; ok || e.outside(carol) != store.OutsideGuest {
			t.Fatalf("guest carol replicated (%s)", e.outside(carol))
		}
		// A new guest added to a group: still out, no full round needed.
		e.must(e.tn.AddUser(fakegraph.User{ID: frank, UserPrincipalName: "frank#EXT#@contoso.onmicrosoft.com", UserType: "Guest", AccountEnabled: true}),
			e.tn.AddMember(jiraUsers, frank))
		if rep := e.sync(false); rep.Mode != store.SyncModeDelta || len(rep.Problems) != 0 {
			t.Errorf("new guest: %+v", rep)
		}
		e.check()
		e.must(e.tn.UpdateUser(carol, func(u *fakegraph.User) { u.UserType = "Member" }))
		rep := e.sync(false)
		if rep.Mode != store.SyncModeFull || !strings.Contains(rep.Reason, "no longer an excluded guest") {
			t.Errorf("converted guest: mode %s reason %q", rep.Mode, rep.Reason)
		}
		e.check()
		if !slices.Contains(e.replica().Members, executives+" > "+carol) {
			t.Error("carol's membership of executives is missing")
		}
		// Becoming a guest again: removed.
		e.must(e.tn.UpdateUser(dave, func(u *fakegraph.User) { u.UserType = "Guest" }))
		e.sync(false)
		e.check()
	})
}

// TestSyncGroupFilter: only the chosen groups, the groups nested in them and their members; a user
// added to a chosen group enters without a full round, one removed leaves.
func TestSyncGroupFilter(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e := newEnv(t, d, smallTenant(t), envOpts{cfg: graphsync.Config{Groups: []string{"JIRA-USERS"}}})
		e.sync(false)
		e.check()
		r := e.replica()
		if len(r.Groups) != 2 || len(r.Users) != 4 {
			t.Fatalf("filtered replica: %d groups, %d users; want jira-users+Executives and alice, bob, carol, dave", len(r.Groups), len(r.Users))
		}
		if e.outside(room) != store.OutsideFilter || e.outside(confUsers) != store.OutsideFilter {
			t.Errorf("outside records: room %q, confluence-users %q", e.outside(room), e.outside(confUsers))
		}
		// The room joins jira-users (its data comes from the outside record); bob leaves it (and so
		// the scope); a new user joins the nested group.
		e.must(e.tn.AddMember(jiraUsers, room), e.tn.RemoveMember(jiraUsers, bob),
			e.tn.AddUser(fakegraph.User{ID: erin, UserPrincipalName: "erin@contoso.com", AccountEnabled: true}),
			e.tn.AddMember(executives, erin),
			e.tn.AddUser(fakegraph.User{ID: frank, UserPrincipalName: "frank@contoso.com", AccountEnabled: true}))
		rep := e.sync(false)
		if rep.Mode != store.SyncModeDelta {
			t.Errorf("mode %s (%s), want a delta round", rep.Mode, rep.Reason)
		}
		e.check()
		if got := e.user(bob); got.Active || e.outside(bob) != store.OutsideFilter {
			t.Errorf("bob left the scope: %+v (%s)", got, e.outside(bob))
		}
		// Bob comes back in: reactivated from the record.
		e.must(e.tn.AddMember(executives, bob))
		e.sync(false)
		e.check()
		if !e.user(bob).Active {
			t.Error("bob not reactivated")
		}
		// A group outside the filter nested into it: its members are unknown, so a full round.
		e.must(e.tn.AddMember(jiraUsers, confUsers))
		rep = e.sync(false)
		if rep.Mode != store.SyncModeFull {
			t.Errorf("nesting an outside group: mode %s", rep.Mode)
		}
		e.check()
		// Renamed out of the filter: everything leaves.
		e.must(e.tn.UpdateGroup(jiraUsers, func(g *fakegraph.Group) { g.DisplayName = "jira-users-old" }))
		e.sync(false)
		e.check()
		if r := e.replica(); len(r.Groups) != 0 || len(r.Users) != 0 {
			t.Errorf("after the rename: %d groups, %d users live", len(r.Groups), len(r.Users))
		}
	})
}

// TestSyncGroupFilterByID chooses a group by object id.
func TestSyncGroupFilterByID(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e := newEnv(t, d, smallTenant(t), envOpts{cfg: graphsync.Config{Groups: []string{strings.ToUpper(confUsers)}, UserRemoval: graphsync.RemovalDelete}})
		e.sync(false)
		e.check()
		if r := e.replica(); len(r.Users) != 1 || len(r.Groups) != 1 {
			t.Errorf("replica: %+v", r)
		}
	})
}

// TestSyncNestedGroupsDisabled: a directory without nested groups stores no group-in-group edges.
func TestSyncNestedGroupsDisabled(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e := newEnv(t, d, smallTenant(t), envOpts{noNested: true})
		e.sync(false)
		e.check()
	})
}

// TestSyncNameClash: two Entra users mapping to one name (case only differs): the user holding the
// name keeps it (active) even against a newcomer with a smaller object id, which is replicated as
// "zed@contoso.com#30000000", reported, recorded and audited; when the holder goes, the newcomer gets
// the name.
func TestSyncNameClash(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		tn := smallTenant(t)
		const zed1, zed2 = "30000000-0000-4000-8000-000000000001", "30000000-0000-4000-8000-000000000002"
		e := newEnv(t, d, tn, envOpts{})
		ctx := context.Background()
		e.must(tn.AddUser(fakegraph.User{ID: zed2, UserPrincipalName: "Zed@contoso.com", AccountEnabled: true}))
		e.sync(false)
		e.must(tn.AddUser(fakegraph.User{ID: zed1, UserPrincipalName: "zed@contoso.com", AccountEnabled: true}))
		rep := e.sync(false)
		want := `user ` + zed1 + ` synced as "zed@contoso.com#30000000": "zed@contoso.com" is held by ` + zed2
		if len(rep.Problems) != 1 || rep.Problems[0] != want || rep.Counts.NameClashes != 1 || rep.Counts.UsersRemoved != 0 {
			t.Errorf("report: %+v", rep)
		}
		if u1, u2 := e.user(zed1), e.user(zed2); u1.Name != "zed@contoso.com#30000000" || !u1.Active || u2.Name != "Zed@contoso.com" || !u2.Active {
			t.Errorf("zed1 %+v, zed2 %+v", u1, u2)
		}
		runs := storetest.Must(e.st.SyncRuns(ctx, e.dir.ID, 1))
		if !strings.Contains(runs[0].Errors, want) || runs[0].NameClashes != 1 || runs[0].Status != store.SyncSucceeded {
			t.Errorf("run: %+v", runs[0])
		}
		if c := storetest.Must(e.st.SyncNameClashes(ctx, e.dir.ID)); len(c) != 1 || c[0].ExternalID != zed1 || c[0].Holder != zed2 {
			t.Errorf("clashes: %+v", c)
		}
		if a := storetest.Must(e.st.ListAudit(ctx, store.AuditFilter{Action: "SYNC_NAME_CLASH"})); len(a) != 1 || a[0].Object != "zed@contoso.com" {
			t.Errorf("audit: %+v", a)
		}
		// A full round reaches the same verdict and changes nothing.
		rep = e.sync(true)
		if rep.Counts.Total() != 0 || rep.Counts.NameClashes != 0 || e.user(zed1).Name != "zed@contoso.com#30000000" {
			t.Errorf("full round: %+v", rep)
		}
		// The holder goes: the newcomer takes the name (a full round settles it).
		e.must(tn.DeleteUser(zed2, true))
		rep = e.sync(false)
		if rep.Mode != store.SyncModeFull || len(rep.Problems) != 0 {
			t.Errorf("after the holder left: %+v", rep)
		}
		if u := e.user(zed1); u.Name != "zed@contoso.com" || !u.Active {
			t.Errorf("zed1 now %+v", u)
		}
		if c := storetest.Must(e.st.SyncNameClashes(ctx, e.dir.ID)); len(c) != 0 {
			t.Errorf("clashes: %+v", c)
		}
	})
}

// TestSyncUPNReuse: a removed (deactivated) user's name goes to the new user who gets it.
func TestSyncUPNReuse(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e := newEnv(t, d, smallTenant(t), envOpts{})
		e.sync(false)
		old := e.user(bob)
		e.must(e.tn.DeleteUser(bob, true),
			e.tn.AddUser(fakegraph.User{ID: erin, UserPrincipalName: "bob@contoso.com", DisplayName: "Bob II", AccountEnabled: true}))
		rep := e.sync(false)
		if rep.Mode != store.SyncModeDelta || len(rep.Problems) != 0 {
			t.Errorf("%+v", rep)
		}
		e.check()
		if u := e.user(bob); u.Key() != old.Key() || u.Active || u.Name != "bob@contoso.com#"+bob {
			t.Errorf("old bob: %+v", u)
		}
	})
}

// TestSyncThrottling: a 429 with Retry-After 0 is retried within the run; when retries run out the
// run fails, the replica stays as it was, and the next run completes.
func TestSyncThrottling(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e := newEnv(t, d, smallTenant(t), envOpts{fake: fakegraph.Options{PageSize: 2}, client: func(c *fakegraph.Client) { c.MaxAttempts = 2 }})
		e.fake.FailNext(1, fakegraph.Throttle("0"))
		e.sync(false)
		e.check()

		e.must(e.tn.AddUser(fakegraph.User{ID: erin, UserPrincipalName: "erin@contoso.com", AccountEnabled: true}),
			e.tn.AddMember(jiraUsers, erin), e.tn.RemoveMember(jiraUsers, alice))
		before, tok := e.replica(), e.token()
		state := storetest.Must(e.st.SyncState(context.Background(), e.dir.ID))
		e.fake.FailNext(2, fakegraph.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0", Path: "/groups/"})
		_, err := e.syncer.SyncOnce(t.Context(), false)
		var te *graphsync.ThrottledError
		if !errors.As(err, &te) {
			t.Fatalf("err = %v, want *ThrottledError", err)
		}
		// A delta round is read whole before it writes: nothing was written, no link moved.
		if diff := cmp.Diff(before, e.replica()); diff != "" {
			t.Errorf("the failed run changed the replica (-before +after):\n%s", diff)
		}
		st := storetest.Must(e.st.SyncState(context.Background(), e.dir.ID))
		if st.GroupsDeltaLink != state.GroupsDeltaLink || st.UsersDeltaLink != state.UsersDeltaLink || !strings.Contains(st.LastError, "throttled") {
			t.Errorf("state after failure: %+v", st)
		}
		if evs := e.events(tok); len(evs) != 0 {
			t.Errorf("events of the failed run: %q", evs)
		}
		e.sync(false)
		e.check()

		// A full round that is throttled half-way writes nothing at all.
		e.must(e.tn.AddUser(fakegraph.User{ID: frank, UserPrincipalName: "frank@contoso.com", AccountEnabled: true}))
		before, tok = e.replica(), e.token()
		e.fake.FailNext(2, fakegraph.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "0", Path: "/groups/"})
		if _, err := e.syncer.SyncOnce(t.Context(), true); !errors.As(err, &te) {
			t.Fatalf("full round: err = %v", err)
		}
		if diff := cmp.Diff(before, e.replica()); diff != "" || len(e.events(tok)) != 0 {
			t.Errorf("failed full round changed the replica:\n%s", diff)
		}
		e.sync(false)
		e.check()
	})
}

// TestSyncMalformedPage: a page that does not parse fails the run; pages before it were applied
// whole, the page itself not at all; the next run completes.
func TestSyncMalformedPage(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e := newEnv(t, d, smallTenant(t), envOpts{fake: fakegraph.Options{PageSize: 1, MemberChunk: 1}})
		// First sync: the third users page is malformed: nothing is written.
		tok := e.token()
		hook := &hookSource{Source: e.src}
		e.src = hook
		e.syncer = e.newSyncer(e.st)
		hook.set(func(n int) {
			if n == 3 {
				e.fake.FailNext(1, fakegraph.MalformedPage())
			}
		}, nil)
		_, err := e.syncer.SyncOnce(t.Context(), false)
		if err == nil || !strings.Contains(err.Error(), "decode") {
			t.Fatalf("err = %v, want a decode error", err)
		}
		if r := e.replica(); len(r.Users) != 0 || len(e.events(tok)) != 0 {
			t.Errorf("failed first round wrote %d users", len(r.Users))
		}
		hook.set(nil, nil)
		e.sync(false)
		e.check()
		// Delta: the second groups page is malformed. The round is read whole before it writes:
		// nothing is applied, not even the first page (alice leaves jira-users).
		e.must(e.tn.RemoveMember(jiraUsers, alice), e.tn.RemoveMember(jiraUsers, bob), e.tn.AddMember(confUsers, alice))
		hook.set(nil, func(n int) {
			if n == 2 {
				e.fake.FailNext(1, fakegraph.MalformedPage())
			}
		})
		if _, err := e.syncer.SyncOnce(t.Context(), false); err == nil {
			t.Fatal("want an error")
		}
		hook.set(nil, nil)
		r := e.replica()
		if !slices.Contains(r.Members, jiraUsers+" > "+alice) || !slices.Contains(r.Members, jiraUsers+" > "+bob) ||
			slices.Contains(r.Members, confUsers+" > "+alice) {
			t.Errorf("after the failed delta: %v", r.Members)
		}
		e.sync(false)
		e.check()
	})
}

// TestSyncCrashBetweenPages: the context ends between two pages or two transactions (a killed
// process looks the same to the database); the next run repairs everything.
func TestSyncCrashBetweenPages(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		hook := &hookSource{}
		e := newEnv(t, d, smallTenant(t), envOpts{fake: fakegraph.Options{PageSize: 1, MemberChunk: 1},
			wrap: func(s graphsync.Source) graphsync.Source { hook.Source = s; return hook }})
		cs := &cancelStore{Store: e.st}
		e.syncer = e.newSyncer(cs)
		for _, crash := range []struct {
			name   string
			mutate func()
			full   bool
			groups int // cancel before this groups page, or
			apply  int // before this transaction
		}{
			{name: "first full round, reading", mutate: func() {}, groups: 3},
			{name: "full round, writing", mutate: func() {
				e.must(e.tn.UpdateUser(carol, func(u *fakegraph.User) { u.DisplayName = "Carol" }))
			}, full: true, apply: 3},
			{name: "delta round", mutate: func() {
				e.must(e.tn.AddUser(fakegraph.User{ID: erin, UserPrincipalName: "erin@contoso.com", AccountEnabled: true}),
					e.tn.AddMember(jiraUsers, erin), e.tn.AddMember(confUsers, erin), e.tn.RemoveMember(executives, dave),
					e.tn.DeleteGroup(emptyGroup, true))
			}, groups: 2},
			{name: "forced full round, writing", full: true, mutate: func() {
				e.must(e.tn.RemoveMember(jiraUsers, erin), e.tn.UpdateUser(alice, func(u *fakegraph.User) { u.UserPrincipalName = "a@contoso.com" }),
					e.tn.DeleteUser(bob, true))
			}, apply: 2},
		} {
			crash.mutate()
			ctx, cancel := context.WithCancel(t.Context())
			hook.set(nil, func(n int) {
				if n == crash.groups {
					cancel()
				}
			})
			cs.set(crash.apply, cancel)
			if _, err := e.syncer.SyncOnce(ctx, crash.full); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: err = %v, want context.Canceled", crash.name, err)
			}
			cancel()
			hook.set(nil, nil)
			cs.set(0, nil)
			runs := storetest.Must(e.st.SyncRuns(context.Background(), e.dir.ID, 1))
			if runs[0].Status != store.SyncFailed {
				t.Errorf("%s: run recorded as %s", crash.name, runs[0].Status)
			}
			rep := e.sync(false)
			if strings.HasSuffix(crash.name, "writing") && rep.Mode != store.SyncModeFull {
				t.Errorf("%s: the next run is a %s round, want a full one", crash.name, rep.Mode)
			}
			e.check()
		}
	})
}

// cancelStore cancels a context just before the n-th ApplySync (n from 1 after set).
type cancelStore struct {
	graphsync.Store
	mu     sync.Mutex
	n, at  int
	cancel func()
}

func (c *cancelStore) set(at int, cancel func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n, c.at, c.cancel = 0, at, cancel
}

func (c *cancelStore) ApplySync(ctx context.Context, dirID int64, b store.SyncBatch) (store.SyncResult, error) {
	c.mu.Lock()
	c.n++
	if c.n == c.at && c.cancel != nil {
		c.cancel()
	}
	c.mu.Unlock()
	return c.Store.ApplySync(ctx, dirID, b)
}

// TestSyncMemberAddedDuringRound: a user created (and added to a group) after the users round was
// read is resolved by reading the users round once more, in full and delta rounds.
func TestSyncMemberAddedDuringRound(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		hook := &hookSource{}
		e := newEnv(t, d, smallTenant(t), envOpts{fake: fakegraph.Options{PageSize: 2, MemberChunk: 2},
			wrap: func(s graphsync.Source) graphsync.Source { hook.Source = s; return hook }})
		hook.set(nil, func(n int) {
			if n == 1 {
				e.must(e.tn.AddUser(fakegraph.User{ID: erin, UserPrincipalName: "erin@contoso.com", AccountEnabled: true}),
					e.tn.AddMember(jiraUsers, erin))
			}
		})
		if rep := e.sync(false); len(rep.Problems) != 0 {
			t.Errorf("full: %q", rep.Problems)
		}
		e.check()
		hook.set(nil, func(n int) {
			if n == 1 {
				e.must(e.tn.AddUser(fakegraph.User{ID: frank, UserPrincipalName: "frank@contoso.com", AccountEnabled: true}),
					e.tn.AddMember(confUsers, frank))
			}
		})
		if rep := e.sync(false); rep.Mode != store.SyncModeDelta || len(rep.Problems) != 0 {
			t.Errorf("delta: %+v", rep)
		}
		hook.set(nil, nil)
		e.check()
	})
}

// TestSyncBigGroupAcrossPages: a group's members arrive in chunks on several pages and are merged,
// in full and in delta rounds.
func TestSyncBigGroupAcrossPages(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		tn := smallTenant(t)
		for i := range 30 {
			id := fmt.Sprintf("40000000-0000-4000-8000-%012d", i)
			if err := tn.AddUser(fakegraph.User{ID: id, UserPrincipalName: fmt.Sprintf("u%d@contoso.com", i), AccountEnabled: true}); err != nil {
				t.Fatal(err)
			}
			if err := tn.AddMember(jiraUsers, id); err != nil {
				t.Fatal(err)
			}
		}
		e := newEnv(t, d, tn, envOpts{fake: fakegraph.Options{PageSize: 3, MemberChunk: 4}})
		e.sync(false)
		e.check()
		for i := range 10 {
			e.must(tn.RemoveMember(jiraUsers, fmt.Sprintf("40000000-0000-4000-8000-%012d", i)))
		}
		e.must(tn.AddMember(confUsers, fmt.Sprintf("40000000-0000-4000-8000-%012d", 29)))
		rep := e.sync(false)
		if rep.Counts.MembershipsRemoved != 10 || rep.Counts.MembershipsAdded != 1 {
			t.Errorf("delta counts: %+v", rep.Counts)
		}
		e.check()
	})
}

// TestSyncRunsAndAudit: every run is in sync_runs and audited with actor kind SYNC; the state holds
// the last success and error; the progress figure ends idle.
func TestSyncRunsAndAudit(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		ctx := context.Background()
		var observed []string
		e := newEnv(t, d, smallTenant(t), envOpts{cfg: graphsync.Config{OnRun: func(r graphsync.Report, err error) {
			observed = append(observed, fmt.Sprintf("%s %d %t", r.Mode, r.Counts.Total(), err == nil))
		}}})
		e.sync(false)
		e.fake.FailNext(1, fakegraph.InternalError())
		if _, err := e.syncer.SyncOnce(t.Context(), false); err == nil {
			t.Fatal("want an error")
		}
		runs := storetest.Must(e.st.SyncRuns(ctx, e.dir.ID, 10))
		if len(runs) != 2 || runs[0].Status != store.SyncFailed || runs[1].Status != store.SyncSucceeded ||
			runs[1].Mode != store.SyncModeFull || runs[0].Mode != store.SyncModeDelta || runs[1].UsersAdded != 5 ||
			runs[1].MembershipsAdded != 6 || runs[1].FinishedAt == nil || !strings.Contains(runs[0].Errors, "HTTP 500") {
			t.Errorf("runs: %+v", runs)
		}
		st := storetest.Must(e.st.SyncState(ctx, e.dir.ID))
		if st.LastSuccessAt == nil || !strings.Contains(st.LastError, "HTTP 500") || st.LastFullAt == nil || st.UsersDeltaLink == "" {
			t.Errorf("state: %+v", st)
		}
		audit := storetest.Must(e.st.ListAudit(ctx, store.AuditFilter{ObjectKind: "DIRECTORY"}))
		var got []string
		for _, a := range audit {
			if !strings.HasPrefix(a.Action, "SYNC_") {
				continue
			}
			if a.ActorKind != store.ActorSync {
				t.Errorf("audit entry by %s: %+v", a.ActorKind, a)
			}
			got = append(got, a.Action+" "+a.Outcome)
		}
		want := []string{"SYNC_FAILED FAILURE", "SYNC_STARTED SUCCESS", "SYNC_FINISHED SUCCESS", "SYNC_STARTED SUCCESS"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
		p := e.syncer.Progress()
		if p.Running || p.Last == nil || p.LastError == "" || p.Phase != "done" {
			t.Errorf("progress: %+v", p)
		}
		if diff := cmp.Diff([]string{"FULL 15 true", "DELTA 0 false"}, observed); diff != "" {
			t.Errorf("OnRun calls (-want +got):\n%s", diff)
		}
		// A periodic full round comes when the last one is old enough, and after a configuration change.
		old := time.Now().Add(-25 * time.Hour)
		st = storetest.Must(e.st.SyncState(ctx, e.dir.ID))
		st.LastFullAt = &old
		e.must(e.st.SaveSyncState(ctx, st))
		if rep := e.sync(false); rep.Mode != store.SyncModeFull || rep.Reason != "periodic reconciliation" {
			t.Errorf("periodic: %s %q", rep.Mode, rep.Reason)
		}
		if rep := e.sync(false); rep.Mode != store.SyncModeDelta {
			t.Errorf("after the periodic full round: %s %q", rep.Mode, rep.Reason)
		}
		e.cfg.StripDomain = true
		e.syncer = e.newSyncer(e.st)
		if rep := e.sync(false); rep.Mode != store.SyncModeFull || rep.Reason != "configuration changed" || rep.Counts.UsersUpdated != 5 {
			t.Errorf("config change: %+v", rep)
		}
		if u := e.user(alice); u.Name != "alice" {
			t.Errorf("alice is %q after StripDomain", u.Name)
		}
	})
}

// TestSyncOneAtATime: two syncers of one directory (two instances on one database): while one runs,
// the other skips with ErrBusy.
func TestSyncOneAtATime(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		ctx := context.Background()
		hook := &hookSource{}
		e := newEnv(t, d, smallTenant(t), envOpts{wrap: func(s graphsync.Source) graphsync.Source { hook.Source = s; return hook }})
		// A second store on the same database: another instance.
		second := e.newSyncer(e.otherInstance())
		entered, release := make(chan struct{}), make(chan struct{})
		hook.set(func(n int) {
			if n == 1 {
				close(entered)
				<-release
			}
		}, nil)
		done := make(chan error, 1)
		go func() { _, err := e.syncer.SyncOnce(ctx, false); done <- err }()
		<-entered
		if _, err := second.SyncOnce(ctx, false); !errors.Is(err, graphsync.ErrBusy) {
			t.Errorf("second instance: err = %v, want ErrBusy", err)
		}
		if _, err := e.syncer.SyncOnce(ctx, false); !errors.Is(err, graphsync.ErrBusy) {
			t.Errorf("same instance: err = %v, want ErrBusy", err)
		}
		if p := e.syncer.Progress(); !p.Running || p.Phase != "reading" || p.Mode != store.SyncModeFull {
			t.Errorf("progress while running: %+v", p)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		hook.set(nil, nil)
		if _, err := second.SyncOnce(ctx, false); err != nil {
			t.Errorf("second instance after the first finished: %v", err)
		}
		e.check()
	})
}

// TestRunLoop: Run syncs at once, again on SyncNow, and returns nil when cancelled.
func TestRunLoop(t *testing.T) {
	e := newEnv(t, storetest.Dialect(), smallTenant(t), envOpts{cfg: graphsync.Config{Interval: time.Hour}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.syncer.Run(ctx) }()
	waitRuns := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			runs := storetest.Must(e.st.SyncRuns(context.Background(), e.dir.ID, 10))
			if len(runs) >= n && runs[0].Status != store.SyncRunning {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d runs after 20 s, want %d", len(runs), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitRuns(1)
	e.must(e.tn.AddUser(fakegraph.User{ID: erin, UserPrincipalName: "erin@contoso.com", AccountEnabled: true}))
	e.syncer.SyncNow()
	waitRuns(2)
	e.syncer.FullSyncNow()
	waitRuns(3)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
	runs := storetest.Must(e.st.SyncRuns(context.Background(), e.dir.ID, 10))
	if runs[0].Mode != store.SyncModeFull || runs[1].Mode != store.SyncModeDelta {
		t.Errorf("modes: %s, %s", runs[0].Mode, runs[1].Mode)
	}
	e.check()
}

// hookSource calls hooks before the n-th users or groups page request (n from 1, counted since the
// hooks were set).
type hookSource struct {
	graphsync.Source
	mu           sync.Mutex
	beforeUsers  func(n int)
	beforeGroups func(n int)
	users        atomic.Int64
	groups       atomic.Int64
}

func (h *hookSource) UsersDelta(ctx context.Context, link string) (graphsync.Page[graphsync.User], error) {
	h.called(&h.beforeUsers, &h.users)
	return h.Source.UsersDelta(ctx, link)
}

func (h *hookSource) GroupsDelta(ctx context.Context, link string) (graphsync.Page[graphsync.Group], error) {
	h.called(&h.beforeGroups, &h.groups)
	return h.Source.GroupsDelta(ctx, link)
}

// called counts a call and runs its hook, if any, with the count (outside the lock).
func (h *hookSource) called(hook *func(n int), count *atomic.Int64) {
	h.mu.Lock()
	fn := *hook
	h.mu.Unlock()
	n := int(count.Add(1))
	if fn != nil {
		fn(n)
	}
}

func (h *hookSource) set(users, groups func(n int)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.beforeUsers, h.beforeGroups = users, groups
	h.users.Store(0)
	h.groups.Store(0)
}

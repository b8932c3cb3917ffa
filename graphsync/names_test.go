package graphsync_test

import (
	"context"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

const (
	mallory    = "40000000-0000-4000-8000-000000000001" // an ordinary user of the tenant
	realAdmins = "60000000-0000-4000-8000-000000000001" // the console's administrator group, bound
	fakeAdmins = "70000000-0000-4000-8000-000000000001" // mallory's groups, named like protected ones
	fakeJira   = "70000000-0000-4000-8000-000000000002"
	fakeLic    = "70000000-0000-4000-8000-000000000003"
)

// TestSyncProtectedNames: an ordinary user's new groups named like the console's administrator
// group, a Jira administrators group and a licence group grant nothing: they are replicated as
// "name#70000000", mallory is in none of the protected names, and the bound administrator group
// keeps its name and members.
func TestSyncProtectedNames(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		ctx := context.Background()
		tn := smallTenant(t)
		e := newEnv(t, d, tn, envOpts{cfg: graphsync.Config{AdminGroup: "crowdgate-admins",
			BoundGroups: map[string]string{"crowdgate-admins": realAdmins}}})
		storetest.Must(e.st.CreateApplication(ctx, store.NewApplication{Name: "jira", Kind: store.AppJira, Password: "secret-password",
			Active: true, Mappings: []store.Mapping{{DirectoryID: e.dir.ID, Groups: []string{"Jira-Software-Users"}}}}))
		e.must(tn.AddGroup(fakegraph.Group{ID: realAdmins, DisplayName: "crowdgate-admins", SecurityEnabled: true}),
			tn.AddMember(realAdmins, alice))
		e.sync(false)

		e.must(tn.AddUser(fakegraph.User{ID: mallory, UserPrincipalName: "mallory@contoso.com", AccountEnabled: true}),
			tn.AddGroup(fakegraph.Group{ID: fakeAdmins, DisplayName: "CrowdGate-Admins", SecurityEnabled: true}),
			tn.AddGroup(fakegraph.Group{ID: fakeJira, DisplayName: "jira-administrators", SecurityEnabled: true}),
			tn.AddGroup(fakegraph.Group{ID: fakeLic, DisplayName: "jira-software-users", SecurityEnabled: true}))
		for _, g := range []string{fakeAdmins, fakeJira, fakeLic} {
			e.must(tn.AddMember(g, mallory))
		}
		rep := e.sync(false)
		if rep.Counts.NameClashes != 3 || len(rep.Problems) != 3 ||
			rep.Problems[0] != `group `+fakeAdmins+` synced as "CrowdGate-Admins#70000000": "CrowdGate-Admins" is a protected name and the group is not bound to it` {
			t.Errorf("report: %+v", rep)
		}
		e.check()
		m := storetest.Must(e.st.UserByExternalID(ctx, e.dir.ID, mallory))
		for _, g := range []string{"crowdgate-admins", "jira-administrators", "jira-software-users"} {
			if in := storetest.Must(e.st.UserInGroup(ctx, m, g)); in {
				t.Errorf("mallory is in %q", g)
			}
		}
		a := storetest.Must(e.st.UserByExternalID(ctx, e.dir.ID, alice))
		if !storetest.Must(e.st.UserInGroup(ctx, a, "crowdgate-admins")) {
			t.Error("alice lost the administrator group")
		}
		if g := storetest.Must(e.st.GroupByExternalID(ctx, e.dir.ID, fakeLic)); g.Name != "jira-software-users#70000000" {
			t.Errorf("licence look-alike is %q", g.Name)
		}
		// A full round agrees.
		if rep := e.sync(true); rep.Counts.Total() != 0 {
			t.Errorf("full round: %+v", rep)
		}
	})
}

// TestSyncProtectedBinding: a group that held a protected name before protection (here: before the
// binding) gives it up in the next full round when another group is bound to it; unbound, it is
// renamed name#<first 8> even though nobody else wants the name.
func TestSyncProtectedBinding(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		ctx := context.Background()
		tn := smallTenant(t)
		e := newEnv(t, d, tn, envOpts{cfg: graphsync.Config{ProtectedNames: []string{}}})
		e.must(tn.AddGroup(fakegraph.Group{ID: fakeJira, DisplayName: "jira-administrators", SecurityEnabled: true}))
		e.sync(false)
		e.must(tn.AddGroup(fakegraph.Group{ID: realAdmins, DisplayName: "Jira-Administrators", SecurityEnabled: true}))
		e.sync(false)
		if g := storetest.Must(e.st.GroupByExternalID(ctx, e.dir.ID, realAdmins)); g.Name != "Jira-Administrators#60000000" {
			t.Fatalf("unprotected: the newcomer is %q", g.Name)
		}
		// Protect the name, bound to the other group: the configuration changed, so a full round.
		e.cfg.ProtectedNames = nil
		e.cfg.BoundGroups = map[string]string{"jira-administrators": realAdmins}
		e.syncer = e.newSyncer(e.st)
		rep := e.sync(false)
		if rep.Mode != store.SyncModeFull {
			t.Errorf("binding: %+v", rep)
		}
		got := []string{storetest.Must(e.st.GroupByExternalID(ctx, e.dir.ID, realAdmins)).Name,
			storetest.Must(e.st.GroupByExternalID(ctx, e.dir.ID, fakeJira)).Name}
		if got[0] != "Jira-Administrators" || got[1] != "jira-administrators#70000000" {
			t.Errorf("after binding: %q", got)
		}
		e.check()
	})
}

// TestSyncGroupTypes: by default only security groups are replicated: smallTenant's Executives (a
// Microsoft 365 group) stays out, listed TYPE, with the nesting and members it brings; a group that
// becomes security-enabled comes in with its members.
func TestSyncGroupTypes(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		tn := smallTenant(t)
		e := newEnv(t, d, tn, envOpts{securityOnly: true})
		rep := e.sync(false)
		if rep.Counts.GroupsAdded != 3 || e.outside(executives) != store.OutsideType {
			t.Errorf("first round: %+v", rep)
		}
		e.check()
		const dist = "20000000-0000-4000-8000-000000000009"
		e.must(tn.AddGroup(fakegraph.Group{ID: dist, DisplayName: "all-staff", MailEnabled: true}), tn.AddMember(dist, alice))
		rep = e.sync(false)
		if rep.Mode != store.SyncModeDelta || e.outside(dist) != store.OutsideType {
			t.Errorf("distribution list: %+v", rep)
		}
		e.check()
		e.must(tn.UpdateGroup(dist, func(g *fakegraph.Group) { g.SecurityEnabled = true }))
		rep = e.sync(false)
		if rep.Mode != store.SyncModeFull || !strings.Contains(rep.Reason, "now of a replicated type") {
			t.Errorf("now a security group: %+v", rep)
		}
		e.check()
	})
}

// TestSyncFilterAmbiguous: a group filter display name that two groups have fails the run before it
// writes anything; naming the group by object id works.
func TestSyncFilterAmbiguous(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		tn := smallTenant(t)
		e := newEnv(t, d, tn, envOpts{cfg: graphsync.Config{Groups: []string{"jira-users"}}})
		e.sync(false)
		e.check()
		const twin = "20000000-0000-4000-8000-000000000008"
		e.must(tn.AddGroup(fakegraph.Group{ID: twin, DisplayName: "JIRA-USERS", SecurityEnabled: true}), tn.AddMember(twin, dave))
		tok := e.token()
		_, err := e.syncer.SyncOnce(t.Context(), false)
		want := `group filter is ambiguous: "jira-users" is the name of 2 groups (` + jiraUsers + `, ` + twin + `): use the object id`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v", err)
		}
		if evs := e.events(tok); len(evs) != 0 {
			t.Errorf("the failed run wrote %q", evs)
		}
		e.cfg.Groups = []string{strings.ToUpper(twin)}
		e.syncer = e.newSyncer(e.st)
		e.sync(false)
		e.check()
	})
}

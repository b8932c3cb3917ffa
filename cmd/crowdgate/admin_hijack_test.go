package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
)

// TestApplicationCannotMakeAnAdministrator replays, against a running server, the request sequences
// by which an application's Crowd credential used to become console administration: creating a user
// and adding it to the admin group, creating a group named like the admin group in another
// internal directory, and resetting the administrator's password. Each is refused (or grants
// nothing), is audited, and the real administrator still signs in.
func TestApplicationCannotMakeAnAdministrator(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := dbEnv(t, dialect).with("CROWDGATE_ADMIN_PASSWORD", testAdminPassword, "CROWDGATE_LISTEN", "127.0.0.1:0")
		srv := startServer(t, e)
		base := "http://" + srv.addrs.Main
		mustRun(t, e, "jira-app-password\n", "app", "add", "jira", "--kind", "jira", "--write", "--password-stdin")
		crowd := func(method, path string, body any) reply {
			t.Helper()
			return crowdCall(t, base, "jira", "jira-app-password", method, path, body)
		}
		user := func(name string) map[string]any {
			return map[string]any{"name": name, "first-name": "M", "last-name": "Allory", "display-name": "Mallory",
				"email": name + "@example.com", "active": true, "password": map[string]any{"value": "mallory's password 1"}}
		}
		denied := func(what string, r reply) {
			t.Helper()
			if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "APPLICATION_PERMISSION_DENIED") ||
				!strings.Contains(r.Body, "console administrator") {
				t.Errorf("%s: %d %s; want 403 APPLICATION_PERMISSION_DENIED naming the console administrator", what, r.Status, r.Body)
			}
		}

		// 1. A new user added to the admin group by the application.
		if r := crowd(http.MethodPost, "/user", user("mallory")); r.Status != http.StatusCreated {
			t.Fatalf("POST /user: %d %s", r.Status, r.Body)
		}
		denied("POST /group/user/direct?groupname=crowdgate-admins",
			crowd(http.MethodPost, "/group/user/direct?groupname=crowdgate-admins", map[string]any{"name": "mallory"}))
		denied("POST /user/group/direct?username=mallory",
			crowd(http.MethodPost, "/user/group/direct?username=mallory", map[string]any{"name": "crowdgate-admins"}))
		if newBrowser(t, base).Login("mallory", "mallory's password 1").SignedIn() {
			t.Error("mallory signed in to the console")
		}

		// 2. The administrator's password, attributes, active flag, memberships and sessions.
		denied("PUT /user/password?username=admin",
			crowd(http.MethodPut, "/user/password?username=admin", map[string]any{"value": "taken over by jira"}))
		denied("PUT /user?username=admin", crowd(http.MethodPut, "/user?username=admin",
			map[string]any{"name": "admin", "active": false}))
		denied("POST /user/attribute?username=admin", crowd(http.MethodPost, "/user/attribute?username=admin",
			map[string]any{"attributes": []any{map[string]any{"name": "x", "values": []string{"y"}}}}))
		denied("DELETE /user?username=admin", crowd(http.MethodDelete, "/user?username=admin", nil))
		denied("DELETE /group/user/direct?groupname=crowdgate-admins&username=admin",
			crowd(http.MethodDelete, "/group/user/direct?groupname=crowdgate-admins&username=admin", nil))
		denied("DELETE /session?username=admin", crowd(http.MethodDelete, "/session?username=admin", nil))
		denied("DELETE /group?groupname=crowdgate-admins", crowd(http.MethodDelete, "/group?groupname=crowdgate-admins", nil))
		if r := crowd(http.MethodPost, "/group", map[string]any{"name": "trojans", "type": "GROUP", "active": true}); r.Status != http.StatusCreated {
			t.Fatalf("POST /group trojans: %d %s", r.Status, r.Body)
		}
		denied("POST /group/child-group/direct?groupname=crowdgate-admins (nesting a group the app controls)",
			crowd(http.MethodPost, "/group/child-group/direct?groupname=crowdgate-admins", map[string]any{"name": "trojans"}))
		denied("POST /group/parent-group/direct?groupname=trojans",
			crowd(http.MethodPost, "/group/parent-group/direct?groupname=trojans", map[string]any{"name": "crowdgate-admins"}))

		// 3. An application of another internal directory creates its own "crowdgate-admins".
		st := openStore(t, e)
		ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
		if _, err := st.CreateDirectory(ctx, store.Directory{Name: "Contractors", Kind: store.DirectoryInternal, Active: true, NestedGroups: true}); err != nil {
			t.Fatal(err)
		}
		mustRun(t, e, "contractors-password\n", "app", "add", "contractors", "--directory", "Contractors", "--write", "--password-stdin")
		other := func(method, path string, body any) reply {
			t.Helper()
			return crowdCall(t, base, "contractors", "contractors-password", method, path, body)
		}
		for _, step := range []struct {
			method, path string
			body         any
		}{
			{http.MethodPost, "/group", map[string]any{"name": "crowdgate-admins", "type": "GROUP", "active": true}},
			{http.MethodPost, "/user", user("mallory2")},
			{http.MethodPost, "/group/user/direct?groupname=crowdgate-admins", map[string]any{"name": "mallory2"}},
		} {
			if r := other(step.method, step.path, step.body); r.Status != http.StatusCreated {
				t.Fatalf("%s %s as contractors: %d %s", step.method, step.path, r.Status, r.Body)
			}
		}
		if newBrowser(t, base).Login("mallory2", "mallory's password 1").SignedIn() {
			t.Error("mallory2, member of a group merely named crowdgate-admins, signed in to the console")
		}

		// The bound administrator group still works, and the refusals are audited.
		b := newBrowser(t, base)
		if !b.Login("admin", testAdminPassword).SignedIn() {
			t.Fatal("the administrator cannot sign in")
		}
		var refused []string
		for _, a := range auditEntries(t, st) {
			if a.Action == "ADMIN_CHANGE_REFUSED" && a.Outcome == "FAILURE" && a.ActorKind == store.ActorApplication && a.Actor == "jira" {
				refused = append(refused, a.Object)
			}
		}
		if len(refused) != 11 {
			t.Errorf("ADMIN_CHANGE_REFUSED audit entries by jira: %d (%v), want 11", len(refused), refused)
		}
	})
}

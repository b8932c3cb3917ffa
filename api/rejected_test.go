package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestRejectedFormsChangeNothing (R4) sends a sample of failing console forms and checks each
// answer carries a clear error and the database is exactly as before: the directory, users,
// groups, memberships, applications, settings and events (the audit log records refusals; the
// console's own session row is touched by every request).
func TestRejectedFormsChangeNothing(t *testing.T) {
	h, c := signedIn(t)
	bob := h.addUser(h.dir.ID, "bob")
	h.addUser(h.dir.ID, "carol")
	team := h.addGroup(h.dir.ID, "team")
	h.addGroup(h.dir.ID, "staff", team.ID)
	entraUser := h.addUser(h.entra.ID, "erin@contoso.com")
	app := storetest.Must(h.st.CreateApplication(h.ctx(), store.NewApplication{Name: "jira", Password: "jira-secret", Active: true,
		Kind: store.AppJira, Mappings: []store.Mapping{{DirectoryID: h.dir.ID, AllowAll: true}}}))
	ignore := []string{"sessions", "users.failed_logins", "users.locked_until"}
	u, g, a, d := "/console/users/"+itoa(bob.ID), "/console/groups/"+itoa(team.ID), "/console/applications/"+itoa(app.ID), "/console/directories/"+itoa(h.dir.ID)
	for _, tc := range []struct {
		name string
		path string
		form url.Values
		want string // in the answer or the page it redirects to
	}{
		{"user: passwords differ", "/console/users", url.Values{"directory": {itoa(h.dir.ID)}, "name": {"dave"}, "password": {"Dave-password-1"}, "password2": {"other"}}, "passwords differ"},
		{"user: existing name", "/console/users", url.Values{"directory": {itoa(h.dir.ID)}, "name": {"BOB"}, "active": {"on"}}, "exists"},
		{"user: Entra directory", "/console/users", url.Values{"directory": {itoa(h.entra.ID)}, "name": {"dave"}}, "internal directory"},
		{"user: invalid name", "/console/users", url.Values{"directory": {itoa(h.dir.ID)}, "name": {"a\x01b"}}, "control character"},
		{"user: rename onto existing", u, url.Values{"name": {"carol"}, "email": {"bob@example.com"}}, "exists"},
		// A rename together with a refused field: one transaction, the name stays.
		{"user: rename with an invalid e-mail", u, url.Values{"name": {"robert"}, "email": {"not an e-mail\x00"}}, "mail"},
		{"user: Entra user is read-only", "/console/users/" + itoa(entraUser.ID), url.Values{"first": {"Eve"}}, "read-only"},
		{"password: differ", u + "/password", url.Values{"password": {"Bob-password-1"}, "password2": {"Bob-password-2"}}, "passwords differ"},
		{"password: empty", u + "/password", url.Values{"password": {""}, "password2": {""}}, "must not be empty"},
		{"password: too long", u + "/password", url.Values{"password": {strings.Repeat("p", store.MaxPasswordLen+1)}, "password2": {strings.Repeat("p", store.MaxPasswordLen+1)}}, "longer than"},
		{"membership: unknown group", u + "/groups", url.Values{"group": {"nogroup"}}, "nogroup"},
		{"membership: cycle", "/console/groups/" + itoa(team.ID) + "/members", url.Values{"kind": {"group"}, "name": {"team"}}, "itself"},
		{"group: existing name", "/console/groups", url.Values{"directory": {itoa(h.dir.ID)}, "name": {"TEAM"}}, "exists"},
		{"group: Entra directory", "/console/groups", url.Values{"directory": {itoa(h.entra.ID)}, "name": {"x"}}, "internal directory"},
		{"group: nested member missing", g + "/members", url.Values{"kind": {"group"}, "name": {"nogroup"}}, "nogroup"},
		{"application: existing name", "/console/applications", url.Values{"name": {"JIRA"}, "kind": {store.AppJira}}, "exists"},
		{"application: bad address", "/console/applications", url.Values{"name": {"conf"}, "kind": {store.AppConfluence}, "addresses": {"not an address/99"}}, "address"},
		{"application: bad licence limit", a, url.Values{"kind": {store.AppJira}, "licence_limit": {"-3"}, "description": {"changed"}}, "licence limit"},
		{"application: bad kind", a, url.Values{"kind": {"WORDPRESS"}, "description": {"changed"}}, "kind"},
		{"cookie: invalid name", "/console/applications/cookie", url.Values{"name": {"bad name;"}, "domain": {".example.com"}}, "cookie"},
		{"directory: negative lock-out", d, url.Values{"name": {"Internal"}, "active": {"on"}, "lockout_threshold": {"-1"}}, "lockout threshold"},
		{"directory: own directory inactive", d, url.Values{"name": {"Internal"}, "description": {"x"}}, "cannot deactivate"},
		{"directory: no kind", "/console/directories", url.Values{"name": {"New"}}, "directory type"},
		{"entra: bad interval", "/console/directories/" + itoa(h.entra.ID) + "/entra", url.Values{"tenant_id": {"t"}, "sync_interval": {"soon"}}, "sync interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := storetest.Dump(t, h.st, ignore...)
			r := c.Post(tc.path, tc.form)
			text := r.Body
			switch {
			case r.Status == http.StatusSeeOther:
				text = c.Follow(r).Body
			case r.Status < 400:
				t.Fatalf("status %d, want a refusal", r.Status)
			}
			if !strings.Contains(strings.ToLower(text), strings.ToLower(tc.want)) || !strings.Contains(text, `class="flash error"`) {
				t.Errorf("answer %d lacks an error saying %q: %s", r.Status, tc.want, flashOf(text))
			}
			if after := storetest.Dump(t, h.st, ignore...); after != before {
				t.Errorf("the refused form changed the database:\n%s", lineDiff(before, after))
			}
		})
	}
	// Without the CSRF token nothing is done either.
	before := storetest.Dump(t, h.st, ignore...)
	r := c.PostRaw("/console/users", url.Values{"directory": {itoa(h.dir.ID)}, "name": {"mallory"}}, nil)
	if r.Status != http.StatusForbidden {
		t.Errorf("form without CSRF token: %d", r.Status)
	}
	if after := storetest.Dump(t, h.st, ignore...); after != before {
		t.Error("a form without CSRF token changed the database")
	}
}

// lineDiff lists the lines only in a (-) or only in b (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// flashOf is the flash messages of a page, for failure messages.
func flashOf(page string) string {
	var out []string
	for _, part := range strings.Split(page, `class="flash `)[1:] {
		out = append(out, part[:min(len(part), 300)])
	}
	return strings.Join(out, " | ")
}

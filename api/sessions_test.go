package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// auditCount is how many audit entries exist: every change is audited, so an unchanged count
// means a refused request changed nothing.
func (h *harness) auditCount() int {
	h.t.Helper()
	es, err := h.st.ListAudit(context.Background(), store.AuditFilter{Limit: 100000})
	if err != nil {
		h.t.Fatal(err)
	}
	return len(es)
}

// TestSensitiveActionsNeedRecentSignIn: with an hour-old sign-in, every console action that changes
// who can sign in or what they may do sends the administrator to re-authenticate and changes nothing.
func TestSensitiveActionsNeedRecentSignIn(t *testing.T) {
	h, c := signedIn(t)
	app := createApp(t, h, c, "jira", "JIRA")
	admins, err := h.st.GroupByName(h.ctx(), h.dir.ID, "crowdgate-admins")
	if err != nil {
		t.Fatal(err)
	}
	bob := h.addUser(h.dir.ID, "bob")
	team := h.addGroup(h.dir.ID, "team")
	u, g, a, d, e := "/console/users/"+itoa(bob.ID), "/console/groups/"+itoa(admins.ID), "/console/applications/"+itoa(app.ID),
		"/console/directories/"+itoa(h.dir.ID), "/console/directories/"+itoa(h.entra.ID)
	for _, tc := range []struct {
		name, path, back string
		form             url.Values
	}{
		{"password reset", u + "/password", u, url.Values{"password": {"a new long password"}, "password2": {"a new long password"}}},
		{"deactivate user", u + "/active", u, url.Values{"active": {"false"}}},
		{"add to the administrator group", u + "/groups", u, url.Values{"group": {itoa(admins.ID)}}},
		{"remove from a group", u + "/groups/remove", u, url.Values{"group": {itoa(team.ID)}}},
		{"administrator group settings", g, g, url.Values{"description": {"x"}}},
		{"add an administrator", g + "/members", g, url.Values{"name": {"bob"}}},
		{"remove an administrator", g + "/members/remove", g, url.Values{"user": {itoa(h.admin.ID)}}},
		{"application addresses and activation", a, a, url.Values{"kind": {"JIRA"}, "addresses": {"0.0.0.0/0"}}},
		{"directory mappings and allowed groups", a + "/mappings", a, url.Values{"dir_" + itoa(h.dir.ID): {"on"}}},
		{"credential rotation", a + "/rotate", a, nil},
		{"directory activation and lock-out policy", d, d, url.Values{"name": {"Internal"}, "lockout_threshold": {"0"}}},
		{"Entra ID settings", e + "/entra", e, url.Values{"tenant_id": {"evil.onmicrosoft.com"}}},
		{"Entra administrator groups", "/console/directories/admin-groups", "/console/directories",
			url.Values{"object_ids": {"11111111-2222-4333-8444-555555555555"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.age(time.Hour)
			defer h.age(-time.Hour)
			before := h.auditCount()
			r := c.Post(tc.path, tc.form)
			wantStatus(t, r, http.StatusSeeOther)
			if loc, want := r.Header.Get("Location"), "/console/reauth?next="+url.QueryEscape(tc.back); loc != want {
				t.Errorf("redirect to %q, want %q", loc, want)
			}
			if n := h.auditCount(); n != before {
				t.Errorf("%d audited changes, want none", n-before)
			}
		})
	}
	// With a recent sign-in the same kind of request goes through.
	r := c.Post(u+"/active", url.Values{"active": {"false"}})
	wantStatus(t, r, http.StatusSeeOther)
	if r.Header.Get("Location") != u {
		t.Errorf("fresh session: redirect to %q", r.Header.Get("Location"))
	}
	if got := storetest.Must(h.st.User(h.ctx(), bob.ID)); got.Active {
		t.Error("fresh session: bob is still active")
	}
}

// TestConsoleSessionLifetime: a console session ends 12 hours after sign-in however active it is.
func TestConsoleSessionLifetime(t *testing.T) {
	h, c := signedIn(t)
	h.age(api.DefaultSessionMaxAge - time.Minute)
	wantStatus(t, c.Get("/console/"), http.StatusOK)
	h.age(2 * time.Minute)
	r := c.Get("/console/")
	wantStatus(t, r, http.StatusFound)
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "/console/login") {
		t.Errorf("redirect to %q", loc)
	}
	n, err := h.st.CountSessions(h.ctx(), store.SessionConsole)
	if err != nil || n != 0 {
		t.Errorf("%d console sessions left (%v), want the expired one deleted", n, err)
	}
}

// TestPasswordResetEndsSessions: a new password ends the user's console and SSO sessions, except the
// session of an administrator changing their own.
func TestPasswordResetEndsSessions(t *testing.T) {
	h, c := signedIn(t)
	other := h.loggedIn() // the administrator's second browser
	bob := h.addUser(h.dir.ID, "bob")
	for _, kind := range []string{store.SessionSSO, store.SessionConsole} {
		storetest.Must2(h.st.CreateSession(h.ctx(), store.NewSession{Kind: kind, UserID: bob.ID}))
	}
	storetest.Must2(h.st.CreateSession(h.ctx(), store.NewSession{Kind: store.SessionSSO, UserID: h.admin.ID}))
	count := func(u store.User) int {
		t.Helper()
		ss, err := h.st.ListSessions(h.ctx(), store.SessionFilter{UserID: u.ID})
		if err != nil {
			t.Fatal(err)
		}
		return len(ss)
	}
	pw := url.Values{"password": {"another long password"}, "password2": {"another long password"}}
	wantStatus(t, c.Post("/console/users/"+itoa(bob.ID)+"/password", pw), http.StatusSeeOther)
	if n := count(bob); n != 0 {
		t.Errorf("bob has %d sessions after the reset, want 0", n)
	}
	// Own password: this browser stays signed in, the other browser and the SSO session end.
	if n := count(h.admin); n != 3 {
		t.Fatalf("admin has %d sessions, want 3", n)
	}
	wantStatus(t, c.Post("/console/users/"+itoa(h.admin.ID)+"/password", pw), http.StatusSeeOther)
	if n := count(h.admin); n != 1 {
		t.Errorf("admin has %d sessions after changing their own password, want 1 (this one)", n)
	}
	wantStatus(t, c.Get("/console/"), http.StatusOK)
	wantStatus(t, other.Get("/console/"), http.StatusFound)
}

// TestCSRFBoundToSession: the form token is an HMAC of the session, so it changes at sign-in, and a
// CSRF cookie value an attacker knows (planted, or the double-submit pattern's) is refused.
func TestCSRFBoundToSession(t *testing.T) {
	h := newHarness(t)
	planted := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // a well-formed cookie value the attacker chose
	setCookie := func(c *client, name, value string) {
		u, _ := url.Parse(h.srv.URL + "/console/")
		c.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/console"}})
	}
	// Signed out: a planted cookie and the same value in the form do not pass.
	c := h.client()
	setCookie(c, "crowdgate_console_csrf", planted)
	r := c.Post("/console/login", url.Values{"_csrf": {planted}, "username": {"admin"}, "password": {adminPassword}})
	wantStatus(t, r, http.StatusForbidden)
	wantContains(t, r.Body, "did not come from this console")

	before := c.CSRF()
	wantStatus(t, c.Login("admin", adminPassword), http.StatusSeeOther)
	after := c.CSRF()
	if after == before {
		t.Fatal("the CSRF token did not change at sign-in")
	}
	form := url.Values{"name": {"eve-group"}, "directory": {itoa(h.dir.ID)}}
	for _, tok := range []string{before, planted} {
		form.Set("_csrf", tok)
		wantStatus(t, c.PostRaw("/console/groups", form, nil), http.StatusForbidden)
	}
	if _, err := h.st.GroupByName(h.ctx(), h.dir.ID, "eve-group"); !store.IsNotFound(err) {
		t.Fatalf("a refused token created the group: %v", err)
	}
	// A token is good for its session only: another administrator's is refused.
	wantStatus(t, h.loggedIn().PostRaw("/console/groups", url.Values{"_csrf": {after}, "name": {"eve-group"}, "directory": {itoa(h.dir.ID)}}, nil),
		http.StatusForbidden)
	form.Set("_csrf", after)
	wantStatus(t, c.PostRaw("/console/groups", form, nil), http.StatusSeeOther)

	// Over HTTPS the signed-out cookie has the __Host- prefix (Secure, Path=/).
	hs := newHarness(t, func(cfg *api.Config) { cfg.Secure = true })
	res, err := http.Get(hs.srv.URL + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var ck *http.Cookie
	for _, x := range res.Cookies() {
		if strings.HasSuffix(x.Name, "_csrf") {
			ck = x
		}
	}
	if ck == nil || ck.Name != "__Host-crowdgate_console_csrf" || !ck.Secure || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("CSRF cookie over HTTPS: %+v", ck)
	}
}

// TestBindEntraAdminGroupsInConsole: the console binds Entra ID groups as administrator groups by
// object id, beside the configuration's; a malformed id saves nothing; the change is audited.
func TestBindEntraAdminGroupsInConsole(t *testing.T) {
	h, c := signedIn(t)
	const objectID = "0b0b0b0b-1111-4222-8333-444444444444"
	ops := storetest.Must(h.st.CreateGroup(h.ctx(), store.NewGroup{DirectoryID: h.entra.ID, Name: "Ops", ExternalID: objectID, Active: true}))
	carol := h.addUser(h.entra.ID, "carol@contoso.com", ops.ID)
	isAdmin := func() bool {
		t.Helper()
		_, ok, err := h.st.Administrator(h.ctx(), carol)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if isAdmin() {
		t.Fatal("carol is an administrator before any binding")
	}
	page := c.Get("/console/directories")
	wantContains(t, page.Body, "Administrator groups in Entra ID", adminsObjectID) // the configuration's, shown
	r := c.Post("/console/directories/admin-groups", url.Values{"object_ids": {objectID + "\nOps"}})
	wantStatus(t, r, http.StatusSeeOther)
	wantContains(t, c.Follow(r).Body, "is not an Entra object id")
	if isAdmin() {
		t.Fatal("a refused form bound the group")
	}
	r = c.Post("/console/directories/admin-groups", url.Values{"object_ids": {strings.ToUpper(objectID)}})
	wantStatus(t, r, http.StatusSeeOther)
	if !isAdmin() {
		t.Fatal("carol is not an administrator after the binding")
	}
	if e := h.lastAudit("ADMIN_ENTRA_GROUPS_CHANGED"); e.Actor != "admin" || !strings.Contains(e.Details, objectID) {
		t.Errorf("audit %+v", e)
	}
	wantContains(t, c.Get("/console/directories").Body, objectID)
	// Unbinding takes it back.
	wantStatus(t, c.Post("/console/directories/admin-groups", url.Values{"object_ids": {""}}), http.StatusSeeOther)
	if isAdmin() {
		t.Error("carol is still an administrator after the unbinding")
	}
}

package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/api"

	"github.com/crowdgate/crowdgate/store"
)

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

var credentialRE = regexp.MustCompile(`<div class="secret" id="credential">([^<]+)</div>`)

// createApp adds an application through the console and returns it; the generated password must
// authenticate it.
func createApp(t *testing.T, h *harness, c *client, name, kind string) store.Application {
	t.Helper()
	form := url.Values{"name": {name}, "kind": {kind}, "description": {"issue tracker"}, "base_url": {"https://jira.example.com"},
		"addresses": {"10.0.0.0/8\n192.0.2.7"}, "groups": {"jira-software-users"}, "dir_" + itoa(h.dir.ID): {"on"}, "dir_" + itoa(h.entra.ID): {"on"}}
	r := c.Post("/console/applications", form)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.Body, "Application created", "application.name", "crowd.server.url")
	m := credentialRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatal("no credential on the page")
	}
	app, err := h.st.AuthenticateApplication(context.Background(), name, m[1])
	if err != nil {
		t.Fatalf("the shown credential does not authenticate: %v", err)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("credential page Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	return app
}

// fixture is a directory with licence groups: alice is a nested member of jira-software-users
// through team-a; bob is not a member.
type fixture struct {
	licensed, team store.Group
	alice, bob     store.User
}

func newFixture(h *harness) fixture {
	var f fixture
	f.licensed = h.addGroup(h.entra.ID, "jira-software-users")
	f.team = h.addGroup(h.entra.ID, "team-a", f.licensed.ID)
	f.alice = h.addUser(h.entra.ID, "alice@contoso.com", f.team.ID)
	f.bob = h.addUser(h.entra.ID, "bob@contoso.com")
	return f
}

func TestPages(t *testing.T) {
	h := newHarness(t)
	f := newFixture(h)
	c := h.loggedIn()
	app := createApp(t, h, c, "jira", "JIRA")
	limit := 1
	if _, err := h.st.UpdateApplication(h.ctx(), app.ID, store.ApplicationChange{LicenceLimit: &limit}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.st.CreateSession(h.ctx(), store.NewSession{Kind: store.SessionSSO, UserID: f.alice.ID, ApplicationID: app.ID, RemoteAddress: "198.51.100.4"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		wants []string
	}{
		{"/console/", []string{"Overview", "Contoso Entra ID", "Never synchronised", "jira", "1 / 1", "Limit reached", "APPLICATION_CREATED"}},
		{"/console/users?q=contoso", []string{"alice@contoso.com", "bob@contoso.com", "Contoso Entra ID"}},
		{"/console/users/" + itoa(f.alice.ID), []string{"Allowed", "jira-software-users", "team-a", "198.51.100.4", "Entra ID · read-only"}},
		{"/console/users/" + itoa(f.bob.ID), []string{"No access", "not a member of an allowed group"}},
		{"/console/groups?q=team", []string{"team-a"}},
		{"/console/groups/" + itoa(f.licensed.ID), []string{"alice@contoso.com", "team-a", "an allowed group (licence group)"}},
		{"/console/groups/" + itoa(f.team.ID), []string{"nested in the allowed group", "jira-software-users"}},
		{"/console/applications", []string{"jira", "Single sign-on cookie", "crowd.token_key"}},
		{"/console/applications/" + itoa(app.ID), []string{"Licence limit reached", "jira-software-users", "SSOSeraphAuthenticator", "login.url", "10.0.0.0/8", "not in this directory: jira-software-users"}},
		{"/console/directories", []string{"Contoso Entra ID", "Internal", "Add directory"}},
		{"/console/directories/" + itoa(h.entra.ID), []string{"Entra ID connection", "contoso.onmicrosoft.com", "A secret is stored", "Sync now", "Run history"}},
		{"/console/directories/" + itoa(h.dir.ID), []string{"Password policy and lock-out", "Lock-out seconds"}},
		{"/console/sessions", []string{"alice@contoso.com", "198.51.100.4", "console"}},
		{"/console/audit?action=application_created", []string{"APPLICATION_CREATED", "jira", "127.0.0.1"}},
		{"/console/access", []string{"alice@contoso.com", "member of jira-software-users through team-a"}},
		{"/console/users/new", []string{"New internal user", "Internal"}},
		{"/console/groups/new", []string{"New internal group"}},
		{"/console/applications/new", []string{"Add application", "Confluence"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := c.Get(tc.path)
			wantStatus(t, r, http.StatusOK)
			wantContains(t, r.Body, tc.wants...)
			if strings.Contains(r.Body, "s3cr3t-value") {
				t.Error("the Entra client secret is on the page")
			}
		})
	}
	for _, path := range []string{"/console/users/99999", "/console/groups/abc", "/console/applications/99999", "/console/directories/0"} {
		wantStatus(t, c.Get(path), http.StatusNotFound)
	}
}

func TestXSSEscaped(t *testing.T) {
	h := newHarness(t)
	const evil = `<script>alert(1)</script>`
	// Names come from Entra ID: untrusted.
	g := h.addGroup(h.entra.ID, evil)
	u := storetest_user(t, h, evil, g.ID)
	c := h.loggedIn()
	app := createApp(t, h, c, "jira", "JIRA")
	m := []store.Mapping{{DirectoryID: h.entra.ID, Groups: []string{evil}}}
	if _, err := h.st.UpdateApplication(h.ctx(), app.ID, store.ApplicationChange{Mappings: &m}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.Audit(h.ctx(), "FAILURE", "LOGIN_FAILED", "USER", evil, evil); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/console/users?q=script", "/console/users/" + itoa(u.ID), "/console/groups?q=script",
		"/console/groups/" + itoa(g.ID), "/console/access", "/console/audit", "/console/", "/console/applications/" + itoa(app.ID),
		"/console/sessions?user=" + url.QueryEscape(evil)} {
		r := c.Get(path)
		wantStatus(t, r, http.StatusOK)
		if strings.Contains(r.Body, "<script>alert") {
			t.Errorf("%s: unescaped script", path)
		}
		if !strings.Contains(r.Body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: escaped name missing", path)
		}
	}
}

func storetest_user(t *testing.T, h *harness, name string, groups ...int64) store.User {
	t.Helper()
	u, err := h.st.CreateUser(h.ctx(), store.NewUser{DirectoryID: h.entra.ID, Name: name, DisplayName: name, Email: "x@example.com", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := h.st.AddUserToGroup(h.ctx(), u.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func TestInternalUserLifecycle(t *testing.T) {
	h, c := signedIn(t)
	staff := h.addGroup(h.dir.ID, "staff")
	r := c.Post("/console/users", url.Values{"directory": {itoa(h.dir.ID)}, "name": {"svc-backup"}, "first": {"Backup"}, "last": {"Service"},
		"email": {"backup@example.com"}, "password": {"a long service password"}, "password2": {"a long service password"}, "active": {"on"}})
	wantStatus(t, r, http.StatusSeeOther)
	u, err := h.st.UserByName(context.Background(), h.dir.ID, "svc-backup")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, c.Follow(r).Body, "User svc-backup created", "Backup Service")
	if e := h.lastAudit("USER_CREATED"); e.Actor != "admin" || e.ActorKind != store.ActorAdmin || e.Source != "127.0.0.1" || e.Object != "svc-backup" {
		t.Errorf("audit %+v", e)
	}
	// A duplicate shows the form again with the store's message.
	r = c.Post("/console/users", url.Values{"directory": {itoa(h.dir.ID)}, "name": {"SVC-backup"}, "active": {"on"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	wantContains(t, r.Body, "already exists", `value="SVC-backup"`)

	base := "/console/users/" + itoa(u.ID)
	wantStatus(t, c.Post(base, url.Values{"name": {"svc-backup2"}, "first": {"Nightly"}, "last": {"Backup"}, "display": {""}, "email": {"nightly@example.com"}}), http.StatusSeeOther)
	u2, _ := h.st.User(context.Background(), u.ID)
	if u2.Name != "svc-backup2" || u2.DisplayName != "Nightly Backup" || u2.Key() != u.Key() {
		t.Errorf("after edit: %+v", u2)
	}
	dir := h.dir
	dir.MinPasswordLen = 12
	if _, err := h.st.UpdateDirectory(h.ctx(), dir); err != nil {
		t.Fatal(err)
	}
	r = c.Post(base+"/password", url.Values{"password": {"short"}, "password2": {"short"}})
	wantContains(t, c.Follow(r).Body, "at least")
	wantStatus(t, c.Post(base+"/password", url.Values{"password": {"another long password"}, "password2": {"another long password"}}), http.StatusSeeOther)
	if err := h.st.CheckPassword(context.Background(), u2, "another long password"); err != nil {
		t.Errorf("new password: %v", err)
	}
	wantStatus(t, c.Post(base+"/groups", url.Values{"group": {"STAFF"}}), http.StatusSeeOther)
	wantContains(t, c.Get(base).Body, `href="/console/groups/`+itoa(staff.ID)+`"`)
	wantStatus(t, c.Post(base+"/groups/remove", url.Values{"group": {itoa(staff.ID)}}), http.StatusSeeOther)
	wantStatus(t, c.Post(base+"/active", url.Values{"active": {"false"}}), http.StatusSeeOther)
	if u3, _ := h.st.User(context.Background(), u.ID); u3.Active {
		t.Error("still active")
	}
	if e := h.lastAudit("USER_DEACTIVATED"); e.Actor != "admin" {
		t.Errorf("audit %+v", e)
	}
	// Self-deactivation is refused.
	r = c.Post("/console/users/"+itoa(h.admin.ID)+"/active", url.Values{"active": {"false"}})
	wantContains(t, c.Follow(r).Body, "cannot deactivate your own account")
	// Entra ID users are read-only.
	ext := h.addUser(h.entra.ID, "carol@contoso.com")
	r = c.Post("/console/users/"+itoa(ext.ID), url.Values{"first": {"X"}})
	wantContains(t, c.Follow(r).Body, "read-only")
	r = c.Post("/console/users/"+itoa(ext.ID)+"/password", url.Values{"password": {"whatever long"}, "password2": {"whatever long"}})
	wantContains(t, c.Follow(r).Body, "read-only")
}

func TestGroupEditing(t *testing.T) {
	h, c := signedIn(t)
	r := c.Post("/console/groups", url.Values{"directory": {itoa(h.dir.ID)}, "name": {"ops"}, "description": {"operations"}})
	wantStatus(t, r, http.StatusSeeOther)
	ops, err := h.st.GroupByName(context.Background(), h.dir.ID, "ops")
	if err != nil {
		t.Fatal(err)
	}
	oncall := h.addGroup(h.dir.ID, "oncall")
	dave := h.addUser(h.dir.ID, "dave")
	base := "/console/groups/" + itoa(ops.ID)
	wantStatus(t, c.Post(base+"/members", url.Values{"kind": {"user"}, "name": {"dave"}}), http.StatusSeeOther)
	wantStatus(t, c.Post(base+"/members", url.Values{"kind": {"group"}, "name": {"oncall"}}), http.StatusSeeOther)
	r = c.Post(base+"/members", url.Values{"kind": {"user"}, "name": {"nobody"}})
	wantContains(t, c.Follow(r).Body, "not found")
	page := c.Get(base).Body
	wantContains(t, page, "dave", "oncall")
	wantStatus(t, c.Post(base, url.Values{"description": {"ops team"}, "active": {"on"}}), http.StatusSeeOther)
	wantStatus(t, c.Post(base+"/members/remove", url.Values{"user": {itoa(dave.ID)}}), http.StatusSeeOther)
	wantStatus(t, c.Post(base+"/members/remove", url.Values{"child": {itoa(oncall.ID)}}), http.StatusSeeOther)
	g, _ := h.st.Group(context.Background(), ops.ID)
	if g.Description != "ops team" {
		t.Errorf("description %q", g.Description)
	}
	if e := h.lastAudit("MEMBERSHIP_DELETED"); e.Actor != "admin" {
		t.Errorf("audit %+v", e)
	}
	// Entra ID groups are read-only.
	eg := h.addGroup(h.entra.ID, "entra-group")
	r = c.Post("/console/groups/"+itoa(eg.ID)+"/members", url.Values{"kind": {"user"}, "name": {"x"}})
	wantContains(t, c.Follow(r).Body, "read-only")
}

func TestApplicationSettings(t *testing.T) {
	h := newHarness(t)
	f := newFixture(h)
	c := h.loggedIn()
	app := createApp(t, h, c, "confluence", "CONFLUENCE")
	base := "/console/applications/" + itoa(app.ID)
	// Map only the Entra directory, first, with an allowed group.
	r := c.Post(base+"/mappings", url.Values{"map_" + itoa(h.entra.ID): {"on"}, "pos_" + itoa(h.entra.ID): {"1"},
		"groups_" + itoa(h.entra.ID): {"team-a\n"}, "map_" + itoa(h.dir.ID): {"on"}, "pos_" + itoa(h.dir.ID): {"2"}, "all_" + itoa(h.dir.ID): {"on"}})
	wantStatus(t, r, http.StatusSeeOther)
	got, _ := h.st.Application(context.Background(), app.ID)
	want := []store.Mapping{{DirectoryID: h.entra.ID, Groups: []string{"team-a"}}, {DirectoryID: h.dir.ID, AllowAll: true}}
	if diff := cmp.Diff(want, got.Mappings); diff != "" {
		t.Errorf("mappings (-want +got):\n%s", diff)
	}
	v, _ := h.st.View(context.Background(), got)
	if err := v.MayAuthenticate(context.Background(), f.alice); err != nil {
		t.Errorf("alice: %v", err)
	}
	r = c.Post(base, url.Values{"description": {"wiki"}, "kind": {"CONFLUENCE"}, "active": {"on"}, "licence_limit": {"1"},
		"addresses": {"bad address!"}, "base_urls": {""}})
	wantContains(t, c.Follow(r).Body, "is not an IP address")
	r = c.Post(base, url.Values{"description": {"wiki"}, "kind": {"CONFLUENCE"}, "active": {"on"}, "licence_limit": {"1"},
		"addresses": {"10.1.0.0/16"}, "base_urls": {"https://wiki.example.com"}})
	page := c.Follow(r).Body
	// alice (team-a) and admin (every user of Internal): 2 of 1.
	wantContains(t, page, "Settings saved", "Licence limit reached", "2 / 1", "ConfluenceCrowdSSOAuthenticator")
	if e := h.lastAudit("APPLICATION_UPDATED"); e.Actor != "admin" || e.Object != "confluence" {
		t.Errorf("audit %+v", e)
	}
	r = c.Post("/console/applications/cookie", url.Values{"name": {"crowd.token_key"}, "domain": {".example.com"}, "secure": {"on"}})
	wantStatus(t, r, http.StatusSeeOther)
	cc, _ := h.st.CookieConfig(context.Background())
	if cc != (store.CookieConfig{Name: "crowd.token_key", Domain: ".example.com", Secure: true}) {
		t.Errorf("cookie %+v", cc)
	}
	wantContains(t, c.Get(base).Body, "cookie.domain")
	// A duplicate name shows the form again.
	r = c.Post("/console/applications", url.Values{"name": {"Confluence"}, "kind": {"CONFLUENCE"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	wantContains(t, r.Body, "already exists")
}

func TestDirectorySettingsAndSync(t *testing.T) {
	h, c := signedIn(t)
	base := "/console/directories/" + itoa(h.entra.ID)
	r := c.Post(base+"/entra", url.Values{"tenant_id": {"fabrikam.onmicrosoft.com"}, "client_id": {"11111111-2222-3333-4444-555555555555"},
		"client_secret": {""}, "sync_interval": {"30m"}, "groups": {"Jira Users, Confluence Users"}})
	wantStatus(t, r, http.StatusSeeOther)
	d, _ := h.st.Directory(context.Background(), h.entra.ID)
	var cfg map[string]any
	if err := json.Unmarshal([]byte(d.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"tenant_id": "fabrikam.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555",
		"client_secret": "s3cr3t-value", "sync_interval": "30m", "groups": []any{"Jira Users", "Confluence Users"}, "graph_base_url": "https://graph.microsoft.com/v1.0"}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if e := h.lastAudit("DIRECTORY_IDP_SETTINGS_CHANGED"); e.Actor != "admin" || !strings.Contains(e.Details, "tenant_id") || strings.Contains(e.Details, "s3cr3t") {
		t.Errorf("audit %+v", e)
	}
	// A new secret replaces the old; it never comes back in a page.
	wantStatus(t, c.Post(base+"/entra", url.Values{"tenant_id": {"fabrikam.onmicrosoft.com"}, "client_secret": {"n3w-s3cr3t"}}), http.StatusSeeOther)
	d, _ = h.st.Directory(context.Background(), h.entra.ID)
	if !strings.Contains(d.Config, "n3w-s3cr3t") {
		t.Error("secret not stored")
	}
	page := c.Get(base).Body
	if strings.Contains(page, "n3w-s3cr3t") {
		t.Error("the secret is shown")
	}
	r = c.Post(base+"/entra", url.Values{"sync_interval": {"soon"}})
	wantContains(t, c.Follow(r).Body, "sync interval must be a duration")
	// Stale sign-in: IdP settings need re-authentication.
	h.age(11 * time.Minute)
	r = c.Post(base+"/entra", url.Values{"tenant_id": {"evil"}})
	wantStatus(t, r, http.StatusSeeOther)
	if !strings.HasPrefix(r.Header.Get("Location"), "/console/reauth") {
		t.Errorf("stale change went to %q", r.Header.Get("Location"))
	}
	h.age(-11 * time.Minute)

	// Test connection, both outcomes.
	r = c.Post(base+"/test", nil)
	wantContains(t, c.Follow(r).Body, "Connection test succeeded")
	h.sync.failTests(errUnauthorizedClient)
	r = c.Post(base+"/test", nil)
	wantContains(t, c.Follow(r).Body, "Connection test failed", "AADSTS7000215")
	if e := h.lastAudit("DIRECTORY_CONNECTION_TESTED"); e.Outcome != "FAILURE" {
		t.Errorf("audit %+v", e)
	}

	// Sync now, progress, finish, history.
	wantStatus(t, c.Post(base+"/sync", nil), http.StatusSeeOther)
	r = c.Post(base+"/sync", nil)
	wantContains(t, c.Follow(r).Body, "already running", `data-running="true"`)
	h.sync.step()
	var p struct {
		Running bool   `json:"running"`
		Phase   string `json:"phase"`
		Done    int    `json:"done"`
		Total   int    `json:"total"`
		Percent int    `json:"percent"`
	}
	r = c.Get(base + "/progress")
	wantStatus(t, r, http.StatusOK)
	if err := json.Unmarshal([]byte(r.Body), &p); err != nil || !p.Running || p.Percent != 25 || p.Phase != "users" {
		t.Errorf("progress %s (%v)", r.Body, err)
	}
	for h.sync.step() {
	}
	r = c.Get(base + "/progress")
	if err := json.Unmarshal([]byte(r.Body), &p); err != nil || p.Running {
		t.Errorf("progress after the run %s", r.Body)
	}
	wantContains(t, c.Get(base).Body, "success", "3 / 0 / 0", "Healthy")
	if e := h.lastAudit("SYNC_REQUESTED"); e.Actor != "admin" || e.Object != "Contoso Entra ID" {
		t.Errorf("audit %+v", e)
	}

	// Internal directory policy.
	r = c.Post("/console/directories/"+itoa(h.dir.ID), url.Values{"name": {"Internal"}, "active": {"on"}, "nested": {"on"},
		"min_password_len": {"14"}, "lockout_threshold": {"3"}, "lockout_seconds": {"600"}})
	wantStatus(t, r, http.StatusSeeOther)
	d, _ = h.st.Directory(context.Background(), h.dir.ID)
	if d.MinPasswordLen != 14 || d.LockoutThreshold != 3 || d.LockoutSeconds != 600 || !d.Active {
		t.Errorf("internal policy %+v", d)
	}
	// The administrator's own directory cannot be switched off from here.
	r = c.Post("/console/directories/"+itoa(h.dir.ID), url.Values{"name": {"Internal"}})
	wantContains(t, c.Follow(r).Body, "cannot deactivate the directory of your own account")

	// A new directory.
	r = c.Post("/console/directories", url.Values{"name": {"Partners"}, "kind": {"INTERNAL"}})
	wantStatus(t, r, http.StatusSeeOther)
	wantContains(t, c.Follow(r).Body, "Directory Partners created", "Password policy")
}

func TestSyncUnavailable(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.SyncController = nil })
	c := h.loggedIn()
	base := "/console/directories/" + itoa(h.entra.ID)
	wantContains(t, c.Get(base).Body, "Synchronisation is not wired")
	r := c.Post(base+"/sync", nil)
	wantContains(t, c.Follow(r).Body, "not available")
	r = c.Get(base + "/progress")
	wantStatus(t, r, http.StatusOK)
}

func TestSessionRevocation(t *testing.T) {
	h := newHarness(t)
	f := newFixture(h)
	c := h.loggedIn()
	s1, tok1, _ := h.st.CreateSession(h.ctx(), store.NewSession{Kind: store.SessionSSO, UserID: f.alice.ID})
	_, tok2, _ := h.st.CreateSession(h.ctx(), store.NewSession{Kind: store.SessionSSO, UserID: f.alice.ID})
	page := c.Get("/console/sessions?user=ALICE@contoso.com").Body
	wantContains(t, page, `data-session="`+itoa(s1.ID)+`"`, "Revoke all sessions of alice@contoso.com")
	r := c.Post("/console/sessions/"+itoa(s1.ID)+"/revoke", url.Values{"back": {"/console/sessions"}})
	wantStatus(t, r, http.StatusSeeOther)
	if _, err := h.st.SessionByToken(context.Background(), tok1); !store.IsNotFound(err) {
		t.Errorf("revoked session: %v", err)
	}
	if e := h.lastAudit("SESSION_DELETED"); e.Actor != "admin" || e.Object != "alice@contoso.com" {
		t.Errorf("audit %+v", e)
	}
	r = c.Post("/console/users/"+itoa(f.alice.ID)+"/sessions/revoke", url.Values{"back": {"https://evil.example/"}})
	if loc := r.Header.Get("Location"); loc != "/console/users/"+itoa(f.alice.ID) {
		t.Errorf("redirect after revoke-all: %q", loc)
	}
	if _, err := h.st.SessionByToken(context.Background(), tok2); !store.IsNotFound(err) {
		t.Errorf("session after revoke-all: %v", err)
	}
	// Revoking all of one's own sessions keeps the current console session.
	wantStatus(t, c.Post("/console/users/"+itoa(h.admin.ID)+"/sessions/revoke", nil), http.StatusSeeOther)
	wantStatus(t, c.Get("/console/"), http.StatusOK)
}

func TestCSVExports(t *testing.T) {
	h := newHarness(t)
	f := newFixture(h)
	h.addUser(h.entra.ID, "=HYPERLINK(1)", f.licensed.ID)
	c := h.loggedIn()
	createApp(t, h, c, "jira", "JIRA")
	r := c.Get("/console/access.csv")
	wantStatus(t, r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("content type %q", ct)
	}
	rows, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("access CSV: %v", err)
	}
	wantRows := [][]string{
		{"application", "user", "display_name", "email", "directory", "reason", "group", "via", "explanation"},
		{"jira", "'=HYPERLINK(1)", "'=HYPERLINK(1)", "'=HYPERLINK(1)@example.com", "Contoso Entra ID", "GROUP", "jira-software-users", "", "member of jira-software-users"},
		{"jira", "alice@contoso.com", "Alice", "alice@contoso.com", "Contoso Entra ID", "GROUP", "jira-software-users", "team-a", "member of jira-software-users through team-a"},
	}
	if diff := cmp.Diff(wantRows, rows); diff != "" {
		t.Errorf("access CSV (-want +got):\n%s", diff)
	}
	r = c.Get("/console/audit.csv?kind=application")
	wantStatus(t, r, http.StatusOK)
	rows, err = csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("audit CSV: %v", err)
	}
	if len(rows) != 2 || rows[0][5] != "action" || rows[1][5] != "APPLICATION_CREATED" || rows[1][3] != "admin" || rows[1][4] != "127.0.0.1" {
		t.Errorf("audit CSV %q", rows)
	}
	// Many pages: every entry once.
	for i := 0; i < 1500; i++ {
		_ = h.st.Audit(h.ctx(), "SUCCESS", "BULK_TEST", "SETTING", "x", nil)
	}
	rows, err = csv.NewReader(strings.NewReader(c.Get("/console/audit.csv?action=bulk_test").Body)).ReadAll()
	if err != nil || len(rows) != 1501 {
		t.Errorf("bulk export: %d rows, %v", len(rows), err)
	}
	wantStatus(t, c.Get("/console/audit.csv?since=yesterday"), http.StatusBadRequest)
}

package main

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
)

// TestCommands runs the administration commands end to end on every dialect.
func TestCommands(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := dbEnv(t, dialect)
		t.Run("AppAdd", func(t *testing.T) { testAppAdd(t, e) })
		t.Run("UserAdd", func(t *testing.T) { testUserAdd(t, e) })
		t.Run("GroupAdd", func(t *testing.T) { testGroupAdd(t, e) })
		t.Run("Lists", func(t *testing.T) { testLists(t, e) })
		t.Run("ListsTwoDirectories", func(t *testing.T) { testListsTwoDirectories(t, dbEnv(t, dialect)) })
		t.Run("Audit", func(t *testing.T) { testAudit(t, e) })
		t.Run("Migrate", func(t *testing.T) { testMigrate(t, dbEnv(t, dialect)) })
	})
}

func testAppAdd(t *testing.T, e env) {
	ctx := t.Context()
	r := mustRun(t, e, "", "app", "add", "jira", "--kind", "jira", "--url", "https://jira.example.com")
	pw := strings.TrimSpace(r.stdout)
	if len(pw) < 20 || strings.ContainsAny(pw, " \n") {
		t.Fatalf("app add printed %q on stdout, want the generated password alone", r.stdout)
	}
	if !strings.Contains(r.stderr, `created application "jira"`) {
		t.Errorf("stderr: %q", r.stderr)
	}
	st := openStore(t, e)
	app, err := st.AuthenticateApplication(ctx, "jira", pw)
	if err != nil {
		t.Fatalf("the printed password does not authenticate the application: %v", err)
	}
	dir, err := st.EnsureInternalDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Read-only by default: no directory operation unless granted.
	if len(app.Mappings) != 1 || app.Mappings[0].DirectoryID != dir.ID || !app.Mappings[0].AllowAll || len(app.Mappings[0].Operations) != 0 {
		t.Errorf("mappings %+v, want the internal directory, every user, no operation", app.Mappings)
	}
	if !strings.Contains(r.stderr, "read-only") {
		t.Errorf("stderr does not say the application is read-only: %q", r.stderr)
	}
	r = mustRun(t, e, "", "app", "add", "jira-rw", "--kind", "jira", "--write")
	if !strings.Contains(r.stderr, "every directory operation permitted") {
		t.Errorf("app add --write: stderr %q", r.stderr)
	}
	rw, err := st.ApplicationByName(ctx, "jira-rw")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Mapping{{DirectoryID: dir.ID, AllowAll: true, Operations: store.AllOperations}}
	if !reflect.DeepEqual(rw.Mappings, want) {
		t.Errorf("--write mappings %+v, want %+v", rw.Mappings, want)
	}
	if app.Kind != store.AppJira || !app.Active || !slices.Equal(app.BaseURLs, []string{"https://jira.example.com"}) {
		t.Errorf("application %+v", app)
	}
	if _, err := st.AuthenticateApplication(ctx, "jira", pw+"x"); !errors.Is(err, store.ErrBadCredential) {
		t.Errorf("wrong password: %v", err)
	}

	// Restricted: allowed groups, read-only, addresses, password from stdin.
	r = mustRun(t, e, "confluence-secret-1\n", "app", "add", "confluence", "--kind=confluence", "--group", "confluence-users",
		"--group", "Confluence Admins", "--read-only", "--remote-address", "10.0.0.0/8,192.0.2.7", "--password-stdin")
	if r.stdout != "" {
		t.Errorf("app add --password-stdin printed %q", r.stdout)
	}
	if !strings.Contains(r.stderr, `group "confluence-users" does not exist`) {
		t.Errorf("no warning about a missing allowed group: %q", r.stderr)
	}
	app, err = st.AuthenticateApplication(ctx, "confluence", "confluence-secret-1")
	if err != nil {
		t.Fatalf("--password-stdin password: %v", err)
	}
	m := app.Mappings[0]
	if m.AllowAll || !slices.Equal(m.Groups, []string{"confluence admins", "confluence-users"}) || len(m.Operations) != 0 {
		t.Errorf("restricted mapping %+v", m)
	}
	if !slices.Equal(app.RemoteAddresses, []string{"10.0.0.0/8", "192.0.2.7"}) {
		t.Errorf("remote addresses %q", app.RemoteAddresses)
	}

	mustRun(t, e, "", "app", "add", "bamboo", "--operations", "create_user,UPDATE_USER", "--inactive")
	app, err = st.ApplicationByName(ctx, "bamboo")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(app.Mappings[0].Operations, []string{store.OpCreateUser, store.OpUpdateUser}) || app.Active || app.Kind != store.AppGeneric {
		t.Errorf("bamboo: %+v", app)
	}

	failures := []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"app", "add", "JIRA"}, "", `application "JIRA" already exists`},
		{[]string{"app", "add", "x", "--kind", "bitbucket"}, "", `--kind "bitbucket"`},
		{[]string{"app", "add", "x", "--operations", "DROP_TABLE"}, "", `"DROP_TABLE" is not one of`},
		{[]string{"app", "add", "x", "--operations", "CREATE_USER", "--read-only"}, "", "--read-only excludes --operations and --write"},
		{[]string{"app", "add", "x", "--write", "--read-only"}, "", "--read-only excludes --operations and --write"},
		{[]string{"app", "add", "x", "--write", "--operations", "CREATE_USER"}, "", "--write and --operations exclude each other"},
		{[]string{"app", "add", "x", "--password-stdin"}, "", "no password"},
		{[]string{"app", "add", "x", "--password-stdin"}, "short\n", "at least 8 characters"},
		{[]string{"app", "add", "x", "--remote-address", "not an address"}, "", "not an IP address"},
		{[]string{"app", "add", "x", "--directory", "Entra"}, "", `directory "Entra" does not exist`},
	}
	for _, f := range failures {
		r := runCmd(t, e, f.stdin, f.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), f.want) {
			t.Errorf("crowdgate %s: error %v, want one saying %q", strings.Join(f.args, " "), r.err, f.want)
		}
		if r.err != nil && exitCode(r.err) == 0 {
			t.Errorf("crowdgate %s: exit code 0", strings.Join(f.args, " "))
		}
	}
	if _, err := st.ApplicationByName(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed app add left an application: %v", err)
	}
	// Usage errors exit with 2.
	for _, args := range [][]string{{"app", "add"}, {"app", "add", "a", "b"}, {"app", "add", "a", "--bogus"}, {"app"}, {"frobnicate"}} {
		if r := runCmd(t, e, "", args...); exitCode(r.err) != 2 || r.err == nil {
			t.Errorf("crowdgate %s: %v (exit %d), want a usage error", strings.Join(args, " "), r.err, exitCode(r.err))
		}
	}
}

func testUserAdd(t *testing.T, e env) {
	ctx := t.Context()
	st := openStore(t, e)
	dir, err := st.EnsureInternalDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, e, "", "group", "add", "jira-users")

	r := mustRun(t, e, "Correct horse 1\n", "user", "add", "bob", "--password-stdin", "--email", "bob@example.com",
		"--first", "Bob", "--last", "Builder", "--group", "jira-users")
	if r.stdout != "" {
		t.Errorf("user add --password-stdin printed %q", r.stdout)
	}
	bob, err := st.UserByName(ctx, dir.ID, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if bob.Email != "bob@example.com" || bob.DisplayName != "Bob Builder" || !bob.Active {
		t.Errorf("bob: %+v", bob)
	}
	if err := st.CheckPassword(ctx, bob, "Correct horse 1"); err != nil {
		t.Errorf("bob's password: %v", err)
	}
	if !inGroup(t, st, dir, "jira-users", "bob") {
		t.Error("bob is not in jira-users")
	}

	// A missing group is an error and nothing is created, unless --create-groups.
	r = runCmd(t, e, "", "user", "add", "carol", "--group", "jira-users", "--group", "testers")
	if r.err == nil || !strings.Contains(r.err.Error(), `group "testers" does not exist`) {
		t.Errorf("missing group: %v", r.err)
	}
	if _, err := st.UserByName(ctx, dir.ID, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("carol was created despite the error: %v", err)
	}
	mustRun(t, e, "", "user", "add", "carol", "--group", "testers", "--create-groups", "--inactive", "--display", "Carol C.", "--no-password")
	carol, err := st.UserByName(ctx, dir.ID, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if carol.Active || carol.DisplayName != "Carol C." || !inGroup(t, st, dir, "testers", "carol") {
		t.Errorf("carol: %+v", carol)
	}

	// Without a password source, a generated password is printed once and works.
	r = mustRun(t, e, "", "user", "add", "erin")
	erin, err := st.UserByName(ctx, dir.ID, "erin")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CheckPassword(ctx, erin, strings.TrimSpace(r.stdout)); err != nil {
		t.Errorf("erin's printed password %q: %v", r.stdout, err)
	}

	mustRun(t, e, "", "user", "add", "svc-backup", "--no-password")

	for _, f := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"user", "add", "BOB"}, "", `user "BOB" already exists`},
		{[]string{"user", "add", "dave", "--password-stdin"}, "", "no password"},
		{[]string{"user", "add", "dave", "--password-stdin", "--no-password"}, "pw\n", "exclude each other"},
		{[]string{"user", "add", " dave"}, "", "white space"},
		{[]string{"user", "add", "dave", "--directory", "nowhere"}, "", `directory "nowhere" does not exist`},
	} {
		r := runCmd(t, e, f.stdin, f.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), f.want) {
			t.Errorf("crowdgate %s: error %v, want one saying %q", strings.Join(f.args, " "), r.err, f.want)
		}
	}
}

func inGroup(t *testing.T, st *store.Store, dir store.Directory, group, user string) bool {
	t.Helper()
	v, err := directoryView(t.Context(), st, dir)
	if err != nil {
		t.Fatal(err)
	}
	users, err := store.Users(func(fn func(store.User) error) error {
		return v.GroupUsers(t.Context(), group, false, store.All, fn)
	})
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(users, func(u store.User) bool { return u.Name == user })
}

func testGroupAdd(t *testing.T, e env) {
	r := mustRun(t, e, "", "group", "add", "confluence-users", "--description", "Confluence licence")
	if !strings.Contains(r.stderr, `created group "confluence-users"`) {
		t.Errorf("stderr %q", r.stderr)
	}
	st := openStore(t, e)
	dir, _ := st.EnsureInternalDirectory(t.Context())
	g, err := st.GroupByName(t.Context(), dir.ID, "Confluence-Users")
	if err != nil || g.Description != "Confluence licence" {
		t.Errorf("group %+v, %v", g, err)
	}
	r = runCmd(t, e, "", "group", "add", "CONFLUENCE-USERS")
	if r.err == nil || !strings.Contains(r.err.Error(), `group "CONFLUENCE-USERS" already exists`) {
		t.Errorf("duplicate group: %v", r.err)
	}
}

func testLists(t *testing.T, e env) {
	apps := mustRun(t, e, "", "app", "list").stdout
	for _, want := range []string{"jira", "confluence", "confluence admins,confluence-users", "10.0.0.0/8"} {
		if !strings.Contains(apps, want) {
			t.Errorf("app list lacks %q:\n%s", want, apps)
		}
	}
	users := mustRun(t, e, "", "user", "list").stdout
	for _, want := range []string{"bob", "Bob Builder", "bob@example.com", "carol", "false"} {
		if !strings.Contains(users, want) {
			t.Errorf("user list lacks %q:\n%s", want, users)
		}
	}
	groups := mustRun(t, e, "", "group", "list", "--directory", "Internal").stdout
	for _, want := range []string{"jira-users", "testers", "Confluence licence"} {
		if !strings.Contains(groups, want) {
			t.Errorf("group list lacks %q:\n%s", want, groups)
		}
	}
}

// testListsTwoDirectories: `user list` and `group list` without --directory print each directory's
// own rows under its name. They once printed the first directory's rows for every directory (the
// listing's views, of unsaved applications, were shared by the view cache) and left the second
// directory's users out.
func testListsTwoDirectories(t *testing.T, e env) {
	mustRun(t, e, "", "user", "add", "ivan", "--no-password")
	mustRun(t, e, "", "group", "add", "internal-team")
	st := openStore(t, e)
	if _, err := st.CreateDirectory(t.Context(), store.Directory{Name: "Second", Kind: store.DirectoryInternal, Active: true}); err != nil {
		t.Fatal(err)
	}
	mustRun(t, e, "", "user", "add", "erin", "--no-password", "--directory", "Second")
	mustRun(t, e, "", "group", "add", "second-team", "--directory", "Second")
	st.Close()

	rows := func(out string) map[string]string { // name -> directory
		m := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 2 {
				t.Fatalf("short row %q in:\n%s", line, out)
			}
			if d, ok := m[f[1]]; ok {
				t.Errorf("%s listed twice (under %s and %s):\n%s", f[1], d, f[0], out)
			}
			m[f[1]] = f[0]
		}
		return m
	}
	users := rows(mustRun(t, e, "", "user", "list").stdout)
	if users["ivan"] != "Internal" || users["erin"] != "Second" {
		t.Errorf("user list: ivan under %q, erin under %q; want Internal and Second", users["ivan"], users["erin"])
	}
	groups := rows(mustRun(t, e, "", "group", "list").stdout)
	if groups["internal-team"] != "Internal" || groups["second-team"] != "Second" {
		t.Errorf("group list: internal-team under %q, second-team under %q; want Internal and Second", groups["internal-team"], groups["second-team"])
	}
}

func testAudit(t *testing.T, e env) {
	st := openStore(t, e)
	for _, action := range []string{"APPLICATION_CREATED", "USER_CREATED", "GROUP_CREATED"} {
		entries, err := st.ListAudit(t.Context(), store.AuditFilter{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			t.Errorf("no %s in the audit log", action)
			continue
		}
		for _, a := range entries {
			if a.ActorKind != store.ActorCLI || a.Actor == "" {
				t.Errorf("%s %s recorded by %s %q, want the CLI and the OS user", a.Action, a.Object, a.ActorKind, a.Actor)
			}
		}
	}
}

func testMigrate(t *testing.T, e env) {
	r := mustRun(t, e, "", "migrate", "status")
	if !strings.Contains(r.stdout, "pending") || !strings.Contains(r.stdout, "00001") {
		t.Errorf("status of a new database:\n%s", r.stdout)
	}
	r = mustRun(t, e, "", "migrate")
	if !strings.Contains(r.stdout, "database is at version") {
		t.Errorf("migrate up:\n%s", r.stdout)
	}
	r = mustRun(t, e, "", "migrate", "status")
	if regexp.MustCompile(`(?m)^\d+\s+pending\s`).MatchString(r.stdout) || !strings.Contains(r.stdout, "applied") {
		t.Errorf("status after up:\n%s", r.stdout)
	}
	mustRun(t, e, "", "migrate", "down")
	if r := mustRun(t, e, "", "migrate", "status"); !strings.Contains(r.stdout, "pending") {
		t.Errorf("status after down:\n%s", r.stdout)
	}
	mustRun(t, e, "", "migrate", "up")
	if r := runCmd(t, e, "", "migrate", "sideways"); exitCode(r.err) != 2 {
		t.Errorf("migrate sideways: %v", r.err)
	}
}

func TestVersion(t *testing.T) {
	r := mustRun(t, env{}, "", "version")
	if !strings.HasPrefix(r.stdout, "crowdgate ") || !strings.Contains(r.stdout, "commit ") {
		t.Errorf("version: %q", r.stdout)
	}
}

func TestHelp(t *testing.T) {
	r := mustRun(t, env{}, "", "help")
	for _, cmd := range commands() {
		if !strings.Contains(r.stdout, cmd.name) {
			t.Errorf("help lacks %q", cmd.name)
		}
	}
	if r := runCmd(t, env{}, "", "user", "add", "-h"); r.err != nil || !strings.Contains(r.stderr, "--create-groups") && !strings.Contains(r.stderr, "-create-groups") {
		t.Errorf("user add -h: %v\n%s", r.err, r.stderr)
	}
}

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

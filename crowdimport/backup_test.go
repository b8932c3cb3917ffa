package crowdimport_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/crowdimport"
	"github.com/crowdgate/crowdgate/store"
)

const golden = "testdata/crowd-backup.xml"

// goldenPasswords are the passwords behind the hand-made backup's credentials.
var goldenPasswords = map[string]string{
	"admin":  "admin-Pa55word",  // {PKCS5S2}
	"jdoe":   "jdoe-Pa55word",   // atlassian-sha1 (bare SHA-512)
	"ASmith": "asmith-Pa55word", // {SSHA}
	"bwayne": "bcrypt-Wayne-42", // bcrypt
	"cclark": "cclark-Pa55word", // {MD5}, inactive
}

func TestBackupGolden(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		opts := crowdimport.Options{Log: testLog(t)}

		// A dry run reports everything and writes nothing.
		before := takeSnapshot(t, st)
		dry := opts
		dry.DryRun = true
		rep, err := crowdimport.BackupFile(ctx, golden, st, dry)
		if err != nil {
			t.Fatal(err)
		}
		if after := takeSnapshot(t, st); !after.equal(before) {
			t.Fatalf("dry run changed the store: %+v -> %+v", before, after)
		}
		want := map[string]crowdimport.Counts{
			"directories":       {Created: 1, Skipped: 1},
			"users":             {Created: 5, Skipped: 1},
			"groups":            {Created: 5, Skipped: 1},
			"user memberships":  {Created: 7, Skipped: 1},
			"group memberships": {Created: 2},
			"applications":      {Created: 2, Skipped: 1},
		}
		checkCounts(t, "dry run", rep, want)
		if !strings.Contains(rep.String(), "Dry run") || !strings.Contains(rep.String(), "would create") {
			t.Errorf("dry-run report does not say so:\n%s", rep)
		}

		// The import.
		rep, err = crowdimport.BackupFile(ctx, golden, st, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("report:\n%s", rep)
		checkCounts(t, "import", rep, want)
		if diff := cmp.Diff(map[string]int{"PKCS5S2": 1, "ATLASSIAN-SHA1": 1, "SSHA": 1, "BCRYPT": 1, "MD5": 1}, rep.Passwords); diff != "" {
			t.Errorf("password formats (-want +got):\n%s", diff)
		}
		if len(rep.ApplicationPasswords) != 0 {
			t.Errorf("generated application passwords %v; want none (both keep their PKCS5S2 credential)", rep.ApplicationPasswords)
		}
		for _, s := range []string{`1 directory: CONNECTOR directory`, `"Corporate LDAP"`, `"ldap.user"`,
			`Crowd's own application`, `<tokens>`, `password history`} {
			if !strings.Contains(rep.String(), s) {
				t.Errorf("report lacks %q:\n%s", s, rep)
			}
		}
		checkGoldenDirectory(t, st)

		// Audit: one line for the run, plus the store's own per-object lines, all by the CLI actor.
		runs, err := st.ListAudit(ctx, store.AuditFilter{Action: "CROWD_IMPORT"})
		if err != nil || len(runs) != 1 {
			t.Fatalf("CROWD_IMPORT audit lines = %d, %v; want 1", len(runs), err)
		}
		if runs[0].ActorKind != store.ActorCLI || runs[0].Outcome != "SUCCESS" || !strings.Contains(runs[0].Details, `"users":{"created":5`) {
			t.Errorf("audit line = %+v", runs[0])
		}
		created, err := st.ListAudit(ctx, store.AuditFilter{Action: "USER_CREATED"})
		if err != nil || len(created) != 5 || created[0].ActorKind != store.ActorCLI {
			t.Errorf("USER_CREATED audit lines = %d (%v), want 5 by CLI", len(created), err)
		}

		// Sign-ins upgrade legacy hashes; a re-run must neither undo that nor change anything else.
		jira := viewOf(t, st, "jira")
		for _, name := range []string{"admin", "jdoe"} {
			if _, err := jira.Authenticate(ctx, name, goldenPasswords[name]); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		again, err := crowdimport.BackupFile(ctx, golden, st, opts)
		if err != nil {
			t.Fatal(err)
		}
		// What the first run created, the second finds unchanged; it skips the same objects.
		rerun := map[string]crowdimport.Counts{}
		for kind, c := range want {
			rerun[kind] = crowdimport.Counts{Unchanged: c.Created, Skipped: c.Skipped}
		}
		checkCounts(t, "second run", again, rerun)
		if again.Changes() != 0 || again.Passwords["kept (already set in crowdgate)"] != 5 {
			t.Errorf("second run changed something: %d changes, passwords %v", again.Changes(), again.Passwords)
		}
		// The upgraded credentials still work after the re-run.
		for _, name := range []string{"admin", "jdoe"} {
			if _, err := jira.Authenticate(ctx, name, goldenPasswords[name]); err != nil {
				t.Errorf("%s after the second run: %v", name, err)
			}
		}
	})
}

func checkCounts(t *testing.T, what string, rep *crowdimport.Report, want map[string]crowdimport.Counts) {
	t.Helper()
	got := map[string]crowdimport.Counts{
		"directories": rep.Directories, "users": rep.Users, "groups": rep.Groups,
		"user memberships": rep.UserMemberships, "group memberships": rep.GroupMemberships, "applications": rep.Applications,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: counts (-want +got):\n%s\n%s", what, diff, rep)
	}
}

// checkGoldenDirectory checks the imported directory against the hand-made backup.
func checkGoldenDirectory(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	dir, err := st.DirectoryByName(ctx, "Crowd Internal Directory")
	if err != nil {
		t.Fatal(err)
	}
	if dir.Kind != store.DirectoryInternal || !dir.NestedGroups || dir.LockoutThreshold != 5 {
		t.Errorf("directory = %+v", dir)
	}
	if _, err := st.DirectoryByName(ctx, "Corporate LDAP"); !store.IsNotFound(err) {
		t.Errorf("the LDAP directory was imported: %v", err)
	}

	u, err := st.UserByName(ctx, dir.ID, "asmith")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "ASmith" || u.DisplayName != "Anna Smith" || u.Email != "anna.smith@example.com" ||
		u.ExternalID != "9d1f0a52-3b8e-4f7a-8c61-2e4b7d9a1c30" || !u.Active {
		t.Errorf("ASmith = %+v", u)
	}
	attrs, err := st.UserAttributes(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"synch.department": {"Design & Research"}}, attrs); diff != "" {
		t.Errorf("ASmith attributes (-want +got):\n%s", diff)
	}
	jdoe, _ := st.UserByName(ctx, dir.ID, "jdoe")
	attrs, _ = st.UserAttributes(ctx, jdoe.ID)
	if diff := cmp.Diff([]string{"developer", "reviewer"}, attrs["synch.roles"]); diff != "" {
		t.Errorf("multi-valued attribute (-want +got):\n%s", diff)
	}
	g, err := st.GroupByName(ctx, dir.ID, "jira-software-users")
	if err != nil {
		t.Fatal(err)
	}
	gattrs, _ := st.GroupAttributes(ctx, g.ID)
	if g.Description != "Jira Software licence" || !cmp.Equal(gattrs, map[string][]string{"synch.owner": {"it-ops"}}) {
		t.Errorf("group = %+v %v", g, gattrs)
	}

	// Everyone signs in with the password they had in Crowd, where the application lets them in.
	jira := viewOf(t, st, "jira")
	conf := viewOf(t, st, "confluence")
	for _, tc := range []struct {
		app  *store.View
		user string
		want error
	}{
		{jira, "admin", nil},              // PKCS5S2; jira-administrators ⊂ jira-software-users
		{jira, "jdoe", nil},               // atlassian-sha1; developers ⊂ jira-software-users
		{jira, "ASmith", nil},             // SSHA; developers
		{confluence(conf), "ASmith", nil}, // confluence-users
		{confluence(conf), "bwayne", nil}, // bcrypt
		{jira, "bwayne", store.ErrNotAllowed},
		{jira, "cclark", store.ErrInactive}, // MD5, right password, inactive in Crowd
	} {
		_, err := tc.app.Authenticate(ctx, tc.user, goldenPasswords[tc.user])
		if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Errorf("%s signs in to %s: %v, want %v", tc.user, tc.app.App.Name, err, tc.want)
		}
	}
	if _, err := jira.Authenticate(ctx, "jdoe", "wrong"); !errors.Is(err, store.ErrBadCredential) {
		t.Errorf("wrong password: %v", err)
	}

	// Applications keep Crowd's credential, mappings, allowed groups and addresses.
	for name, pw := range map[string]string{"jira": "jira-App-Pa55", "confluence": "confluence-App-Pa55"} {
		if _, err := st.AuthenticateApplication(ctx, name, pw); err != nil {
			t.Errorf("application %s with its Crowd password: %v", name, err)
		}
	}
	app, err := st.ApplicationByName(ctx, "jira")
	if err != nil {
		t.Fatal(err)
	}
	if app.Kind != store.AppJira || app.LowerCaseOutput || len(app.Mappings) != 1 {
		t.Errorf("jira = %+v", app)
	}
	if diff := cmp.Diff([]string{"10.20.30.40", "192.168.10.0/24", "jira.example.com"}, app.RemoteAddresses); diff != "" {
		t.Errorf("jira addresses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(store.Mapping{DirectoryID: dir.ID, Groups: []string{"jira-administrators", "jira-software-users"},
		Operations: store.AllOperations}, app.Mappings[0]); diff != "" {
		t.Errorf("jira mapping (-want +got):\n%s", diff)
	}
	capp, _ := st.ApplicationByName(ctx, "confluence")
	if capp.Kind != store.AppConfluence || !capp.LowerCaseOutput ||
		!cmp.Equal(capp.Mappings[0].Operations, []string{store.OpUpdateUserAttribute, store.OpUpdateGroupAttribute}) {
		t.Errorf("confluence = %+v", capp)
	}
	if _, err := st.ApplicationByName(ctx, "crowd"); !store.IsNotFound(err) {
		t.Errorf("Crowd's own application was imported: %v", err)
	}

	// Nesting and memberships, as the application sees them.
	users, err := store.Users(func(fn func(store.User) error) error {
		return jira.GroupUsers(ctx, "jira-software-users", true, store.All, fn)
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	if diff := cmp.Diff([]string{"admin", "ASmith", "cclark", "jdoe"}, names); diff != "" {
		t.Errorf("nested members of jira-software-users (-want +got):\n%s", diff)
	}
}

// confluence only labels the view in the table above.
func confluence(v *store.View) *store.View { return v }

func TestOptions(t *testing.T) {
	st := newSQLite(t)
	ctx := context.Background()
	for _, o := range []crowdimport.Options{
		{OtherDirectories: "ldap"},
		{DESKey: []byte("1234")},
		{TargetDirectory: " padded"},
	} {
		if _, err := crowdimport.BackupFile(ctx, golden, st, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	key, err := crowdimport.ParseDESKey("Y3Jvd2RERVM=")
	if err != nil || string(key) != "crowdDES" {
		t.Errorf("ParseDESKey = %q, %v", key, err)
	}
	if _, err := crowdimport.ParseDESKey("Y3Jvd2Q="); err == nil {
		t.Error("a 5-byte key was accepted")
	}
	// An Entra replica cannot receive an import.
	if _, err := st.CreateDirectory(ctx, store.Directory{Name: "Entra", Kind: store.DirectoryAzureAD, Active: true}); err != nil {
		t.Fatal(err)
	}
	_, err = crowdimport.BackupFile(ctx, golden, st, crowdimport.Options{TargetDirectory: "entra"})
	if !errors.Is(err, crowdimport.ErrInvalidInput) || !strings.Contains(err.Error(), `"Entra" exists and is AZURE_AD`) {
		t.Errorf("import into an Entra directory: %v", err)
	}
}

func TestBackupOtherDirectoriesAsInternal(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		rep, err := crowdimport.BackupFile(ctx, golden, st, crowdimport.Options{OtherDirectories: crowdimport.OtherDirectoriesInternal})
		if err != nil {
			t.Fatal(err)
		}
		checkCounts(t, "import", rep, map[string]crowdimport.Counts{
			"directories": {Created: 2}, "users": {Created: 6}, "groups": {Created: 6},
			"user memberships": {Created: 8}, "group memberships": {Created: 2}, "applications": {Created: 2, Skipped: 1},
		})
		if rep.Passwords["none"] != 1 {
			t.Errorf("passwords = %v, want the LDAP user without one", rep.Passwords)
		}
		ldap, err := st.DirectoryByName(ctx, "Corporate LDAP")
		if err != nil || ldap.Kind != store.DirectoryInternal {
			t.Fatalf("LDAP directory = %+v, %v", ldap, err)
		}
		app, _ := st.ApplicationByName(ctx, "jira")
		if len(app.Mappings) != 2 || app.Mappings[1].DirectoryID != ldap.ID || !app.Mappings[1].AllowAll {
			t.Errorf("jira mappings = %+v", app.Mappings)
		}
		if _, err := viewOf(t, st, "jira").Authenticate(ctx, "ldap.user", "anything"); !errors.Is(err, store.ErrBadCredential) {
			t.Errorf("LDAP user without a password: %v", err)
		}
	})
}

func TestBackupTargetDirectory(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		internal, err := st.EnsureInternalDirectory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := crowdimport.BackupFile(ctx, golden, st, crowdimport.Options{TargetDirectory: internal.Name,
			OtherDirectories: crowdimport.OtherDirectoriesInternal})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Directories != (crowdimport.Counts{Unchanged: 1}) || rep.Users.Created != 6 {
			t.Errorf("report:\n%s", rep)
		}
		n, _ := st.UserCount(ctx, internal.ID)
		if n != 6 {
			t.Errorf("users in %q = %d, want 6", internal.Name, n)
		}
		app, _ := st.ApplicationByName(ctx, "jira")
		if len(app.Mappings) != 1 || !app.Mappings[0].AllowAll || len(app.Mappings[0].Groups) != 2 {
			t.Errorf("merged mappings = %+v", app.Mappings)
		}
	})
}

// TestBackupRenamedInCrowd: a user renamed in Crowd between two imports keeps its crowdgate user
// (and so its key), found by external id.
func TestBackupRenamedInCrowd(t *testing.T) {
	raw, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	renamed := strings.ReplaceAll(string(raw), ">jdoe<", ">john.doe<")
	eachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if _, err := crowdimport.BackupFile(ctx, golden, st, crowdimport.Options{}); err != nil {
			t.Fatal(err)
		}
		dir, _ := st.DirectoryByName(ctx, "Crowd Internal Directory")
		before, err := st.UserByName(ctx, dir.ID, "jdoe")
		if err != nil {
			t.Fatal(err)
		}
		rep, err := crowdimport.Backup(ctx, strings.NewReader(renamed), st, crowdimport.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Users.Updated != 1 || rep.Users.Created != 0 || rep.UserMemberships.Created != 0 {
			t.Errorf("report:\n%s", rep)
		}
		after, err := st.UserByName(ctx, dir.ID, "john.doe")
		if err != nil || after.ID != before.ID || after.Key() != before.Key() {
			t.Errorf("renamed user = %+v, %v; was %+v", after, err, before)
		}
		if _, err := viewOf(t, st, "jira").Authenticate(ctx, "john.doe", goldenPasswords["jdoe"]); err != nil {
			t.Errorf("renamed user signs in: %v", err)
		}
	})
}

package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestStore is the conformance suite: every case runs on a fresh store of every dialect (the
// console's queries, the methods behind SAML sign-in and the synchroniser's store API included).
func TestStore(t *testing.T) {
	runSuite(t, []storeCase{
		{"UserCRUD", testUserCRUD},
		{"UserNamesCaseInsensitive", testUserCase},
		{"UserBadInput", testUserBadInput},
		{"UserRenameKeepsKey", testUserRename},
		{"Attributes", testAttributes},
		{"GroupCRUD", testGroupCRUD},
		{"Memberships", testMemberships},
		{"NestedGroupsAndCycles", testNested},
		{"ApplicationView", testApplicationView},
		{"ShadowingAcrossDirectories", testShadowing},
		{"FilterByAccess", testFilterByAccess},
		{"Search", testSearch},
		{"MembershipStream", testMembershipStream},
		{"PasswordFormats", testPasswordFormats},
		{"Authenticate", testAuthenticate},
		{"AddressGuard", testAddressGuard},
		{"UnknownUserHashes", testUnknownUserHashes},
		{"AdminPasswordPolicy", testAdminPasswordPolicy},
		{"TOTP", testTOTP},
		{"ApplicationAuth", testApplicationAuth},
		{"Sessions", testSessions},
		{"SessionRevokedOnDeactivate", testSessionRevoked},
		{"SessionWarm", testSessionWarm},
		{"Events", testEvents},
		{"EventTokens", testEventTokens},
		{"Audit", testAudit},
		{"TimePrecision", testTimePrecision},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"TransactionAtomic", testAtomic},
		{"ConsoleExplainAndCount", testConsoleExplain},
		{"ConsoleAccessReport", testConsoleReport},
		{"ConsoleGroupGrants", testConsoleGroupGrants},
		{"ConsoleDirectoryStatsAndView", testConsoleDirectories},
		{"ConsoleTouchSession", testConsoleTouch},
		{"SAMLReplayCache", testSAMLReplayCache},
		{"SAMLReplayCacheConcurrent", testSAMLReplayConcurrent},
		{"SAMLUsersForAssertion", testSAMLUsers},
		{"SAMLUserInGroup", testSAMLUserInGroup},
		{"SAMLStateKey", testSAMLStateKey},
		{"SyncUsersUpsertRenameNoOp", testSyncUsers},
		{"SyncRenameSwapInOneBatch", testSyncSwap},
		{"SyncRemoveUsersDeactivateOrDelete", testSyncRemoveUsers},
		{"SyncGroupsAndMembers", testSyncGroupsMembers},
		{"SyncGroupRenameEvents", testSyncGroupRename},
		{"SyncIncumbentKeepsItsName", testSyncIncumbent},
		{"SyncSuffixedNameTaken", testSyncSuffixTaken},
		{"SyncProtectedNames", testSyncProtected},
		{"SyncTombstoneYieldsItsName", testSyncTombstone},
		{"SyncInvalidObjects", testSyncInvalid},
		{"SyncOutsideRecordsAndLookup", testSyncOutside},
		{"SyncStateAndRuns", testSyncStateRuns},
		{"SyncFinishIsOneTransaction", testSyncFinishAtomic},
		{"SyncInternalDirectoryRefused", testSyncInternal},
		{"SyncAtomicBatch", testSyncAtomic},
		{"SyncLargeBatch", testSyncLarge},
		{"SyncBulkChangeExpiresTokens", testSyncBulkChange},
		{"SyncStagedFullRound", testSyncStage},
	})
}

// storeCase is one case of a suite: it runs on a fresh store.
type storeCase struct {
	name string
	run  func(t *testing.T, s *store.Store)
}

// runSuite runs every case on a fresh store of every dialect, the dialects in parallel.
func runSuite(t *testing.T, cases []storeCase) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, storetest.Open(t, d)) })
			}
		})
	}
}

// onEachStore runs fn on a fresh store of every dialect.
func onEachStore(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) { fn(t, storetest.Open(t, d)) })
	}
}

// onTwoStores runs fn on every dialect with two stores on one fresh database, as two crowdgate
// instances would have.
func onTwoStores(t *testing.T, fn func(t *testing.T, a, b *store.Store)) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			a, b := storetest.Two(t, d)
			fn(t, a, b)
		})
	}
}

// fixture is a small directory: one internal directory, an application mapped to it.
type fixture struct {
	dir store.Directory
	app store.Application
}

func setup(t *testing.T, s *store.Store) fixture {
	t.Helper()
	ctx := context.Background()
	d := storetest.Must(s.EnsureInternalDirectory(ctx))
	app := storetest.Must(s.CreateApplication(ctx, store.NewApplication{
		Name: "jira", Password: "jira-secret", Active: true, Kind: store.AppJira,
		Mappings: []store.Mapping{{DirectoryID: d.ID, AllowAll: true, Operations: store.AllOperations}},
	}))
	return fixture{dir: d, app: app}
}

func addUser(t *testing.T, s *store.Store, dir int64, name string, groups ...int64) store.User {
	t.Helper()
	ctx := context.Background()
	u := storetest.Must(s.CreateUser(ctx, store.NewUser{DirectoryID: dir, Name: name, FirstName: "F", LastName: name, Email: name + "@example.com", Active: true}))
	for _, g := range groups {
		if err := s.AddUserToGroup(ctx, u.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func addGroup(t *testing.T, s *store.Store, dir int64, name string) store.Group {
	t.Helper()
	return storetest.Must(s.CreateGroup(context.Background(), store.NewGroup{DirectoryID: dir, Name: name, Active: true}))
}

func view(t *testing.T, s *store.Store, app store.Application) *store.View {
	t.Helper()
	a := storetest.Must(s.Application(context.Background(), app.ID))
	return storetest.Must(s.View(context.Background(), a))
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func names[T any](t *testing.T, list func(func(T) error) error, name func(T) string) []string {
	t.Helper()
	var out []string
	if err := list(func(v T) error { out = append(out, name(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func userNames(t *testing.T, list func(func(store.User) error) error) []string {
	t.Helper()
	return names(t, list, func(u store.User) string { return u.Name })
}

func groupNames(t *testing.T, list func(func(store.Group) error) error) []string {
	t.Helper()
	return names(t, list, func(g store.Group) string { return g.Name })
}

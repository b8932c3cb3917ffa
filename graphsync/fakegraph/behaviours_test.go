package fakegraph_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
)

func must(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// members returns "id kind" for every members@delta entry of group id in objs, "-" marking removals.
func members(objs []map[string]any, id string) []string {
	var out []string
	for _, o := range objs {
		if o["id"] != id {
			continue
		}
		ms, _ := o["members@delta"].([]any)
		for _, m := range ms {
			mm := m.(map[string]any)
			s := mm["id"].(string) + " " + strings.TrimPrefix(mm["@odata.type"].(string), "#microsoft.graph.")
			if mm["@removed"] != nil {
				s = "-" + s
			}
			out = append(out, s)
		}
	}
	return out
}

// TestReplicationLag: a user created under lag is in its group's members@delta at once, but users
// delta returns it only after CatchUp, in the next delta round.
func TestReplicationLag(t *testing.T) {
	tn := fakegraph.NewTenant()
	must(t, tn.AddUser(fakegraph.User{ID: "u1"}), tn.AddGroup(fakegraph.Group{ID: "g", DisplayName: "g"}))
	srv := fakegraph.New(tn, fakegraph.Options{})
	defer srv.Close()
	_, usersLink, _ := all(t, srv.BaseURL()+"/users/delta", "test-token")
	_, groupsLink, _ := all(t, srv.BaseURL()+"/groups/delta?$select=displayName,members", "test-token")

	tn.LagNewUsers(true)
	must(t, tn.AddUser(fakegraph.User{ID: "u2", UserPrincipalName: "new@contoso.com"}), tn.AddMember("g", "u2"))
	tn.LagNewUsers(false)
	if got := tn.Lagging(); !slices.Equal(got, []string{"u2"}) {
		t.Fatalf("Lagging = %v", got)
	}
	groups, _, _ := all(t, groupsLink, "test-token")
	if got := members(groups, "g"); !slices.Equal(got, []string{"u2 user"}) {
		t.Errorf("groups delta members = %v, want [u2 user]", got)
	}
	users, usersLink2, _ := all(t, usersLink, "test-token")
	if full, _, _ := all(t, srv.BaseURL()+"/users/delta", "test-token"); len(users) != 0 || !slices.Equal(ids(full), []string{"u1"}) {
		t.Errorf("users delta under lag: %v; full round %v; want nothing and [u1]", ids(users), ids(full))
	}
	tn.CatchUp()
	users, _, _ = all(t, usersLink2, "test-token")
	if !slices.Equal(ids(users), []string{"u2"}) || users[0]["userPrincipalName"] != "new@contoso.com" {
		t.Errorf("users delta after CatchUp = %v, want u2", users)
	}
}

// TestRepeatedObjectsAndSpreadChunks: with RepeatObjects each page after the first starts with the
// previous page's last object; with SpreadChunks a big group's later member chunks come after all
// other groups. Merged by id, the round still holds every object and member once.
func TestRepeatedObjectsAndSpreadChunks(t *testing.T) {
	tn := fakegraph.NewTenant()
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		must(t, tn.AddUser(fakegraph.User{ID: id}))
	}
	for _, g := range []string{"g1", "g2", "g3"} {
		must(t, tn.AddGroup(fakegraph.Group{ID: g, DisplayName: g}))
	}
	for _, m := range []string{"a", "b", "c", "d", "e"} {
		must(t, tn.AddMember("g1", m))
	}
	must(t, tn.AddMember("g2", "a"), tn.AddMember("g3", "g2"))
	srv := fakegraph.New(tn, fakegraph.Options{PageSize: 2, MemberChunk: 2, RepeatObjects: true, SpreadChunks: true})
	defer srv.Close()

	users, _, pages := all(t, srv.BaseURL()+"/users/delta", "test-token")
	if want := []string{"a", "b", "b", "c", "d", "d", "e"}; !slices.Equal(ids(users), want) || pages != 3 {
		t.Errorf("users = %v on %d pages, want %v on 3", ids(users), pages, want)
	}
	groups, link, _ := all(t, srv.BaseURL()+"/groups/delta?$select=displayName,members", "test-token")
	// Pass 1: g1 (a b), g2 (a); page 2: g2 again, g3 (g2); then g1's other chunks: (c d), (e).
	if want := []string{"g1", "g2", "g2", "g3", "g1", "g1"}; !slices.Equal(ids(groups), want) {
		t.Errorf("groups = %v, want %v", ids(groups), want)
	}
	if got := members(groups, "g1"); !slices.Equal(got, []string{"a user", "b user", "c user", "d user", "e user"}) {
		t.Errorf("g1 members across the round = %v", got)
	}
	if got := members(groups, "g2"); !slices.Equal(got, []string{"a user"}) {
		t.Errorf("g2 members = %v (a repeated group carries no members)", got)
	}

	// A delta round with many member changes spreads them the same way.
	must(t, tn.RemoveMember("g1", "a"), tn.RemoveMember("g1", "b"), tn.RemoveMember("g1", "c"))
	groups, _, _ = all(t, link, "test-token")
	if got := members(groups, "g1"); !slices.Equal(got, []string{"-a user", "-b user", "-c user"}) {
		t.Errorf("g1 member changes = %v", got)
	}
}

// TestRemovedInFullRound: a round without a token also reports deleted objects when asked to.
func TestRemovedInFullRound(t *testing.T) {
	tn := twoUsers(t)
	must(t, tn.DeleteUser("u1", false), tn.AddGroup(fakegraph.Group{ID: "g"}), tn.DeleteGroup("g", true))
	srv := fakegraph.New(tn, fakegraph.Options{RemovedInFullRounds: true})
	defer srv.Close()
	users, _, _ := all(t, srv.BaseURL()+"/users/delta", "test-token")
	want := []map[string]any{{"id": "u1", "@removed": map[string]any{"reason": "changed"}}}
	if diff := cmp.Diff(want, users[:1]); diff != "" || len(users) != 2 {
		t.Errorf("full users round (-want +got):\n%s", diff)
	}
	groups, _, _ := all(t, srv.BaseURL()+"/groups/delta", "test-token")
	if want := []map[string]any{{"id": "g", "@removed": map[string]any{"reason": "deleted"}}}; !cmp.Equal(want, groups) {
		t.Errorf("full groups round = %v", groups)
	}
}

// TestOtherMemberTypes: service principals, devices and contacts in a group carry their @odata.type.
func TestOtherMemberTypes(t *testing.T) {
	tn := fakegraph.NewTenant()
	must(t, tn.AddUser(fakegraph.User{ID: "u"}), tn.AddGroup(fakegraph.Group{ID: "g"}),
		tn.AddMember("g", "u"),
		tn.AddDirectoryObject("g", "sp", fakegraph.KindServicePrincipal),
		tn.AddDirectoryObject("g", "dev", fakegraph.KindDevice),
		tn.AddDirectoryObject("g", "con", fakegraph.KindOrgContact))
	if err := tn.AddDirectoryObject("g", "u", fakegraph.KindDevice); err == nil {
		t.Error("a user id accepted as a device")
	}
	if err := tn.AddDirectoryObject("g", "x", "application"); err == nil {
		t.Error("kind application accepted")
	}
	srv := fakegraph.New(tn, fakegraph.Options{})
	defer srv.Close()
	groups, _, _ := all(t, srv.BaseURL()+"/groups/delta", "test-token")
	if got := members(groups, "g"); !slices.Equal(got, []string{"con orgContact", "dev device", "sp servicePrincipal", "u user"}) {
		t.Errorf("members = %v", got)
	}
	if ms := tn.Members("g"); len(ms) != 4 || ms[2] != (fakegraph.Member{ID: "sp", Kind: fakegraph.KindServicePrincipal}) {
		t.Errorf("Members = %v", ms)
	}
}

// TestSlowPageAndReset: a slow page arrives whole after its delay; a reset page breaks off in the
// body, and the request is recorded as reset.
func TestSlowPageAndReset(t *testing.T) {
	srv := fakegraph.New(twoUsers(t), fakegraph.Options{})
	defer srv.Close()
	srv.FailNext(1, fakegraph.SlowPage(20*time.Millisecond))
	if status, _, p := get(t, srv.BaseURL()+"/users/delta", "test-token"); status != 200 || len(p.Value) != 2 {
		t.Errorf("slow page: %d, %d users", status, len(p.Value))
	}
	// A client that gives up first gets nothing, and the server does not hang.
	srv.FailNext(1, fakegraph.SlowPage(time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.BaseURL()+"/users/delta", nil)
	req.Header.Set("Authorization", "Bearer test-token")
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow page past the deadline: %v", err)
	}

	srv.FailNext(1, fakegraph.ResetMidBody())
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, srv.BaseURL()+"/users/delta", nil)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) || len(body) == 0 {
		t.Errorf("reset: %d, %d bytes, err %v; want 200, part of the body, unexpected EOF", resp.StatusCode, len(body), err)
	}
	reqs := srv.Requests()
	if last := reqs[len(reqs)-1]; !last.Reset || last.Status != 200 {
		t.Errorf("recorded %+v, want a reset 200", last)
	}
}

// TestSustainedThrottling: every n-th request is throttled until switched off, over a long round.
func TestSustainedThrottling(t *testing.T) {
	tn := fakegraph.NewTenant()
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		must(t, tn.AddUser(fakegraph.User{ID: id}))
	}
	srv := fakegraph.New(tn, fakegraph.Options{PageSize: 1})
	defer srv.Close()
	srv.ThrottleEvery(2, fakegraph.Throttle("0"))
	url, got := srv.BaseURL()+"/users/delta", []string{}
	for range 20 {
		status, _, p := get(t, url, "test-token")
		if status == 429 {
			continue // the same URL again
		}
		got = append(got, ids(p.Value)...)
		if p.DeltaLink != "" {
			break
		}
		url = p.NextLink
	}
	var statuses []int
	for _, r := range srv.Requests() {
		statuses = append(statuses, r.Status)
	}
	if !slices.Equal(got, []string{"a", "b", "c", "d", "e", "f"}) || !slices.Equal(statuses, []int{200, 429, 200, 429, 200, 429, 200, 429, 200, 429, 200}) {
		t.Errorf("users %v, statuses %v", got, statuses)
	}
	srv.ThrottleEvery(0, fakegraph.Fault{})
	srv.ThrottleEachOnce(fakegraph.Throttle("0"))
	srv.FailNext(3, fakegraph.InternalError())
	srv.ClearFaults()
	if status, _, _ := get(t, srv.BaseURL()+"/users/delta", "test-token"); status != 200 {
		t.Errorf("after switching off: %d", status)
	}
}

// TestTokenExpiry: after SetToken the old token is refused as expired, the new one works.
func TestTokenExpiry(t *testing.T) {
	srv := fakegraph.New(twoUsers(t), fakegraph.Options{})
	defer srv.Close()
	_, _, p := get(t, srv.BaseURL()+"/users/delta", "test-token")
	srv.SetToken("token-2")
	status, _, p2 := get(t, srv.BaseURL()+"/users/delta", "test-token")
	if status != 401 || p2.Error.Code != "InvalidAuthenticationToken" || p2.Error.Message != "Lifetime validation failed, the token is expired." {
		t.Errorf("old token: %d %+v", status, p2.Error)
	}
	if status, _, _ := get(t, p.DeltaLink, "token-2"); status != 200 || srv.Token() != "token-2" {
		t.Errorf("new token: %d", status)
	}
	if status, _, p := get(t, srv.BaseURL()+"/users/delta", "forged"); status != 401 || p.Error.Message != "Access token validation failure." {
		t.Errorf("unknown token: %d %+v", status, p.Error)
	}
}

// TestLinksOnAnotherHost: next and delta links name LinkHostname on the same port, and work.
func TestLinksOnAnotherHost(t *testing.T) {
	tn := twoUsers(t)
	srv := fakegraph.New(tn, fakegraph.Options{PageSize: 1, LinkHostname: "localhost"})
	defer srv.Close()
	_, _, p := get(t, srv.BaseURL()+"/users/delta", "test-token")
	port := srv.BaseURL()[strings.LastIndex(srv.BaseURL(), ":"):]
	if !strings.HasPrefix(p.NextLink, "http://localhost"+port) {
		t.Fatalf("nextLink %q, want on localhost%s", p.NextLink, port)
	}
	users, link, _ := all(t, p.NextLink, "test-token")
	if !slices.Equal(ids(users), []string{"u2"}) || !strings.HasPrefix(link, "http://localhost"+port) {
		t.Errorf("rest of the round %v, deltaLink %q", ids(users), link)
	}
}

// TestRestoreWithMemberships: a restored user rejoins its groups, a restored group gets its members
// and parents back (those that still exist), and delta reports the memberships again.
func TestRestoreWithMemberships(t *testing.T) {
	tn := fakegraph.NewTenant()
	must(t, tn.AddUser(fakegraph.User{ID: "u1"}), tn.AddUser(fakegraph.User{ID: "u2"}),
		tn.AddGroup(fakegraph.Group{ID: "parent"}), tn.AddGroup(fakegraph.Group{ID: "g"}), tn.AddGroup(fakegraph.Group{ID: "gone"}),
		tn.AddMember("g", "u1"), tn.AddMember("g", "u2"), tn.AddMember("parent", "g"), tn.AddMember("gone", "u1"))
	srv := fakegraph.New(tn, fakegraph.Options{})
	defer srv.Close()
	_, link, _ := all(t, srv.BaseURL()+"/groups/delta?$select=members", "test-token")

	must(t, tn.DeleteUser("u1", false), tn.DeleteGroup("gone", true), tn.RestoreUser("u1"))
	if got := tn.Members("g"); len(got) != 2 {
		t.Errorf("restored u1: g members %v", got)
	}
	must(t, tn.DeleteGroup("g", false), tn.DeleteUser("u2", true))
	if len(tn.Members("parent")) != 0 {
		t.Error("deleted g still in parent")
	}
	must(t, tn.RestoreGroup("g"))
	if got, want := tn.Members("g"), []fakegraph.Member{{ID: "u1", Kind: "user"}}; !cmp.Equal(got, want) {
		t.Errorf("restored g members = %v, want %v (u2 is gone for good)", got, want)
	}
	if got := tn.Members("parent"); len(got) != 1 || got[0].ID != "g" {
		t.Errorf("parent members = %v", got)
	}
	if err := tn.RestoreGroup("g"); !errors.Is(err, fakegraph.ErrNotFound) {
		t.Errorf("restore of a live group: %v", err)
	}
	groups, _, _ := all(t, link, "test-token")
	if got := members(groups, "g"); !slices.Equal(got, []string{"u1 user", "-u2 user"}) {
		t.Errorf("g member changes = %v", got)
	}
	if got := members(groups, "parent"); !slices.Equal(got, []string{"g group"}) {
		t.Errorf("parent member changes = %v", got)
	}
}

// TestGroupKindsAndUserCreatedGroup: Microsoft 365 and security groups side by side, and a group an
// ordinary user creates with a privileged name.
func TestGroupKindsAndUserCreatedGroup(t *testing.T) {
	tn := fakegraph.NewTenant()
	must(t, tn.AddUser(fakegraph.User{ID: "mallory"}),
		tn.AddGroup(fakegraph.Group{ID: "sec", DisplayName: "jira-administrators", SecurityEnabled: true}))
	id, err := tn.CreateGroupAsUser("mallory", "jira-administrators")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.CreateGroupAsUser("nobody", "x"); !errors.Is(err, fakegraph.ErrNotFound) {
		t.Errorf("unknown owner: %v", err)
	}
	srv := fakegraph.New(tn, fakegraph.Options{})
	defer srv.Close()
	groups, _, _ := all(t, srv.BaseURL()+"/groups/delta?$select=displayName,securityEnabled,mailEnabled,groupTypes,members", "test-token")
	byID := map[string]map[string]any{}
	for _, g := range groups {
		byID[g["id"].(string)] = g
	}
	m365, sec := byID[id], byID["sec"]
	if m365["displayName"] != "jira-administrators" || m365["securityEnabled"] != false || !cmp.Equal(m365["groupTypes"], []any{"Unified"}) {
		t.Errorf("user-created group = %v", m365)
	}
	if sec["securityEnabled"] != true || !cmp.Equal(sec["groupTypes"], []any{}) {
		t.Errorf("security group = %v", sec)
	}
	if got := members(groups, id); !slices.Equal(got, []string{"mallory user"}) {
		t.Errorf("owner membership = %v", got)
	}
}

package fakegraph_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
)

type page struct {
	Context   string           `json:"@odata.context"`
	NextLink  string           `json:"@odata.nextLink"`
	DeltaLink string           `json:"@odata.deltaLink"`
	Value     []map[string]any `json:"value"`
	Error     *struct {
		Code       string         `json:"code"`
		Message    string         `json:"message"`
		InnerError map[string]any `json:"innerError"`
	} `json:"error"`
}

// get fetches url with token ("" for none) and decodes the answer.
func get(t *testing.T, url, token string, header ...string) (int, http.Header, page) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p page
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("GET %s: %d, body is not JSON: %v", url, resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Header, p
}

// all follows a round from url and returns its objects and deltaLink.
func all(t *testing.T, url, token string, header ...string) ([]map[string]any, string, int) {
	t.Helper()
	var out []map[string]any
	for pages := 1; ; pages++ {
		status, _, p := get(t, url, token, header...)
		if status != 200 {
			t.Fatalf("GET %s: %d %+v", url, status, p.Error)
		}
		if (p.NextLink == "") == (p.DeltaLink == "") {
			t.Fatalf("page %d: nextLink %q, deltaLink %q: want exactly one", pages, p.NextLink, p.DeltaLink)
		}
		out = append(out, p.Value...)
		if p.DeltaLink != "" {
			return out, p.DeltaLink, pages
		}
		url = p.NextLink
	}
}

func ids(objs []map[string]any) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o["id"].(string))
	}
	return out
}

func twoUsers(t *testing.T) *fakegraph.Tenant {
	tn := fakegraph.NewTenant()
	for _, u := range []fakegraph.User{
		{ID: "u1", UserPrincipalName: "a@contoso.com", DisplayName: "Quote \" back\\slash \n newline \x01 é 日本 \xff", AccountEnabled: true},
		{ID: "u2", UserPrincipalName: "b@contoso.com", Mail: "b@contoso.com", OtherMails: []string{"b@fabrikam.com"}},
	} {
		if err := tn.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

func TestRoutesAndAuth(t *testing.T) {
	srv := fakegraph.New(twoUsers(t), fakegraph.Options{})
	defer srv.Close()
	for _, p := range []string{"/users/delta", "/users/delta()", "/users/microsoft.graph.delta()", "/groups/delta", "/groups/delta()", "/groups/microsoft.graph.delta()"} {
		if status, _, pg := get(t, srv.BaseURL()+p, "test-token"); status != 200 || pg.DeltaLink == "" {
			t.Errorf("GET %s: %d, deltaLink %q", p, status, pg.DeltaLink)
		}
	}
	for _, tc := range []struct {
		path, token string
		status      int
		code        string
	}{
		{"/users/delta", "", 401, "InvalidAuthenticationToken"},
		{"/users/delta", "other", 401, "InvalidAuthenticationToken"},
		{"/users", "test-token", 404, "Request_ResourceNotFound"},
		{"/users/delta?$top=5", "test-token", 400, "Request_BadRequest"},
		{"/users/delta?$select=id,favouriteColour", "test-token", 400, "Request_BadRequest"},
		{"/users/delta?$skiptoken=garbage", "test-token", 400, "Request_BadRequest"},
	} {
		status, _, pg := get(t, srv.BaseURL()+tc.path, tc.token)
		if status != tc.status || pg.Error == nil || pg.Error.Code != tc.code || pg.Error.InnerError["request-id"] == nil {
			t.Errorf("GET %s (token %q): %d %+v; want %d %s in Graph's envelope", tc.path, tc.token, status, pg.Error, tc.status, tc.code)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 12 || reqs[6].Authorization != "" || reqs[6].Status != 401 || reqs[0].Path != "/v1.0/users/delta" {
		t.Errorf("recorded requests: %+v", reqs)
	}
}

func TestSelectAndEscaping(t *testing.T) {
	tn := twoUsers(t)
	srv := fakegraph.New(tn, fakegraph.Options{})
	defer srv.Close()
	objs, _, _ := all(t, srv.BaseURL()+"/users/delta?$select=displayName,mail,otherMails", "test-token")
	want := []map[string]any{
		{"id": "u1", "displayName": "Quote \" back\\slash \n newline \x01 é 日本 \uFFFD", "mail": nil, "otherMails": []any{}},
		{"id": "u2", "displayName": nil, "mail": "b@contoso.com", "otherMails": []any{"b@fabrikam.com"}},
	}
	if diff := cmp.Diff(want, objs); diff != "" {
		t.Errorf("selected users (-want +got):\n%s", diff)
	}
	// Without $select: Graph's default property set.
	objs, _, _ = all(t, srv.BaseURL()+"/users/delta", "test-token")
	var keys []string
	for k := range objs[1] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"displayName", "givenName", "id", "mail", "surname", "userPrincipalName"}; !slices.Equal(keys, want) {
		t.Errorf("default properties = %v, want %v", keys, want)
	}
}

// TestDeltaDuringRound: objects changed while a round is being paged come back in the next round,
// so nothing is lost whatever the timing (Graph's at-least-once behaviour).
func TestDeltaDuringRound(t *testing.T) {
	tn := fakegraph.NewTenant()
	for _, id := range []string{"a", "c", "e", "g"} {
		if err := tn.AddUser(fakegraph.User{ID: id, UserPrincipalName: id + "@contoso.com"}); err != nil {
			t.Fatal(err)
		}
	}
	srv := fakegraph.New(tn, fakegraph.Options{PageSize: 2})
	defer srv.Close()
	_, _, p := get(t, srv.BaseURL()+"/users/delta", "test-token")
	if !slices.Equal(ids(p.Value), []string{"a", "c"}) {
		t.Fatalf("first page = %v", ids(p.Value))
	}
	// Behind the cursor: a new user and a rename of one already read; ahead of it: a delete.
	if err := tn.AddUser(fakegraph.User{ID: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := tn.RenameUser("a", "a2@contoso.com"); err != nil {
		t.Fatal(err)
	}
	if err := tn.DeleteUser("g", false); err != nil {
		t.Fatal(err)
	}
	rest, link, _ := all(t, p.NextLink, "test-token")
	if !slices.Equal(ids(rest), []string{"e"}) {
		t.Errorf("rest of the round = %v, want [e]", ids(rest))
	}
	next, _, _ := all(t, link, "test-token")
	if got := ids(next); !slices.Equal(got, []string{"a", "b", "g"}) {
		t.Errorf("next round = %v, want [a b g]", got)
	}
	if next[2]["@removed"] == nil || next[0]["userPrincipalName"] != "a2@contoso.com" {
		t.Errorf("next round = %v", next)
	}
}

func TestBigGroupChunksAndLatest(t *testing.T) {
	tn := fakegraph.NewTenant()
	if err := tn.AddGroup(fakegraph.Group{ID: "g", DisplayName: "big"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"u1", "u2", "u3", "u4", "u5"} {
		if err := tn.AddUser(fakegraph.User{ID: id}); err != nil {
			t.Fatal(err)
		}
		if err := tn.AddMember("g", id); err != nil {
			t.Fatal(err)
		}
	}
	srv := fakegraph.New(tn, fakegraph.Options{PageSize: 2, MemberChunk: 2})
	defer srv.Close()
	objs, _, pages := all(t, srv.BaseURL()+"/groups/delta?$select=displayName,members", "test-token")
	if len(objs) != 3 || pages != 2 {
		t.Fatalf("5 members in chunks of 2: %d group objects on %d pages, want 3 on 2", len(objs), pages)
	}
	var members []string
	for _, o := range objs {
		if o["displayName"] != "big" {
			t.Errorf("chunk without properties: %v", o)
		}
		for _, m := range o["members@delta"].([]any) {
			members = append(members, m.(map[string]any)["id"].(string))
		}
	}
	if !slices.Equal(members, []string{"u1", "u2", "u3", "u4", "u5"}) {
		t.Errorf("members across chunks = %v", members)
	}

	// $deltatoken=latest: no data, a link that sees only later changes.
	_, _, p := get(t, srv.BaseURL()+"/groups/delta?$deltatoken=latest&$select=members", "test-token")
	if len(p.Value) != 0 || p.DeltaLink == "" {
		t.Fatalf("latest: %+v", p)
	}
	if err := tn.RemoveMember("g", "u3"); err != nil {
		t.Fatal(err)
	}
	objs, _, _ = all(t, p.DeltaLink, "test-token")
	want := []map[string]any{{"id": "g", "members@delta": []any{map[string]any{
		"@odata.type": "#microsoft.graph.user", "id": "u3", "@removed": map[string]any{"reason": "deleted"}}}}}
	if diff := cmp.Diff(want, objs); diff != "" {
		t.Errorf("after removing u3 (-want +got):\n%s", diff)
	}
}

func TestFaultsAndExpiry(t *testing.T) {
	srv := fakegraph.New(twoUsers(t), fakegraph.Options{})
	defer srv.Close()
	srv.FailNext(1, fakegraph.Fault{Status: 429, RetryAfter: "2.128", Path: "/groups/"})
	if status, _, _ := get(t, srv.BaseURL()+"/users/delta", "test-token"); status != 200 {
		t.Errorf("users request consumed a groups fault: %d", status)
	}
	status, h, p := get(t, srv.BaseURL()+"/groups/delta", "test-token")
	if status != 429 || h.Get("Retry-After") != "2.128" || p.Error.Code != "TooManyRequests" {
		t.Errorf("throttled: %d Retry-After %q %+v", status, h.Get("Retry-After"), p.Error)
	}

	_, link, _ := all(t, srv.BaseURL()+"/users/delta", "test-token")
	srv.Tenant().ExpireDeltaTokens()
	status, h, p = get(t, link, "test-token")
	loc := h.Get("Location")
	if status != 410 || p.Error.Code != "syncStateNotFound" || !strings.HasSuffix(loc, "/v1.0/users/delta?$deltatoken=") {
		t.Fatalf("expired link: %d %+v Location %q", status, p.Error, loc)
	}
	if objs, _, _ := all(t, loc, "test-token"); len(objs) != 2 {
		t.Errorf("following Location: %d users, want a full round of 2", len(objs))
	}
}

func TestGenerate(t *testing.T) {
	a := fakegraph.Generate(7, 1000, 50, 5000, 3)
	b := fakegraph.Generate(7, 1000, 50, 5000, 3)
	c := fakegraph.Generate(8, 1000, 50, 5000, 3)
	if !slices.Equal(a.UserIDs(), b.UserIDs()) || !slices.Equal(a.GroupIDs(), b.GroupIDs()) {
		t.Error("same seed, different tenants")
	}
	if slices.Equal(a.UserIDs(), c.UserIDs()) {
		t.Error("different seeds, same tenant")
	}
	users, groups, memberships := a.Counts()
	if users != 1000 || groups != 50 || memberships != 5000 {
		t.Errorf("counts = %d users, %d groups, %d memberships; want 1000, 50, 5000", users, groups, memberships)
	}
	// Nesting: the longest chain of group-in-group is 3 deep; guests exist.
	depth := map[string]int{}
	var walk func(id string) int
	walk = func(id string) int {
		if d, ok := depth[id]; ok {
			return d
		}
		d := 0
		for _, m := range a.Members(id) {
			if m.Kind == fakegraph.KindGroup {
				d = max(d, 1+walk(m.ID))
			}
		}
		depth[id] = d
		return d
	}
	deepest := 0
	for _, id := range a.GroupIDs() {
		deepest = max(deepest, walk(id))
	}
	guests := 0
	for _, id := range a.UserIDs() {
		if u, _ := a.User(id); u.UserType == "Guest" && strings.Contains(u.UserPrincipalName, "#EXT#") {
			guests++
		}
	}
	if deepest != 3 || guests == 0 {
		t.Errorf("nesting depth %d (want 3), %d guests (want some)", deepest, guests)
	}
}

func TestTenantMutations(t *testing.T) {
	tn := fakegraph.NewTenant()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(tn.AddUser(fakegraph.User{ID: "u1"}))
	check(tn.AddGroup(fakegraph.Group{ID: "parent"}))
	check(tn.AddGroup(fakegraph.Group{ID: "child"}))
	check(tn.AddMember("parent", "child"))
	check(tn.AddMember("child", "u1"))
	for name, err := range map[string]error{
		"duplicate user":       tn.AddUser(fakegraph.User{ID: "u1"}),
		"group id as user":     tn.AddUser(fakegraph.User{ID: "child"}),
		"update unknown":       tn.UpdateUser("nobody", func(*fakegraph.User) {}),
		"member unknown":       tn.AddMember("parent", "nobody"),
		"group in itself":      tn.AddMember("parent", "parent"),
		"remove non-member":    tn.RemoveMember("parent", "u1"),
		"restore live user":    tn.RestoreUser("u1"),
		"update unknown group": tn.UpdateGroup("nope", func(*fakegraph.Group) {}),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	srv := fakegraph.New(tn, fakegraph.Options{})
	defer srv.Close()
	_, usersLink, _ := all(t, srv.BaseURL()+"/users/delta", "test-token")
	_, groupsLink, _ := all(t, srv.BaseURL()+"/groups/delta", "test-token")

	check(tn.DeleteUser("u1", false))
	check(tn.RestoreUser("u1")) // back, without annotation, but out of its groups
	check(tn.UpdateGroup("child", func(g *fakegraph.Group) { g.ID, g.DisplayName = "ignored", "Child" }))
	check(tn.DeleteGroup("child", true))
	users, _, _ := all(t, usersLink, "test-token")
	if len(users) != 1 || users[0]["@removed"] != nil {
		t.Errorf("restored user: %v", users)
	}
	groups, _, _ := all(t, groupsLink, "test-token")
	want := []map[string]any{
		{"id": "child", "@removed": map[string]any{"reason": "deleted"}},
		{"id": "parent", "displayName": nil, "description": nil, "mailNickname": nil, "securityEnabled": false,
			"mailEnabled": false, "groupTypes": []any{}, "members@delta": []any{map[string]any{
				"@odata.type": "#microsoft.graph.group", "id": "child", "@removed": map[string]any{"reason": "deleted"}}}},
	}
	if diff := cmp.Diff(want, groups); diff != "" {
		t.Errorf("groups delta (-want +got):\n%s", diff)
	}
	if _, ok := tn.Group("ignored"); ok || len(tn.Members("parent")) != 0 {
		t.Error("UpdateGroup changed the ID, or the deleted child is still a member")
	}
}

package crowdapi_test

import (
	"context"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// The Java client's exact request documents (docs/crowd-wire.md, "Request documents"), with its prolog.
const prolog = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`

func xmlDoc(body string) string { return prolog + body }

var newTokenRE = regexp.MustCompile(`newEventToken="([^"]+)"`)

func eventToken(t *testing.T, body string) string {
	t.Helper()
	m := newTokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no newEventToken in %s", body)
	}
	return m[1]
}

// parse decodes an XML response into v, failing the test when the client could not read it.
func parse(t *testing.T, body string, v any) {
	t.Helper()
	if err := xml.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("response is not what the Java client can read: %v\n%s", err, body)
	}
}

type xUsers struct {
	Users []struct {
		Name   string `xml:"name,attr"`
		Key    string `xml:"key"`
		Active *bool  `xml:"active"`
		Attrs  []struct {
			Name   string   `xml:"name,attr"`
			Values []string `xml:"values>value"`
		} `xml:"attributes>attribute"`
	} `xml:"user"`
}

type xGroups struct {
	Groups []struct {
		Name   string `xml:"name,attr"`
		Active *bool  `xml:"active"`
	} `xml:"group"`
}

// TestJiraSequences replays what Jira and Confluence do (docs/crowd-wire.md, "Jira's call sequences") over real HTTP.
func TestJiraSequences(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	g := storetest.Must(e.st.CreateGroup(ctx, store.NewGroup{DirectoryID: e.dir.ID, Name: "jira-users", Active: true}))
	for _, n := range []string{"alice", "Bob", "carol"} {
		u := storetest.Must(e.st.CreateUser(ctx, store.NewUser{DirectoryID: e.dir.ID, Name: n, Active: true, Password: n + "-password",
			Attributes: map[string][]string{"synch.lang": {"en"}}}))
		if err := e.st.AddUserToGroup(ctx, u.ID, g.ID); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("TestSettings", func(t *testing.T) {
		e := e.with(t)
		r := e.must(req{method: "POST", path: "/search?entity-type=user&start-index=0&max-results=1&expand=user",
			body: xmlDoc(`<property-search-restriction><property><name>name</name><type>STRING</type></property><match-mode>NULL</match-mode></property-search-restriction>`)}, 200)
		var us xUsers
		parse(t, r.body, &us)
	})

	var token string
	t.Run("FullSync", func(t *testing.T) {
		e := e.with(t)
		token = eventToken(t, e.must(req{method: "GET", path: "/event"}, 200).body)
		r := e.must(req{method: "POST", path: "/search?entity-type=user&start-index=0&max-results=-1&expand=user,attributes", body: xmlDoc(`<null-search-restriction/>`)}, 200)
		var us xUsers
		parse(t, r.body, &us)
		if len(us.Users) != 3 || us.Users[0].Name != "alice" || us.Users[1].Name != "Bob" || us.Users[0].Key == "" ||
			us.Users[0].Active == nil || len(us.Users[0].Attrs) != 4 || us.Users[0].Attrs[3].Name != "synch.lang" ||
			us.Users[0].Attrs[0].Name != "invalidPasswordAttempts" { // Crowd's own attributes first, by name
			t.Errorf("users: %+v", us)
		}
		r = e.must(req{method: "POST", path: "/search?entity-type=group&start-index=0&max-results=-1&expand=group", body: xmlDoc(`<null-search-restriction/>`)}, 200)
		var gs xGroups
		parse(t, r.body, &gs)
		if len(gs.Groups) != 1 || gs.Groups[0].Name != "jira-users" || gs.Groups[0].Active == nil {
			t.Errorf("groups: %+v", gs)
		}
		r = e.must(req{method: "GET", path: "/group/membership"}, 200)
		var ms struct {
			M []struct {
				Group string `xml:"group,attr"`
				U     []struct {
					Name string `xml:"name,attr"`
				} `xml:"users>user"`
			} `xml:"membership"`
		}
		parse(t, r.body, &ms)
		if len(ms.M) != 1 || len(ms.M[0].U) != 3 {
			t.Errorf("memberships: %s", r.body)
		}
		// The fallback the client uses without /group/membership.
		r = e.must(req{method: "GET", path: "/group/user/direct?groupname=jira-users&start-index=0&max-results=-1"}, 200)
		parse(t, r.body, &xUsers{})
		token = eventToken(t, e.must(req{method: "GET", path: "/event"}, 200).body)
	})

	t.Run("IncrementalSync", func(t *testing.T) {
		e := e.with(t)
		u := storetest.Must(e.st.CreateUser(ctx, store.NewUser{DirectoryID: e.dir.ID, Name: "dave", Active: true}))
		if err := e.st.AddUserToGroup(ctx, u.ID, g.ID); err != nil {
			t.Fatal(err)
		}
		bob := storetest.Must(e.st.UserByName(ctx, e.dir.ID, "bob"))
		storetest.Must(e.st.RenameUser(ctx, bob.ID, "robert"))
		carol := storetest.Must(e.st.UserByName(ctx, e.dir.ID, "carol"))
		if err := e.st.DeleteUser(ctx, carol.ID); err != nil {
			t.Fatal(err)
		}
		child := storetest.Must(e.st.CreateGroup(ctx, store.NewGroup{DirectoryID: e.dir.ID, Name: "contractors", Active: true}))
		if err := e.st.AddGroupToGroup(ctx, child.ID, g.ID); err != nil {
			t.Fatal(err)
		}
		r := e.must(req{method: "GET", path: "/event/" + token}, 200)
		var evs struct {
			Token string `xml:"newEventToken,attr"`
			Inc   string `xml:"incrementalSynchronisationAvailable,attr"`
			Users []struct {
				Op   string `xml:"operation"`
				User struct {
					Name string `xml:"name,attr"`
					Key  string `xml:"key"`
				} `xml:"user"`
			} `xml:"userEvent"`
			Memberships []struct {
				Op     string `xml:"operation"`
				ChildU struct {
					Name string `xml:"name,attr"`
				} `xml:"childUser"`
				Parents []struct {
					Name string `xml:"name,attr"`
				} `xml:"parentGroups>group"`
			} `xml:"userMembershipEvent"`
			Groups []struct {
				Op    string `xml:"operation"`
				Group struct {
					Name string `xml:"name,attr"`
				} `xml:"group"`
				Parents []struct {
					Name string `xml:"name,attr"`
				} `xml:"parentGroups>group"`
				Children *struct{} `xml:"childGroups"`
			} `xml:"groupMembershipEvent"`
		}
		parse(t, r.body, &evs)
		if evs.Token == "" || evs.Token == token || evs.Inc != "" {
			t.Errorf("token %q (was %q), incremental attribute %q", evs.Token, token, evs.Inc)
		}
		var ops []string
		for _, u := range evs.Users {
			ops = append(ops, u.Op+" "+u.User.Name)
		}
		want := "CREATED dave,UPDATED robert,DELETED carol"
		if strings.Join(ops, ",") != want {
			t.Errorf("user events %v, want %s\n%s", ops, want, r.body)
		}
		if len(evs.Memberships) != 1 || evs.Memberships[0].ChildU.Name != "dave" || len(evs.Memberships[0].Parents) != 1 {
			t.Errorf("membership events: %+v", evs.Memberships)
		}
		if len(evs.Groups) != 1 || evs.Groups[0].Group.Name != "contractors" || evs.Groups[0].Children == nil || evs.Groups[0].Parents[0].Name != "jira-users" {
			t.Errorf("group membership events: %+v", evs.Groups)
		}
		// The rename kept the key.
		if evs.Users[1].User.Key != bob.Key() {
			t.Errorf("renamed user key %q, want %q", evs.Users[1].User.Key, bob.Key())
		}
		// Nothing since the new token.
		r = e.must(req{method: "GET", path: "/event/" + evs.Token}, 200)
		if strings.Contains(r.body, "Event>") {
			t.Errorf("events after the newest token: %s", r.body)
		}
	})

	t.Run("LoginWithoutSSO", func(t *testing.T) {
		e := e.with(t)
		r := e.must(req{method: "POST", path: "/authentication?username=ALICE", body: xmlDoc(`<password><value>alice-password</value></password>`)}, 200)
		var u struct {
			Name   string `xml:"name,attr"`
			Active bool   `xml:"active"`
		}
		parse(t, r.body, &u)
		if u.Name != "alice" || !u.Active {
			t.Errorf("authenticated user %+v", u)
		}
		r = e.must(req{method: "GET", path: "/user/group/direct?username=alice&start-index=0&max-results=-1"}, 200)
		var gs xGroups
		parse(t, r.body, &gs)
		if len(gs.Groups) != 1 {
			t.Errorf("groups after login: %s", r.body)
		}
	})

	t.Run("SSOThroughSeraph", func(t *testing.T) {
		e := e.with(t)
		e.must(req{method: "GET", path: "/config/cookie"}, 200)
		e.must(req{method: "POST", path: "/authentication?username=alice", body: xmlDoc(`<password><value>alice-password</value></password>`)}, 200)
		ctxDoc := xmlDoc(`<authentication-context><username>alice</username><password>alice-password</password><validation-factors><validation-factor><name>remote_address</name><value>10.0.0.7</value></validation-factor></validation-factors></authentication-context>`)
		r := e.must(req{method: "POST", path: "/session?validate-password=true", body: ctxDoc}, 201)
		var s struct {
			Token string `xml:"token"`
			User  struct {
				Name string `xml:"name,attr"`
			} `xml:"user"`
		}
		parse(t, r.body, &s)
		if s.Token == "" || s.User.Name != "alice" || !strings.HasSuffix(r.header.Get("Location"), "/session/"+s.Token) {
			t.Fatalf("session %+v, Location %q", s, r.header.Get("Location"))
		}
		e.must(req{method: "GET", path: "/session/" + s.Token + "?expand=user"}, 200)
		factors := xmlDoc(`<validation-factors><validation-factor><name>remote_address</name><value>10.0.0.7</value></validation-factor></validation-factors>`)
		for range 3 {
			r = e.must(req{method: "POST", path: "/session/" + s.Token, body: factors}, 200)
			parse(t, r.body, &s)
			if s.User.Name != "alice" {
				t.Fatalf("validated principal %q", s.User.Name)
			}
		}
		e.must(req{method: "POST", path: "/authentication/notify?username=alice", body: xmlDoc(`<password/>`)}, 200)
		// Remember-me: a session without the password.
		e.must(req{method: "POST", path: "/session?validate-password=false", body: xmlDoc(`<authentication-context><username>alice</username><validation-factors/></authentication-context>`)}, 201)
		// Logout.
		e.must(req{method: "DELETE", path: "/session/" + s.Token}, 204)
		e.must(req{method: "POST", path: "/session/" + s.Token, body: factors}, 404)
		e.must(req{method: "DELETE", path: "/session/" + s.Token}, 204)
	})

	t.Run("WritesFromTheUI", func(t *testing.T) {
		e := e.with(t)
		r := e.must(req{method: "POST", path: "/user", body: xmlDoc(`<user name="eve"><first-name>Eve</first-name><last-name>Adams</last-name><display-name>Eve Adams</display-name><email>eve@example.com</email><password><value>eve-password</value></password><active>true</active><attributes/></user>`)}, 201)
		var u struct {
			Name string `xml:"name,attr"`
			Key  string `xml:"key"`
		}
		parse(t, r.body, &u)
		if u.Name != "eve" || u.Key == "" {
			t.Fatalf("created user %+v", u)
		}
		e.must(req{method: "GET", path: "/user?username=eve&expand=attributes"}, 200)
		e.must(req{method: "PUT", path: "/user?username=eve", body: xmlDoc(`<user name="eve"><first-name>Eve</first-name><last-name>Baker</last-name><display-name>Eve Baker</display-name><email>eve@example.com</email><active>true</active><key>` + u.Key + `</key><created-date>2024-01-01T00:00:00.000Z</created-date><attributes/></user>`)}, 204)
		e.must(req{method: "POST", path: "/user/rename?username=eve", body: xmlDoc(`<rename><new-name>eve.baker</new-name></rename>`)}, 200)
		e.must(req{method: "PUT", path: "/user/password?username=eve.baker", body: xmlDoc(`<password><value>new-password</value></password>`)}, 204)
		e.must(req{method: "POST", path: "/authentication?username=eve.baker", body: xmlDoc(`<password><value>new-password</value></password>`)}, 200)
		e.must(req{method: "POST", path: "/user/attribute?username=eve.baker", body: xmlDoc(`<attributes><attribute name="synch.k"><values><value>v1</value><value>v2</value></values></attribute></attributes>`)}, 204)
		e.must(req{method: "DELETE", path: "/user/attribute?username=eve.baker&attributename=synch.k"}, 204)
		e.must(req{method: "POST", path: "/group", body: xmlDoc(`<group name="testers"><description>QA</description><type>GROUP</type><active>true</active></group>`)}, 201)
		e.must(req{method: "GET", path: "/group?groupname=testers"}, 200)
		e.must(req{method: "PUT", path: "/group?groupname=testers", body: xmlDoc(`<group name="testers"><description>Quality</description><type>GROUP</type><active>true</active></group>`)}, 200)
		e.must(req{method: "POST", path: "/group/user/direct?groupname=testers", body: xmlDoc(`<user name="eve.baker"><active>false</active><attributes/></user>`)}, 201)
		e.must(req{method: "POST", path: "/group/user/direct?groupname=testers", body: xmlDoc(`<user name="eve.baker"><active>false</active><attributes/></user>`)}, 409)
		e.must(req{method: "GET", path: "/group/user/direct?groupname=testers&username=eve.baker", accept: "-"}, 200)
		e.must(req{method: "POST", path: "/group/child-group/direct?groupname=jira-users", body: xmlDoc(`<group name="testers"><active>false</active></group>`)}, 201)
		e.must(req{method: "GET", path: "/group/child-group/direct?groupname=jira-users&child-groupname=testers", accept: "-"}, 200)
		e.must(req{method: "GET", path: "/group/user/nested?groupname=jira-users&username=eve.baker", accept: "-"}, 200)
		e.must(req{method: "DELETE", path: "/group/child-group/direct?groupname=jira-users&child-groupname=testers"}, 204)
		e.must(req{method: "GET", path: "/group/user/nested?groupname=jira-users&username=eve.baker", accept: "-"}, 404)
		e.must(req{method: "DELETE", path: "/group/user/direct?groupname=testers&username=eve.baker"}, 204)
		e.must(req{method: "GET", path: "/group/user/direct?groupname=testers&start-index=0&max-results=10"}, 200)
		e.must(req{method: "POST", path: "/user/mail/password?username=eve.baker", contentType: "application/xml; charset=UTF-8"}, 204)
		e.must(req{method: "POST", path: "/user/expire-all-passwords?confirm=true", contentType: "application/xml; charset=UTF-8"}, 204)
		r = e.must(req{method: "POST", path: "/authentication?username=eve.baker", body: xmlDoc(`<password><value>new-password</value></password>`)}, 400)
		if !strings.Contains(r.body, "EXPIRED_CREDENTIAL") {
			t.Errorf("after expire-all-passwords: %s", r.body)
		}
		e.must(req{method: "DELETE", path: "/user/password?username=eve.baker"}, 204)
		e.must(req{method: "DELETE", path: "/group?groupname=testers"}, 204)
		e.must(req{method: "DELETE", path: "/user?username=eve.baker"}, 204)
		e.must(req{method: "GET", path: "/user?username=eve.baker"}, 404)
	})
}

// TestCreatedCarriesContentType: found by the npm clients, which refuse a 201 without a JSON type.
func TestCreatedCarriesContentType(t *testing.T) {
	e, _ := goldenEnv(t)
	e.must(req{method: "DELETE", path: "/group/child-group/direct?groupname=jira-software-users&child-groupname=team"}, 204)
	for accept, want := range map[string]string{"application/json": "application/json", "application/xml": "application/xml"} {
		r := e.must(req{method: "POST", path: "/group/child-group/direct?groupname=jira-software-users", body: `<group name="team"/>`, accept: accept}, 201)
		if !strings.HasPrefix(r.header.Get("Content-Type"), want) || r.header.Get("Location") == "" {
			t.Errorf("Accept %s: 201 with Content-Type %q, Location %q", accept, r.header.Get("Content-Type"), r.header.Get("Location"))
		}
		e.must(req{method: "DELETE", path: "/group/child-group/direct?groupname=jira-software-users&child-groupname=team"}, 204)
	}
}

// TestGetSessionRespectsAccess: found by the SSO journey test — GET /session/{token} answered any
// application with the user's details; it now applies the same rule as POST /session/{token}.
func TestGetSessionRespectsAccess(t *testing.T) {
	e, u := goldenEnv(t)
	ctx := context.Background()
	_, token := storetest.Must2(e.st.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: e.app.ID}))
	storetest.Must(e.st.CreateApplication(ctx, store.NewApplication{Name: "other", Password: "other-secret", Active: true}))
	e.must(req{method: "GET", path: "/session/" + token + "?expand=user"}, 200)
	r := e.must(req{method: "GET", path: "/session/" + token + "?expand=user", user: "other", pass: "other-secret"}, 403)
	if strings.Contains(r.body, "jdoe@example.com") || !strings.Contains(r.body, "APPLICATION_ACCESS_DENIED") {
		t.Errorf("another application's GET of the session: %s", r.body)
	}
	e.must(req{method: "POST", path: "/session/" + token, body: `<validation-factors/>`, user: "other", pass: "other-secret"}, 403)
}

package crowdapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

var mediaTypes = map[string]string{"xml": "application/xml", "json": "application/json"}

func otherFormat(f string) string {
	if f == "xml" {
		return "json"
	}
	return "xml"
}

// TestFormatSuffix pins each wire case in XML and JSON, under /1 and /latest, asked for with the
// Accept header and with a .xml/.json suffix on the path: the suffixed answer is the same bytes
// as the Accept one, even when the Accept header asks for the other format (the suffix wins).
func TestFormatSuffix(t *testing.T) {
	e, u := goldenEnv(t)
	_, token := storetest.Must2(e.st.CreateSession(context.Background(), store.NewSession{Kind: store.SessionSSO, UserID: u.ID, ApplicationID: e.app.ID}))
	cases := []struct {
		name, method, path, query, body string
		status                          int
	}{
		{"user", "GET", "/user", "?username=jdoe", "", 200},
		{"authentication", "POST", "/authentication", "?username=jdoe", `<password><value>s3cret-pw</value></password>`, 200},
		{"session-get", "GET", "/session/" + token, "", "", 200},
		{"group", "GET", "/group", "?groupname=jira-software-users", "", 200},
		{"groups-direct", "GET", "/user/group/direct", "?username=jdoe", "", 200},
		{"cookie-config", "GET", "/config/cookie", "", "", 200},
		{"error-user-not-found", "GET", "/user", "?username=bob", "", 404},
	}
	for _, tc := range cases {
		for _, ver := range []string{"1", "latest"} {
			for _, format := range []string{"xml", "json"} {
				t.Run(tc.name+"/"+ver+"/"+format, func(t *testing.T) {
					e := e.with(t)
					plain := e.must(req{method: tc.method, path: tc.path + tc.query, body: tc.body, latest: ver == "latest",
						accept: mediaTypes[format]}, tc.status)
					golden(t, "wire-"+tc.name+"-"+ver+"."+format, plain.body, e.srv.URL, "http://crowd.example.com", u.ExternalID, "EXTERNAL-ID")
					suffixed := e.must(req{method: tc.method, path: tc.path + "." + format + tc.query, body: tc.body, latest: ver == "latest",
						accept: mediaTypes[otherFormat(format)]}, tc.status)
					if suffixed.body != plain.body {
						t.Errorf("with the suffix:\n%s\nwith Accept:\n%s", suffixed.body, plain.body)
					}
					if ct := suffixed.header.Get("Content-Type"); !strings.HasPrefix(ct, mediaTypes[format]) {
						t.Errorf("Content-Type %q with the .%s suffix", ct, format)
					}
				})
			}
		}
	}
	// The suffix also stands in for an Accept header the API could not otherwise satisfy.
	if r := e.must(req{method: "GET", path: "/user.json?username=jdoe", accept: "text/html"}, 200); !strings.HasPrefix(r.body, `{"expand":"attributes"`) {
		t.Errorf("user.json with Accept text/html: %s", r.body)
	}
	// Only .xml and .json are formats; anything else is part of the path (and here no resource).
	if r := e.do(req{method: "GET", path: "/user.txt?username=jdoe"}); r.status != 404 {
		t.Errorf("user.txt: %d %s", r.status, r.body)
	}
}

// TestXMLDeclarationOnTheRootLine: every XML answer is the declaration followed at once by the root
// element, as Crowd writes it (byte for byte: an empty search result is compared whole by clients).
func TestXMLDeclarationOnTheRootLine(t *testing.T) {
	e, _ := goldenEnv(t)
	r := e.must(req{method: "POST", path: "/search?entity-type=user",
		body: `<property-search-restriction><property><name>email</name><type>STRING</type></property><match-mode>EXACTLY_MATCHES</match-mode><value>nobody@example.com</value></property-search-restriction>`}, 200)
	if want := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><users expand="user"/>`; r.body != want {
		t.Errorf("empty search:\n%q\nwant\n%q", r.body, want)
	}
	// The hand-written validation answer too.
	ctx := context.Background()
	u := storetest.Must(e.st.UserByName(ctx, e.dir.ID, "jdoe"))
	_, token := storetest.Must2(e.st.CreateSession(ctx, store.NewSession{Kind: store.SessionSSO, UserID: u.ID, ApplicationID: e.app.ID}))
	r = e.must(req{method: "POST", path: "/session/" + token, body: `<validation-factors/>`}, 200)
	if !strings.HasPrefix(r.body, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><session expand="user"><token>`) {
		t.Errorf("validation: %q", r.body)
	}
}

// TestCrowdAttributesAfterLogin: with expand=attributes a user carries Crowd's own attributes,
// from crowdgate's records of real logins (before and after the write-behind reached the
// database), in place of a client's attribute of the same name; applications cannot set them.
func TestCrowdAttributesAfterLogin(t *testing.T) {
	e, u := goldenEnv(t) // jdoe has a stored (client-set) requiresPasswordChange=true: not Crowd's own
	ctx := context.Background()
	get := func(name string) {
		t.Helper()
		for _, format := range []string{"xml", "json"} {
			r := e.must(req{method: "GET", path: "/user?username=jdoe&expand=attributes", accept: mediaTypes[format]}, 200)
			golden(t, name+"."+format, r.body, e.srv.URL, "http://crowd.example.com", u.ExternalID, "EXTERNAL-ID")
			r = e.must(req{method: "GET", path: "/user/attribute?username=jdoe", accept: mediaTypes[format]}, 200)
			golden(t, name+"-list."+format, r.body, e.srv.URL, "http://crowd.example.com", u.ExternalID, "EXTERNAL-ID")
		}
	}
	get("own-attributes-before-login")

	e.must(req{method: "POST", path: "/authentication?username=jdoe", body: `<password><value>wrong</value></password>`}, 400)
	r := e.must(req{method: "GET", path: "/user?username=jdoe&expand=attributes"}, 200)
	if !strings.Contains(r.body, `<attribute name="invalidPasswordAttempts">`) || !strings.Contains(r.body, `<values><value>1</value></values></attribute><attribute name="passwordLastChanged">`) {
		t.Errorf("after a failed login: %s", r.body)
	}
	e.must(req{method: "POST", path: "/session", body: `<authentication-context><username>jdoe</username><password>s3cret-pw</password></authentication-context>`}, 201)
	get("own-attributes-after-login")
	if _, err := e.st.FlushAuthentications(ctx); err != nil {
		t.Fatal(err)
	}
	get("own-attributes-after-login") // the same once written behind

	refusals := []struct {
		r       req
		message string
	}{
		{req{method: "POST", path: "/user/attribute?username=jdoe",
			body: `<attributes><attribute name="team"><values><value>a</value></values></attribute><attribute name="lastAuthenticated"><values><value>0</value></values></attribute></attributes>`},
			"Attribute &lt;lastAuthenticated&gt; is maintained by the server and is read-only"},
		{req{method: "DELETE", path: "/user/attribute?username=jdoe&attributename=lastActive"},
			"Attribute &lt;lastActive&gt; is maintained by the server and is read-only"},
		{req{method: "POST", path: "/user", body: `<user name="kim"><active>true</active><attributes><attribute name="requiresPasswordChange"><values><value>false</value></values></attribute></attributes></user>`},
			"Attribute &lt;requiresPasswordChange&gt; is maintained by the server and is read-only"},
	}
	for _, tc := range refusals {
		got := e.must(tc.r, 400)
		want := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><error><reason>ILLEGAL_ARGUMENT</reason><message>` + tc.message + `</message></error>`
		if got.body != want {
			t.Errorf("%s %s:\n%s\nwant\n%s", tc.r.method, tc.r.path, got.body, want)
		}
	}
	// The refused requests changed nothing: no attribute "team", no user kim.
	get("own-attributes-after-login")
	e.must(req{method: "GET", path: "/user?username=kim"}, 404)
}

// TestNotifyRecordsSignIn: POST /authentication/notify (the application signed the user in itself)
// counts as a sign-in to the application, as in Crowd.
func TestNotifyRecordsSignIn(t *testing.T) {
	e, u := goldenEnv(t)
	ctx := context.Background()
	if _, apps := storetest.Must2(e.st.SignIns(ctx, u.ID)); len(apps) != 0 {
		t.Fatalf("sign-ins before: %+v", apps)
	}
	e.must(req{method: "POST", path: "/authentication/notify?username=jdoe"}, 200)
	last, apps := storetest.Must2(e.st.SignIns(ctx, u.ID))
	if last == nil || len(apps) != 1 || apps[0].Application.Name != "jira" || !apps[0].At.Equal(*last) {
		t.Errorf("after notify: %v %+v", last, apps)
	}
	if r := e.must(req{method: "GET", path: "/user/attribute?username=jdoe"}, 200); !strings.Contains(r.body, `<attribute name="lastAuthenticated">`) {
		t.Errorf("no lastAuthenticated after notify: %s", r.body)
	}
}

package crowdapi_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestErrorReasons checks every error reason with its status, in XML (Jira) and JSON.
func TestErrorReasons(t *testing.T) {
	e, _ := goldenEnv(t)
	ctx := context.Background()
	inactive := storetest.Must(e.st.CreateUser(ctx, store.NewUser{DirectoryID: e.dir.ID, Name: "gone", Active: false, Password: "gone-password"}))
	_ = inactive
	storetest.Must(e.st.CreateUser(ctx, store.NewUser{DirectoryID: e.dir.ID, Name: "noemail", Active: true}))
	pw := func(v string) string { return `<password><value>` + v + `</value></password>` }
	// R4: a rejected request changes nothing. Failed password checks rightly count towards the
	// lock-out; the audit log records the refusals.
	before := storetest.Dump(t, e.st, "users.failed_logins", "users.locked_until")
	for _, tc := range []struct {
		name   string
		r      req
		status int
		reason string
	}{
		{"user not found", req{method: "GET", path: "/user?username=nobody"}, 404, "USER_NOT_FOUND"},
		{"malformed key", req{method: "GET", path: "/user?key=nokey"}, 400, "ILLEGAL_ARGUMENT"},
		{"unknown key", req{method: "GET", path: "/user?key=1:nope"}, 404, "USER_NOT_FOUND"},
		{"group not found", req{method: "GET", path: "/group?groupname=nogroup"}, 404, "GROUP_NOT_FOUND"},
		{"missing username", req{method: "GET", path: "/user"}, 400, "ILLEGAL_ARGUMENT"},
		{"bad max-results", req{method: "GET", path: "/user/group/direct?username=jdoe&max-results=0"}, 400, "ILLEGAL_ARGUMENT"},
		{"bad start-index", req{method: "GET", path: "/user/group/direct?username=jdoe&start-index=-1"}, 400, "ILLEGAL_ARGUMENT"},
		{"create existing user", req{method: "POST", path: "/user", body: `<user name="JDOE"><active>true</active></user>`}, 400, "INVALID_USER"},
		{"create nameless user", req{method: "POST", path: "/user", body: `<user name=""/>`}, 400, "INVALID_USER"},
		{"create user with control char", req{method: "POST", path: "/user", body: `{"name":"a\u0001b"}`, contentType: "application/json"}, 400, "INVALID_USER"},
		{"update name mismatch", req{method: "PUT", path: "/user?username=jdoe", body: `<user name="other"/>`}, 400, "INVALID_USER"},
		{"password policy", req{method: "PUT", path: "/user/password?username=jdoe", body: pw("")}, 400, "INVALID_CREDENTIAL"},
		{"rename onto existing", req{method: "POST", path: "/user/rename?username=jdoe", body: `<rename><new-name>noemail</new-name></rename>`}, 400, "INVALID_USER"},
		{"rename unknown", req{method: "POST", path: "/user/rename?username=nobody", body: `<rename><new-name>x</new-name></rename>`}, 404, "USER_NOT_FOUND"},
		{"mail without email", req{method: "POST", path: "/user/mail/password?username=noemail"}, 400, "INVALID_EMAIL"},
		{"mail bad email", req{method: "POST", path: "/user/mail/usernames?email=not-an-email"}, 400, "INVALID_EMAIL"},
		{"expire without confirm", req{method: "POST", path: "/user/expire-all-passwords"}, 400, "ILLEGAL_ARGUMENT"},
		{"bad password", req{method: "POST", path: "/authentication?username=jdoe", body: pw("x")}, 400, "INVALID_USER_AUTHENTICATION"},
		{"auth unknown user", req{method: "POST", path: "/authentication?username=nobody", body: pw("x")}, 400, "USER_NOT_FOUND"},
		{"auth inactive", req{method: "POST", path: "/authentication?username=gone", body: pw("gone-password")}, 400, "INACTIVE_ACCOUNT"},
		{"notify unknown", req{method: "POST", path: "/authentication/notify?username=nobody", body: `<password/>`}, 404, "USER_NOT_FOUND"},
		{"notify inactive", req{method: "POST", path: "/authentication/notify?username=gone", body: `<password/>`}, 400, "INACTIVE_ACCOUNT"},
		{"session bad password", req{method: "POST", path: "/session", body: `<authentication-context><username>jdoe</username><password>x</password></authentication-context>`}, 400, "INVALID_USER_AUTHENTICATION"},
		{"session unknown user", req{method: "POST", path: "/session", body: `<authentication-context><username>nobody</username><password>x</password></authentication-context>`}, 400, "INVALID_USER_AUTHENTICATION"},
		{"session inactive", req{method: "POST", path: "/session", body: `<authentication-context><username>gone</username><password>gone-password</password></authentication-context>`}, 400, "INACTIVE_ACCOUNT"},
		{"unknown token", req{method: "POST", path: "/session/AAAAAAAAAAAAAAAAAAAAAAAA", body: `<validation-factors/>`}, 404, "INVALID_SSO_TOKEN"},
		{"get unknown token", req{method: "GET", path: "/session/AAAAAAAAAAAAAAAAAAAAAAAA"}, 404, "INVALID_SSO_TOKEN"},
		{"delete sessions of unknown", req{method: "DELETE", path: "/session?username=nobody"}, 404, "USER_NOT_FOUND"},
		{"not a member", req{method: "GET", path: "/group/user/direct?groupname=team&username=jdoe", accept: "-"}, 404, "MEMBERSHIP_NOT_FOUND"},
		{"not a nested member", req{method: "GET", path: "/user/group/nested?username=jdoe&groupname=team", accept: "-"}, 404, "MEMBERSHIP_NOT_FOUND"},
		{"add member to missing group", req{method: "POST", path: "/group/user/direct?groupname=nogroup", body: `<user name="jdoe"/>`}, 404, "GROUP_NOT_FOUND"},
		{"add missing user", req{method: "POST", path: "/group/user/direct?groupname=team", body: `<user name="nobody"/>`}, 400, "USER_NOT_FOUND"},
		{"add user to missing group by user", req{method: "POST", path: "/user/group/direct?username=jdoe", body: `<group name="nogroup"/>`}, 400, "GROUP_NOT_FOUND"},
		{"membership exists", req{method: "POST", path: "/group/user/direct?groupname=jira-software-users", body: `<user name="jdoe"/>`}, 409, "MEMBERSHIP_ALREADY_EXISTS"},
		{"remove non-member", req{method: "DELETE", path: "/group/user/direct?groupname=team&username=jdoe"}, 404, "MEMBERSHIP_NOT_FOUND"},
		{"group in itself", req{method: "POST", path: "/group/child-group/direct?groupname=team", body: `<group name="team"/>`}, 400, "INVALID_MEMBERSHIP"},
		{"group cycle", req{method: "POST", path: "/group/child-group/direct?groupname=team", body: `<group name="jira-software-users"/>`}, 400, "INVALID_MEMBERSHIP"},
		{"missing child group", req{method: "POST", path: "/group/child-group/direct?groupname=team", body: `<group name="nogroup"/>`}, 400, "GROUP_NOT_FOUND"},
		{"missing parent group", req{method: "POST", path: "/group/parent-group/direct?groupname=team", body: `<group name="nogroup"/>`}, 400, "GROUP_NOT_FOUND"},
		{"create existing group", req{method: "POST", path: "/group", body: `<group name="TEAM"><type>GROUP</type></group>`}, 400, "INVALID_GROUP"},
		{"legacy role", req{method: "POST", path: "/group", body: `<group name="r"><type>LEGACY_ROLE</type></group>`}, 400, "INVALID_GROUP"},
		{"group name mismatch", req{method: "PUT", path: "/group?groupname=team", body: `<group name="other"/>`}, 400, "INVALID_GROUP"},
		{"entity-type missing", req{method: "POST", path: "/search", body: `<null-search-restriction/>`}, 400, "ILLEGAL_ARGUMENT"},
		{"entity-type unknown", req{method: "POST", path: "/search?entity-type=role", body: `<null-search-restriction/>`}, 400, "ILLEGAL_ARGUMENT"},
		{"bad CQL", req{method: "GET", path: "/search?entity-type=user&restriction=name%3D"}, 400, "ILLEGAL_ARGUMENT"},
		{"unknown CQL property", req{method: "GET", path: "/search?entity-type=user&restriction=shoe%3D42"}, 400, "ILLEGAL_ARGUMENT"},
		{"bad restriction body", req{method: "POST", path: "/search?entity-type=user", body: `<property-search-restriction><property><name>active</name><type>BOOLEAN</type></property><match-mode>EXACTLY_MATCHES</match-mode><value>maybe</value></property-search-restriction>`}, 400, "ILLEGAL_ARGUMENT"},
		{"unknown property type", req{method: "POST", path: "/search?entity-type=user", body: `<property-search-restriction><property><name>name</name><type>COLOUR</type></property><match-mode>EXACTLY_MATCHES</match-mode><value>x</value></property-search-restriction>`}, 400, "ILLEGAL_ARGUMENT"},
		{"event token expired", req{method: "GET", path: "/event/0000000000000000.1.0"}, 410, "EVENT_TOKEN_EXPIRED"},
		{"webhook not found", req{method: "GET", path: "/webhook/999"}, 404, "WEBHOOK_NOT_FOUND"},
		{"malformed XML", req{method: "POST", path: "/user", body: `<user name="x">`}, 400, "ILLEGAL_ARGUMENT"},
		{"malformed JSON", req{method: "POST", path: "/user", body: `{"name":`, contentType: "application/json"}, 400, "ILLEGAL_ARGUMENT"},
		{"DTD refused", req{method: "POST", path: "/user", body: `<?xml version="1.0"?><!DOCTYPE user [<!ENTITY x SYSTEM "file:///etc/passwd">]><user name="&x;"/>`}, 400, "ILLEGAL_ARGUMENT"},
		{"oversized body", req{method: "POST", path: "/user", body: `<user name="x"><email>` + strings.Repeat("a", 2<<20) + `</email></user>`}, 413, "ILLEGAL_ARGUMENT"},
		{"unsupported content type", req{method: "POST", path: "/user", body: `name=x`, contentType: "application/x-www-form-urlencoded"}, 415, "ILLEGAL_ARGUMENT"},
		{"unknown resource", req{method: "GET", path: "/nothing"}, 404, "ILLEGAL_ARGUMENT"},
		{"wrong method", req{method: "PATCH", path: "/user?username=jdoe"}, 405, "ILLEGAL_ARGUMENT"},
		{"not acceptable", req{method: "GET", path: "/user?username=jdoe", accept: "image/png"}, 406, "ILLEGAL_ARGUMENT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			for _, format := range []string{"xml", "json"} {
				r := tc.r
				if format == "json" {
					if r.accept == "image/png" {
						continue
					}
					r.accept = "application/json"
				}
				got := e.must(r, tc.status)
				var reason string
				if format == "json" {
					var v struct{ Reason, Message string }
					if err := json.Unmarshal([]byte(got.body), &v); err != nil || v.Message == "" {
						t.Fatalf("%s: not a JSON error: %v %s", format, err, got.body)
					}
					reason = v.Reason
				} else {
					var v struct {
						XMLName xml.Name `xml:"error"`
						Reason  string   `xml:"reason"`
						Message string   `xml:"message"`
					}
					if err := xml.Unmarshal([]byte(got.body), &v); err != nil || v.Message == "" {
						t.Fatalf("%s: not an <error>: %v %s", format, err, got.body)
					}
					reason = v.Reason
				}
				if reason != tc.reason {
					t.Errorf("%s: reason %s, want %s (%s)", format, reason, tc.reason, got.body)
				}
			}
		})
	}
	// Nothing was created or changed by the rejected requests.
	if after := storetest.Dump(t, e.st, "users.failed_logins", "users.locked_until"); after != before {
		t.Errorf("rejected requests changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	for _, name := range []string{"x", "r", "a\x01b"} {
		if _, err := e.st.UserByName(ctx, e.dir.ID, name); !store.IsNotFound(err) {
			t.Errorf("user %q exists after a rejected request", name)
		}
	}
}

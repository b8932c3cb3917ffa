package saml_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
)

// TestConsoleReauthForcesAuthn: the console's re-authentication (/sso/login?reauth=1) sends
// ForceAuthn to the IdP and refuses an assertion whose AuthnInstant predates the request, so the
// IdP's own session cannot stand in for a fresh sign-in. reauth=1 means nothing for an
// application sign-in.
func TestConsoleReauthForcesAuthn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	start := func(query string) (login, string) {
		c := client()
		resp, err := c.Get(f.sso.URL + "/sso/login?" + query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		m := loc.Query().Get("SAMLRequest")
		return login{c: c, requestID: requestID(t, m), relay: loc.Query().Get("RelayState")}, inflated(t, m)
	}
	console := "dest=" + url.QueryEscape(f.sso.URL+"/console/")
	if _, req := start(console); strings.Contains(req, "ForceAuthn") {
		t.Errorf("a plain console sign-in sends ForceAuthn: %s", req)
	}
	if _, req := start("app=jira&reauth=1"); strings.Contains(req, "ForceAuthn") {
		t.Errorf("an application sign-in with reauth=1 sends ForceAuthn: %s", req)
	}

	l, req := start(console + "&reauth=1")
	if !strings.Contains(req, `ForceAuthn="true"`) {
		t.Fatalf("re-authentication request without ForceAuthn: %s", req)
	}
	old := f.signedBy(l, alice, func(r *samltest.Response) { r.AuthnInstant = time.Now().Add(-time.Hour) }, f.key, nil, nil)
	resp := f.post(l.c, old, l.relay)
	reasons := f.logs.reasons("saml: sign-in refused")
	if resp.StatusCode != http.StatusForbidden || len(reasons) != 1 || !strings.Contains(reasons[0], "re-authentication was requested") {
		t.Fatalf("IdP session reused: %d, reasons %q", resp.StatusCode, reasons)
	}

	l, _ = start(console + "&reauth=1")
	resp = f.post(l.c, f.signedBy(l, alice, nil, f.key, nil, nil), l.relay)
	s := f.sessions(store.SessionConsole)
	if resp.StatusCode != http.StatusSeeOther || len(s) != 1 || s[0].UserID != f.users[alice.UPN].ID {
		t.Fatalf("fresh re-authentication: %d, console sessions %+v; want alice's", resp.StatusCode, s)
	}
}

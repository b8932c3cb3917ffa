package saml_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
)

// TestLogoutNeedsSameSiteOrSignature: a logout link on another site, a cross-site form, or an
// unsigned or wrongly signed LogoutRequest ends no session but shows a confirmation page, whose
// button (posted from crowdgate's own page) does. A LogoutRequest signed by the IdP ends the
// sessions at once and is answered with a signed LogoutResponse; a confirmed unverified one
// gets an unsigned answer.
func TestLogoutNeedsSameSiteOrSignature(t *testing.T) {
	t.Parallel()
	spKey := samltest.NewKey(t, "sp")
	f := newFixture(t, false, func(c *saml.Config) { c.SPKeyPEM, c.SPCertPEM, c.SignRequests = spKey.KeyPEM(), spKey.CertPEM(), true })
	logoutRequest := func(issuer string, key *samltest.Key) string {
		return "/saml/logout?" + samltest.RedirectQuery("SAMLRequest", samltest.LogoutRequest(samltest.NewID(), issuer, f.sso.URL+"/saml/logout", alice.UPN), "rs1", key)
	}
	send := func(c *http.Client, method, path string, form url.Values, h map[string]string) (*http.Response, string) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, f.sso.URL+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	cross := map[string]string{"Sec-Fetch-Site": "cross-site"}
	confirmations := []struct {
		name, method, path string
		form               url.Values
		header             map[string]string
	}{
		{"cross-site link", "GET", "/sso/logout?app=jira", nil, cross},
		{"link without Fetch Metadata or Origin", "GET", "/sso/logout", nil, nil},
		{"cross-site form", "POST", "/sso/logout", url.Values{"app": {"jira"}}, map[string]string{"Origin": "https://evil.example"}},
		{"unsigned LogoutRequest", "GET", logoutRequest(f.issuer(), nil), nil, cross},
		{"LogoutRequest signed by another key", "GET", logoutRequest(f.issuer(), samltest.NewKey(t, "evil")), nil, cross},
		{"signed LogoutRequest of another issuer", "GET", logoutRequest("https://idp.evil.example/", f.key), nil, cross},
	}
	for _, tc := range confirmations {
		t.Run(tc.name, func(t *testing.T) {
			l := jiraLogin(f)
			f.post(l.c, f.signedBy(l, alice, nil, f.key, nil, nil), l.relay)
			resp, body := send(l.c, tc.method, tc.path, tc.form, tc.header)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign out?") || len(f.sessions(store.SessionSSO)) != 1 {
				t.Fatalf("%d, %d sessions, body %s; want the confirmation page and the session alive", resp.StatusCode, len(f.sessions(store.SessionSSO)), body)
			}
			page := &samltest.Page{URL: resp.Request.URL, Body: body}
			form, ok := samltest.ParseForm(page)
			if !ok || form.Method != http.MethodPost {
				t.Fatalf("no confirmation form in %s", body)
			}
			action, _ := url.Parse(form.Action)
			resp, _ = send(l.c, http.MethodPost, action.Path, form.Values, map[string]string{"Sec-Fetch-Site": "same-origin"})
			if n := len(f.sessions(store.SessionSSO)); n != 0 {
				t.Fatalf("confirmed logout left %d sessions", n)
			}
			if loc, _ := url.Parse(resp.Header.Get("Location")); loc != nil && loc.Query().Get("SAMLResponse") != "" && loc.Query().Get("Signature") != "" {
				t.Errorf("LogoutResponse to an unverified request is signed: %s", loc)
			}
		})
	}

	t.Run("signed LogoutRequest with Entra's logout issuer", func(t *testing.T) {
		l := jiraLogin(f)
		f.post(l.c, f.signedBy(l, alice, nil, f.key, nil, nil), l.relay)
		resp, _ := send(l.c, "GET", logoutRequest("https://login.microsoftonline.com/"+tenant+"/", f.key), nil, cross)
		if n := len(f.sessions(store.SessionSSO)); resp.StatusCode != http.StatusFound || n != 0 {
			t.Fatalf("%d, %d sessions; want the sessions ended at once", resp.StatusCode, n)
		}
	})
	t.Run("signed LogoutRequest", func(t *testing.T) {
		l := jiraLogin(f)
		f.post(l.c, f.signedBy(l, alice, nil, f.key, nil, nil), l.relay)
		resp, _ := send(l.c, "GET", logoutRequest(f.issuer(), f.key), nil, cross)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("SAMLResponse") == "" || loc.Query().Get("Signature") == "" || loc.Query().Get("RelayState") != "rs1" {
			t.Fatalf("%d to %s; want a signed LogoutResponse with the RelayState", resp.StatusCode, loc)
		}
		if n := len(f.sessions(store.SessionSSO)); n != 0 {
			t.Fatalf("%d sessions after a verified LogoutRequest", n)
		}
	})
}

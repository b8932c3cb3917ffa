package saml_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
)

// TestLoginTargets: where each form of Seraph's and the console's login URL leads, and that
// the browser goes straight to the IdP with a state cookie.
func TestLoginTargets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	jira := f.jiraSrv.URL + jiraPath
	cases := []struct {
		query string
		want  string // return URL after sign-in; "" means refused
	}{
		{"app=jira&dest=" + url.QueryEscape(dashboardPath), jira + dashboardPath},
		{"app=jira&os_destination=" + url.QueryEscape("/browse/X-1?focusedCommentId=2#c"), jira + "/browse/X-1?focusedCommentId=2#c"},
		{"app=JIRA&returnTo=" + url.QueryEscape(jira+"/issues/"), jira + "/issues/"},
		{"dest=" + url.QueryEscape(jira+"/secure/"), jira + "/secure/"},
		{"app=jira", jira},
		{"", f.sso.URL + "/console/"},
		{"dest=" + url.QueryEscape("/console/users?q=a"), f.sso.URL + "/console/users?q=a"},
		{"dest=" + url.QueryEscape(f.jiraSrv.URL+"/other/"), ""},      // same host, outside Jira's base path
		{"dest=" + url.QueryEscape(f.sso.URL+"/saml/metadata"), ""},   // crowdgate, not the console
		{"app=confluence&dest=" + url.QueryEscape(dashboardPath), ""}, // unknown application
		{"app=jira&dest=" + url.QueryEscape("javascript:alert(1)"), ""},
		{"app=jira&dest=" + url.QueryEscape("/jira/../..//evil"), ""},
		{"dest=" + url.QueryEscape("HTTPS://evil.example"), ""},
	}
	for _, tc := range cases {
		c := client()
		resp, err := c.Get(f.sso.URL + "/sso/login?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if tc.want == "" {
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%q: %d, want 400", tc.query, resp.StatusCode)
			}
			continue
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Host != "login.microsoftonline.com" || loc.Query().Get("SAMLRequest") == "" {
			t.Errorf("%q: %d to %s, want 302 to the IdP", tc.query, resp.StatusCode, loc)
			continue
		}
		// Finish the sign-in to see where it lands.
		l := login{c: c, requestID: requestID(t, loc.Query().Get("SAMLRequest")), relay: loc.Query().Get("RelayState")}
		if len(l.relay) > 80 {
			t.Errorf("RelayState of %d bytes, SAML allows 80", len(l.relay))
		}
		r := f.post(c, f.signedBy(l, alice, nil, f.key, nil, nil), l.relay)
		if got := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || got != tc.want {
			t.Errorf("%q: signed in to %q (%d), want %q", tc.query, got, r.StatusCode, tc.want)
		}
	}
}

// TestMetadataAndRoutes pins the routes and the SP metadata.
func TestMetadataAndRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	routes := []struct {
		method, path string
		status       int
	}{
		{"GET", "/saml/metadata", 200},
		{"GET", "/saml/acs", 405},
		{"POST", "/saml/acs", 400},
		{"GET", "/saml/login", 302},
		{"GET", "/sso/login", 302},
		{"GET", "/sso/logout", 200},
		{"POST", "/saml/logout", 200},
		{"GET", "/sso/breakglass", 200},
		{"GET", "/saml/debug", 404},
		{"GET", "/debug/pprof/", 404},
	}
	c := client()
	for _, r := range routes {
		req, _ := http.NewRequest(r.method, f.sso.URL+r.path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != r.status {
			t.Errorf("%s %s = %d, want %d", r.method, r.path, resp.StatusCode, r.status)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); r.status != 404 && !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s %s: CSP %q", r.method, r.path, csp)
		}
	}
	md, err := f.sp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`entityID="` + f.sso.URL + `/saml/metadata"`, `Location="` + f.sso.URL + `/saml/acs"`,
		`Location="` + f.sso.URL + `/saml/logout"`, `WantAssertionsSigned="true"`} {
		if !strings.Contains(string(md), want) {
			t.Errorf("metadata lacks %s:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "KeyDescriptor") {
		t.Error("metadata announces a key, but none is configured")
	}
	k := samltest.NewKey(t, "sp")
	f.cfg.SPKeyPEM, f.cfg.SPCertPEM, f.cfg.SignRequests = k.KeyPEM(), k.CertPEM(), true
	f.start()
	md, _ = f.sp.Metadata()
	if !strings.Contains(string(md), `use="signing"`) || !strings.Contains(string(md), `use="encryption"`) || !strings.Contains(string(md), `AuthnRequestsSigned="true"`) {
		t.Errorf("metadata with a key:\n%s", md)
	}
	// Signed requests carry the query-string signature.
	resp := get(t, f.sso.URL+"/sso/login?app=jira")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" || loc.Query().Get("Signature") == "" {
		t.Errorf("signed request redirect %s", loc)
	}
}

// TestSingleLogout: logout continues to the IdP and comes back to the return URL; a
// LogoutRequest from the IdP ends the browser's sessions and is answered.
func TestSingleLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false, func(c *saml.Config) { c.SingleLogout = true })
	ctx := context.Background()
	l := jiraLogin(f)
	if r := f.post(l.c, f.signedBy(l, alice, nil, f.key, nil, nil), l.relay); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.StatusCode)
	}
	resp := sameSiteGet(t, l.c, f.sso.URL+"/sso/logout?app=jira&dest="+url.QueryEscape(dashboardPath))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Host != "login.microsoftonline.com" || loc.Query().Get("SAMLRequest") == "" {
		t.Fatalf("logout: %d to %s, want the IdP's logout", resp.StatusCode, loc)
	}
	if n := len(f.sessions(store.SessionSSO)); n != 0 {
		t.Errorf("%d sessions after logout", n)
	}
	// Entra answers with a LogoutResponse; crowdgate then sends the browser on.
	resp, err := l.c.Get(f.sso.URL + "/saml/logout?SAMLResponse=" + url.QueryEscape(deflated(`<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0"/>`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != f.jiraSrv.URL+jiraPath+dashboardPath {
		t.Errorf("after the IdP's logout: %d to %q", resp.StatusCode, got)
	}

	// IdP-initiated logout.
	l = jiraLogin(f)
	f.post(l.c, f.signedBy(l, alice, nil, f.key, nil, nil), l.relay)
	// A signed LogoutRequest from the IdP's site (cross-site): verified, so no confirmation.
	req, _ := http.NewRequest(http.MethodGet, f.sso.URL+"/saml/logout?"+samltest.RedirectQuery("SAMLRequest",
		samltest.LogoutRequest("_idp1", f.issuer(), f.sso.URL+"/saml/logout", alice.UPN), "", f.key), nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = l.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("SAMLResponse") == "" || len(f.sessions(store.SessionSSO)) != 0 {
		t.Errorf("IdP logout: %d to %s, %d sessions", resp.StatusCode, loc, len(f.sessions(store.SessionSSO)))
	}
	if x := inflated(t, loc.Query().Get("SAMLResponse")); !strings.Contains(x, `InResponseTo="_idp1"`) {
		t.Errorf("LogoutResponse %s", x)
	}
	logs := f.logs.all()
	entries, _ := f.st.ListAudit(ctx, store.AuditFilter{Action: "LOGOUT"})
	if len(entries) != 2 {
		t.Errorf("%d logouts audited, want 2", len(entries))
	}
	if strings.Contains(logs, "SAMLResponse=") {
		t.Error("a SAML message was logged")
	}
}

func deflated(s string) string { return base64Std(deflate([]byte(s))) }

// TestIdPRecovers: an IdP whose metadata is down at start-up is picked up by a later login,
// and Run refreshes the metadata until cancelled.
func TestIdPRecovers(t *testing.T) {
	t.Parallel()
	key := samltest.NewKey(t, "idp")
	up := make(chan struct{})
	mdSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-up:
			w.Write(samltest.EntraMetadata("https://sts.windows.net/"+tenant+"/", "https://login.microsoftonline.com/"+tenant+"/saml2", "", key.Cert))
		default:
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer mdSrv.Close()
	f := newFixture(t, false, func(c *saml.Config) { c.IdPMetadataXML, c.IdPMetadataURL = nil, mdSrv.URL })
	if r := get(t, f.sso.URL+"/sso/login?app=jira"); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("IdP down: %d, want 503", r.StatusCode)
	}
	close(up)
	f.clock.mu.Lock()
	f.clock.offset = time.Minute // past the retry interval
	f.clock.mu.Unlock()
	if r := get(t, f.sso.URL+"/sso/login?app=jira"); r.StatusCode != http.StatusFound {
		t.Fatalf("IdP back: %d, want 302", r.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := f.sp.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil on cancellation", err)
	}
}

// TestLogoutAllSessions: with LogoutAllSessions, logging out in one browser ends the user's
// sessions everywhere.
func TestLogoutAllSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false, func(c *saml.Config) { c.LogoutAllSessions = true })
	var first login
	for i := range 2 {
		l := jiraLogin(f)
		if r := f.post(l.c, f.signedBy(l, alice, nil, f.key, nil, nil), l.relay); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in %d: %d", i, r.StatusCode)
		}
		if i == 0 {
			first = l
		}
	}
	if n := len(f.sessions(store.SessionSSO)); n != 2 {
		t.Fatalf("%d sessions, want 2", n)
	}
	sameSiteGet(t, first.c, f.sso.URL+"/sso/logout")
	if n := len(f.sessions(store.SessionSSO)); n != 0 {
		t.Errorf("%d sessions after logout everywhere, want 0", n)
	}
}

// sameSiteGet is a GET as a browser sends it from a page of the same site (Jira's logout link).
func sameSiteGet(t *testing.T, c *http.Client, rawURL string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "same-site")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

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

// TestStateCookiesBounded: however often a page sends the browser to /sso/login, it holds at most
// MaxStateCookies sign-in states; the newest sign-ins still complete, the oldest are gone.
func TestStateCookiesBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := client()
	var logins []login
	for range 3 * saml.MaxStateCookies {
		logins = append(logins, f.startLogin(c, "app=jira"))
	}
	u, _ := url.Parse(f.sso.URL)
	n := 0
	for _, ck := range c.Jar.Cookies(u) {
		if strings.HasPrefix(ck.Name, "crowdgate_saml_") {
			n++
		}
	}
	if n != saml.MaxStateCookies {
		t.Errorf("browser holds %d state cookies, want %d", n, saml.MaxStateCookies)
	}
	first := logins[0]
	resp := f.post(c, f.signedBy(first, alice, nil, f.key, nil, nil), first.relay)
	reasons := f.logs.reasons("saml: sign-in refused")
	if resp.StatusCode != http.StatusBadRequest || len(reasons) != 1 || !strings.Contains(reasons[0], "no sign-in was started by this browser") {
		t.Errorf("oldest sign-in: %d, reasons %q; want its state replaced", resp.StatusCode, reasons)
	}
	// Over http the reason says why a cross-site IdP loses the state cookie.
	if len(reasons) == 1 && !strings.Contains(reasons[0], "serve crowdgate over https") {
		t.Errorf("reason %q does not name https", reasons[0])
	}
	last := logins[len(logins)-1]
	if resp := f.post(c, f.signedBy(last, alice, nil, f.key, nil, nil), last.relay); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("newest sign-in: %d, want 303", resp.StatusCode)
	}
}

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

package saml_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// recorder keeps the Set-Cookie headers crowdgate sent, to check the cookies' attributes.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	sets map[string][]*http.Cookie // by request path
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.sets[req.URL.Path] = append(r.sets[req.URL.Path], resp.Cookies()...)
		r.mu.Unlock()
	}
	return resp, err
}

func (r *recorder) cookie(path, name string) *http.Cookie {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.sets[path] {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func browser(t *testing.T, u samltest.EntraUser) (*samltest.Browser, *recorder) {
	b := samltest.NewBrowser(t)
	b.User, b.Password = u.UPN, idpPassword
	rec := &recorder{next: http.DefaultTransport, sets: map[string][]*http.Cookie{}}
	b.Client.Transport = rec
	return b, rec
}

// TestEndToEnd walks the sign-in like a browser, over real HTTP against the Entra-shaped IdP:
// Seraph's login URL, the IdP's login form and auto-posted response, the ACS, the Crowd cookie
// arriving at Jira, refusal, logout, and the console.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			f := newFixtureOn(t, d, true)
			ctx := context.Background()

			// Seraph sends the context-relative ${originalurl}.
			b, rec := browser(t, alice)
			p := b.Get(f.sso.URL + "/sso/login?app=jira&dest=" + url.QueryEscape(dashboardPath+"?selectPageId=1"))
			want := f.jiraSrv.URL + jiraPath + dashboardPath + "?selectPageId=1"
			if p.Status != http.StatusOK || p.URL.String() != want {
				t.Fatalf("sign-in ended at %s (%d), want %s; body %s", p.URL, p.Status, want, p.Body)
			}
			c, ok := b.Cookie(f.sso.URL, store.DefaultCookieName)
			if !ok {
				t.Fatal("no crowd.token_key cookie after sign-in")
			}
			if got := <-f.jiraSeen; got != c.Value {
				t.Errorf("Jira received token %q, browser holds %q", got, c.Value)
			}
			sess, err := f.st.SessionByToken(ctx, c.Value)
			if err != nil {
				t.Fatalf("SessionByToken: %v", err)
			}
			if sess.UserID != f.users[alice.UPN].ID || sess.Kind != store.SessionSSO || sess.ApplicationID == nil ||
				*sess.ApplicationID != f.jira.ID || sess.RemoteAddress != "127.0.0.1" {
				t.Errorf("session = %+v, want alice's SSO session for jira from 127.0.0.1", sess)
			}
			sc := rec.cookie("/saml/acs", store.DefaultCookieName)
			if sc == nil || sc.Path != "/" || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Secure || sc.MaxAge != 0 {
				t.Errorf("Set-Cookie at the ACS = %+v, want Path=/ HttpOnly SameSite=Lax, no Secure, no Max-Age", sc)
			}
			if len(f.failures()) != 0 {
				t.Errorf("failures audited on success: %+v", f.failures())
			}
			if logs := f.logs.all(); strings.Contains(logs, c.Value) || strings.Contains(logs, "PHNhbWxw") || strings.Contains(logs, idpPassword) {
				t.Errorf("a token, SAML message or password was logged:\n%s", logs)
			}

			// A second sign-in rides on the IdP session: no password.
			b.User = ""
			p = b.Get(f.sso.URL + "/sso/login?app=jira&dest=" + url.QueryEscape(f.jiraSrv.URL+jiraPath+"/browse/ABC-1"))
			if p.URL.Path != jiraPath+"/browse/ABC-1" {
				t.Fatalf("second sign-in ended at %s (%d): %s", p.URL, p.Status, p.Body)
			}

			// Logout ends the session and clears the cookie.
			c, _ = b.Cookie(f.sso.URL, store.DefaultCookieName)
			p = b.Get(f.sso.URL + "/sso/logout?app=jira")
			if p.Status != http.StatusOK || !strings.Contains(p.Body, "signed out") {
				t.Errorf("logout page %d: %s", p.Status, p.Body)
			}
			if _, ok := b.Cookie(f.sso.URL, store.DefaultCookieName); ok {
				t.Error("crowd.token_key still in the browser after logout")
			}
			if cl := rec.cookie("/sso/logout", store.DefaultCookieName); cl == nil || cl.MaxAge >= 0 || cl.Path != "/" {
				t.Errorf("logout Set-Cookie = %+v, want Max-Age=0 on Path=/", cl)
			}
			if _, err := f.st.SessionByToken(ctx, c.Value); !store.IsNotFound(err) {
				t.Errorf("session after logout: %v, want not found", err)
			}

			// bob is not allowed into Jira: a clear 403 page and no session.
			bb, _ := browser(t, bob)
			p = bb.Get(f.sso.URL + "/sso/login?app=jira&dest=" + url.QueryEscape(dashboardPath))
			if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "do not have access to jira") {
				t.Errorf("bob: %d at %s: %s", p.Status, p.URL, p.Body)
			}
			if _, ok := bb.Cookie(f.sso.URL, store.DefaultCookieName); ok {
				t.Error("bob got a crowd.token_key cookie")
			}
			if s, _ := f.st.ListSessions(ctx, store.SessionFilter{UserID: f.users[bob.UPN].ID}); len(s) != 0 {
				t.Errorf("bob has sessions: %+v", s)
			}
			if fl := f.failures(); len(fl) != 1 || fl[0].Action != "LOGIN_FAILED" || fl[0].Object != bob.UPN {
				t.Errorf("audit failures = %+v, want bob's LOGIN_FAILED", fl)
			}

			// The console: its own session kind and cookie, not the Crowd one.
			cb, crec := browser(t, alice)
			p = cb.Get(f.sso.URL + "/console/users")
			if p.Status != http.StatusOK || p.Body != "console of "+alice.UPN {
				t.Fatalf("console: %d at %s: %s", p.Status, p.URL, p.Body)
			}
			if _, ok := cb.Cookie(f.sso.URL, store.DefaultCookieName); ok {
				t.Error("console sign-in set the Crowd cookie")
			}
			cc := crec.cookie("/saml/acs", saml.DefaultConsoleCookie)
			if cc == nil || cc.Path != "/console" || !cc.HttpOnly || cc.SameSite != http.SameSiteLaxMode || cc.Secure {
				t.Errorf("console Set-Cookie = %+v, want Path=/console HttpOnly SameSite=Lax", cc)
			}
			cons, ok := cb.Cookie(f.sso.URL+"/console/", saml.DefaultConsoleCookie)
			if !ok {
				t.Fatal("no console cookie")
			}
			cs, err := f.st.SessionByToken(ctx, cons.Value)
			if err != nil || cs.Kind != store.SessionConsole || cs.UserID != f.users[alice.UPN].ID || cs.ApplicationID != nil {
				t.Errorf("console session %+v, %v", cs, err)
			}
			// A console token is no Crowd SSO token.
			v := storetest.Must(f.st.View(ctx, f.jira))
			if _, _, err := v.ValidateSession(ctx, cons.Value, store.SessionCheck{}); !store.IsNotFound(err) {
				t.Errorf("console token validated as SSO: %v", err)
			}
			cb.Get(f.sso.URL + "/console/logout")
			if _, err := f.st.SessionByToken(ctx, cons.Value); !store.IsNotFound(err) {
				t.Errorf("console session after console logout: %v", err)
			}
		})
	}
}

// TestIdPInitiated: an unsolicited response from "My Apps" is refused by default, and when
// enabled only bounces into an SP-initiated sign-in.
func TestIdPInitiated(t *testing.T) {
	t.Parallel()
	for _, enabled := range []bool{false, true} {
		t.Run("enabled="+map[bool]string{false: "false", true: "true"}[enabled], func(t *testing.T) {
			f := newFixture(t, true, func(c *saml.Config) { c.IdPInitiated = enabled })
			b, rec := browser(t, alice)
			// Open an IdP session first, as a user of My Apps has one.
			p := b.Post(f.idp.LoginURL(), url.Values{"user": {alice.UPN}, "password": {idpPassword}})
			if p.Status != http.StatusOK {
				t.Fatalf("IdP login: %d %s", p.Status, p.Body)
			}
			md, _ := f.sp.Metadata()
			_ = md
			tile := f.idp.AddShortcut(t, "jira", f.cfg.PublicURL+"/saml/metadata", f.jiraSrv.URL+jiraPath+dashboardPath)
			p = b.Get(tile)
			if !enabled {
				if p.Status != http.StatusBadRequest || len(f.sessions(store.SessionSSO)) != 0 {
					t.Fatalf("unsolicited response: %d at %s, %d sessions", p.Status, p.URL, len(f.sessions(store.SessionSSO)))
				}
				r := f.logs.reasons("saml: sign-in refused")
				if len(r) != 1 || !strings.Contains(r[0], "IdP-initiated sign-in is disabled") {
					t.Errorf("logged reasons %q", r)
				}
				return
			}
			if p.Status != http.StatusOK || p.URL.String() != f.jiraSrv.URL+jiraPath+dashboardPath {
				t.Fatalf("IdP-initiated sign-in ended at %s (%d): %s", p.URL, p.Status, p.Body)
			}
			// The session came from the SP-initiated round trip: the ACS answered twice, the first
			// time with a redirect to /sso/login and no cookie.
			if len(rec.sets["/sso/login"]) == 0 {
				t.Error("no SP-initiated sign-in happened")
			}
			if len(f.sessions(store.SessionSSO)) != 1 {
				t.Errorf("%d SSO sessions, want 1", len(f.sessions(store.SessionSSO)))
			}
		})
	}
}

// TestEncryptedAssertions: with an SP key the IdP encrypts (as Entra does once the certificate
// is uploaded), and RequireEncryption is satisfied.
func TestEncryptedAssertions(t *testing.T) {
	t.Parallel()
	sp := samltest.NewKey(t, "crowdgate sp")
	f := newFixture(t, true, func(c *saml.Config) {
		c.SPKeyPEM, c.SPCertPEM, c.RequireEncryption, c.SignRequests = sp.KeyPEM(), sp.CertPEM(), true, true
	})
	b, _ := browser(t, alice)
	// crewjam's login form drops a query-string signature (docs/saml.md, "Test IdP"): open the
	// IdP session first, then the signed request is verified on its own.
	b.Post(f.idp.LoginURL(), url.Values{"user": {alice.UPN}, "password": {idpPassword}})
	p := b.Get(f.sso.URL + "/sso/login?app=jira&dest=" + url.QueryEscape(dashboardPath))
	if p.Status != http.StatusOK || p.URL.Path != jiraPath+dashboardPath {
		t.Fatalf("encrypted sign-in ended at %s (%d): %s\n%s", p.URL, p.Status, p.Body, f.logs.all())
	}
	if len(f.sessions(store.SessionSSO)) != 1 {
		t.Fatalf("want 1 session")
	}
}

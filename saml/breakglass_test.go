package saml_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// breakGlassForm opens the form in b and returns its values.
func breakGlassForm(t *testing.T, f *fixture, b *samltest.Browser, query string) url.Values {
	t.Helper()
	p := b.Open(f.sso.URL + "/sso/breakglass?" + query)
	form, ok := samltest.ParseForm(p)
	if p.Status != http.StatusOK || !ok || form.Values.Get("csrf") == "" {
		t.Fatalf("break-glass form: %d %s", p.Status, p.Body)
	}
	return form.Values
}

func breakGlassAudit(t *testing.T, f *fixture, outcome string) []store.AuditEntry {
	t.Helper()
	all, err := f.st.ListAudit(context.Background(), store.AuditFilter{Action: "BREAKGLASS_LOGIN", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, e := range all {
		if e.Outcome == outcome && e.ActorKind == store.ActorSAML {
			out = append(out, e)
		}
	}
	return out
}

// TestBreakGlass: a member of the break-glass group signs in with a local password while the
// IdP is down; everyone else is refused, every attempt audited, an address throttled.
func TestBreakGlass(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false, func(c *saml.Config) {
		// The IdP is down: its metadata URL does not answer.
		c.IdPMetadataXML, c.IdPMetadataURL = nil, "http://127.0.0.1:1/federationmetadata.xml"
	})

	// Sign-in through the IdP is unavailable, and says where to go.
	b := samltest.NewBrowser(t)
	p := b.Get(f.sso.URL + "/sso/login?app=jira")
	if p.Status != http.StatusServiceUnavailable || !strings.Contains(p.Body, "/sso/breakglass") {
		t.Fatalf("login with the IdP down: %d %s", p.Status, p.Body)
	}

	// Console.
	v := breakGlassForm(t, f, b, "")
	v.Set("username", "root")
	v.Set("password", rootPassword)
	p = b.Post(f.sso.URL+"/sso/breakglass", v)
	if p.Status != http.StatusOK || p.Body != "console of root" {
		t.Fatalf("break-glass to the console: %d at %s: %s", p.Status, p.URL, p.Body)
	}
	// Jira (root's group is allowed there too).
	v = breakGlassForm(t, f, b, "app=jira&dest="+url.QueryEscape(dashboardPath))
	v.Set("username", "root")
	v.Set("password", rootPassword)
	p = b.Post(f.sso.URL+"/sso/breakglass", v)
	if p.URL.Path != jiraPath+dashboardPath {
		t.Fatalf("break-glass to Jira ended at %s (%d): %s", p.URL, p.Status, p.Body)
	}
	if _, ok := b.Cookie(f.sso.URL, store.DefaultCookieName); !ok {
		t.Error("no Crowd cookie after break-glass sign-in to Jira")
	}
	if n := len(breakGlassAudit(t, f, "SUCCESS")); n != 2 {
		t.Errorf("%d successful break-glass sign-ins audited, want 2", n)
	}

	refusals := []struct {
		name, user, pw string
		noCSRF         bool
		status         int
	}{
		{"wrong password", "root", "nope", false, http.StatusUnauthorized},
		{"not in the break-glass group", "svc", rootPassword, false, http.StatusUnauthorized},
		{"an Entra user", alice.UPN, rootPassword, false, http.StatusUnauthorized},
		{"no CSRF token", "root", rootPassword, true, http.StatusForbidden},
	}
	for _, tc := range refusals {
		// Failures are one audit row per address and minute: end the minute's row for each case.
		if err := f.st.FlushSignInFailures(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		before := len(breakGlassAudit(t, f, "FAILURE"))
		c := samltest.NewBrowser(t)
		v := breakGlassForm(t, f, c, "")
		v.Set("username", tc.user)
		v.Set("password", tc.pw)
		if tc.noCSRF {
			v.Del("csrf")
		}
		p := c.Post(f.sso.URL+"/sso/breakglass", v)
		if p.Status != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, p.Status, tc.status)
		}
		if _, ok := c.Cookie(f.sso.URL+"/console/", saml.DefaultConsoleCookie); ok {
			t.Errorf("%s: got a console cookie", tc.name)
		}
		if n := len(breakGlassAudit(t, f, "FAILURE")) - before; n != 1 {
			t.Errorf("%s: %d failures audited, want 1", tc.name, n)
		}
	}

	// Throttling: after 5 failures from one address, even the right password waits.
	for range 5 {
		v := breakGlassForm(t, f, b, "")
		v.Set("username", "root")
		v.Set("password", "guess")
		b.Post(f.sso.URL+"/sso/breakglass", v)
	}
	v = breakGlassForm(t, f, b, "")
	v.Set("username", "root")
	v.Set("password", rootPassword)
	if p := b.Post(f.sso.URL+"/sso/breakglass", v); p.Status != http.StatusTooManyRequests {
		t.Errorf("after 5 failures: %d, want 429", p.Status)
	}
	if strings.Contains(f.logs.all(), rootPassword) {
		t.Error("a password was logged")
	}
}

// TestBreakGlassDisabled: off, the page does not exist.
func TestBreakGlassDisabled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false, func(c *saml.Config) { c.BreakGlass = false })
	if r := get(t, f.sso.URL+"/sso/breakglass"); r.StatusCode != http.StatusNotFound {
		t.Errorf("GET /sso/breakglass = %d, want 404", r.StatusCode)
	}
}

// TestBreakGlassUnknownUserHashes: an unknown name costs the password hashing of a known one, so
// timing does not tell which break-glass accounts exist.
func TestBreakGlassUnknownUserHashes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false, func(c *saml.Config) {
		c.IdPMetadataXML, c.IdPMetadataURL = nil, "http://127.0.0.1:1/federationmetadata.xml"
	})
	for _, user := range []string{"root", "nobody-at-all"} {
		b := samltest.NewBrowser(t)
		v := breakGlassForm(t, f, b, "")
		v.Set("username", user)
		v.Set("password", "a wrong guess")
		before := f.st.PasswordVerifications()
		if p := b.Post(f.sso.URL+"/sso/breakglass", v); p.Status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", user, p.Status)
		}
		if n := f.st.PasswordVerifications() - before; n != 1 {
			t.Errorf("%s: %d password hashes checked, want 1", user, n)
		}
	}
}

// breakGlassAs posts the break-glass form as root with the right password.
func breakGlassAs(t *testing.T, f *fixture, query string) (*samltest.Page, *samltest.Browser) {
	t.Helper()
	b := samltest.NewBrowser(t)
	v := breakGlassForm(t, f, b, query)
	v.Set("username", "root")
	v.Set("password", rootPassword)
	return b.Post(f.sso.URL+"/sso/breakglass", v), b
}

// TestBreakGlassShadowed: a break-glass user shadowed in an application by a same-named user of an
// earlier directory gets no session there (it would be the other user's), as with SAML.
func TestBreakGlassShadowed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	other := storetest.Must(f.st.CreateUser(ctx, store.NewUser{DirectoryID: f.entra.ID, Name: "root", ExternalID: "0f0f0f0f-0000-4000-8000-000000000001", Active: true}))
	g := storetest.Must(f.st.GroupByName(ctx, f.entra.ID, "jira-users"))
	if err := f.st.AddUserToGroup(ctx, other.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	p, b := breakGlassAs(t, f, "app=jira&dest="+url.QueryEscape(dashboardPath))
	if p.Status != http.StatusForbidden {
		t.Fatalf("break-glass into Jira as a shadowed user: %d at %s", p.Status, p.URL)
	}
	if _, ok := b.Cookie(f.sso.URL, store.DefaultCookieName); ok {
		t.Error("a Crowd cookie for a shadowed user")
	}
	if got := breakGlassAudit(t, f, "FAILURE"); len(got) != 1 || !strings.Contains(got[0].Details, `user \"root\" is shadowed in application \"jira\"`) {
		t.Errorf("audit: %+v", got)
	}
	if p, _ := breakGlassAs(t, f, ""); p.Status != http.StatusOK || p.Body != "console of root" {
		t.Errorf("break-glass into the console: %d %s", p.Status, p.Body)
	}
}

// TestBreakGlassConsoleOnly: CROWDGATE_BREAKGLASS=console keeps the console door and closes the
// applications'.
func TestBreakGlassConsoleOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false, func(c *saml.Config) { c.BreakGlassConsoleOnly = true })
	p, b := breakGlassAs(t, f, "app=jira&dest="+url.QueryEscape(dashboardPath))
	if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "for the crowdgate console only") {
		t.Errorf("break-glass into Jira, console only: %d %s", p.Status, p.Body)
	}
	if _, ok := b.Cookie(f.sso.URL, store.DefaultCookieName); ok {
		t.Error("a Crowd cookie, console only")
	}
	if got := breakGlassAudit(t, f, "FAILURE"); len(got) != 1 || !strings.Contains(got[0].Details, "CROWDGATE_BREAKGLASS=console") {
		t.Errorf("audit: %+v", got)
	}
	if p, _ := breakGlassAs(t, f, ""); p.Status != http.StatusOK || p.Body != "console of root" {
		t.Errorf("break-glass into the console: %d %s", p.Status, p.Body)
	}
}

// The throttled answer is counted, not logged per attempt (a flood cannot fill the log), so these
// cases live here rather than in the attack suite, whose cases assert a logged reason.
const throttledPage = "Too many failed attempts from your address. Try again later."

// forwardedFor is a transport that adds an X-Forwarded-For header to every request.
type forwardedFor string

func (x forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", string(x))
	return http.DefaultTransport.RoundTrip(r)
}

// browserFrom is a fresh browser whose requests claim xff ("" sends no header).
func browserFrom(t *testing.T, xff string) *samltest.Browser {
	b := samltest.NewBrowser(t)
	if xff != "" {
		b.Client.Transport = forwardedFor(xff)
	}
	return b
}

// breakGlassTry posts the form from b as root with pw.
func breakGlassTry(t *testing.T, f *fixture, b *samltest.Browser, pw string) *samltest.Page {
	t.Helper()
	v := breakGlassForm(t, f, b, "")
	v.Set("username", "root")
	v.Set("password", pw)
	return b.Post(f.sso.URL+"/sso/breakglass", v)
}

// failUntilSlowed sends GuardSlowAfter wrong passwords from b.
func failUntilSlowed(t *testing.T, f *fixture, b *samltest.Browser) {
	t.Helper()
	for i := range store.GuardSlowAfter {
		if p := breakGlassTry(t, f, b, "guess"); p.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, p.Status)
		}
	}
}

// wantThrottled requires the throttled refusal, without a session.
func wantThrottled(t *testing.T, f *fixture, b *samltest.Browser, p *samltest.Page, what string) {
	t.Helper()
	if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Body, throttledPage) {
		t.Errorf("%s: %d %q, want 429 %q", what, p.Status, p.Body, throttledPage)
	}
	if _, ok := b.Cookie(f.sso.URL+"/console/", saml.DefaultConsoleCookie); ok {
		t.Errorf("%s: got a console cookie", what)
	}
}

// TestBreakGlassForwardedForUntrusted: with no trusted proxies, an X-Forwarded-For header is the
// client's own claim; a slowed-down address does not escape by naming another one.
func TestBreakGlassForwardedForUntrusted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	failUntilSlowed(t, f, browserFrom(t, ""))
	for _, xff := range []string{"203.0.113.77", "198.51.100.1, 203.0.113.77", "127.0.0.2"} {
		b := browserFrom(t, xff)
		wantThrottled(t, f, b, breakGlassTry(t, f, b, rootPassword), "right password claiming "+xff)
	}
	if n := len(f.sessions("")); n != 0 {
		t.Errorf("%d sessions, want none", n)
	}
}

// TestBreakGlassForwardedForTrustedProxy: behind a trusted proxy (the loopback peer) the client is
// the right-most untrusted address of the chain. A slowed-down client prefixing a made-up address
// (which the proxy keeps, appending the real one) is still counted as itself, and another client
// behind the same proxy is not held up by it.
func TestBreakGlassForwardedForTrustedProxy(t *testing.T) {
	t.Parallel()
	f := newFixtureStore(t, "", false, samltest.IdPOptions{}, store.Config{},
		func(c *saml.Config) { c.TrustedProxies = storetest.Addresses(t, "127.0.0.1/32") })
	const client = "203.0.113.9"
	failUntilSlowed(t, f, browserFrom(t, client))
	for _, xff := range []string{
		client,                           // the same client again
		"198.51.100.1, " + client,        // a spoofed left-most entry
		"10.0.0.9, 127.0.0.1, " + client, // spoofed entries claiming to be proxies
	} {
		b := browserFrom(t, xff)
		wantThrottled(t, f, b, breakGlassTry(t, f, b, rootPassword), "right password with X-Forwarded-For "+xff)
	}
	// Another client behind the proxy signs in: the count is the client's, not the proxy's.
	b := browserFrom(t, "198.51.100.20")
	if p := breakGlassTry(t, f, b, rootPassword); p.Status != http.StatusOK || p.Body != "console of root" {
		t.Fatalf("another client behind the proxy: %d at %s: %s", p.Status, p.URL, p.Body)
	}
	ok := breakGlassAudit(t, f, "SUCCESS")
	if len(ok) != 1 || ok[0].Actor != "root" || ok[0].Source != "198.51.100.20" {
		t.Errorf("successes audited: %+v, want one, root from 198.51.100.20", ok)
	}
}

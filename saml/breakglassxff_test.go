package saml_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

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

package saml_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/saml"
)

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

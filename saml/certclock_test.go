package saml_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
)

// withIdPKey returns a fixture whose IdP metadata announces key and whose built responses are
// signed with it.
func withIdPKey(t *testing.T, key *samltest.Key, opts ...func(*saml.Config)) *fixture {
	t.Helper()
	md := samltest.EntraMetadata("https://sts.windows.net/"+tenant+"/", "https://login.microsoftonline.com/"+tenant+"/saml2",
		"https://login.microsoftonline.com/"+tenant+"/saml2", key.Cert)
	f := newFixture(t, false, append([]func(*saml.Config){func(c *saml.Config) { c.IdPMetadataXML = md }}, opts...)...)
	f.key = key
	return f
}

// TestCertificateValidityIgnoresSkew: the clock skew applies to assertion times only. The
// signing certificate is checked against the real clock, with CertNotBeforeAllowance before its
// NotBefore and nothing after its NotAfter. Before the fix, a certificate issued seconds ago was
// refused for the first CROWDGATE_SAML_CLOCK_SKEW and an expired one accepted for as long.
func TestCertificateValidityIgnoresSkew(t *testing.T) {
	t.Parallel()
	const refused = "the IdP signing certificate is not valid now"
	// Offsets from the moment each case runs: parallel cases may start long after the test.
	cases := []struct {
		name                string
		notBefore, notAfter time.Duration
		reason              string // empty: accepted
	}{
		{"issued ten seconds ago", -10 * time.Second, time.Hour, ""},
		{"issued 30 s in the future (IdP clock ahead, inside the allowance)", 30 * time.Second, time.Hour, ""},
		{"issued 2 min in the future (outside the allowance, inside the skew)", 2 * time.Minute, time.Hour, refused},
		{"expired a minute ago (inside the skew)", -time.Hour, -time.Minute, refused},
		{"expires in a minute", -time.Hour, time.Minute, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := time.Now()
			f := withIdPKey(t, samltest.NewKeyValid(t, "idp", now.Add(tc.notBefore), now.Add(tc.notAfter)))
			l := jiraLogin(f)
			resp := f.post(l.c, f.signedBy(l, alice, nil, f.key, nil, nil), l.relay)
			reasons := f.logs.reasons("saml: sign-in refused")
			if tc.reason == "" {
				if resp.StatusCode != http.StatusSeeOther || len(reasons) != 0 {
					t.Fatalf("status %d, reasons %q; want 303", resp.StatusCode, reasons)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest || len(reasons) != 1 || !strings.Contains(reasons[0], tc.reason) {
				t.Fatalf("status %d, reasons %q; want 400 and %q", resp.StatusCode, reasons, tc.reason)
			}
		})
	}
}

package saml_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
)

// TestJourneyBySignedPart walks the sign-in against the crewjam IdP signing the assertion only
// (Entra's default), the response only, and both, under each signature requirement: the
// requirement decides, and the session is alice's whenever it is met.
func TestJourneyBySignedPart(t *testing.T) {
	t.Parallel()
	const notAssertion = "the assertion is not signed (only the response is)"
	const notResponse = "the response is not signed (only the assertion is)"
	idps := map[string]samltest.IdPOptions{
		"assertion only": {},
		"response only":  {SignResponse: true, UnsignedAssertion: true},
		"both":           {SignResponse: true},
	}
	cases := []struct {
		signed, require, reason string // reason empty: signed in
	}{
		{"assertion only", saml.SignedAssertion, ""},
		{"response only", saml.SignedAssertion, notAssertion},
		{"both", saml.SignedAssertion, ""},
		{"assertion only", saml.SignedResponse, notResponse},
		{"response only", saml.SignedResponse, ""},
		{"both", saml.SignedResponse, ""},
		{"assertion only", saml.SignedEither, ""},
		{"response only", saml.SignedEither, ""},
		{"both", saml.SignedEither, ""},
	}
	for _, tc := range cases {
		t.Run(tc.signed+"/require="+tc.require, func(t *testing.T) {
			t.Parallel()
			f := newFixtureIdP(t, "", true, idps[tc.signed], func(c *saml.Config) { c.RequireSigned = tc.require })
			b, _ := browser(t, alice)
			p := b.Get(f.sso.URL + "/sso/login?app=jira&dest=" + url.QueryEscape(dashboardPath))
			reasons := f.logs.reasons("saml: sign-in refused")
			sessions := f.sessions(store.SessionSSO)
			if tc.reason != "" {
				if p.Status != http.StatusBadRequest || len(reasons) != 1 || !strings.Contains(reasons[0], tc.reason) || len(sessions) != 0 {
					t.Fatalf("%d, reasons %q, %d sessions; want 400 with %q", p.Status, reasons, len(sessions), tc.reason)
				}
				return
			}
			if p.Status != http.StatusOK || p.URL.Path != jiraPath+dashboardPath || len(reasons) != 0 {
				t.Fatalf("sign-in ended at %s (%d), reasons %q", p.URL, p.Status, reasons)
			}
			if len(sessions) != 1 || sessions[0].UserID != f.users[alice.UPN].ID {
				t.Fatalf("sessions %+v, want one of alice (%d)", sessions, f.users[alice.UPN].ID)
			}
		})
	}
}

// TestMetadataMatchesBehaviour: WantAssertionsSigned is true exactly when a response signed
// only at the response level is refused, and the NameID format is the one the mapping needs.
func TestMetadataMatchesBehaviour(t *testing.T) {
	t.Parallel()
	cases := []struct {
		require, mapping, nameIDFormat string
		want                           bool
		format                         string
	}{
		{"", "", "", true, saml.NameIDFormatUnspecified},
		{saml.SignedResponse, saml.MapNameID, "", false, saml.NameIDFormatEmail},
		{saml.SignedEither, saml.MapEmail, "", false, saml.NameIDFormatUnspecified},
		{saml.SignedAssertion, saml.MapNameID, "urn:oasis:names:tc:SAML:2.0:nameid-format:transient", true, "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"},
	}
	for _, tc := range cases {
		f := newFixture(t, false, func(c *saml.Config) {
			c.RequireSigned, c.UserMapping, c.NameIDFormat = tc.require, tc.mapping, tc.nameIDFormat
		})
		md, err := f.sp.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(md); err != nil {
			t.Fatal(err)
		}
		d := samltest.Child(doc.Root(), "SPSSODescriptor")
		if got := d.SelectAttrValue("WantAssertionsSigned", ""); got != map[bool]string{true: "true", false: "false"}[tc.want] {
			t.Errorf("require %q: WantAssertionsSigned=%q, want %v", tc.require, got, tc.want)
		}
		if nf := samltest.Child(d, "NameIDFormat"); nf == nil || nf.Text() != tc.format {
			t.Errorf("mapping %q: NameIDFormat %v, want %q", tc.mapping, nf, tc.format)
		}
		// Behaviour: a response signed only at the response level.
		l := jiraLogin(f)
		resp := f.post(l.c, f.signedBy(l, alice, nil, nil, f.key, nil), l.relay)
		if accepted := resp.StatusCode == http.StatusSeeOther; accepted == tc.want {
			t.Errorf("require %q: response-only signature accepted=%v, but WantAssertionsSigned=%v", tc.require, accepted, tc.want)
		}
	}
}

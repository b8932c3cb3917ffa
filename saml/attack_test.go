package saml_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
)

var attacks = []attack{
	{name: "control: genuine response", run: send(nil, nil), accept: true},

	// Signature wrapping: the signed bytes stay intact, the identity moves to an unsigned copy.
	{name: "XSW1 response clone inside Signature", run: xsw(1), status: 400, reason: "does not name the element it signs"},
	{name: "XSW2 response clone before Signature", run: xsw(2), status: 400, reason: "does not name the element it signs"},
	{name: "XSW3 evil assertion before signed one", run: xsw(3), status: 400, reason: "assertions, want exactly 1"},
	{name: "XSW4 evil assertion wraps signed one", run: xsw(4), status: 400, reason: "assertions, want exactly 1"},
	{name: "XSW5 signed copy appended, evil keeps signature", run: xsw(5), status: 400, reason: "appears twice"},
	{name: "XSW6 signed copy inside evil signature", run: xsw(6), status: 400, reason: "appears twice"},
	{name: "XSW7 signed assertion hidden in Extensions", run: xsw(7), status: 400, reason: "appears twice"},
	{name: "XSW8 signed copy in Signature Object", run: xsw(8), status: 400, reason: "appears twice"},

	// Signatures.
	{name: "stripped signature", status: 400, reason: "Missing signature referencing the top-level element", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, f.signedBy(l, alice, nil, nil, nil, nil), l.relay)
	}},
	{name: "stripped SignatureValue", status: 400, reason: "response rejected: Invalid Signature", run: send(nil, removeFromAssertion("Signature", "SignatureValue"))},
	{name: "tampered after signing (bob becomes alice)", status: 400, reason: "Signature could not be verified", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		v := f.signedBy(l, bob, nil, f.key, nil, func(d *etree.Document) {
			a, _ := samltest.FindAssertion(d.Root())
			samltest.Impersonate(alice)(a)
		})
		return f.post(l.c, v, l.relay)
	}},
	{name: "attacker certificate in KeyInfo", status: 400, reason: "Could not verify certificate against trusted certs", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, f.signedBy(l, alice, nil, samltest.NewKey(t, "idp"), nil, nil), l.relay)
	}},
	{name: "attacker key without KeyInfo", status: 400, reason: "crypto/rsa: verification error", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		r := f.response(l, alice)
		a, err := samltest.Sign(r.AssertionElement(), samltest.Signing{Key: samltest.NewKey(t, "evil"), NoKeyInfo: true})
		if err != nil {
			t.Fatal(err)
		}
		return f.postAssertion(l, r, a)
	}},
	{name: "SHA-1 signature when disabled", status: 400, reason: "signature uses SHA-1", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		r := f.response(l, alice)
		a, err := samltest.Sign(r.AssertionElement(), samltest.Signing{Key: f.key, SHA1: true})
		if err != nil {
			t.Fatal(err)
		}
		return f.postAssertion(l, r, a)
	}},
	{name: "control: SHA-1 signature when allowed", preset: "sha1", accept: true, run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		r := f.response(l, alice)
		a, _ := samltest.Sign(r.AssertionElement(), samltest.Signing{Key: f.key, SHA1: true})
		return f.postAssertion(l, r, a)
	}},

	// Structure.
	{name: "comment inside NameID", preset: "nameid", status: 400, reason: "document contains a comment", run: func(t *testing.T, f *fixture) *http.Response {
		// A genuine assertion for alice@example.com.evil.test; the comment leaves the signature
		// valid (exclusive c14n drops comments) and a naive SP reads only "alice@example.com".
		l := jiraLogin(f)
		evil := alice
		evil.UPN = "alice@example.com.evil.test"
		v := f.signedBy(l, evil, nil, f.key, nil, nil)
		x, _ := base64.StdEncoding.DecodeString(v)
		s := strings.Replace(string(x), "alice@example.com.evil.test</NameID>", "alice@example.com<!---->.evil.test</NameID>", 1)
		return f.post(l.c, base64.StdEncoding.EncodeToString([]byte(s)), l.relay)
	}},
	{name: "two signed assertions", status: 400, reason: "response carries 2 assertions", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		v := f.signedBy(l, bob, nil, f.key, nil, func(d *etree.Document) {
			second, _ := samltest.Sign(f.response(l, alice).AssertionElement(), samltest.Signing{Key: f.key})
			d.Root().AddChild(second)
		})
		return f.post(l.c, v, l.relay)
	}},
	// The mutation of CVE-2020-29509: Go 1.26's encoding/xml already refuses the colon tricks,
	// and scanXML runs the round-trip validator besides.
	{name: "round-trip mutation (colon in element name)", status: 400, reason: "malformed XML: XML syntax error", run: rawXML(func(s string) string {
		return strings.Replace(s, "</samlp:Response>", `<x::Attack xmlns:x="urn:evil"/></samlp:Response>`, 1)
	})},
	{name: "DTD with external entity (XXE)", status: 400, reason: "document contains a DTD", run: rawXML(func(s string) string {
		s = strings.Replace(s, "alice@example.com</NameID>", "&xxe;</NameID>", 1)
		return `<?xml version="1.0"?><!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + s
	})},
	{name: "entity expansion (billion laughs)", status: 400, reason: "document contains a DTD", run: rawXML(func(s string) string {
		return `<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>` + s
	})},
	{name: "status not Success", status: 400, reason: "wrong StatusCode", run: send(func(r *samltest.Response) { r.StatusCode = samltest.StatusRequester }, nil)},
	{name: "no AuthnStatement", status: 400, reason: "assertion has no AuthnStatement", run: send(func(r *samltest.Response) { r.NoAuthnStatement = true }, nil)},

	// Time.
	{name: "expired outside skew", status: 400, reason: "subject confirmation expired", run: send(func(r *samltest.Response) {
		past := time.Now().Add(-2 * time.Hour)
		r.IssueInstant, r.NotBefore, r.AuthnInstant = past, past, past
		r.NotOnOrAfter, r.SubjectNotOnOrAfter = time.Now().Add(-10*time.Minute), time.Now().Add(-10*time.Minute)
	}, nil)},
	{name: "conditions expired outside skew", status: 400, reason: "assertion expired at", run: send(func(r *samltest.Response) {
		r.NotOnOrAfter = time.Now().Add(-10 * time.Minute)
	}, nil)},
	{name: "not yet valid outside skew", status: 400, reason: "not valid before", run: send(func(r *samltest.Response) {
		r.NotBefore = time.Now().Add(10 * time.Minute)
	}, nil)},
	{name: "control: expired inside skew", accept: true, run: send(func(r *samltest.Response) {
		r.NotOnOrAfter, r.SubjectNotOnOrAfter = time.Now().Add(-time.Minute), time.Now().Add(-time.Minute)
	}, nil)},
	{name: "control: not yet valid inside skew (IdP clock 2 min ahead)", accept: true, run: send(func(r *samltest.Response) {
		ahead := time.Now().Add(2 * time.Minute)
		r.IssueInstant, r.NotBefore, r.AuthnInstant = ahead, ahead, ahead
	}, nil)},

	// Who it is for, and from whom.
	{name: "wrong Audience", status: 400, reason: "assertion is for audience", run: send(func(r *samltest.Response) { r.Audiences = []string{"https://other.example/sp"} }, nil)},
	{name: "no AudienceRestriction", status: 400, reason: "no AudienceRestriction", run: send(func(r *samltest.Response) { r.Audiences = nil }, nil)},
	{name: "wrong Recipient", status: 400, reason: "wrong Recipient", run: send(func(r *samltest.Response) { r.Recipient = "https://other.example/acs" }, nil)},
	{name: "wrong Destination", status: 400, reason: "wrong Destination", run: send(func(r *samltest.Response) { r.Destination = "https://other.example/acs" }, nil)},
	{name: "wrong assertion Issuer", status: 400, reason: "wrong Issuer", run: send(func(r *samltest.Response) { r.AssertionIssuer = "https://sts.windows.net/evil/" }, nil)},
	{name: "wrong Response Issuer", status: 400, reason: "wrong Issuer", run: send(func(r *samltest.Response) { r.Issuer = "https://sts.windows.net/evil/" }, nil)},

	// Binding to the browser.
	{name: "wrong InResponseTo", status: 400, reason: "but this browser started", run: send(func(r *samltest.Response) { r.InResponseTo = samltest.NewID() }, nil)},
	{name: "Response InResponseTo differs from the assertion's", status: 400, reason: "differs from the assertion", run: send(func(r *samltest.Response) {
		r.ResponseInResponseTo = samltest.NewID()
	}, nil)},
	{name: "unsolicited response, IdP-initiated off", status: 400, reason: "IdP-initiated sign-in is disabled", run: send(func(r *samltest.Response) { r.InResponseTo = "" }, nil)},
	{name: "missing state cookie (login CSRF)", status: 400, reason: "no sign-in was started by this browser", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		// The attacker's genuine response, posted from the victim's browser.
		return f.post(client(), f.signedBy(l, bob, nil, f.key, nil, nil), l.relay)
	}},
	{name: "RelayState of another sign-in", status: 400, reason: "but this browser started", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		other := f.startLogin(l.c, "app=jira")
		return f.post(l.c, f.signedBy(l, alice, nil, f.key, nil, nil), other.relay)
	}},
	{name: "replay in the same browser", status: 400, reason: "no sign-in was started by this browser", run: func(t *testing.T, f *fixture) *http.Response {
		l, v, _ := usedOnce(t, f)
		return f.post(l.c, v, l.relay)
	}},
	{name: "replay with a captured state cookie", status: 400, reason: "replayed", run: func(t *testing.T, f *fixture) *http.Response {
		l, v, captured := usedOnce(t, f)
		attacker := client()
		u, _ := url.Parse(f.sso.URL)
		attacker.Jar.SetCookies(u, captured)
		return f.post(attacker, v, l.relay)
	}},
	{name: "replay on another instance", status: 400, reason: "replayed", run: func(t *testing.T, f *fixture) *http.Response {
		// A second instance on the same store (behind the same public URL) shares the state key
		// and the replay cache.
		sp2, err := saml.New(f.cfg, f.st, slog.New(f.logs))
		if err != nil {
			t.Fatal(err)
		}
		other := httptest.NewServer(sp2.Handler())
		defer other.Close()
		l, v, captured := usedOnce(t, f)
		attacker := client()
		ou, _ := url.Parse(other.URL)
		attacker.Jar.SetCookies(ou, captured)
		resp, err := attacker.PostForm(other.URL+"/saml/acs", url.Values{"SAMLResponse": {v}, "RelayState": {l.relay}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}},

	{name: "replay of an unsolicited response (IdP-initiated on)", preset: "idpinit", status: 400, reason: "replayed: saml assertion \"assertion:", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		v := f.signedBy(l, alice, func(r *samltest.Response) { r.InResponseTo = "" }, f.key, nil, nil)
		if r := f.post(l.c, v, "/console/"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/sso/login?") {
			t.Fatalf("first use: %d to %q, want a bounce to /sso/login", r.StatusCode, r.Header.Get("Location"))
		}
		return f.post(l.c, v, "/console/")
	}},

	// Size.
	{name: "oversized SAMLResponse", status: 413, reason: "more than the 524288 allowed", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, strings.Repeat("A", saml.DefaultMaxResponseSize+8), l.relay)
	}},
	{name: "decompression-bomb SAMLResponse at the ACS", status: 400, reason: "SAMLResponse is not XML", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		bomb := deflate(bytes.Repeat([]byte("<a>"), 20<<20/3))
		return f.post(l.c, base64.StdEncoding.EncodeToString(bomb), l.relay)
	}},
	{name: "decompression-bomb SAMLRequest at the logout endpoint", status: 400, reason: "decompresses to more than", run: func(t *testing.T, f *fixture) *http.Response {
		bomb := deflate(append([]byte(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x">`), bytes.Repeat([]byte(" "), 8<<20)...))
		return get(t, f.sso.URL+"/saml/logout?SAMLRequest="+url.QueryEscape(base64.StdEncoding.EncodeToString(bomb)))
	}},
	{name: "decompression-bomb SAMLResponse at the logout endpoint", status: 400, reason: "decompresses to more than", run: func(t *testing.T, f *fixture) *http.Response {
		bomb := deflate(bytes.Repeat([]byte("A"), 8<<20))
		return get(t, f.sso.URL+"/sso/logout?SAMLResponse="+url.QueryEscape(base64.StdEncoding.EncodeToString(bomb)))
	}},

	// Where the browser goes.
	{name: "open redirect in return URL", status: 400, reason: "is not under a base URL of any application", run: func(t *testing.T, f *fixture) *http.Response {
		return get(t, f.sso.URL+"/sso/login?dest="+url.QueryEscape("https://evil.example/phish"))
	}},
	{name: "open redirect: protocol-relative return URL", status: 400, reason: "is neither absolute nor a path", run: func(t *testing.T, f *fixture) *http.Response {
		return get(t, f.sso.URL+"/sso/login?app=jira&dest="+url.QueryEscape("//evil.example/phish"))
	}},
	{name: "open redirect: backslash trick", status: 400, reason: "contains a backslash", run: func(t *testing.T, f *fixture) *http.Response {
		return get(t, f.sso.URL+"/sso/login?app=jira&os_destination="+url.QueryEscape("/\\evil.example/phish"))
	}},
	{name: "open redirect: look-alike host and user info", status: 400, reason: "is not an http(s) URL of a host", run: func(t *testing.T, f *fixture) *http.Response {
		u, _ := url.Parse(f.jiraSrv.URL)
		return get(t, f.sso.URL+"/sso/login?returnTo="+url.QueryEscape("http://"+u.Host+"@evil.example"+jiraPath+"/"))
	}},
	{name: "open redirect in RelayState of an unsolicited response", preset: "idpinit", status: 400, reason: "IdP-initiated RelayState: return URL refused", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		v := f.signedBy(l, alice, func(r *samltest.Response) { r.InResponseTo = "" }, f.key, nil, nil)
		return f.post(l.c, v, "https://evil.example/phish")
	}},

	// Who may sign in.
	{name: "control: guest mapped like members (default rule)", accept: true, user: guest.UPN, run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, f.signedBy(l, guest, nil, f.key, nil, nil), l.relay)
	}},
	{name: "control: NameID mapping", preset: "nameid", accept: true, run: send(nil, nil)},
	{name: "control: e-mail mapping", preset: "email", accept: true, run: send(nil, nil)},
	{name: "NameID mapping: NameID changed after signing", preset: "nameid", status: 400, reason: "Signature could not be verified", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		v := f.signedBy(l, bob, nil, f.key, nil, func(d *etree.Document) {
			a, _ := samltest.FindAssertion(d.Root())
			samltest.Path(a, "Subject", "NameID").SetText(alice.UPN)
		})
		return f.post(l.c, v, l.relay)
	}},
	{name: "user not allowed into the application", status: 403, reason: "not allowed to authenticate", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, f.signedBy(l, bob, nil, f.key, nil, nil), l.relay)
	}},
	{name: "unknown user", status: 403, reason: "no active directory has a user", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		mallory := samltest.EntraUser{UPN: "mallory@example.com", ObjectID: "00000000-dead-beef-0000-000000000000"}
		return f.post(l.c, f.signedBy(l, mallory, nil, f.key, nil, nil), l.relay)
	}},
	{name: "guest when guests are denied", preset: "guestdeny", status: 403, reason: "guest accounts may not sign in", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, f.signedBy(l, guest, nil, f.key, nil, nil), l.relay)
	}},
	{name: "e-mail mapping: a guest's address", preset: "email", status: 403, reason: "is a guest", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, f.signedBy(l, guest, nil, f.key, nil, nil), l.relay)
	}},
	{name: "e-mail mapping: two mail claims disagree", preset: "email", status: 403, reason: "disagree", run: send(func(r *samltest.Response) {
		r.Attributes = append(r.Attributes, samltest.Attribute{Name: saml.ClaimOIDMail, Values: []string{bob.Email}})
	}, nil)},
	{name: "control: e-mail mapping by the standard mail attribute (urn:oid:0.9.2342.19200300.100.1.3)", preset: "email", accept: true, run: send(func(r *samltest.Response) {
		for i, a := range r.Attributes {
			if a.Name == samltest.ClaimEmail {
				r.Attributes[i].Name = saml.ClaimOIDMail
			}
		}
	}, nil)},
	{name: "NameID mapping onto an internal user without the opt-in", preset: "nameid", status: 403, reason: "no active directory has a user with name \"root\"", run: send(func(r *samltest.Response) { r.NameID = "root" }, nil)},
	{name: "control: NameID mapping onto an internal user with its directory named", preset: "internal", accept: true, user: "root", run: send(func(r *samltest.Response) { r.NameID = "root" }, nil)},
	{name: "response-only signature under the default requirement", status: 400, reason: "the assertion is not signed (only the response is)", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, f.signedBy(l, alice, nil, nil, f.key, nil), l.relay)
	}},
	{name: "control: response-only signature when either will do", preset: "either", accept: true, run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, f.signedBy(l, alice, nil, nil, f.key, nil), l.relay)
	}},
	{name: "plaintext assertion when encryption is required", preset: "encrypt", status: 400, reason: "assertion is not encrypted, and encryption is required", run: send(nil, nil)},
}

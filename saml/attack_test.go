package saml_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
)

// attack is one case of the negative suite (listed in docs/saml-attacks.md): run performs the attack and returns
// crowdgate's answer.
type attack struct {
	name   string
	preset string // SP configuration, see presets
	run    func(t *testing.T, f *fixture) *http.Response
	status int    // expected HTTP status
	reason string // expected in the logged reason
	accept bool   // a control case that must succeed
	user   string // a control's session user (UPN or internal name); default alice
	// logged names the log message carrying the reason when the answer is no sign-in refusal
	// (a logout that refuses its return URL): then no audited failure is expected.
	logged string
}

const refusedMsg = "saml: sign-in refused"

// suite is every case, in order.
func suite() []attack { return append(append([]attack(nil), attacks...), moreAttacks...) }

// presets are the SP configurations the suite needs besides the default.
var presets = map[string]func(*saml.Config){
	"":          nil,
	"nameid":    func(c *saml.Config) { c.UserMapping = saml.MapNameID },
	"idpinit":   func(c *saml.Config) { c.IdPInitiated = true },
	"sha1":      func(c *saml.Config) { c.AllowSHA1 = true },
	"guestdeny": func(c *saml.Config) { c.GuestRule = saml.GuestDeny },
	"email":     func(c *saml.Config) { c.UserMapping = saml.MapEmail },
	"encrypt":   nil, // set up in fixtureFor: needs the SP key
	"either":    func(c *saml.Config) { c.RequireSigned = saml.SignedEither },
	"internal": func(c *saml.Config) {
		c.UserMapping, c.Directories = saml.MapNameID, []string{"Entra", "Internal"}
	},
}

// jiraLogin starts a sign-in to Jira in a fresh browser.
func jiraLogin(f *fixture) login {
	return f.startLogin(client(), "app=jira&dest="+url.QueryEscape(dashboardPath))
}

// signedBy builds the response to l for u, edits it, signs the assertion with akey and the
// response with rkey (nil: unsigned), then lets after change the document.
func (f *fixture) signedBy(l login, u samltest.EntraUser, edit func(*samltest.Response), akey, rkey *samltest.Key, after func(*etree.Document)) string {
	f.t.Helper()
	r := f.response(l, u)
	if edit != nil {
		edit(&r)
	}
	doc, err := r.Build(akey, rkey)
	if err != nil {
		f.t.Fatal(err)
	}
	if after != nil {
		after(doc)
	}
	return samltest.Encode(doc)
}

// postAssertion posts to l's sign-in the response r carrying the assertion a, which the case signed
// or encrypted itself; the response is not signed.
func (f *fixture) postAssertion(l login, r samltest.Response, a *etree.Element) *http.Response {
	doc := etree.NewDocument()
	doc.SetRoot(r.ResponseElement(a))
	return f.post(l.c, samltest.Encode(doc), l.relay)
}

// usedOnce signs alice in to Jira with a genuine response v, then ends the session it made, for the
// replay cases to send v again. captured are the browser's cookies from before the sign-in (its
// sign-in state).
func usedOnce(t *testing.T, f *fixture) (l login, v string, captured []*http.Cookie) {
	t.Helper()
	l = jiraLogin(f)
	u, _ := url.Parse(f.sso.URL)
	captured = l.c.Jar.Cookies(u)
	v = f.signedBy(l, alice, nil, f.key, nil, nil)
	if r := f.post(l.c, v, l.relay); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", r.StatusCode)
	}
	deleteSessions(t, f)
	return l, v, captured
}

// signedAs posts alice's assertion signed again as signing says, and encrypted to the SP's
// certificate when encrypt is set.
func signedAs(encrypt bool, signing func(t *testing.T, f *fixture) samltest.Signing) func(*testing.T, *fixture) *http.Response {
	return func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		r := f.response(l, alice)
		a, err := samltest.Sign(r.AssertionElement(), signing(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if encrypt {
			if a, err = samltest.EncryptAssertion(a, f.spKey.Cert); err != nil {
				t.Fatal(err)
			}
		}
		return f.postAssertion(l, r, a)
	}
}

// send attacks with a response to a fresh Jira sign-in of a fresh browser.
func send(edit func(*samltest.Response), after func(*etree.Document)) func(*testing.T, *fixture) *http.Response {
	return func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, f.signedBy(l, alice, edit, f.key, nil, after), l.relay)
	}
}

// xsw: bob, who may not use Jira, holds a genuine signed response and wraps it to become alice.
func xsw(n int) func(*testing.T, *fixture) *http.Response {
	return func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		akey, rkey := f.key, (*samltest.Key)(nil)
		if n <= 2 {
			akey, rkey = nil, f.key // variants 1 and 2 wrap a signed Response
		}
		v := f.signedBy(l, bob, nil, akey, rkey, func(d *etree.Document) {
			if err := samltest.XSW(n, d, samltest.Impersonate(alice)); err != nil {
				t.Fatal(err)
			}
		})
		return f.post(l.c, v, l.relay)
	}
}

// rawXML lets an attack edit the serialised response.
func rawXML(edit func(string) string) func(*testing.T, *fixture) *http.Response {
	return func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		v := f.signedBy(l, alice, nil, f.key, nil, nil)
		x, _ := base64.StdEncoding.DecodeString(v)
		return f.post(l.c, base64.StdEncoding.EncodeToString([]byte(edit(string(x)))), l.relay)
	}
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func get(t *testing.T, rawURL string) *http.Response {
	resp, err := client().Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func removeFromAssertion(tags ...string) func(*etree.Document) {
	return func(d *etree.Document) {
		a, _ := samltest.FindAssertion(d.Root())
		el := samltest.Path(a, tags...)
		el.Parent().RemoveChild(el)
	}
}

// fixtureFor returns the fixture of a preset, made on first use.
func fixtureFor(t *testing.T, cache map[string]*fixture, preset string) *fixture {
	if f, ok := cache[preset]; ok {
		return f
	}
	opts := []func(*saml.Config){}
	if o := presets[preset]; o != nil {
		opts = append(opts, o)
	}
	var spKey, idpKey *samltest.Key
	switch preset {
	case "encrypt":
		spKey = samltest.NewKey(t, "sp")
		opts = append(opts, func(c *saml.Config) {
			c.SPKeyPEM, c.SPCertPEM, c.RequireEncryption = spKey.KeyPEM(), spKey.CertPEM(), true
		})
	case "expiredcert", "futurecert":
		from, until := time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
		if preset == "futurecert" {
			from, until = time.Now().Add(10*time.Minute), time.Now().Add(48*time.Hour)
		}
		idpKey = samltest.NewKeyValid(t, "idp", from, until)
		opts = append(opts, func(c *saml.Config) { c.IdPMetadataXML = entraMetadata(idpKey.Cert) })
	case "rollover":
		idpKey = samltest.NewKey(t, "idp")
		path := filepath.Join(t.TempDir(), "idp.xml")
		writeMetadata(t, path, "https://sts.windows.net/"+tenant+"/", idpKey.Cert, samltest.NewKey(t, "next").Cert)
		opts = append(opts, func(c *saml.Config) { c.IdPMetadataXML, c.IdPMetadataFile = nil, path })
	}
	f := newFixture(t, false, opts...)
	f.spKey = spKey
	if idpKey != nil {
		f.key = idpKey
	}
	cache[preset] = f
	return f
}

func deleteSessions(t *testing.T, f *fixture) {
	t.Helper()
	for _, s := range append(f.sessions(store.SessionSSO), f.sessions(store.SessionConsole)...) {
		if err := f.st.DeleteSessionByID(context.Background(), s.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAttacks is the negative suite: every attack is refused with the expected status, a logged
// reason, one audited failure by actor kind SAML, no session and no session cookie; the
// control cases succeed.
func TestAttacks(t *testing.T) {
	t.Parallel()
	cache := map[string]*fixture{}
	refused := 0
	for _, tc := range suite() {
		f := fixtureFor(t, cache, tc.preset) // lives as long as the whole suite
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			deleteSessions(t, f)
			msg := refusedMsg
			if tc.logged != "" {
				msg = tc.logged
			}
			failures := len(f.failures())
			reasons := len(f.logs.reasons(msg))
			resp := tc.run(t, f)
			sessions := append(f.sessions(store.SessionSSO), f.sessions(store.SessionConsole)...)
			if tc.accept {
				if resp.StatusCode != http.StatusSeeOther || len(sessions) != 1 {
					t.Fatalf("control case: status %d, %d sessions; want 303 and 1 session; logs:\n%s", resp.StatusCode, len(sessions), f.logs.all())
				}
				who := tc.user
				if who == "" {
					who = alice.UPN
				}
				if sessions[0].UserID != f.users[who].ID {
					t.Fatalf("control case: the session is user %d's, want %s (%d)", sessions[0].UserID, who, f.users[who].ID)
				}
				return
			}
			newReasons := f.logs.reasons(msg)[reasons:]
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (reasons %q)", resp.StatusCode, tc.status, newReasons)
			}
			for _, c := range resp.Cookies() {
				if (c.Name == store.DefaultCookieName || c.Name == saml.DefaultConsoleCookie) && c.Value != "" {
					t.Errorf("refused sign-in set cookie %s", c.Name)
				}
			}
			if len(sessions) != 0 {
				t.Errorf("refused sign-in left %d sessions", len(sessions))
			}
			if got := len(f.failures()) - failures; got != 1 && tc.logged == "" {
				t.Errorf("%d failures audited, want 1", got)
			}
			if tc.reason == "" {
				t.Errorf("case without an expected reason")
			}
			if len(newReasons) != 1 || !strings.Contains(newReasons[0], tc.reason) {
				t.Errorf("logged reasons %q, want one containing %q", newReasons, tc.reason)
			}
			if !t.Failed() {
				refused++
				t.Logf("refused with %d: %s", resp.StatusCode, newReasons[0])
			}
		})
	}
	if refused < 80 {
		t.Errorf("%d attacks refused as expected, want at least 80", refused)
	}
	t.Logf("%d attacks refused", refused)
}

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
	{name: "attacker key without KeyInfo", status: 400, reason: "crypto/rsa: verification error", run: signedAs(false, func(t *testing.T, f *fixture) samltest.Signing {
		return samltest.Signing{Key: samltest.NewKey(t, "evil"), NoKeyInfo: true}
	})},
	{name: "SHA-1 signature when disabled", status: 400, reason: "signature uses SHA-1", run: signedAs(false, func(t *testing.T, f *fixture) samltest.Signing {
		return samltest.Signing{Key: f.key, SHA1: true}
	})},
	{name: "control: SHA-1 signature when allowed", preset: "sha1", accept: true, run: signedAs(false, func(t *testing.T, f *fixture) samltest.Signing {
		return samltest.Signing{Key: f.key, SHA1: true}
	})},

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

// moreAttacks: signature shape, certificates, conditions, the pre-scan's limits, return URLs and
// forms.
var moreAttacks = []attack{
	// Signature Reference tricks: the pre-scan holds the signature to the one shape IdPs send.
	{name: "Reference URI is not the assertion's ID", status: 400, reason: "does not name the element it signs", run: send(nil, editSignature(func(sig *etree.Element) {
		samltest.Path(sig, "SignedInfo", "Reference").CreateAttr("URI", "#_someone-else")
	}))},
	{name: "empty Reference URI (whole document)", status: 400, reason: `Reference URI "" does not name`, run: send(nil, editSignature(func(sig *etree.Element) {
		samltest.Path(sig, "SignedInfo", "Reference").CreateAttr("URI", "")
	}))},
	{name: "duplicate ID (a second element with the assertion's ID)", status: 400, reason: "appears twice", run: send(nil, func(d *etree.Document) {
		a, _ := samltest.FindAssertion(d.Root())
		samltest.Child(d.Root(), "Status").CreateAttr("ID", a.SelectAttrValue("ID", ""))
	})},
	{name: "several References", status: 400, reason: "more than one Reference", run: send(nil, editSignature(func(sig *etree.Element) {
		si := samltest.Path(sig, "SignedInfo")
		si.AddChild(samltest.Child(si, "Reference").Copy())
	}))},
	{name: "XPath transform", status: 400, reason: "REC-xpath-19991116\" is not allowed", run: send(nil, addTransform("http://www.w3.org/TR/1999/REC-xpath-19991116"))},
	{name: "XPath Filter 2.0 transform", status: 400, reason: "xmldsig-filter2\" is not allowed", run: send(nil, addTransform("http://www.w3.org/2002/06/xmldsig-filter2"))},
	{name: "XSLT transform", status: 400, reason: "REC-xslt-19991116\" is not allowed", run: send(nil, addTransform("http://www.w3.org/TR/1999/REC-xslt-19991116"))},
	{name: "c14n with comments as a transform", status: 400, reason: "keeps comments", run: send(nil, addTransform("http://www.w3.org/2001/10/xml-exc-c14n#WithComments"))},
	{name: "c14n with comments as SignedInfo canonicalisation", status: 400, reason: "keeps comments", run: send(nil, editSignature(func(sig *etree.Element) {
		samltest.Path(sig, "SignedInfo", "CanonicalizationMethod").CreateAttr("Algorithm", "http://www.w3.org/2006/12/xml-c14n11#WithComments")
	}))},

	// Encryption is no signature.
	{name: "unsigned assertion encrypted to the SP's certificate", preset: "encrypt", status: 400, reason: "Missing signature referencing the top-level element", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		ea, err := samltest.EncryptAssertion(f.response(l, alice).AssertionElement(), f.spKey.Cert)
		if err != nil {
			t.Fatal(err)
		}
		doc := etree.NewDocument()
		doc.SetRoot(f.response(l, alice).ResponseElement(ea))
		return f.post(l.c, samltest.Encode(doc), l.relay)
	}},
	{name: "encrypted assertion signed by an attacker's key", preset: "encrypt", status: 400, reason: "Could not verify certificate against trusted certs", run: signedAs(true, func(t *testing.T, f *fixture) samltest.Signing {
		return samltest.Signing{Key: samltest.NewKey(t, "evil")}
	})},
	{name: "control: signed assertion encrypted to the SP's certificate", preset: "encrypt", accept: true, run: signedAs(true, func(t *testing.T, f *fixture) samltest.Signing {
		return samltest.Signing{Key: f.key}
	})},

	// Certificates.
	{name: "expired trusted IdP certificate", preset: "expiredcert", status: 400, reason: "the IdP signing certificate is not valid now", run: send(nil, nil)},
	{name: "trusted IdP certificate not yet valid (beyond the allowance)", preset: "futurecert", status: 400, reason: "the IdP signing certificate is not valid now", run: send(nil, nil)},
	{name: "certificate used after its rollover retention", preset: "rollover", status: 400, reason: "Could not verify certificate against trusted certs", run: func(t *testing.T, f *fixture) *http.Response {
		writeMetadata(t, f.cfg.IdPMetadataFile, "https://sts.windows.net/"+tenant+"/", samltest.NewKey(t, "next").Cert)
		f.start() // the metadata drops the certificate: retained from now on
		f.advance(saml.DefaultCertRetention + time.Minute)
		f.start() // a restart after the retention
		return send(nil, nil)(t, f)
	}},

	// Conditions and subject.
	{name: "several AudienceRestrictions, one for another SP", status: 400, reason: "number 2 does not name", run: send(func(r *samltest.Response) {
		r.ExtraAudienceRestrictions = [][]string{{"https://other.example/sp"}}
	}, nil)},
	{name: "several SubjectConfirmations", status: 400, reason: "more than one SubjectConfirmation", run: send(func(r *samltest.Response) { r.ExtraSubjectConfirmations = 1 }, nil)},
	{name: "SubjectConfirmationData NotBefore", status: 400, reason: "SubjectConfirmationData carries NotBefore", run: send(func(r *samltest.Response) { r.SubjectNotBefore = time.Now() }, nil)},
	{name: "assertion issued in the future", status: 400, reason: "issued in the future", run: send(func(r *samltest.Response) { r.IssueInstant = time.Now().Add(10 * time.Minute) }, nil)},
	{name: "Conditions without NotOnOrAfter", status: 400, reason: "missing NotOnOrAfter attribute on Conditions", run: send(func(r *samltest.Response) { r.NotOnOrAfter = time.Time{} }, nil)},
	{name: "SubjectConfirmationData without NotOnOrAfter", status: 400, reason: "missing NotOnOrAfter attribute on SubjectConfirmationData", run: send(func(r *samltest.Response) { r.SubjectNotOnOrAfter = time.Time{} }, nil)},
	{name: "IdP-initiated: Response InResponseTo without the assertion's", preset: "idpinit", status: 400, reason: "but the assertion answers no request", run: send(func(r *samltest.Response) {
		r.InResponseTo, r.ResponseInResponseTo = "", samltest.NewID()
	}, nil)},

	// The XML pre-scan's limits.
	{name: "nesting deeper than 64 levels", status: 400, reason: "nested more than 64 levels deep", run: rawXML(func(s string) string {
		return strings.Replace(s, "</samlp:Response>", strings.Repeat("<x>", 70)+strings.Repeat("</x>", 70)+"</samlp:Response>", 1)
	})},
	{name: "more than 5000 elements", status: 400, reason: "more than 5000 elements", run: rawXML(func(s string) string {
		return strings.Replace(s, "</samlp:Response>", strings.Repeat("<x/>", 5001)+"</samlp:Response>", 1)
	})},
	{name: "processing instruction inside the document", status: 400, reason: "processing instruction", run: rawXML(func(s string) string {
		return strings.Replace(s, "</samlp:Response>", `<?xml-stylesheet href="x"?></samlp:Response>`, 1)
	})},
	{name: "second root element", status: 400, reason: "more than one root element", run: rawXML(func(s string) string {
		return s + `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`
	})},
	{name: "text after the root element", status: 400, reason: "text outside its root element", run: rawXML(func(s string) string { return s + "alice" })},
	{name: "LogoutResponse posted to the ACS", status: 400, reason: "root element is {urn:oasis:names:tc:SAML:2.0:protocol}LogoutResponse", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		lr := `<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_lr" Version="2.0" InResponseTo="` + l.requestID + `"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>`
		return f.post(l.c, samltest.EncodeBytes([]byte(lr)), l.relay)
	}},
	{name: "round-trip mutation: namespace prefix on an xmlns attribute", status: 400, reason: "malformed XML: XML syntax error on line 1: expected attribute name", run: rawXML(func(s string) string {
		return strings.Replace(s, `<samlp:Response `, `<samlp:Response xmlns:a:b="urn:evil" `, 1)
	})},
	// encoding/xml reads these as names with a colon in them; other parsers (etree, which
	// goxmldsig uses) read them otherwise.
	{name: "round-trip mutation: element with an empty prefix", status: 400, reason: `name ":x" is not namespace-well-formed`, run: rawXML(func(s string) string {
		return strings.Replace(s, "</samlp:Response>", `<:x/></samlp:Response>`, 1)
	})},
	{name: "round-trip mutation: element with an empty local name", status: 400, reason: `name "x:" is not namespace-well-formed`, run: rawXML(func(s string) string {
		return strings.Replace(s, "</samlp:Response>", `<x:/></samlp:Response>`, 1)
	})},
	{name: "round-trip mutation: attribute with an empty prefix", status: 400, reason: `name ":ID" is not namespace-well-formed`, run: rawXML(func(s string) string {
		return strings.Replace(s, `<samlp:Response `, `<samlp:Response :ID="_x" `, 1)
	})},
	{name: "round-trip mutation: xmlns with an empty prefix", status: 400, reason: `name "xmlns:" is not namespace-well-formed`, run: rawXML(func(s string) string {
		return strings.Replace(s, `<samlp:Response `, `<samlp:Response xmlns:="urn:evil" `, 1)
	})},
	{name: "SAMLResponse that is not base64", status: 400, reason: "SAMLResponse is not base64", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, "<samlp:Response/>!", l.relay)
	}},
	{name: "no SAMLResponse", status: 400, reason: "no SAMLResponse in the request", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		return f.post(l.c, "", l.relay)
	}},

	// Where the browser goes: logout, break-glass, and two applications on one origin.
	{name: "open redirect via logout dest", status: 200, logged: logoutRefusedMsg, reason: "is not under a base URL of application jira", run: logoutTo("https://evil.example/phish")},
	{name: "open redirect via logout: protocol-relative dest", status: 200, logged: logoutRefusedMsg, reason: "is neither absolute nor a path", run: logoutTo("//evil.example/phish")},
	{name: "open redirect via logout: look-alike host", status: 200, logged: logoutRefusedMsg, reason: "invalid port", run: func(t *testing.T, f *fixture) *http.Response {
		u, _ := url.Parse(f.jiraSrv.URL)
		return logoutTo("http://"+u.Host+".evil.example"+jiraPath+"/")(t, f)
	}},
	{name: "open redirect via break-glass dest", status: 400, logged: breakGlassRefusedMsg, reason: "is not under a base URL of any application", run: breakGlassTo("", "https://evil.example/phish", nil)},
	{name: "open redirect via break-glass: app with a foreign dest", status: 400, logged: breakGlassRefusedMsg, reason: "is not under a base URL of application jira", run: breakGlassTo("jira", "https://evil.example/phish", nil)},
	{name: "break-glass form posted from another site (Origin)", status: 403, reason: "cross-site form post refused", run: breakGlassTo("jira", dashboardPath, map[string]string{"Origin": "https://evil.example"})},
	{name: "break-glass form posted from another site (Fetch Metadata)", status: 403, reason: "cross-site form post refused", run: breakGlassTo("jira", dashboardPath, map[string]string{"Sec-Fetch-Site": "cross-site"})},
	{name: "break-glass form posted from a sibling site", status: 403, reason: "cross-site form post refused", run: breakGlassTo("jira", dashboardPath, map[string]string{"Sec-Fetch-Site": "same-site"})},
	{name: "path trick: dot segments into another application", status: 400, reason: "has a dot segment in its path", run: loginTo("jira", jiraPath+"/../confluence/x")},
	{name: "path trick: Tomcat's ..; segment", status: 400, reason: "has a ';' path parameter in its path", run: loginTo("jira", "/..;/confluence/x")},
	{name: "path trick: encoded dots", status: 400, reason: "has an encoded dot in its path", run: loginTo("jira", "/%2e%2e/confluence/x")},
	{name: "path trick: encoded slash", status: 400, reason: "has an encoded slash or backslash in its path", run: loginTo("jira", "/x%2f..%2f..%2fconfluence/x")},
	{name: "path trick: the other application's absolute URL with app=jira", status: 400, reason: "is not under a base URL of application jira", run: func(t *testing.T, f *fixture) *http.Response {
		ensureConfluence(t, f)
		return get(t, f.sso.URL+"/sso/login?app=jira&dest="+url.QueryEscape(f.jiraSrv.URL+"/confluence/x"))
	}},
	{name: "path trick: a sibling path sharing the prefix (/jira-evil)", status: 400, reason: "is not under a base URL", run: func(t *testing.T, f *fixture) *http.Response {
		return get(t, f.sso.URL+"/sso/login?dest="+url.QueryEscape(f.jiraSrv.URL+"/jira-evil/x"))
	}},
	{name: "unknown application", status: 400, reason: "unknown application", run: loginTo("gitlab", "/")},
}

const (
	logoutRefusedMsg     = "saml: logout return URL refused"
	breakGlassRefusedMsg = "saml: break-glass sign-in refused"
)

// editSignature changes the assertion's signature after signing.
func editSignature(edit func(sig *etree.Element)) func(*etree.Document) {
	return func(d *etree.Document) {
		a, _ := samltest.FindAssertion(d.Root())
		edit(samltest.Child(a, "Signature"))
	}
}

func addTransform(alg string) func(*etree.Document) {
	return editSignature(func(sig *etree.Element) {
		tr := samltest.Path(sig, "SignedInfo", "Reference", "Transforms")
		tr.CreateElement("Transform").CreateAttr("Algorithm", alg)
	})
}

// logoutTo logs out from crowdgate's own site with a return URL.
func logoutTo(dest string) func(*testing.T, *fixture) *http.Response {
	return func(t *testing.T, f *fixture) *http.Response {
		return sameSiteGet(t, client(), f.sso.URL+"/sso/logout?app=jira&dest="+url.QueryEscape(dest))
	}
}

func loginTo(app, dest string) func(*testing.T, *fixture) *http.Response {
	return func(t *testing.T, f *fixture) *http.Response {
		ensureConfluence(t, f)
		return get(t, f.sso.URL+"/sso/login?app="+app+"&dest="+url.QueryEscape(dest))
	}
}

// ensureConfluence adds a second application on Jira's origin, under /confluence.
func ensureConfluence(t *testing.T, f *fixture) {
	ctx := context.Background()
	apps, err := f.st.Applications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		if a.Name == "confluence" {
			return
		}
	}
	if _, err := f.st.CreateApplication(ctx, store.NewApplication{Name: "confluence", Password: "confluence-secret", Active: true,
		Kind: store.AppConfluence, BaseURLs: []string{f.jiraSrv.URL + "/confluence"},
		Mappings: []store.Mapping{{DirectoryID: f.entra.ID, Groups: []string{"jira-users"}}}}); err != nil {
		t.Fatal(err)
	}
}

// breakGlassTo posts root's correct credentials to the break-glass form with a return URL and
// extra headers.
func breakGlassTo(app, dest string, header map[string]string) func(*testing.T, *fixture) *http.Response {
	return func(t *testing.T, f *fixture) *http.Response {
		c := client()
		resp, err := c.Get(f.sso.URL + "/sso/breakglass")
		if err != nil {
			t.Fatal(err)
		}
		body := new(strings.Builder)
		io.Copy(body, resp.Body)
		resp.Body.Close()
		form, ok := samltest.ParseForm(&samltest.Page{URL: resp.Request.URL, Body: body.String()})
		if !ok {
			t.Fatalf("no break-glass form: %s", body)
		}
		form.Values.Set("username", "root")
		form.Values.Set("password", rootPassword)
		form.Values.Set("app", app)
		form.Values.Set("dest", dest)
		req, _ := http.NewRequest(http.MethodPost, f.sso.URL+"/sso/breakglass", strings.NewReader(form.Values.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err = c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
}

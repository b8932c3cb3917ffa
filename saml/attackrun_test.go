package saml_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"net/http"
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

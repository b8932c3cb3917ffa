package saml

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/crowdgate/crowdgate/saml/samltest"
)

var (
	tAlice = samltest.EntraUser{UPN: "alice@example.com", ObjectID: "6b3f4a2e-0c1d-4e5f-8a9b-0c1d2e3f4a5b", Email: "alice@example.com"}
	tBob   = samltest.EntraUser{UPN: "bob@example.com", ObjectID: "7c4e5b3f-1d2e-4f6a-9b0c-1d2e3f4a5b6c", Email: "bob@example.com"}
)

// testSP returns an SP without a store (enough for verification) trusting key.
func testSP(t testing.TB, key *samltest.Key, opts ...func(*Config)) *SP {
	t.Helper()
	iss := "https://sts.windows.net/" + samltest.DefaultTenant + "/"
	cfg := Config{PublicURL: "https://sso.example.com", IdPMetadataXML: samltest.EntraMetadata(iss,
		"https://login.microsoftonline.com/t/saml2", "", key.Cert)}
	for _, o := range opts {
		o(&cfg)
	}
	sp, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func (sp *SP) testResponse(u samltest.EntraUser) samltest.Response {
	return samltest.EntraResponse(samltest.DefaultTenant, sp.acsURL, sp.cfg.EntityID, "_request", u, time.Now())
}

// TestWrappingRefusedBySignatureLayer: scanXML refuses every XSW variant for its second
// assertion; without that check gosaml2 on its own must still never hand out the attacker's
// identity (it verifies and re-parses only the signed bytes).
func TestWrappingRefusedBySignatureLayer(t *testing.T) {
	key := samltest.NewKey(t, "idp")
	// Either signature will do, so that gosaml2 gets to judge the wrapped response signatures.
	sp := testSP(t, key, func(c *Config) { c.RequireSigned = SignedEither })
	idp := sp.idp.current()
	for n := 1; n <= 8; n++ {
		akey, rkey := key, (*samltest.Key)(nil)
		if n <= 2 {
			akey, rkey = nil, key
		}
		doc, err := sp.testResponse(tBob).Build(akey, rkey)
		if err != nil {
			t.Fatal(err)
		}
		if err := samltest.XSW(n, doc, samltest.Impersonate(tAlice)); err != nil {
			t.Fatal(err)
		}
		raw, _ := doc.WriteToBytes()
		if _, _, err := sp.checkStructure(raw); err == nil {
			t.Errorf("XSW%d passed the structure check", n)
		}
		a, err := sp.checkSigned(idp, base64.StdEncoding.EncodeToString(raw), raw, false)
		switch {
		case err != nil:
			t.Logf("XSW%d: gosaml2 layer refuses: %v", n, err)
		case a.NameID != tBob.UPN || a.attr(ClaimObjectID) != tBob.ObjectID:
			t.Errorf("XSW%d: signature layer returned %s / %s, the attacker's forgery", n, a.NameID, a.attr(ClaimObjectID))
		default:
			t.Logf("XSW%d: gosaml2 layer returns only the genuinely signed identity (%s)", n, a.NameID)
		}
	}
}

// TestStateCookie: the state is bound to its RelayState and key, and cannot be edited.
func TestStateCookie(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	sp := testSP(t, samltest.NewKey(t, "idp"), func(c *Config) { c.StateKey = key })
	relay := newRelay()
	c, err := sp.stateCookie(t.Context(), relay, pending{ID: "_r1", Target: targetApp, App: "jira", Return: "https://jira.example.com/", Created: time.Now().Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Secure || c.SameSite != http.SameSiteNoneMode || !strings.HasPrefix(c.Name, "__Host-") || !c.HttpOnly || c.Path != "/" {
		t.Errorf("state cookie on https = %+v, want __Host-, Secure, SameSite=None, HttpOnly, Path=/", c)
	}
	req := func(name, value string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/saml/acs", nil)
		r.AddCookie(&http.Cookie{Name: name, Value: value})
		return r
	}
	if p, err := sp.readState(t.Context(), req(c.Name, c.Value), relay); err != nil || p.ID != "_r1" {
		t.Fatalf("readState = %+v, %v", p, err)
	}
	payload, mac, _ := strings.Cut(c.Value, ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"i":"_attacker","t":"app","a":"jira","u":"https://jira.example.com/","c":1}`))
	other := newRelay()
	for name, r := range map[string]*http.Request{
		"edited payload":      req(c.Name, forged+"."+mac),
		"moved to other name": req(sp.stateCookieName(other), c.Value),
		"no MAC":              req(c.Name, payload),
	} {
		relayFor := relay
		if name == "moved to other name" {
			relayFor = other
		}
		if _, err := sp.readState(t.Context(), r, relayFor); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	sp.cfg.Now = func() time.Time { return time.Now().Add(DefaultLoginTimeout + time.Minute) }
	if _, err := sp.readState(t.Context(), req(c.Name, c.Value), relay); err == nil {
		t.Error("expired state accepted")
	}
}

// TestMetadataRollover: a certificate that leaves the metadata stays trusted for the retention
// period, so a response signed just before the switch still verifies.
func TestMetadataRollover(t *testing.T) {
	old, next := samltest.NewKey(t, "old"), samltest.NewKey(t, "new")
	now := time.Now()
	sp := testSP(t, old, func(c *Config) { c.Now = func() time.Time { return now } })
	iss := "https://sts.windows.net/" + samltest.DefaultTenant + "/"
	load := func(certs ...*x509.Certificate) {
		m, err := parseMetadata(samltest.EntraMetadata(iss, "https://login.microsoftonline.com/t/saml2", "", certs...))
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.installMetadata(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	trusted := func() int { return len(sp.idp.current().Certs) }
	load(old.Cert, next.Cert) // Entra announces the new (inactive) certificate
	if trusted() != 2 {
		t.Fatalf("%d certificates trusted, want 2", trusted())
	}
	now = now.Add(time.Hour)
	load(next.Cert) // the old one is gone from the metadata
	if trusted() != 2 {
		t.Fatalf("after rollover %d certificates trusted, want 2 (old one retained)", trusted())
	}
	now = now.Add(DefaultCertRetention + time.Minute)
	load(next.Cert)
	if c := sp.idp.current().Certs; len(c) != 1 || !c[0].Equal(next.Cert) {
		t.Fatalf("after retention %d certificates trusted, want only the new one", len(c))
	}
}

// TestMetadataParse covers Entra's quirks and refusals.
func TestMetadataParse(t *testing.T) {
	k := samltest.NewKey(t, "idp")
	good := samltest.EntraMetadata("https://sts.windows.net/t/", "https://login.microsoftonline.com/t/saml2", "https://login.microsoftonline.com/t/saml2", k.Cert)
	m, err := parseMetadata(good)
	if err != nil || m.EntityID != "https://sts.windows.net/t/" || m.SLOURL == "" || len(m.Certs) != 1 {
		t.Fatalf("parseMetadata = %+v, %v", m, err)
	}
	for name, doc := range map[string]string{
		"DTD":          `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` + string(good[3:]),
		"no IdP":       `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`,
		"wrong root":   `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"/>`,
		"no cert":      strings.Replace(string(good), "KeyDescriptor", "Unknown", -1),
		"not XML":      "{}",
		"no SSO":       strings.Replace(string(good), "SingleSignOnService", "ArtifactResolutionService", -1),
		"bad cert b64": strings.Replace(string(good), "<X509Certificate>", "<X509Certificate>!!", 1),
	} {
		if _, err := parseMetadata([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzACS feeds arbitrary documents to the response verification (structure checks, gosaml2,
// policy) and arbitrary cookies to the state decoder: nothing may panic, and nothing but the
// genuinely signed identity may ever come out.
func FuzzACS(f *testing.F) {
	key := samltest.NewKey(f, "idp")
	sp := testSP(f, key)
	idp := sp.idp.current()
	seed := func(build func() (*etree.Document, error)) {
		doc, err := build()
		if err != nil {
			f.Fatal(err)
		}
		b, _ := doc.WriteToBytes()
		f.Add(b, newRelay(), "e30.AAAA")
	}
	seed(func() (*etree.Document, error) { return sp.testResponse(tAlice).Build(key, nil) })
	seed(func() (*etree.Document, error) { return sp.testResponse(tAlice).Build(key, key) })
	seed(func() (*etree.Document, error) { return sp.testResponse(tAlice).Build(nil, key) })
	seed(func() (*etree.Document, error) {
		d, err := sp.testResponse(tAlice).Build(key, nil)
		if err == nil {
			err = samltest.XSW(3, d, samltest.Impersonate(tBob))
		}
		return d, err
	})
	f.Add([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`), "", "")
	// The genuine seed must verify, or the fuzzer never reaches the paths after the signature.
	good, _ := sp.testResponse(tAlice).Build(key, nil)
	if _, err := sp.verify(idp, samltest.Encode(good)); err != nil {
		f.Fatalf("genuine seed does not verify: %v", err)
	}
	f.Fuzz(func(t *testing.T, doc []byte, relay, cookie string) {
		a, err := sp.verify(idp, base64.StdEncoding.EncodeToString(doc))
		if err == nil && (a.NameID != tAlice.UPN || a.attr(ClaimObjectID) != tAlice.ObjectID) {
			t.Fatalf("verified a forged identity %q / %q", a.NameID, a.attr(ClaimObjectID))
		}
		decodeState([]byte(strings.Repeat("k", 32)), relay, cookie)
		if validRelay(relay) && len(relay) != relayLen {
			t.Fatalf("relay %q of %d bytes accepted", relay, len(relay))
		}
	})
}

// TestWriteFuzzCorpus regenerates the committed seed corpus of FuzzACS (run with
// CROWDGATE_WRITE_FUZZ_CORPUS=1). The seeds are signed with a throwaway key, so they exercise
// the refusal paths; FuzzACS adds genuinely signed seeds at run time.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CROWDGATE_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set CROWDGATE_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz/FuzzACS")
	}
	key := samltest.NewKey(t, "idp")
	sp := testSP(t, key)
	build := func(edit func(*samltest.Response), akey, rkey *samltest.Key, after func(*etree.Document) error) []byte {
		r := sp.testResponse(tAlice)
		if edit != nil {
			edit(&r)
		}
		d, err := r.Build(akey, rkey)
		if err != nil {
			t.Fatal(err)
		}
		if after != nil {
			if err := after(d); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := d.WriteToBytes()
		return b
	}
	seeds := map[string][]byte{
		"assertion-signed": build(nil, key, nil, nil),
		"both-signed":      build(nil, key, key, nil),
		"response-signed":  build(nil, nil, key, nil),
		"unsigned":         build(nil, nil, nil, nil),
		"xsw3":             build(nil, key, nil, func(d *etree.Document) error { return samltest.XSW(3, d, samltest.Impersonate(tBob)) }),
		"xsw1":             build(nil, nil, key, func(d *etree.Document) error { return samltest.XSW(1, d, samltest.Impersonate(tBob)) }),
		"no-audience":      build(func(r *samltest.Response) { r.Audiences = nil }, key, nil, nil),
		"dtd":              append([]byte(`<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>`), build(nil, key, nil, nil)...),
		"comment":          []byte(strings.Replace(string(build(nil, key, nil, nil)), "</NameID>", "<!---->x</NameID>", 1)),
		"encrypted-shape": []byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0">` +
			`<EncryptedAssertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"><EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#">` +
			`<CipherData><CipherValue>AAAA</CipherValue></CipherData></EncryptedData></EncryptedAssertion></samlp:Response>`),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzACS")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nstring(%q)\nstring(%q)\n", strconv.Quote(string(b)), newRelay(), "e30.AAAA")
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

package saml_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
)

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
	{name: "encrypted assertion signed by an attacker's key", preset: "encrypt", status: 400, reason: "Could not verify certificate against trusted certs", run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		r := f.response(l, alice)
		signed, err := samltest.Sign(r.AssertionElement(), samltest.Signing{Key: samltest.NewKey(t, "evil")})
		if err != nil {
			t.Fatal(err)
		}
		ea, err := samltest.EncryptAssertion(signed, f.spKey.Cert)
		if err != nil {
			t.Fatal(err)
		}
		return f.postAssertion(l, r, ea)
	}},
	{name: "control: signed assertion encrypted to the SP's certificate", preset: "encrypt", accept: true, run: func(t *testing.T, f *fixture) *http.Response {
		l := jiraLogin(f)
		r := f.response(l, alice)
		signed, _ := samltest.Sign(r.AssertionElement(), samltest.Signing{Key: f.key})
		ea, err := samltest.EncryptAssertion(signed, f.spKey.Cert)
		if err != nil {
			t.Fatal(err)
		}
		return f.postAssertion(l, r, ea)
	}},

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

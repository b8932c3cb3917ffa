package samltest

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
)

// SAML and Entra constants used by the builders.
const (
	NSProtocol       = "urn:oasis:names:tc:SAML:2.0:protocol"
	NSAssertion      = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSDSig           = "http://www.w3.org/2000/09/xmldsig#"
	StatusSuccess    = "urn:oasis:names:tc:SAML:2.0:status:Success"
	StatusRequester  = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	NameIDEmail      = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	bearer           = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	passwordContext  = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
	timeFormat       = "2006-01-02T15:04:05.000Z"
	ClaimObjectID    = "http://schemas.microsoft.com/identity/claims/objectidentifier"
	ClaimTenantID    = "http://schemas.microsoft.com/identity/claims/tenantid"
	ClaimIdentityIdP = "http://schemas.microsoft.com/identity/claims/identityprovider"
	ClaimDisplayName = "http://schemas.microsoft.com/identity/claims/displayname"
	ClaimName        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	ClaimEmail       = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	ClaimGivenName   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	ClaimSurname     = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
	ClaimGroups      = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
)

// Attribute is one claim with its values, in document order.
type Attribute struct {
	Name   string
	Values []string
}

// Response describes a SAML response in Entra's shape: a samlp:Response around one Assertion in
// the default namespace, signature right after each Issuer. Zero fields are left out.
type Response struct {
	ID                   string
	AssertionID          string
	IssueInstant         time.Time
	Issuer               string // Response issuer, and assertion issuer unless AssertionIssuer is set
	AssertionIssuer      string
	Destination          string
	InResponseTo         string // in the Response and in SubjectConfirmationData
	ResponseInResponseTo string // overrides the Response's InResponseTo when set
	Recipient            string
	Audiences            []string // none: no AudienceRestriction at all
	NameID               string
	NameIDFormat         string
	Attributes           []Attribute
	NotBefore            time.Time // Conditions
	NotOnOrAfter         time.Time // Conditions
	SubjectNotOnOrAfter  time.Time // SubjectConfirmationData
	AuthnInstant         time.Time
	SessionIndex         string
	StatusCode           string // default Success
	NoAuthnStatement     bool
	// Attack knobs: more AudienceRestrictions after the first, more SubjectConfirmations like
	// the first, and a NotBefore on the SubjectConfirmationData.
	ExtraAudienceRestrictions [][]string
	ExtraSubjectConfirmations int
	SubjectNotBefore          time.Time
}

// EntraUser is who an Entra-shaped response is about.
type EntraUser struct {
	UPN         string
	ObjectID    string
	Email       string
	GivenName   string
	Surname     string
	DisplayName string
	Groups      []string
	// IdentityProvider overrides the identityprovider claim (a guest's home IdP); default the
	// tenant's issuer.
	IdentityProvider string
}

// EntraResponse returns the response Entra would send at now for user: issuer
// https://sts.windows.net/{tenant}/, NameID = UPN (emailAddress format), Entra's claim set,
// NotBefore = now, assertion valid 70 minutes, subject confirmation 5 minutes.
func EntraResponse(tenant, acsURL, audience, inResponseTo string, u EntraUser, now time.Time) Response {
	issuer := "https://sts.windows.net/" + tenant + "/"
	idp := u.IdentityProvider
	if idp == "" {
		idp = issuer
	}
	attrs := []Attribute{
		{ClaimTenantID, []string{tenant}},
		{ClaimObjectID, []string{u.ObjectID}},
		{ClaimDisplayName, []string{u.DisplayName}},
		{ClaimIdentityIdP, []string{idp}},
		{ClaimName, []string{u.UPN}},
		{ClaimEmail, []string{u.Email}},
		{ClaimGivenName, []string{u.GivenName}},
		{ClaimSurname, []string{u.Surname}},
	}
	if len(u.Groups) > 0 {
		attrs = append(attrs, Attribute{ClaimGroups, u.Groups})
	}
	return Response{
		ID: NewID(), AssertionID: NewID(), IssueInstant: now, Issuer: issuer, Destination: acsURL,
		InResponseTo: inResponseTo, Recipient: acsURL, Audiences: []string{audience},
		NameID: u.UPN, NameIDFormat: NameIDEmail, Attributes: attrs,
		NotBefore: now, NotOnOrAfter: now.Add(70 * time.Minute), SubjectNotOnOrAfter: now.Add(5 * time.Minute),
		AuthnInstant: now, SessionIndex: "_" + NewID()[1:],
	}
}

// NewID returns an id in Entra's form: "_" and a GUID.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return "_" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func ts(t time.Time) string { return t.UTC().Format(timeFormat) }

// AssertionElement returns the unsigned assertion, declaring its own namespace so that it can
// be signed on its own.
func (r Response) AssertionElement() *etree.Element {
	a := etree.NewElement("Assertion")
	a.CreateAttr("xmlns", NSAssertion)
	a.CreateAttr("ID", r.AssertionID)
	a.CreateAttr("IssueInstant", ts(r.IssueInstant))
	a.CreateAttr("Version", "2.0")
	iss := r.Issuer
	if r.AssertionIssuer != "" {
		iss = r.AssertionIssuer
	}
	a.CreateElement("Issuer").SetText(iss)
	subj := a.CreateElement("Subject")
	nid := subj.CreateElement("NameID")
	if r.NameIDFormat != "" {
		nid.CreateAttr("Format", r.NameIDFormat)
	}
	nid.SetText(r.NameID)
	sc := subj.CreateElement("SubjectConfirmation")
	sc.CreateAttr("Method", bearer)
	scd := sc.CreateElement("SubjectConfirmationData")
	if r.InResponseTo != "" {
		scd.CreateAttr("InResponseTo", r.InResponseTo)
	}
	if !r.SubjectNotOnOrAfter.IsZero() {
		scd.CreateAttr("NotOnOrAfter", ts(r.SubjectNotOnOrAfter))
	}
	scd.CreateAttr("Recipient", r.Recipient)
	if !r.SubjectNotBefore.IsZero() {
		scd.CreateAttr("NotBefore", ts(r.SubjectNotBefore))
	}
	for range r.ExtraSubjectConfirmations {
		subj.AddChild(sc.Copy())
	}
	cond := a.CreateElement("Conditions")
	if !r.NotBefore.IsZero() {
		cond.CreateAttr("NotBefore", ts(r.NotBefore))
	}
	if !r.NotOnOrAfter.IsZero() {
		cond.CreateAttr("NotOnOrAfter", ts(r.NotOnOrAfter))
	}
	for i, auds := range append([][]string{r.Audiences}, r.ExtraAudienceRestrictions...) {
		if i == 0 && len(auds) == 0 {
			continue
		}
		ar := cond.CreateElement("AudienceRestriction")
		for _, au := range auds {
			ar.CreateElement("Audience").SetText(au)
		}
	}
	if len(r.Attributes) > 0 {
		as := a.CreateElement("AttributeStatement")
		for _, at := range r.Attributes {
			el := as.CreateElement("Attribute")
			el.CreateAttr("Name", at.Name)
			for _, v := range at.Values {
				el.CreateElement("AttributeValue").SetText(v)
			}
		}
	}
	if !r.NoAuthnStatement {
		st := a.CreateElement("AuthnStatement")
		st.CreateAttr("AuthnInstant", ts(r.AuthnInstant))
		if r.SessionIndex != "" {
			st.CreateAttr("SessionIndex", r.SessionIndex)
		}
		st.CreateElement("AuthnContext").CreateElement("AuthnContextClassRef").SetText(passwordContext)
	}
	return a
}

// ResponseElement returns the Response around assertion (which may be signed already, or an
// EncryptedAssertion, or nil for none).
func (r Response) ResponseElement(assertion *etree.Element) *etree.Element {
	resp := etree.NewElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", NSProtocol)
	resp.CreateAttr("ID", r.ID)
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", ts(r.IssueInstant))
	if r.Destination != "" {
		resp.CreateAttr("Destination", r.Destination)
	}
	irt := r.InResponseTo
	if r.ResponseInResponseTo != "" {
		irt = r.ResponseInResponseTo
	}
	if irt != "" {
		resp.CreateAttr("InResponseTo", irt)
	}
	iss := resp.CreateElement("Issuer")
	iss.CreateAttr("xmlns", NSAssertion)
	iss.SetText(r.Issuer)
	code := r.StatusCode
	if code == "" {
		code = StatusSuccess
	}
	resp.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", code)
	if assertion != nil {
		resp.AddChild(assertion)
	}
	return resp
}

// Signing says how to sign.
type Signing struct {
	Key       *Key
	SHA1      bool // rsa-sha1 and sha1 digests (Entra's legacy option)
	NoKeyInfo bool // leave the certificate out of the signature
}

// Sign returns a copy of el with an enveloped signature right after its Issuer, made with
// exclusive canonicalisation as Entra does.
func Sign(el *etree.Element, s Signing) (*etree.Element, error) {
	ctx := dsig.NewDefaultSigningContext(s.Key)
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	ctx.Prefix = ""
	if s.SHA1 {
		if err := ctx.SetSignatureMethod(dsig.RSASHA1SignatureMethod); err != nil {
			return nil, err
		}
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		return nil, fmt.Errorf("samltest: sign: %w", err)
	}
	if s.NoKeyInfo {
		if ki := sig.SelectElement("KeyInfo"); ki != nil {
			sig.RemoveChild(ki)
		}
	}
	out := el.Copy()
	pos := 0
	for i, tok := range out.Child {
		if c, ok := tok.(*etree.Element); ok && c.Tag == "Issuer" {
			pos = i + 1
			break
		}
	}
	out.InsertChildAt(pos, sig)
	return out, nil
}

// Build returns the response document with the assertion signed by assertionKey and the
// response by responseKey; a nil key leaves that part unsigned (Entra's default signs only the
// assertion).
func (r Response) Build(assertionKey, responseKey *Key) (*etree.Document, error) {
	a := r.AssertionElement()
	var err error
	if assertionKey != nil {
		if a, err = Sign(a, Signing{Key: assertionKey}); err != nil {
			return nil, err
		}
	}
	resp := r.ResponseElement(a)
	if responseKey != nil {
		if resp, err = Sign(resp, Signing{Key: responseKey}); err != nil {
			return nil, err
		}
	}
	doc := etree.NewDocument()
	doc.SetRoot(resp)
	return doc, nil
}

// Encode returns the document as a SAMLResponse form value (base64 of the XML).
func Encode(doc *etree.Document) string {
	b, err := doc.WriteToBytes()
	if err != nil {
		panic(err) // an in-memory document always serialises
	}
	return base64.StdEncoding.EncodeToString(b)
}

// EncodeBytes returns raw XML as a SAMLResponse form value.
func EncodeBytes(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// FindAssertion returns the first Assertion element below (or at) el, and its parent.
func FindAssertion(el *etree.Element) (a, parent *etree.Element) {
	for _, c := range el.ChildElements() {
		if c.Tag == "Assertion" {
			return c, el
		}
		if a, p := FindAssertion(c); a != nil {
			return a, p
		}
	}
	return nil, nil
}

// Child returns el's first child element with the tag (ignoring prefixes).
func Child(el *etree.Element, tag string) *etree.Element {
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			return c
		}
	}
	return nil
}

// Path returns the element reached by following child tags from el, or nil.
func Path(el *etree.Element, tags ...string) *etree.Element {
	for _, t := range tags {
		if el = Child(el, t); el == nil {
			return nil
		}
	}
	return el
}

// RedirectQuery returns the HTTP-Redirect binding query for an XML message in param
// ("SAMLRequest" or "SAMLResponse"): base64 of raw DEFLATE, the RelayState when not empty, and
// with a key the query signature (RSA-SHA256) over the parameters as sent.
func RedirectQuery(param string, xmlMsg []byte, relay string, key *Key) string {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(xmlMsg)
	w.Close()
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relay != "" {
		q += "&RelayState=" + url.QueryEscape(relay)
	}
	if key == nil {
		return q
	}
	q += "&SigAlg=" + url.QueryEscape(dsig.RSASHA256SignatureMethod)
	sum := sha256.Sum256([]byte(q))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key.Private, crypto.SHA256, sum[:])
	if err != nil {
		panic(err) // an RSA key signs
	}
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

// LogoutRequest returns an IdP's LogoutRequest for the SP.
func LogoutRequest(id, issuer, destination, nameID string) []byte {
	return []byte(`<samlp:LogoutRequest xmlns:samlp="` + NSProtocol + `" xmlns:saml="` + NSAssertion + `" ID="` + id +
		`" Version="2.0" IssueInstant="` + ts(time.Now()) + `" Destination="` + destination + `"><saml:Issuer>` + issuer +
		`</saml:Issuer><saml:NameID>` + nameID + `</saml:NameID></samlp:LogoutRequest>`)
}

// EncryptAssertion returns an EncryptedAssertion holding el, encrypted to cert (RSA-OAEP with
// SHA-1 and AES-256-GCM), as an IdP encrypts to the SP's certificate from its metadata.
func EncryptAssertion(el *etree.Element, cert *x509.Certificate) (*etree.Element, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	plain, err := doc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	e := xmlenc.OAEP()
	e.BlockCipher = xmlenc.AES256GCM
	e.DigestMethod = &xmlenc.SHA1 // the OAEP digest gosaml2 can decrypt (and Entra uses)
	data, err := e.Encrypt(cert, plain, nil)
	if err != nil {
		return nil, fmt.Errorf("samltest: encrypt: %w", err)
	}
	data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	ea := etree.NewElement("EncryptedAssertion")
	ea.CreateAttr("xmlns", NSAssertion)
	ea.AddChild(data)
	return ea, nil
}

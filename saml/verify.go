package saml

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	saml2 "github.com/russellhaering/gosaml2"
	"github.com/russellhaering/gosaml2/types"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// maxElements bounds the elements of a SAML message; an Entra response with 150 group claims
// has a few hundred.
const maxElements = 5000

// assertion is what a verified response says. Everything but ResponseInResponseTo comes from
// XML a trusted signature covers.
type assertion struct {
	ID                   string
	Issuer               string
	InResponseTo         string // SubjectConfirmationData/@InResponseTo: signed
	ResponseInResponseTo string // Response/@InResponseTo: unsigned when only the assertion is
	NameID               string
	NameIDFormat         string
	Attrs                map[string][]string
	NotBefore            time.Time
	NotOnOrAfter         time.Time
	AuthnInstant         time.Time
	SessionIndex         string
	Encrypted            bool
}

// attr returns the first value of a claim.
func (a *assertion) attr(name string) string {
	if v := a.Attrs[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// verify checks a base64 SAMLResponse completely: structure (scanXML, also inside an encrypted
// assertion), signatures, issuer, destination, recipient, status and subject confirmation
// (gosaml2), then what gosaml2 only warns about or does not check: time windows with the
// configured skew, audience, a single assertion, an AuthnStatement, and encryption if required.
// It does not look at InResponseTo or the replay cache: the caller binds the response to the
// browser.
func (sp *SP) verify(idp *idpInfo, encoded string) (*assertion, error) {
	if len(encoded) > sp.cfg.MaxResponseSize {
		return nil, fmt.Errorf("SAMLResponse has %d characters, more than the %d allowed", len(encoded), sp.cfg.MaxResponseSize)
	}
	// Some IdPs wrap base64 lines; gosaml2 wants it in one piece.
	encoded = strings.Join(strings.Fields(encoded), "")
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("SAMLResponse is not base64: %w", err)
	}
	encrypted, assertionSigned, err := sp.checkStructure(raw)
	if err != nil {
		return nil, err
	}
	a, err := sp.checkSigned(idp, encoded, raw, assertionSigned)
	if err != nil {
		return nil, err
	}
	a.Encrypted = encrypted
	return a, nil
}

// checkStructure applies scanXML's rules to the response and to the content of an encrypted
// assertion, and reports whether the assertion was encrypted and carries its own signature.
func (sp *SP) checkStructure(raw []byte) (encrypted, assertionSigned bool, err error) {
	// The POST binding is never compressed: refusing anything that is not XML here also keeps
	// gosaml2 from trying to inflate it.
	if t := bytes.TrimLeft(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")), " \t\r\n"); len(t) == 0 || t[0] != '<' {
		return false, false, errors.New("SAMLResponse is not XML (a deflated or binary message?)")
	}
	rules := scanRules{root: xml.Name{Space: nsProtocol, Local: "Response"}, allowSHA1: sp.cfg.AllowSHA1, maxElements: maxElements}
	info, err := scanXML(raw, rules)
	if err != nil {
		return false, false, err
	}
	if info.assertions != 1 {
		return false, false, fmt.Errorf("response carries %d assertions, want exactly 1", info.assertions)
	}
	if info.encrypted == 1 {
		signed, err := sp.scanEncrypted(raw)
		return true, signed, err
	}
	if sp.cfg.RequireEncryption {
		return false, false, errors.New("assertion is not encrypted, and encryption is required")
	}
	return false, info.assertionSigned, nil
}

// checkSigned has gosaml2 verify the response and then checks what it only warns about or
// leaves out. Everything it returns comes from signed XML except ResponseInResponseTo.
func (sp *SP) checkSigned(idp *idpInfo, encoded string, raw []byte, assertionSigned bool) (*assertion, error) {
	var base types.UnverifiedBaseResponse
	if err := xml.Unmarshal(raw, &base); err != nil {
		return nil, fmt.Errorf("malformed response: %w", err)
	}

	now := sp.now()
	skew := sp.cfg.ClockSkew
	// gosaml2 has no skew and fails hard on an expired SubjectConfirmationData: run it on a clock
	// set back by the skew, and check NotBefore (a mere warning there) ourselves below. That
	// clock also decides the signing certificate's validity, which the skew must not move: the
	// trusted certificates go in with their validity shifted by the same amount (see
	// shiftedCerts), so the certificate is judged against the real clock.
	p := sp.provider(idp, dsig.NewFakeClockAt(now.Add(-skew)))
	p.IDPCertificateStore = &dsig.MemoryX509CertificateStore{Roots: shiftedCerts(idp.Certs, -skew)}
	ai, err := p.RetrieveAssertionInfo(encoded)
	if err != nil {
		return nil, describe(err)
	}
	if len(ai.Assertions) != 1 {
		return nil, fmt.Errorf("response carries %d verified assertions, want exactly 1", len(ai.Assertions))
	}
	a := ai.Assertions[0]
	if !ai.ResponseSignatureValidated && !a.SignatureValidated {
		return nil, errors.New("neither the response nor the assertion is signed")
	}
	// gosaml2 verifies an assertion's own signature inside a signed response too (or fails), but
	// marks only the response as validated then.
	if err := sp.checkSignedParts(ai.ResponseSignatureValidated, a.SignatureValidated || ai.ResponseSignatureValidated && assertionSigned); err != nil {
		return nil, err
	}
	if a.ID == "" {
		return nil, errors.New("assertion has no ID")
	}
	if a.Subject == nil || a.Subject.SubjectConfirmation == nil || a.Subject.SubjectConfirmation.SubjectConfirmationData == nil || a.Conditions == nil {
		return nil, errors.New("assertion lacks its subject confirmation or conditions")
	}
	c := a.Conditions
	notBefore, err1 := time.Parse(time.RFC3339, c.NotBefore)
	notOnOrAfter, err2 := time.Parse(time.RFC3339, c.NotOnOrAfter)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("assertion conditions: %w", err)
	}
	if now.Add(skew).Before(notBefore) {
		return nil, fmt.Errorf("assertion is not valid before %s, more than %v from now (%s): check the clocks", notBefore.Format(time.RFC3339), skew, now.UTC().Format(time.RFC3339))
	}
	if !now.Add(-skew).Before(notOnOrAfter) {
		return nil, fmt.Errorf("assertion expired at %s, more than %v before now (%s)", notOnOrAfter.Format(time.RFC3339), skew, now.UTC().Format(time.RFC3339))
	}
	if !a.IssueInstant.IsZero() && a.IssueInstant.After(now.Add(skew)) {
		return nil, fmt.Errorf("assertion was issued in the future (%s)", a.IssueInstant.Format(time.RFC3339))
	}
	if len(c.AudienceRestrictions) == 0 {
		return nil, errors.New("assertion has no AudienceRestriction")
	}
	// Each AudienceRestriction must be met on its own (SAML core, 2.5.1.4): a second one for
	// another SP says the assertion is not for crowdgate alone.
	for i, ar := range c.AudienceRestrictions {
		if len(c.AudienceRestrictions) > 1 && !slices.ContainsFunc(ar.Audiences, func(au types.Audience) bool { return strings.TrimSpace(au.Value) == sp.cfg.EntityID }) {
			return nil, fmt.Errorf("assertion has %d AudienceRestrictions and number %d does not name %q (each must)", len(c.AudienceRestrictions), i+1, sp.cfg.EntityID)
		}
	}
	if ai.WarningInfo == nil || ai.WarningInfo.NotInAudience {
		var got []string
		for _, ar := range c.AudienceRestrictions {
			for _, au := range ar.Audiences {
				got = append(got, au.Value)
			}
		}
		return nil, fmt.Errorf("assertion is for audience %q, not %q", got, sp.cfg.EntityID)
	}
	if a.AuthnStatement == nil || a.AuthnStatement.AuthnInstant == nil {
		return nil, errors.New("assertion has no AuthnStatement")
	}
	out := &assertion{
		ID:                   a.ID,
		Issuer:               idp.EntityID,
		InResponseTo:         a.Subject.SubjectConfirmation.SubjectConfirmationData.InResponseTo,
		ResponseInResponseTo: base.InResponseTo,
		NameID:               strings.TrimSpace(ai.NameID),
		NameIDFormat:         ai.NameIDFormat,
		Attrs:                map[string][]string{},
		NotBefore:            notBefore,
		NotOnOrAfter:         notOnOrAfter,
		AuthnInstant:         *a.AuthnStatement.AuthnInstant,
		SessionIndex:         a.AuthnStatement.SessionIndex,
	}
	if ai.SessionNotOnOrAfter != nil && ai.SessionNotOnOrAfter.Before(now) {
		return nil, fmt.Errorf("the IdP session ended at %s", ai.SessionNotOnOrAfter.Format(time.RFC3339))
	}
	for name, at := range ai.Values {
		for _, v := range at.Values {
			out.Attrs[name] = append(out.Attrs[name], strings.TrimSpace(v.Value))
		}
	}
	return out, nil
}

// checkSignedParts applies RequireSigned to what was signed.
func (sp *SP) checkSignedParts(response, assertion bool) error {
	switch sp.cfg.RequireSigned {
	case SignedAssertion:
		if !assertion {
			return errors.New("the assertion is not signed (only the response is), and the SP requires a signed assertion (require signed = assertion): have the IdP sign the assertion (Entra: Signing option \"Sign SAML assertion\")")
		}
	case SignedResponse:
		if !response {
			return errors.New("the response is not signed (only the assertion is), and the SP requires a signed response (require signed = response): have the IdP sign the response (Entra: Signing option \"Sign SAML response\")")
		}
	}
	return nil
}

// scanEncrypted decrypts the EncryptedAssertion to apply scanXML's rules to its content too;
// gosaml2 decrypts again when it verifies. Only ciphertext for our own key gets this far.
func (sp *SP) scanEncrypted(raw []byte) (assertionSigned bool, err error) {
	if sp.spKey == nil {
		return false, errors.New("assertion is encrypted, but no SP key is configured")
	}
	doc := etree.NewDocument()
	if err = doc.ReadFromBytes(raw); err != nil {
		return false, fmt.Errorf("malformed response: %w", err)
	}
	var ea *types.EncryptedAssertion
	err = etreeutils.NSFindIterate(doc.Root(), nsAssertion, "EncryptedAssertion", func(ctx etreeutils.NSContext, el *etree.Element) error {
		ea = &types.EncryptedAssertion{}
		return etreeutils.NSUnmarshalElement(ctx, el, ea)
	})
	if err != nil || ea == nil {
		return false, fmt.Errorf("malformed encrypted assertion: %v", err)
	}
	plain, err := ea.DecryptBytes(sp.spKey)
	if err != nil {
		return false, fmt.Errorf("cannot decrypt the assertion: %w", err)
	}
	info, err := scanXML(plain, scanRules{root: xml.Name{Space: nsAssertion, Local: "Assertion"}, allowSHA1: sp.cfg.AllowSHA1, maxElements: maxElements})
	if err != nil {
		return false, fmt.Errorf("encrypted assertion: %w", err)
	}
	if info.assertions != 1 {
		return false, fmt.Errorf("encrypted assertion carries %d assertions, want exactly 1", info.assertions)
	}
	return info.assertionSigned, nil
}

// CertNotBeforeAllowance is how early a signing certificate is accepted before its NotBefore:
// an IdP whose clock runs a little ahead may sign with a certificate it issued seconds ago. There
// is no allowance after NotAfter: an expired certificate is refused at once.
const CertNotBeforeAllowance = time.Minute

// shiftedCerts returns copies of certs whose validity window is moved by d, and whose NotBefore
// is moved CertNotBeforeAllowance earlier. goxmldsig matches a signature's certificate by its
// DER bytes (unchanged) and then checks the copy's NotBefore and NotAfter against its clock: on
// a clock moved by d, that is the real certificate checked against the real clock.
func shiftedCerts(certs []*x509.Certificate, d time.Duration) []*x509.Certificate {
	out := make([]*x509.Certificate, len(certs))
	for i, c := range certs {
		cc := *c
		cc.NotBefore = c.NotBefore.Add(d - CertNotBeforeAllowance)
		cc.NotAfter = c.NotAfter.Add(d)
		out[i] = &cc
	}
	return out
}

// describe turns gosaml2's errors into one line that says what failed.
func describe(err error) error {
	var ve saml2.ErrVerification
	if errors.As(err, &ve) && ve.Cause != nil {
		err = ve.Cause
	}
	var iv saml2.ErrInvalidValue
	if errors.As(err, &iv) {
		if iv.Reason == saml2.ReasonExpired {
			return fmt.Errorf("subject confirmation expired: %s %s is before %s (now less the allowed skew)", iv.Key, iv.Actual, iv.Expected)
		}
		return fmt.Errorf("%s %s: got %q, want %q", reasonWord(iv.Reason), iv.Key, iv.Actual, iv.Expected)
	}
	if strings.Contains(err.Error(), "Cert is not valid at this time") {
		return errors.New("the IdP signing certificate is not valid now (before its NotBefore or after its NotAfter, by the real clock): Cert is not valid at this time")
	}
	return fmt.Errorf("response rejected: %w", err)
}

func reasonWord(r string) string {
	if r == "" {
		return "wrong"
	}
	return strings.ToLower(r)
}

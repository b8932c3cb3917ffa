package saml

import (
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/beevik/etree"
)

// Metadata returns the SP metadata: entity id, ACS (HTTP-POST), logout (HTTP-Redirect) and, with
// an SP key, its certificate for signing and for encryption. Entra does not read SP metadata,
// but the admin can upload it, and test IdPs register with it.
func (sp *SP) Metadata() ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", nsMetadata)
	ed.CreateAttr("xmlns:ds", nsDSig)
	ed.CreateAttr("entityID", sp.cfg.EntityID)
	d := ed.CreateElement("md:SPSSODescriptor")
	d.CreateAttr("AuthnRequestsSigned", strconv.FormatBool(sp.spKey != nil && sp.cfg.SignRequests))
	// Says what checkSignedParts enforces: only the default requirement wants the assertion
	// itself signed.
	d.CreateAttr("WantAssertionsSigned", strconv.FormatBool(sp.cfg.RequireSigned == SignedAssertion))
	d.CreateAttr("protocolSupportEnumeration", nsProtocol)
	if sp.spKey != nil && len(sp.spKey.Certificate) > 0 {
		cert := base64.StdEncoding.EncodeToString(sp.spKey.Certificate[0])
		for _, use := range []string{"signing", "encryption"} {
			kd := d.CreateElement("md:KeyDescriptor")
			kd.CreateAttr("use", use)
			kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText(cert)
			if use == "encryption" {
				// Authenticated encryption first; CBC only for IdPs that offer nothing else.
				for _, alg := range []string{
					"http://www.w3.org/2009/xmlenc11#aes256-gcm", "http://www.w3.org/2009/xmlenc11#aes128-gcm",
					"http://www.w3.org/2001/04/xmlenc#aes256-cbc", "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
				} {
					kd.CreateElement("md:EncryptionMethod").CreateAttr("Algorithm", alg)
				}
			}
		}
	}
	slo := d.CreateElement("md:SingleLogoutService")
	slo.CreateAttr("Binding", bindingRedirect)
	slo.CreateAttr("Location", sp.sloURL)
	d.CreateElement("md:NameIDFormat").SetText(sp.nameIDFormat())
	acs := d.CreateElement("md:AssertionConsumerService")
	acs.CreateAttr("Binding", bindingPOST)
	acs.CreateAttr("Location", sp.acsURL)
	acs.CreateAttr("index", "1")
	acs.CreateAttr("isDefault", "true")
	doc.Indent(2)
	return doc.WriteToBytes()
}

func (sp *SP) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	b, err := sp.Metadata()
	if err != nil {
		sp.log.Error("saml: metadata", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Write(b)
}

// NameID formats declared in the metadata.
const (
	NameIDFormatEmail       = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	NameIDFormatUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
)

// nameIDFormat is the NameID format the metadata declares: the configured one, else what the
// mapping needs. The nameid mapping compares the NameID with user names, which Entra sends as
// the UPN in the emailAddress format; an IdP that reads the metadata (SimpleSAMLphp, Keycloak)
// would otherwise send a transient id that matches nobody. The other mappings read claims and
// take whatever NameID comes.
func (sp *SP) nameIDFormat() string {
	switch {
	case sp.cfg.NameIDFormat != "":
		return sp.cfg.NameIDFormat
	case sp.cfg.UserMapping == MapNameID:
		return NameIDFormatEmail
	default:
		return NameIDFormatUnspecified
	}
}

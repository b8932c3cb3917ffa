package samltest

import (
	"crypto/x509"
	"encoding/base64"

	"github.com/beevik/etree"
)

// EntraMetadata returns IdP metadata shaped like Entra's app federation metadata: a UTF-8
// byte-order mark, an EntityDescriptor with an ID, a WS-Federation RoleDescriptor before the
// IDPSSODescriptor, one signing KeyDescriptor per certificate (Entra lists active and inactive
// ones), and SSO and logout endpoints for both bindings at the same URL.
func EntraMetadata(entityID, ssoURL, sloURL string, certs ...*x509.Certificate) []byte {
	doc := etree.NewDocument()
	ed := doc.CreateElement("EntityDescriptor")
	ed.CreateAttr("xmlns", "urn:oasis:names:tc:SAML:2.0:metadata")
	ed.CreateAttr("ID", NewID())
	ed.CreateAttr("entityID", entityID)
	rd := ed.CreateElement("RoleDescriptor")
	rd.CreateAttr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	rd.CreateAttr("xmlns:fed", "http://docs.oasis-open.org/wsfed/federation/200706")
	rd.CreateAttr("xsi:type", "fed:SecurityTokenServiceType")
	rd.CreateAttr("protocolSupportEnumeration", "http://docs.oasis-open.org/wsfed/federation/200706")
	idp := ed.CreateElement("IDPSSODescriptor")
	idp.CreateAttr("protocolSupportEnumeration", NSProtocol)
	for _, c := range certs {
		kd := idp.CreateElement("KeyDescriptor")
		kd.CreateAttr("use", "signing")
		ki := kd.CreateElement("KeyInfo")
		ki.CreateAttr("xmlns", NSDSig)
		ki.CreateElement("X509Data").CreateElement("X509Certificate").SetText(base64.StdEncoding.EncodeToString(c.Raw))
	}
	if sloURL != "" {
		slo := idp.CreateElement("SingleLogoutService")
		slo.CreateAttr("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
		slo.CreateAttr("Location", sloURL)
	}
	for _, b := range []string{"HTTP-Redirect", "HTTP-POST"} {
		sso := idp.CreateElement("SingleSignOnService")
		sso.CreateAttr("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:"+b)
		sso.CreateAttr("Location", ssoURL)
	}
	b, err := doc.WriteToBytes()
	if err != nil {
		panic(err) // an in-memory document always serialises
	}
	return append([]byte("\xef\xbb\xbf"), b...)
}

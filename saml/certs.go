package saml

import (
	"crypto/x509"
	"time"
)

// WatchedCertificate is a certificate whose expiry monitoring should watch.
type WatchedCertificate struct {
	Role     string // "saml_idp_signing" or "saml_sp"
	Subject  string
	NotAfter time.Time
}

// Certificates returns the IdP signing certificates trusted now (those the metadata lists and those
// kept for a rollover) and the SP's own certificate, when it has one.
func (sp *SP) Certificates() []WatchedCertificate {
	var out []WatchedCertificate
	if cur := sp.idp.current(); cur != nil {
		for _, c := range cur.Certs {
			out = append(out, WatchedCertificate{Role: "saml_idp_signing", Subject: c.Subject.String(), NotAfter: c.NotAfter})
		}
	}
	if sp.spKey != nil && len(sp.spKey.Certificate) > 0 {
		leaf := sp.spKey.Leaf
		if leaf == nil {
			leaf, _ = x509.ParseCertificate(sp.spKey.Certificate[0])
		}
		if leaf != nil {
			out = append(out, WatchedCertificate{Role: "saml_sp", Subject: leaf.Subject.String(), NotAfter: leaf.NotAfter})
		}
	}
	return out
}

// Package samltest is a test kit for crowdgate's SAML sign-in: an in-process identity provider
// shaped like Microsoft Entra ID (crewjam/saml's samlidp with Entra's issuer, claims and
// assertion-only signature), low-level response builders with knobs for every attack the SP
// must refuse, and a browser-like HTTP client that follows redirects and submits the IdP's
// forms. It is exported for the saml tests and for later end-to-end and console tests.
package samltest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// Key is an RSA key with a self-signed certificate, as an IdP signing key or an SP key.
type Key struct {
	Private *rsa.PrivateKey
	Cert    *x509.Certificate
}

// NewKey returns a 2048-bit RSA key with a certificate valid from an hour ago for a year.
func NewKey(t testing.TB, commonName string) *Key {
	t.Helper()
	return NewKeyValid(t, commonName, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour))
}

// NewKeyValid is NewKey with an explicit validity window (expired-certificate tests).
func NewKeyValid(t testing.TB, commonName string, notBefore, notAfter time.Time) *Key {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("samltest: generate key: %v", err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatalf("samltest: create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("samltest: parse certificate: %v", err)
	}
	return &Key{Private: priv, Cert: cert}
}

// GetKeyPair implements goxmldsig's X509KeyStore.
func (k *Key) GetKeyPair() (*rsa.PrivateKey, []byte, error) { return k.Private, k.Cert.Raw, nil }

// KeyPEM returns the private key as PKCS#8 PEM.
func (k *Key) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		panic(err) // an RSA key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// CertPEM returns the certificate as PEM.
func (k *Key) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw})
}

// TLSCertificate returns the pair as a tls.Certificate.
func (k *Key) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{k.Cert.Raw}, PrivateKey: k.Private, Leaf: k.Cert}
}

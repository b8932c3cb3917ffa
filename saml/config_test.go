package saml_test

import (
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
)

// TestConfigValidate: every problem is reported, one per line, not only the first.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	bad := saml.Config{
		PublicURL:         "ftp://sso.example.com?x=1",
		IdPMetadataURL:    "http://idp.example.com/metadata",
		IdPMetadataXML:    []byte("<x/>"),
		MetadataRefresh:   time.Second,
		UserMapping:       "upn",
		GuestRule:         "maybe",
		ClockSkew:         time.Hour,
		NameIDFormat:      "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		SignRequests:      true,
		LoginTimeout:      time.Second,
		MaxResponseSize:   10,
		ConsoleCookie:     "bad name",
		BreakGlass:        true,
		StateKey:          []byte("short"),
		RequireEncryption: true,
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad configuration")
	}
	for _, want := range []string{"public URL", "exactly one of IdP metadata", "must be https", "refresh interval",
		"user mapping", "guest rule", "clock skew", "persistent", "need the SP key", "login timeout",
		"maximum response size", "console cookie", "break-glass sign-in needs a group", "state key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n < 14 {
		t.Errorf("%d problems reported, want at least 14:\n%v", n, err)
	}

	k := samltest.NewKey(t, "sp")
	good := saml.Config{PublicURL: "https://sso.example.com/", IdPMetadataURL: "https://login.microsoftonline.com/t/federationmetadata/2007-06/federationmetadata.xml?appid=x",
		SPKeyPEM: k.KeyPEM(), SPCertPEM: k.CertPEM(), SignRequests: true}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
	good.SPCertPEM = samltest.NewKey(t, "other").CertPEM()
	if err := good.Validate(); err == nil || !strings.Contains(err.Error(), "key pair") {
		t.Errorf("mismatched key pair: %v", err)
	}
}

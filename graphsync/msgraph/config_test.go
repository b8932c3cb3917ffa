package msgraph_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/graphsync/msgraph"
)

func TestConfigValidate(t *testing.T) {
	secret := msgraph.Config{TenantID: "contoso.onmicrosoft.com", ClientID: "c1", ClientSecret: "s"}
	for _, tc := range []struct {
		name string
		cfg  msgraph.Config
		want []string // substrings, one problem each; nil = valid
	}{
		{"client secret", secret, nil},
		{"managed identity", msgraph.Config{UseManagedIdentity: true}, nil},
		{"workload identity", msgraph.Config{UseWorkloadIdentity: true, FederatedTokenFile: "/var/run/token"}, nil},
		{"credential, loopback http", msgraph.Config{BaseURL: "http://127.0.0.1:8080/v1.0", Credential: msgraph.StaticToken("t")}, nil},
		{"certificate path", msgraph.Config{TenantID: "t", ClientID: "c", CertificatePath: "/etc/cert.pem", PageSize: 999}, nil},
		{"nothing", msgraph.Config{}, []string{"no credential"}},
		{"everything wrong", msgraph.Config{
			BaseURL: "http://graph.example.com/v1.0", AuthorityHost: "http://login.example.com/",
			ClientSecret: "s", CertificatePEM: []byte("x"), CertificatePath: "/p", TenantID: "a/b",
			PageSize: 1000, MaxAttempts: -1, RetryBaseDelay: -time.Second, FederatedTokenFile: "/f",
		}, []string{
			"BaseURL", "AuthorityHost", "several credentials set (ClientSecret, certificate)", "ClientID is required",
			"TenantID \"a/b\"", "CertificatePEM and CertificatePath", "FederatedTokenFile", "PageSize 1000", "MaxAttempts and RetryBudget must not be negative",
			"must not be negative",
		}},
		{"secret without tenant", msgraph.Config{ClientID: "c", ClientSecret: "s"}, []string{"TenantID is required"}},
		{"relative base URL", msgraph.Config{BaseURL: "/v1.0", UseManagedIdentity: true}, []string{"not an absolute URL"}},
		{"password without certificate", msgraph.Config{UseManagedIdentity: true, CertificatePassword: "pw"}, []string{"CertificatePassword"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %d problems", len(tc.want))
			}
			lines := strings.Split(err.Error(), "\n")[1:] // first line is the heading
			if len(lines) != len(tc.want) {
				t.Errorf("Validate() reported %d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v\nwant a problem mentioning %q", err, w)
				}
			}
			if _, nerr := msgraph.New(tc.cfg, nil); nerr == nil {
				t.Error("NewSDKSource accepted an invalid config")
			}
		})
	}
}

// TestClientSecretCredential runs the real azidentity client-credentials flow against the fake STS.
func TestClientSecretCredential(t *testing.T) {
	sts := fakegraph.NewSTS(fakegraph.STSOptions{})
	defer sts.Close()
	fake := fakegraph.New(smallTenant(t), fakegraph.Options{})
	defer fake.Close()

	src := newSource(t, fake, func(c *msgraph.Config) {
		c.Credential = nil
		c.TenantID, c.ClientID, c.ClientSecret = "tenant-1", "client-1", "s3cret"
		c.AuthorityHost, c.TokenHTTPClient = sts.AuthorityHost(), sts.Client()
	})
	round(t, src.UsersDelta, "")
	round(t, src.GroupsDelta, "")

	forms := sts.TokenRequests()
	if len(forms) != 1 {
		t.Fatalf("STS saw %d token requests, want 1 (token cached)", len(forms))
	}
	if f := forms[0]; f.Get("grant_type") != "client_credentials" || f.Get("client_secret") != "s3cret" ||
		!strings.Contains(f.Get("scope"), strings.TrimSuffix(fake.BaseURL(), "/v1.0")+"/.default ") {
		t.Errorf("token request form = %v", f)
	}
	for _, r := range fake.Requests() {
		if r.Authorization != "Bearer test-token" {
			t.Errorf("%s: Authorization %q, want the STS's token", r.Path, r.Authorization)
		}
	}

	bad := newSource(t, fake, func(c *msgraph.Config) {
		c.Credential = nil
		c.TenantID, c.ClientID, c.ClientSecret = "tenant-1", "client-1", "wrong"
		c.AuthorityHost, c.TokenHTTPClient = sts.AuthorityHost(), sts.Client()
	})
	fake.ResetRequests()
	if _, err := bad.UsersDelta(t.Context(), ""); err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("wrong secret: err = %v, want the STS's AADSTS7000215", err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("wrong secret: Graph saw %d requests, want none", n)
	}
}

// TestClientCertificateCredential: a PEM certificate and key become a signed client assertion.
func TestClientCertificateCredential(t *testing.T) {
	sts := fakegraph.NewSTS(fakegraph.STSOptions{AcceptClientAssertion: true})
	defer sts.Close()
	fake := fakegraph.New(smallTenant(t), fakegraph.Options{})
	defer fake.Close()

	src := newSource(t, fake, func(c *msgraph.Config) {
		c.Credential = nil
		c.TenantID, c.ClientID, c.CertificatePEM = "tenant-1", "client-1", selfSignedPEM(t)
		c.AuthorityHost, c.TokenHTTPClient = sts.AuthorityHost(), sts.Client()
	})
	round(t, src.UsersDelta, "")
	forms := sts.TokenRequests()
	if len(forms) != 1 || forms[0].Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
		strings.Count(forms[0].Get("client_assertion"), ".") != 2 {
		t.Errorf("token requests = %v, want one with a JWT client assertion", forms)
	}
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048) // azidentity wants RSA
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "crowdgate-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...)
}

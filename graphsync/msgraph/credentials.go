package msgraph

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// credential builds the azidentity credential c selects. c must have passed Validate.
func (c Config) credential() (azcore.TokenCredential, error) {
	if c.Credential != nil {
		return c.Credential, nil
	}
	opts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityHost}}
	if c.TokenHTTPClient != nil {
		opts.Transport = c.TokenHTTPClient
	}
	// Instance discovery asks login.microsoft.com whether the authority is a known Entra ID cloud;
	// an authority it cannot know (a sovereign or private cloud, a test STS) must skip it.
	noDiscovery := !knownAuthority(c.AuthorityHost)

	switch {
	case c.ClientSecret != "":
		cred, err := azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, c.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
		if err != nil {
			return nil, fmt.Errorf("graphsync: client secret credential: %w", err)
		}
		return cred, nil
	case len(c.CertificatePEM) > 0 || c.CertificatePath != "":
		data := c.CertificatePEM
		if c.CertificatePath != "" {
			var err error
			if data, err = os.ReadFile(c.CertificatePath); err != nil {
				return nil, fmt.Errorf("graphsync: read client certificate: %w", err)
			}
		}
		certs, key, err := azidentity.ParseCertificates(data, []byte(c.CertificatePassword))
		if err != nil {
			return nil, fmt.Errorf("graphsync: parse client certificate: %w", err)
		}
		cred, err := azidentity.NewClientCertificateCredential(c.TenantID, c.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
		if err != nil {
			return nil, fmt.Errorf("graphsync: client certificate credential: %w", err)
		}
		return cred, nil
	case c.UseManagedIdentity:
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: opts.Transport}}
		if c.ClientID != "" {
			mo.ID = azidentity.ClientID(c.ClientID)
		}
		cred, err := azidentity.NewManagedIdentityCredential(mo)
		if err != nil {
			return nil, fmt.Errorf("graphsync: managed identity credential: %w", err)
		}
		return cred, nil
	case c.UseWorkloadIdentity:
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: c.ClientID, TenantID: c.TenantID,
			TokenFilePath: c.FederatedTokenFile, DisableInstanceDiscovery: noDiscovery,
		})
		if err != nil {
			return nil, fmt.Errorf("graphsync: workload identity credential: %w", err)
		}
		return cred, nil
	}
	return nil, fmt.Errorf("graphsync: no credential configured")
}

// knownAuthority reports whether host is the token service of one of the clouds azidentity knows.
func knownAuthority(host string) bool {
	u, err := url.Parse(host)
	if err != nil {
		return false
	}
	for _, c := range []cloud.Configuration{cloud.AzurePublic, cloud.AzureGovernment, cloud.AzureChina} {
		k, err := url.Parse(c.ActiveDirectoryAuthorityHost)
		if err == nil && strings.EqualFold(k.Host, u.Host) {
			return true
		}
	}
	return false
}

// StaticToken returns a credential that always hands out token, for tests and tools that talk to a
// fake Graph: it goes through the same authentication provider (and valid-hosts check) as a real
// credential, but needs no token service.
func StaticToken(token string) azcore.TokenCredential { return staticToken(token) }

type staticToken string

func (t staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(24 * time.Hour)}, nil
}

// CertificateExpiry returns when the client certificate of c expires (the first certificate of
// the PEM or PFX data), for monitoring; ok is false when c has no certificate.
func (c Config) CertificateExpiry() (notAfter time.Time, subject string, ok bool, err error) {
	data := c.CertificatePEM
	if c.CertificatePath != "" {
		if data, err = os.ReadFile(c.CertificatePath); err != nil {
			return time.Time{}, "", false, fmt.Errorf("graphsync: read client certificate: %w", err)
		}
	}
	if len(data) == 0 {
		return time.Time{}, "", false, nil
	}
	certs, _, err := azidentity.ParseCertificates(data, []byte(c.CertificatePassword))
	if err != nil {
		return time.Time{}, "", false, fmt.Errorf("graphsync: parse client certificate: %w", err)
	}
	if len(certs) == 0 {
		return time.Time{}, "", false, nil
	}
	return certs[0].NotAfter, certs[0].Subject.String(), true, nil
}

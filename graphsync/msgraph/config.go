package msgraph

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultBaseURL        = "https://graph.microsoft.com/v1.0"
	DefaultAuthorityHost  = "https://login.microsoftonline.com/"
	DefaultRetryBudget    = 10 * time.Minute
	DefaultRetryBaseDelay = 2 * time.Second
	DefaultMaxRetryDelay  = time.Minute
	maxPageSize           = 999
)

// Config configures a Source. Exactly one credential must be chosen: ClientSecret,
// CertificatePEM or CertificatePath, UseManagedIdentity, UseWorkloadIdentity, or Credential.
type Config struct {
	// BaseURL is Graph's service root including the version, e.g. https://graph.microsoft.us/v1.0 for
	// a national cloud or a fake's URL in tests. Plain http is accepted only for loopback hosts (the
	// SDK's authentication provider refuses to send tokens over http anywhere else).
	BaseURL string
	// Scope is the token scope requested. Default: the base URL's scheme and host with "/.default"
	// ("https://graph.microsoft.us/.default" for that national cloud), so it follows BaseURL.
	Scope string
	// AllowedHosts are further hosts ("host" or "host:port") whose next and delta links are followed
	// and sent the token: a gateway or a second Graph host that hands out links to itself. Links to
	// any other host are refused (they would carry the token elsewhere).
	AllowedHosts []string

	TenantID string // directory (tenant) id or domain; required for secret and certificate
	ClientID string // application (client) id; for managed identity, selects a user-assigned identity

	ClientSecret        string
	CertificatePEM      []byte // certificate and private key, PEM; or set CertificatePath
	CertificatePath     string
	CertificatePassword string // for an encrypted key, if any

	UseManagedIdentity  bool
	UseWorkloadIdentity bool   // Kubernetes workload identity; unset fields come from AZURE_* variables
	FederatedTokenFile  string // workload identity token file; default AZURE_FEDERATED_TOKEN_FILE

	// Credential, when set, is used as is (tests, custom credential chains); see StaticToken.
	Credential azcore.TokenCredential

	// AuthorityHost is the token service, e.g. https://login.microsoftonline.us/ or a fake STS.
	AuthorityHost string
	// HTTPClient carries Graph requests; the SDK's middleware is wrapped around its Transport.
	// nil means the SDK's default client (100 s timeout per request).
	HTTPClient *http.Client
	// TokenHTTPClient carries token requests (a proxy, or a test STS's TLS client). nil: azidentity's default.
	TokenHTTPClient *http.Client

	// PageSize, when not 0 (server's choice), is asked for with "Prefer: odata.maxpagesize" on every
	// delta request (1–999). Graph may ignore it; fakegraph honours it.
	PageSize int
	// RetryBudget bounds the time spent on one page while its requests fail transiently (no answer,
	// 429, 500, 502, 503, 504): no retry starts whose wait would end after it (default 10 minutes).
	RetryBudget time.Duration
	// MaxAttempts, when not 0, also caps the requests made for one page.
	MaxAttempts int
	// RetryBaseDelay and MaxRetryDelay shape the exponential backoff used when a throttling answer
	// carries no Retry-After (defaults 2 s and 1 min). A Retry-After is always honoured as sent.
	RetryBaseDelay time.Duration
	MaxRetryDelay  time.Duration
}

func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	c.Scope = ScopeFor(c)
	if c.AuthorityHost == "" {
		c.AuthorityHost = DefaultAuthorityHost
	}
	if c.RetryBudget == 0 {
		c.RetryBudget = DefaultRetryBudget
	}
	if c.RetryBaseDelay == 0 {
		c.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if c.MaxRetryDelay == 0 {
		c.MaxRetryDelay = DefaultMaxRetryDelay
	}
	return c
}

// Validate reports every problem in c (after defaults are applied) in one error, one line each.
func (c Config) Validate() error {
	c = c.withDefaults()
	var problems []error
	add := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	baseErr := checkURL(c.BaseURL, true)
	if baseErr != nil {
		add("BaseURL %q: %v", c.BaseURL, baseErr)
	}
	if err := checkURL(c.AuthorityHost, false); err != nil {
		add("AuthorityHost %q: %v", c.AuthorityHost, err)
	}
	if strings.TrimSpace(c.Scope) == "" && baseErr == nil {
		add("Scope is blank")
	}

	hasCert := len(c.CertificatePEM) > 0 || c.CertificatePath != ""
	var chosen []string
	for _, k := range []struct {
		set  bool
		name string
	}{
		{c.Credential != nil, "Credential"},
		{c.ClientSecret != "", "ClientSecret"},
		{hasCert, "certificate"},
		{c.UseManagedIdentity, "UseManagedIdentity"},
		{c.UseWorkloadIdentity, "UseWorkloadIdentity"},
	} {
		if k.set {
			chosen = append(chosen, k.name)
		}
	}
	switch {
	case len(chosen) == 0:
		add("no credential: set one of ClientSecret, CertificatePEM/CertificatePath, UseManagedIdentity, UseWorkloadIdentity, Credential")
	case len(chosen) > 1:
		add("several credentials set (%s): choose one", strings.Join(chosen, ", "))
	}
	if c.ClientSecret != "" || hasCert {
		if c.TenantID == "" {
			add("TenantID is required with a client secret or certificate")
		}
		if c.ClientID == "" {
			add("ClientID is required with a client secret or certificate")
		}
	}
	if c.TenantID != "" && strings.ContainsAny(c.TenantID, "/?#% \t\n") {
		add("TenantID %q is not a tenant id or domain", c.TenantID)
	}
	if len(c.CertificatePEM) > 0 && c.CertificatePath != "" {
		add("CertificatePEM and CertificatePath are both set: choose one")
	}
	if c.CertificatePassword != "" && !hasCert {
		add("CertificatePassword is set without a certificate")
	}
	if c.FederatedTokenFile != "" && !c.UseWorkloadIdentity {
		add("FederatedTokenFile is set without UseWorkloadIdentity")
	}
	if c.PageSize < 0 || c.PageSize > maxPageSize {
		add("PageSize %d is out of range: 0 (server's choice) or 1–%d", c.PageSize, maxPageSize)
	}
	if c.MaxAttempts < 0 || c.RetryBudget < 0 {
		add("MaxAttempts and RetryBudget must not be negative")
	}
	for _, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/?#@ \t") {
			add("AllowedHosts: %q is not a host or host:port", h)
		}
	}
	if c.RetryBaseDelay < 0 || c.MaxRetryDelay < 0 {
		add("RetryBaseDelay and MaxRetryDelay must not be negative")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("graphsync: invalid SDK config:\n%w", errors.Join(problems...))
}

// checkURL accepts an absolute https URL, or http for a loopback host when allowHTTP is set.
func checkURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Host == "":
		return errors.New("not an absolute URL with a host")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not carry a query or fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && allowHTTP && isLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http" && allowHTTP:
		return errors.New("plain http is only allowed for localhost/127.0.0.1/::1")
	default:
		return errors.New("scheme must be https")
	}
}

// isLoopback mirrors the hosts for which the SDK's Azure authentication provider accepts plain http.
func isLoopback(host string) bool {
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// ScopeFor is the token scope c asks for: c.Scope, or the base URL's scheme and host with
// "/.default", so that a national cloud's Graph gets its own cloud's token.
func ScopeFor(c Config) string {
	if c.Scope != "" {
		return c.Scope
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/.default"
}

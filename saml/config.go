package saml

import (
	"cmp"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/internal/clientaddr"
	"github.com/crowdgate/crowdgate/store"
)

// User mappings: which part of the assertion names the directory user.
const (
	MapObjectID = "objectid" // the Entra object id claim against AZURE_AD users' external id (default)
	MapNameID   = "nameid"   // the NameID (Entra: the UPN) against user names
	MapEmail    = "email"    // the e-mail claim against users' e-mail addresses
)

// Guest rules: whether Entra B2B guests (UPN with #EXT#, or another identity provider) may
// sign in. They are mapped like members; the e-mail mapping never matches a guest (a guest's
// address is whatever its home tenant says).
const (
	GuestSame = "same" // like members (default)
	GuestDeny = "deny" // never
)

// Signature requirements: which part of a response must carry the IdP's signature.
const (
	// SignedAssertion (default) wants the assertion signed, as the SP metadata says
	// (WantAssertionsSigned="true"); Entra's default "Sign SAML assertion", and "Sign SAML
	// response and assertion", satisfy it. The signature then stays with the identity whatever
	// wraps it.
	SignedAssertion = "assertion"
	// SignedResponse wants the Response signed (it covers an unsigned assertion inside it):
	// Entra's "Sign SAML response", and IdPs that sign nothing else.
	SignedResponse = "response"
	// SignedEither accepts either signature.
	SignedEither = "either"
)

// Claim names Entra sends (docs/saml-setup.md, Claims).
const (
	ClaimObjectID         = "http://schemas.microsoft.com/identity/claims/objectidentifier"
	ClaimTenantID         = "http://schemas.microsoft.com/identity/claims/tenantid"
	ClaimIdentityProvider = "http://schemas.microsoft.com/identity/claims/identityprovider"
	ClaimEmail            = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	ClaimName             = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	ClaimGivenName        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	ClaimSurname          = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
	ClaimDisplayName      = "http://schemas.microsoft.com/identity/claims/displayname"
	ClaimGroups           = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"

	// Standard attribute names other IdPs send (SimpleSAMLphp, Keycloak, Shibboleth, Okta):
	// the LDAP/eduPerson OIDs of the SAML2 attribute profile, and their short names.
	ClaimOIDMail = "urn:oid:0.9.2342.19200300.100.1.3"
)

// DefaultObjectIDClaims and DefaultEmailClaims are the claims read when none are configured,
// first present wins. Other IdPs' object ids mean nothing to an Entra ID directory, so the
// object id is Entra's claim only.
var (
	DefaultObjectIDClaims = []string{ClaimObjectID}
	DefaultEmailClaims    = []string{ClaimEmail, ClaimOIDMail, "mail", "email"}
)

// Defaults applied by New for zero fields.
const (
	DefaultClockSkew       = 3 * time.Minute
	MaxClockSkew           = 10 * time.Minute
	DefaultMetadataRefresh = time.Hour
	DefaultCertRetention   = 24 * time.Hour
	DefaultLoginTimeout    = 10 * time.Minute
	DefaultMaxResponseSize = 512 << 10 // base64 characters of a SAMLResponse
	DefaultConsoleCookie   = "crowdgate_console"
)

// Config configures the service provider. Trusted proxies (for the client address) come from
// the store's configuration.
type Config struct {
	// PublicURL is crowdgate's base URL as browsers reach it (https://sso.example.com, maybe with
	// a path). The ACS is PublicURL+"/saml/acs", the console PublicURL+"/console/". Required.
	PublicURL string
	// EntityID is the SP entity id, Entra's "Identifier (Entity ID)"; default
	// PublicURL+"/saml/metadata".
	EntityID string

	// IdP metadata: exactly one of a URL (Entra's "App Federation Metadata Url"; https, or http
	// only to a loopback address), a file, or the XML itself.
	IdPMetadataURL  string
	IdPMetadataFile string
	IdPMetadataXML  []byte
	// MetadataRefresh is how often Run fetches the metadata URL again; default 1h.
	MetadataRefresh time.Duration
	// CertRetention is how long a signing certificate stays trusted after it disappeared from
	// the metadata (certificate rollover); default 24h.
	CertRetention time.Duration
	// IdPIssuer overrides the expected assertion Issuer; default the metadata's entityID.
	IdPIssuer string
	// HTTPClient fetches the metadata; default a client with a 30 s timeout.
	HTTPClient *http.Client

	// UserMapping is MapObjectID (default), MapNameID or MapEmail.
	UserMapping string
	// ObjectIDClaims and EmailClaims name the claims the mappings read, in order; defaults
	// DefaultObjectIDClaims and DefaultEmailClaims. An assertion that carries two of them with
	// different values is refused.
	ObjectIDClaims []string
	EmailClaims    []string
	// GuestRule is GuestSame (default) or GuestDeny.
	GuestRule string
	// Directories names the directories the mapping may match users in. Empty: every active
	// Entra ID directory. Naming an INTERNAL directory is the only way SAML sign-in maps onto
	// local accounts (after an import from Crowd with another IdP, say): off by default, so a
	// SAML identity never becomes a local administrator.
	Directories []string

	// ClockSkew is the tolerance on every time check; default 3 min, at most 10 min.
	ClockSkew time.Duration
	// RequireSigned is SignedAssertion (default), SignedResponse or SignedEither.
	RequireSigned string
	// AllowSHA1 accepts SHA-1 signatures and digests (refused by default).
	AllowSHA1 bool
	// IdPInitiated accepts unsolicited responses (Entra "My Apps") as a trigger for an
	// SP-initiated login to their RelayState; never as a session by themselves.
	IdPInitiated bool
	// SingleLogout sends the browser on to the IdP's logout endpoint after a local logout.
	SingleLogout bool
	// LogoutAllSessions ends every session of the user on logout, not only this browser's.
	LogoutAllSessions bool
	// NameIDFormat is requested in AuthnRequests; empty leaves Entra's configured format (never
	// ask Entra for persistent: it answers with an opaque pairwise id).
	NameIDFormat string

	// SP key pair (PEM), as bytes or files. Optional: needed to sign requests and to decrypt.
	SPKeyPEM   []byte
	SPCertPEM  []byte
	SPKeyFile  string
	SPCertFile string
	// SignRequests signs AuthnRequests (HTTP-Redirect query signature, RSA-SHA256).
	SignRequests bool
	// RequireEncryption refuses assertions that were not encrypted to the SP key.
	RequireEncryption bool

	// SessionTimeout is the idle timeout of sessions created here; 0 means the store's.
	SessionTimeout time.Duration
	// LoginTimeout bounds the time between the redirect to the IdP and the response; default 10 min.
	LoginTimeout time.Duration
	// MaxResponseSize bounds a SAMLResponse (base64 characters); default 512 KiB.
	MaxResponseSize int

	// ConsoleCookie names the console's session cookie; default "crowdgate_console".
	ConsoleCookie string
	// ConsoleGroups, when set, limits console sessions to (nested) members of these groups.
	ConsoleGroups []string
	// ConsoleForceAuthn makes console sign-ins re-authenticate at the IdP (ForceAuthn) and
	// refuses assertions whose AuthnInstant predates the request.
	ConsoleForceAuthn bool

	// BreakGlass enables the local-password page /sso/breakglass for members of
	// BreakGlassGroup in BreakGlassDirectory (an INTERNAL directory; default the first one).
	BreakGlass          bool
	BreakGlassGroup     string
	BreakGlassDirectory string
	// BreakGlassConsoleOnly limits break-glass sign-in to the console (CROWDGATE_BREAKGLASS=console).
	BreakGlassConsoleOnly bool
	// RequireSecondFactor: break-glass administrators without a second factor (TOTP) may enter
	// the console only, where they must set one up (CROWDGATE_LOCAL_MFA). An enrolled
	// administrator always needs a code.
	RequireSecondFactor bool

	// StateKey signs the sign-in state cookies (32+ bytes). Default: a key kept in the store,
	// shared by every instance.
	StateKey []byte

	// Now is the clock; default time.Now. Tests move it.
	Now func() time.Time
	// TrustedProxies may set X-Forwarded-For: the client address (break-glass throttling, audit)
	// is the one the nearest of them saw.
	TrustedProxies store.AddressList
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.EntityID == "" && c.PublicURL != "" {
		c.EntityID = c.PublicURL + "/saml/metadata"
	}
	c.MetadataRefresh = cmp.Or(c.MetadataRefresh, DefaultMetadataRefresh)
	c.CertRetention = cmp.Or(c.CertRetention, DefaultCertRetention)
	c.ClockSkew = cmp.Or(c.ClockSkew, DefaultClockSkew)
	c.LoginTimeout = cmp.Or(c.LoginTimeout, DefaultLoginTimeout)
	c.UserMapping = cmp.Or(c.UserMapping, MapObjectID)
	c.GuestRule = cmp.Or(c.GuestRule, GuestSame)
	c.RequireSigned = cmp.Or(c.RequireSigned, SignedAssertion)
	if len(c.ObjectIDClaims) == 0 {
		c.ObjectIDClaims = DefaultObjectIDClaims
	}
	if len(c.EmailClaims) == 0 {
		c.EmailClaims = DefaultEmailClaims
	}
	c.MaxResponseSize = cmp.Or(c.MaxResponseSize, DefaultMaxResponseSize)
	c.ConsoleCookie = cmp.Or(c.ConsoleCookie, DefaultConsoleCookie)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	hc := *c.HTTPClient
	hc.CheckRedirect = metadataRedirect
	c.HTTPClient = &hc
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every problem with the configuration (after defaults), one per line.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.PublicURL == "" {
		bad("saml: public URL is required")
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		bad("saml: public URL %q must be an absolute http(s) URL without user, query or fragment", c.PublicURL)
	}
	if c.EntityID == "" || strings.TrimSpace(c.EntityID) != c.EntityID || len(c.EntityID) > 1024 {
		bad("saml: entity id %q must be non-empty, without surrounding space, at most 1024 characters", c.EntityID)
	}
	sources := 0
	for _, s := range []bool{c.IdPMetadataURL != "", c.IdPMetadataFile != "", len(c.IdPMetadataXML) > 0} {
		if s {
			sources++
		}
	}
	if sources != 1 {
		bad("saml: give exactly one of IdP metadata URL, file or XML (got %d)", sources)
	}
	if c.IdPMetadataURL != "" {
		if u, err := url.Parse(c.IdPMetadataURL); err != nil || u.Host == "" ||
			!(u.Scheme == "https" || u.Scheme == "http" && clientaddr.LoopbackHost(u.Hostname())) {
			bad("saml: IdP metadata URL %q must be https (http only to a loopback address)", c.IdPMetadataURL)
		}
	}
	if c.IdPMetadataFile != "" {
		if _, err := os.Stat(c.IdPMetadataFile); err != nil {
			bad("saml: IdP metadata file: %v", err)
		}
	}
	if c.MetadataRefresh < time.Minute {
		bad("saml: metadata refresh interval %v is shorter than a minute", c.MetadataRefresh)
	}
	if c.CertRetention < 0 {
		bad("saml: certificate retention %v is negative", c.CertRetention)
	}
	switch c.UserMapping {
	case MapObjectID, MapNameID, MapEmail:
	default:
		bad("saml: user mapping %q is not %s, %s or %s", c.UserMapping, MapObjectID, MapNameID, MapEmail)
	}
	switch c.GuestRule {
	case GuestSame, GuestDeny:
	default:
		bad("saml: guest rule %q is not %s or %s", c.GuestRule, GuestSame, GuestDeny)
	}
	switch c.RequireSigned {
	case SignedAssertion, SignedResponse, SignedEither:
	default:
		bad("saml: signature requirement %q is not %s, %s or %s", c.RequireSigned, SignedAssertion, SignedResponse, SignedEither)
	}
	if c.ClockSkew < 0 || c.ClockSkew > MaxClockSkew {
		bad("saml: clock skew %v must be between 0 and %v", c.ClockSkew, MaxClockSkew)
	}
	if c.NameIDFormat == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" {
		bad("saml: NameID format persistent makes Entra send an opaque pairwise id, not the user name")
	}
	if _, err := c.spKeyPair(); err != nil {
		bad("saml: %v", err)
	} else if !c.hasSPKey() && (c.SignRequests || c.RequireEncryption) {
		bad("saml: signing requests and requiring encryption need the SP key and certificate")
	}
	if c.SessionTimeout < 0 {
		bad("saml: session timeout %v is negative", c.SessionTimeout)
	}
	if c.LoginTimeout < time.Minute || c.LoginTimeout > time.Hour {
		bad("saml: login timeout %v must be between 1 minute and 1 hour", c.LoginTimeout)
	}
	if c.MaxResponseSize < 4096 || c.MaxResponseSize > 16<<20 {
		bad("saml: maximum response size %d must be between 4 KiB and 16 MiB", c.MaxResponseSize)
	}
	if strings.ContainsAny(c.ConsoleCookie, " \t\r\n;,=\"") {
		bad("saml: console cookie name %q contains characters a cookie name cannot hold", c.ConsoleCookie)
	}
	if c.BreakGlass && strings.TrimSpace(c.BreakGlassGroup) == "" {
		bad("saml: break-glass sign-in needs a group")
	}
	if c.StateKey != nil && len(c.StateKey) < 32 {
		bad("saml: state key has %d bytes, want at least 32", len(c.StateKey))
	}
	return errors.Join(errs...)
}

func (c Config) hasSPKey() bool {
	return len(c.SPKeyPEM) > 0 || c.SPKeyFile != "" || len(c.SPCertPEM) > 0 || c.SPCertFile != ""
}

// spKeyPair loads the optional SP key pair; nil when none is configured.
func (c Config) spKeyPair() (*tls.Certificate, error) {
	if !c.hasSPKey() {
		return nil, nil
	}
	keyPEM, certPEM := c.SPKeyPEM, c.SPCertPEM
	var err error
	if c.SPKeyFile != "" {
		if len(keyPEM) > 0 {
			return nil, errors.New("SP key given both as PEM and as a file")
		}
		if keyPEM, err = os.ReadFile(c.SPKeyFile); err != nil {
			return nil, fmt.Errorf("SP key: %w", err)
		}
	}
	if c.SPCertFile != "" {
		if len(certPEM) > 0 {
			return nil, errors.New("SP certificate given both as PEM and as a file")
		}
		if certPEM, err = os.ReadFile(c.SPCertFile); err != nil {
			return nil, fmt.Errorf("SP certificate: %w", err)
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("SP key pair: %w", err)
	}
	// gosaml2 signs and decrypts with RSA keys only.
	if _, ok := pair.PrivateKey.(*rsa.PrivateKey); !ok {
		return nil, errors.New("SP key must be an RSA key")
	}
	return &pair, nil
}

// metadataRedirect holds a redirect of the metadata fetch to the rule of the URL itself: https,
// or http to a loopback address. A redirect to plain http would let anyone on the path choose
// the certificates crowdgate trusts.
func metadataRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("saml: IdP metadata: too many redirects")
	}
	if u := req.URL; !(u.Scheme == "https" || u.Scheme == "http" && clientaddr.LoopbackHost(u.Hostname())) {
		return fmt.Errorf("saml: IdP metadata: redirect to %q refused: not https", u.Redacted())
	}
	return nil
}

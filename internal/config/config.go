// Package config is crowdgate's configuration: the one table of settings, each a command-line flag
// and a CROWDGATE_* environment variable with a default, and their validation. It builds the
// configurations of the packages crowdgate wires together and links none of the heavy ones (SAML,
// Microsoft Graph), so fuzzing it stays cheap.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/crowdapi"
	"github.com/crowdgate/crowdgate/store"
)

// objectID matches an Entra ID object id (a GUID).
var objectID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Config is everything crowdgate reads from flags and CROWDGATE_* variables. It only composes the
// configurations of the packages it wires together; each of them keeps its own defaults and checks.
type Config struct {
	// Listen is the address of the main listener (Crowd REST, health).
	Listen string
	// HealthListen, when set, is a second listener for /healthz and /readyz only.
	HealthListen string
	// BaseURL is the externally visible URL of crowdgate's root, without a trailing slash.
	BaseURL string
	// TLSCert and TLSKey are PEM files; when both are set the main listener speaks HTTPS.
	TLSCert string
	TLSKey  string
	// TrustedProxies are the reverse proxies (IPs, CIDRs, host names) whose X-Forwarded-For every
	// HTTP surface believes; see Proxies.
	TrustedProxies []string

	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IdleTimeout     time.Duration
	ShutdownTimeout time.Duration

	Log LogConfig

	// AdminPassword is the first administrator's password, used once on an empty database.
	AdminPassword string

	// AdminGroup's members administer crowdgate (console, break-glass sign-in).
	AdminGroup string
	// Metrics serves Prometheus metrics at /metrics (on the health listener when there is one).
	Metrics bool

	Store   store.Config
	Crowd   crowdapi.Config
	SAML    SAMLConfig
	Graph   GraphConfig
	Secrets SecretConfig

	// BreakGlass is where local (password) sign-in of administrators is offered: all, console or off.
	BreakGlass string
	// LocalMFA is when local sign-in needs a second factor: auto (required once SAML sign-in is
	// configured), required or optional.
	LocalMFA string
}

// LocalMFARequired reports whether local sign-in of administrators needs a second factor.
func (c Config) LocalMFARequired() bool {
	return c.LocalMFA == "required" || c.LocalMFA != "optional" && c.SAML.Enabled()
}

// SecretConfig names the keys that encrypt the secrets crowdgate stores (Entra ID client secrets).
// Keys stay in their configured text form here; they are decoded when first needed.
type SecretConfig struct {
	Key          string   // base64 of 32 bytes
	KeyFile      string   // a file holding such a key
	PreviousKeys []string // older keys, for decryption only (rotation)
}

// LogConfig selects the log format and level.
type LogConfig struct {
	Format string // text or json
	Level  slog.Level
}

// SAMLConfig is the part of crowdgate's configuration that enables sign-in with Entra ID.
type SAMLConfig struct {
	MetadataURL  string
	MetadataFile string
	UserMapping  string
	IdPInitiated bool
	SingleLogout bool
	ClockSkew    time.Duration

	RequireSigned     string   // assertion, response or either
	ObjectIDClaims    []string // empty: the SP's defaults
	EmailClaims       []string
	Directories       []string // empty: every Entra ID directory
	Guests            string   // same or deny
	SPKeyFile         string
	SPCertFile        string
	SignRequests      bool
	RequireEncryption bool
	ConsoleForceAuthn bool
}

// Enabled reports whether an identity provider is configured.
func (s SAMLConfig) Enabled() bool { return s.MetadataURL != "" || s.MetadataFile != "" }

// GraphConfig holds the Microsoft Graph endpoints every Entra ID directory uses; the tenant,
// client and secret of each directory live in its stored settings (set in the console).
type GraphConfig struct {
	BaseURL       string
	AuthorityHost string
	Scope         string   // token scope; "" follows BaseURL
	AllowedHosts  []string // further hosts whose next and delta links are followed
}

// Scope says which commands read a setting.
type Scope int

const (
	ScopeServe Scope = iota // crowdgate serve only
	ScopeAll                // every command that opens the database (serve, migrate, app, user, group)
)

// Setting is one documented configuration value: a flag, a CROWDGATE_* variable and a default.
// docs/configuration.md is generated from this table (cmd/crowdgate's
// TestConfigDocs).
type Setting struct {
	Flag    string // without dashes
	Env     string
	Default string
	Usage   string // Markdown: backquotes mark code
	Scope   Scope
	IsBool  bool
	Example string // a valid non-default value, for the tests
	apply   func(c *Config, v string) error
}

func (s Setting) name() string { return s.Env + " (--" + s.Flag + ")" }

// settingValue is a flag.Value that remembers whether the flag was given.
type settingValue struct {
	val    string
	set    bool
	isBool bool
}

func (v *settingValue) String() string   { return v.val }
func (v *settingValue) IsBoolFlag() bool { return v.isBool }
func (v *settingValue) Set(s string) error {
	v.val, v.set = s, true
	return nil
}

// Flags holds the setting flags registered on one command's flag set.
type Flags struct {
	scope  Scope
	values map[string]*settingValue
}

// AddFlags registers the settings a command of scope sc reads (every setting for serve).
func AddFlags(fs *flag.FlagSet, sc Scope) *Flags {
	cf := &Flags{scope: sc, values: map[string]*settingValue{}}
	for _, s := range Settings() {
		if !s.usedBy(sc) {
			continue
		}
		v := &settingValue{isBool: s.IsBool}
		cf.values[s.Flag] = v
		// Backquotes mark code in the README; in flag usage they would name the placeholder.
		usage := strings.ReplaceAll(s.Usage, "`", "") + " Environment: " + s.Env + "."
		if s.Default != "" {
			usage += " Default: " + s.Default + "."
		}
		fs.Var(v, s.Flag, usage)
	}
	return cf
}

// usedBy reports whether commands of scope sc read s.
func (s Setting) usedBy(sc Scope) bool { return sc == ScopeServe || s.Scope == ScopeAll }

// Load builds the configuration: each setting from its flag if given, else from its variable if
// not empty, else from its default. Every invalid value is reported, each naming its setting.
func (cf *Flags) Load(getenv func(string) string) (Config, error) {
	var c Config
	var errs []error
	for _, s := range Settings() {
		raw := s.Default
		if cf.values[s.Flag] != nil { // a setting this command does not read keeps its default
			if e := getenv(s.Env); e != "" {
				raw = e
			}
			if v := cf.values[s.Flag]; v.set {
				raw = v.val
			}
		}
		if err := s.apply(&c, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name(), err))
			if err := s.apply(&c, s.Default); err != nil { // keep Validate from reporting it again
				panic(fmt.Sprintf("default of %s is invalid: %v", s.Env, err))
			}
		}
	}
	c.derive()
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return c, &configError{errs: errs}
	}
	return c, nil
}

// derive fills the fields computed from others.
func (c *Config) derive() {
	c.Crowd.BaseURL = ""
	if c.BaseURL != "" {
		c.Crowd.BaseURL = c.BaseURL + c.Crowd.ContextPath
	}
}

// Validate reports every problem that involves more than one setting, or that the packages' own
// configurations find, all at once.
func (c Config) Validate() error {
	var errs []error
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("CROWDGATE_TLS_CERT (--tls-cert) and CROWDGATE_TLS_KEY (--tls-key) must be set together"))
	}
	if c.HealthListen != "" && c.HealthListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		errs = append(errs, fmt.Errorf("CROWDGATE_HEALTH_LISTEN (--health-listen) %q is the main listener's address; leave it empty to serve health checks there", c.HealthListen))
	}
	if c.Store.SessionCacheTTL > c.Store.SessionTimeout {
		errs = append(errs, fmt.Errorf("CROWDGATE_SESSION_CACHE_TTL (--session-cache-ttl) %s is longer than CROWDGATE_SESSION_TIMEOUT (--session-timeout) %s", c.Store.SessionCacheTTL, c.Store.SessionTimeout))
	}
	if c.Secrets.Key != "" && c.Secrets.KeyFile != "" {
		errs = append(errs, errors.New("set CROWDGATE_SECRET_KEY or CROWDGATE_SECRET_KEY_FILE, not both"))
	}
	if c.SAML.MetadataURL != "" && c.SAML.MetadataFile != "" {
		errs = append(errs, errors.New("set CROWDGATE_SAML_IDP_METADATA_URL or CROWDGATE_SAML_IDP_METADATA_FILE, not both"))
	}
	if c.BreakGlass == "off" && !c.SAML.Enabled() {
		errs = append(errs, errors.New("CROWDGATE_BREAKGLASS (--breakglass) off needs SAML sign-in (CROWDGATE_SAML_IDP_METADATA_URL or _FILE): nobody could sign in to the console"))
	}
	if err := c.Crowd.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// configError lists every configuration problem, one per line.
type configError struct{ errs []error }

func (e *configError) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, err := range e.errs {
		for _, line := range strings.Split(err.Error(), "\n") {
			b.WriteString("\n  - " + line)
		}
	}
	return b.String()
}

func (e *configError) Unwrap() []error { return e.errs }

// Proxies returns TrustedProxies parsed, for the HTTP surfaces.
func (c Config) Proxies() (store.AddressList, error) {
	l, err := store.ParseAddressList(c.TrustedProxies)
	if err != nil {
		return store.AddressList{}, fmt.Errorf("trusted proxies: %w", err)
	}
	return l, nil
}

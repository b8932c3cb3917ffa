package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/secretbox"
	"github.com/crowdgate/crowdgate/store"
)

// Settings is the one table of crowdgate's configuration.
func Settings() []Setting {
	return []Setting{
		{Flag: "database-url", Env: "CROWDGATE_DATABASE_URL", Default: store.DefaultSQLitePath, Scope: ScopeAll,
			Usage:   "Database: a `postgres://user:password@host:5432/db?sslmode=verify-full` URL for PostgreSQL, or the path of a SQLite file (created with its directory if missing).",
			Example: "postgres://crowdgate@db.example.com:5432/crowdgate",
			apply:   func(c *Config, v string) error { c.Store.URL = v; return nil }},
		{Flag: "listen", Env: "CROWDGATE_LISTEN", Default: "127.0.0.1:8095",
			Usage:   "Address and port of the HTTP listener (Crowd REST API, health checks). Use `0.0.0.0:8095` to accept connections from other hosts.",
			Example: "0.0.0.0:18095",
			apply:   addrSetting(func(c *Config) *string { return &c.Listen }, false)},
		{Flag: "context-path", Env: "CROWDGATE_CONTEXT_PATH", Default: "/crowd",
			Usage: "Path the Crowd REST API is served under, as `<context-path>/rest/usermanagement/1`. Keep `/crowd` so existing Jira and Confluence directory settings pointing at `https://host/crowd` keep working; empty serves it at the root.",
			// Checked here to name the setting; crowdapi.Config.Validate applies the same rule.
			Example: "/identity",
			apply: func(c *Config, v string) error {
				if v != "" && (!strings.HasPrefix(v, "/") || strings.HasSuffix(v, "/") || strings.ContainsAny(v, "?#% ")) {
					return fmt.Errorf("%q must start with / and not end with one, without spaces, ? or # (or be empty)", v)
				}
				c.Crowd.ContextPath = v
				return nil
			}},
		{Flag: "base-url", Env: "CROWDGATE_BASE_URL", Default: "",
			Usage:   "Externally visible URL of crowdgate's root, e.g. `https://sso.example.com`, used in links and redirects. Empty: taken from each request's Host header.",
			Example: "https://sso.example.com",
			apply: func(c *Config, v string) error {
				if v == "" {
					c.BaseURL = ""
					return nil
				}
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
					return fmt.Errorf("%q is not an absolute http(s) URL without query, fragment or credentials", v)
				}
				c.BaseURL = strings.TrimRight(v, "/")
				return nil
			}},
		{Flag: "tls-cert", Env: "CROWDGATE_TLS_CERT", Default: "",
			Usage:   "PEM certificate chain for HTTPS on the main listener; set together with the key. Empty: plain HTTP (put a TLS-terminating proxy in front).",
			Example: "/etc/crowdgate/tls.crt",
			apply:   func(c *Config, v string) error { c.TLSCert = v; return nil }},
		{Flag: "tls-key", Env: "CROWDGATE_TLS_KEY", Default: "",
			Usage:   "PEM private key for the certificate.",
			Example: "/etc/crowdgate/tls.key",
			apply:   func(c *Config, v string) error { c.TLSKey = v; return nil }},
		{Flag: "health-listen", Env: "CROWDGATE_HEALTH_LISTEN", Default: "",
			Usage:   "Optional second listener (plain HTTP) serving only `/healthz` and `/readyz`, for probes that must not reach the main port. Empty: none.",
			Example: "127.0.0.1:18096",
			apply:   addrSetting(func(c *Config) *string { return &c.HealthListen }, true)},
		{Flag: "trusted-proxies", Env: "CROWDGATE_TRUSTED_PROXIES", Default: "",
			Usage:   "Comma-separated IPs, CIDR ranges or host names of reverse proxies whose `X-Forwarded-For` header is believed. Empty: the header is ignored and the peer address is used.",
			Example: "10.0.0.0/8,proxy.example.com",
			apply: func(c *Config, v string) error {
				var list []string
				for _, e := range strings.Split(v, ",") {
					if e = strings.TrimSpace(e); e != "" {
						list = append(list, e)
					}
				}
				if _, err := store.ParseAddressList(list); err != nil {
					return errors.New(strings.TrimSuffix(err.Error(), ": "+store.ErrInvalid.Error()))
				}
				c.TrustedProxies = list
				return nil
			}},
		{Flag: "log-format", Env: "CROWDGATE_LOG_FORMAT", Default: "text", Scope: ScopeAll,
			Usage:   "Log format on standard error: `text` or `json`.",
			Example: "json",
			apply:   oneOfSetting(func(c *Config) *string { return &c.Log.Format }, "text", "json")},
		{Flag: "log-level", Env: "CROWDGATE_LOG_LEVEL", Default: "info", Scope: ScopeAll,
			Usage:   "Least severe log level written: `debug`, `info`, `warn` or `error`.",
			Example: "debug",
			apply: func(c *Config, v string) error {
				switch strings.ToLower(v) {
				case "debug", "info", "warn", "error":
					return c.Log.Level.UnmarshalText([]byte(v))
				}
				return fmt.Errorf("%q is not debug, info, warn or error", v)
			}},
		{Flag: "admin-password", Env: "CROWDGATE_ADMIN_PASSWORD", Default: "",
			Usage:   "Password of the first administrator (`admin`, group `crowdgate-admins`), created only when the database has no users and no applications. Empty: a random password is generated and printed once. At least 16 characters and not a common password (administrators' policy, docs/break-glass.md); prefer the variable to the flag, which other local users can see.",
			Example: "correct horse battery",
			apply: func(c *Config, v string) error {
				if v != "" {
					if err := store.CheckAdministratorPassword("admin", v); err != nil {
						return errors.New(strings.TrimSuffix(err.Error(), ": "+store.ErrPasswordPolicy.Error()+": "+store.ErrInvalid.Error()))
					}
				}
				c.AdminPassword = v
				return nil
			}},
		{Flag: "admin-group", Env: "CROWDGATE_ADMIN_GROUP", Default: "crowdgate-admins",
			Usage:   "Group whose (nested) members may use the admin console and the break-glass sign-in, in any directory.",
			Example: "sso-admins",
			apply: func(c *Config, v string) error {
				if err := store.ValidateName("group", v); err != nil {
					return errors.New(strings.TrimSuffix(err.Error(), ": "+store.ErrInvalid.Error()))
				}
				c.AdminGroup = v
				return nil
			}},
		{Flag: "admin-entra-groups", Env: "CROWDGATE_ADMIN_ENTRA_GROUPS", Default: "",
			Usage:   "Object ids of Entra ID groups whose (nested) members also administer crowdgate, comma-separated. Groups are bound by object id, never by name: a group that only carries an administrator group's name grants nothing.",
			Example: "3f2c0a5e-1b2d-4c3e-8f9a-0b1c2d3e4f50",
			apply: func(c *Config, v string) error {
				var list []string
				for _, e := range strings.Split(v, ",") {
					if e = strings.TrimSpace(e); e == "" {
						continue
					}
					if !objectID.MatchString(e) {
						return fmt.Errorf("%q is not an Entra object id (a GUID such as 3f2c0a5e-1b2d-4c3e-8f9a-0b1c2d3e4f50)", e)
					}
					list = append(list, e)
				}
				c.Store.AdminEntraGroups = list
				return nil
			}},
		{Flag: "saml-idp-metadata-url", Env: "CROWDGATE_SAML_IDP_METADATA_URL", Default: "",
			Usage:   "Entra ID's federation metadata URL of the enterprise application (`https://login.microsoftonline.com/<tenant>/federationmetadata/2007-06/federationmetadata.xml?appid=<app>`), refreshed hourly. Setting it (or the file) turns on SAML sign-in; it needs CROWDGATE_BASE_URL.",
			Example: "https://login.microsoftonline.com/tenant/federationmetadata/2007-06/federationmetadata.xml",
			apply:   func(c *Config, v string) error { c.SAML.MetadataURL = v; return nil }},
		{Flag: "saml-idp-metadata-file", Env: "CROWDGATE_SAML_IDP_METADATA_FILE", Default: "",
			Usage:   "The identity provider's metadata as a file, instead of the URL.",
			Example: "/etc/crowdgate/entra-metadata.xml",
			apply:   func(c *Config, v string) error { c.SAML.MetadataFile = v; return nil }},
		{Flag: "saml-user-mapping", Env: "CROWDGATE_SAML_USER_MAPPING", Default: "objectid",
			Usage:   "How a SAML assertion finds its directory user: `objectid` (Entra object id claim = the synchronised user's external id), `nameid` (NameID/UPN = user name) or `email`.",
			Example: "email",
			apply:   oneOfSetting(func(c *Config) *string { return &c.SAML.UserMapping }, "objectid", "nameid", "email")},
		{Flag: "saml-idp-initiated", Env: "CROWDGATE_SAML_IDP_INITIATED", Default: "false", IsBool: true,
			Usage:   "Accept sign-ins started at Entra (My Apps): such a response only starts a normal, crowdgate-initiated sign-in.",
			Example: "true",
			apply:   boolSetting(func(c *Config) *bool { return &c.SAML.IdPInitiated })},
		{Flag: "saml-single-logout", Env: "CROWDGATE_SAML_SINGLE_LOGOUT", Default: "false", IsBool: true,
			Usage:   "Signing out (from Jira, Confluence or the console) also ends the Entra session.",
			Example: "true",
			apply:   boolSetting(func(c *Config) *bool { return &c.SAML.SingleLogout })},
		{Flag: "saml-clock-skew", Env: "CROWDGATE_SAML_CLOCK_SKEW", Default: "3m",
			Usage:   "Clock difference tolerated on SAML assertion times (at most 10m).",
			Example: "1m",
			apply:   durationSetting(func(c *Config) *time.Duration { return &c.SAML.ClockSkew }, 0)},
		{Flag: "graph-base-url", Env: "CROWDGATE_GRAPH_BASE_URL", Default: "https://graph.microsoft.com/v1.0",
			Usage:   "Microsoft Graph endpoint used by Entra ID directories (national clouds: e.g. `https://graph.microsoft.us/v1.0`).",
			Example: "https://graph.microsoft.us/v1.0",
			apply:   func(c *Config, v string) error { c.Graph.BaseURL = strings.TrimRight(v, "/"); return nil }},
		{Flag: "graph-authority-host", Env: "CROWDGATE_GRAPH_AUTHORITY_HOST", Default: "https://login.microsoftonline.com/",
			Usage:   "Token endpoint host for Entra ID directories (national clouds: e.g. `https://login.microsoftonline.us/`).",
			Example: "https://login.microsoftonline.us/",
			apply:   func(c *Config, v string) error { c.Graph.AuthorityHost = v; return nil }},
		{Flag: "graph-scope", Env: "CROWDGATE_GRAPH_SCOPE", Default: "",
			Usage:   "Token scope asked for Microsoft Graph. Empty: the Graph endpoint's scheme and host with `/.default` (e.g. `https://graph.microsoft.us/.default`); set it when the endpoint is a gateway in front of Graph.",
			Example: "https://graph.microsoft.com/.default",
			apply:   func(c *Config, v string) error { c.Graph.Scope = strings.TrimSpace(v); return nil }},
		{Flag: "graph-allowed-hosts", Env: "CROWDGATE_GRAPH_ALLOWED_HOSTS", Default: "",
			Usage:   "Comma-separated further hosts (`host` or `host:port`) whose Graph next and delta links are followed and sent the token, for a gateway or national cloud that hands out links to another host. Empty: only the Graph endpoint's host.",
			Example: "graph.microsoft.com",
			apply: func(c *Config, v string) error {
				c.Graph.AllowedHosts = nil
				for _, h := range strings.Split(v, ",") {
					if h = strings.TrimSpace(h); h != "" {
						if strings.ContainsAny(h, "/?#@ ") {
							return fmt.Errorf("%q is not a host or host:port", h)
						}
						c.Graph.AllowedHosts = append(c.Graph.AllowedHosts, h)
					}
				}
				return nil
			}},
		{Flag: "secret-key", Env: "CROWDGATE_SECRET_KEY", Default: "",
			Usage:   "Key that encrypts the Entra ID client secrets stored in the database (AES-256-GCM): 32 random bytes in base64, e.g. from `openssl rand -base64 32`; keep a copy with the database backups. Empty, and no CROWDGATE_SECRET_KEY_FILE: with SQLite a key file is generated beside the database (`<database>.key`, mode 0600) when the first secret is saved; with PostgreSQL secrets cannot be saved until a key is set.",
			Example: "q83vEjRWeJq8mt7/ASNFZ4mrze8BI0VniavN7wEjRWc=",
			apply: func(c *Config, v string) error {
				if v != "" {
					if _, err := secretbox.ParseKey(v); err != nil {
						return err
					}
				}
				c.Secrets.Key = v
				return nil
			}},
		{Flag: "secret-key-file", Env: "CROWDGATE_SECRET_KEY_FILE", Default: "",
			Usage:   "File holding the secret key (base64, as CROWDGATE_SECRET_KEY), instead of the variable; readable by crowdgate only. It must exist when crowdgate starts.",
			Example: "/etc/crowdgate/secret.key",
			apply:   func(c *Config, v string) error { c.Secrets.KeyFile = v; return nil }},
		{Flag: "secret-previous-keys", Env: "CROWDGATE_SECRET_PREVIOUS_KEYS", Default: "",
			Usage:   "Comma-separated earlier secret keys (base64), still accepted for decryption after a key rotation. At start crowdgate encrypts every stored secret again with the current key; then the old keys can be removed.",
			Example: "q83vEjRWeJq8mt7/ASNFZ4mrze8BI0VniavN7wEjRWc=,3q2+796tvu/erb7v3q2+796tvu/erb7v3q2+796tvu8=",
			apply: func(c *Config, v string) error {
				var keys []string
				for i, k := range strings.Split(v, ",") {
					if k = strings.TrimSpace(k); k == "" {
						continue
					}
					if _, err := secretbox.ParseKey(k); err != nil {
						return fmt.Errorf("key %d: %w", i+1, err)
					}
					keys = append(keys, k)
				}
				c.Secrets.PreviousKeys = keys
				return nil
			}},
		{Flag: "metrics", Env: "CROWDGATE_METRICS", Default: "true", IsBool: true,
			Usage:   "Serve Prometheus metrics at `/metrics` (on the health listener when CROWDGATE_HEALTH_LISTEN is set, else on the main one).",
			Example: "false",
			apply:   boolSetting(func(c *Config) *bool { return &c.Metrics })},
		{Flag: "session-timeout", Env: "CROWDGATE_SESSION_TIMEOUT", Default: shortDuration(store.DefaultSessionTimeout),
			Usage:   "Idle timeout of SSO sessions, and the longest duration a client may ask for (Go duration: `30m`, `8h`).",
			Example: "8h",
			apply:   durationSetting(func(c *Config) *time.Duration { return &c.Store.SessionTimeout }, time.Minute)},
		{Flag: "require-consistent-ip", Env: "CROWDGATE_REQUIRE_CONSISTENT_IP", Default: "false", IsBool: true,
			Usage:   "Refuse a session validated from another client address than the one it was created from (Crowd's \"require consistent client IP address\").",
			Example: "true",
			apply:   boolSetting(func(c *Config) *bool { return &c.Store.RequireConsistentIP })},
		{Flag: "session-cache-ttl", Env: "CROWDGATE_SESSION_CACHE_TTL", Default: "10m",
			Usage:   "Live SSO sessions are held in memory with their user and groups, so a validation reads no database; this is how long one is used before it is read again (all are reloaded at half of it). Changes through any instance (revocation, deactivation, user details, licence groups) drop them at once, also on the other instances (PostgreSQL LISTEN/NOTIFY; a lost listener connection clears everything), so this only bounds staleness should a notification ever be missed.",
			Example: "2m",
			apply:   durationSetting(func(c *Config) *time.Duration { return &c.Store.SessionCacheTTL }, time.Millisecond)},
		{Flag: "event-retention", Env: "CROWDGATE_EVENT_RETENTION", Default: "168h",
			Usage:   "How long directory change events are kept for Jira's incremental synchronisation; an older event token makes Jira run a full synchronisation.",
			Example: "72h",
			apply:   durationSetting(func(c *Config) *time.Duration { return &c.Store.EventRetention }, time.Minute)},
		{Flag: "password-workers", Env: "CROWDGATE_PASSWORD_WORKERS", Default: "0", Scope: ScopeAll,
			Usage:   "How many password hashes may be computed at once; 0 means one per CPU. Bounds the CPU a burst of logins can take.",
			Example: "3",
			apply:   intSetting(func(c *Config) *int { return &c.Store.PasswordWorkers }, 0)},
		{Flag: "max-body-bytes", Env: "CROWDGATE_MAX_BODY_BYTES", Default: "1048576",
			Usage:   "Largest request body the Crowd REST API accepts, in bytes.",
			Example: "65536",
			apply: func(c *Config, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1024 {
					return fmt.Errorf("%q is not a whole number of bytes of at least 1024", v)
				}
				c.Crowd.MaxBodyBytes = n
				return nil
			}},
		{Flag: "read-timeout", Env: "CROWDGATE_READ_TIMEOUT", Default: "30s",
			Usage:   "Longest time to read a whole request, body included.",
			Example: "10s",
			apply:   durationSetting(func(c *Config) *time.Duration { return &c.ReadTimeout }, time.Second)},
		{Flag: "write-timeout", Env: "CROWDGATE_WRITE_TIMEOUT", Default: "2m",
			Usage:   "Longest time to write a response; must cover the largest streamed result (full membership lists).",
			Example: "5m",
			apply:   durationSetting(func(c *Config) *time.Duration { return &c.WriteTimeout }, time.Second)},
		{Flag: "idle-timeout", Env: "CROWDGATE_IDLE_TIMEOUT", Default: "2m",
			Usage:   "How long an idle keep-alive connection stays open.",
			Example: "30s",
			apply:   durationSetting(func(c *Config) *time.Duration { return &c.IdleTimeout }, time.Second)},
		{Flag: "shutdown-timeout", Env: "CROWDGATE_SHUTDOWN_TIMEOUT", Default: "20s",
			Usage:   "On SIGTERM or SIGINT, how long in-flight requests may take to finish before connections are closed.",
			Example: "5s",
			apply:   durationSetting(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, 0)},
		{Flag: "saml-require-signed", Env: "CROWDGATE_SAML_REQUIRE_SIGNED", Default: "assertion",
			Usage:   "Which part of a SAML response the IdP must sign: `assertion` (Entra's default \"Sign SAML assertion\"; what the SP metadata's WantAssertionsSigned says), `response` (Entra's \"Sign SAML response\") or `either`.",
			Example: "either",
			apply:   oneOfSetting(func(c *Config) *string { return &c.SAML.RequireSigned }, "assertion", "response", "either")},
		{Flag: "saml-objectid-claims", Env: "CROWDGATE_SAML_OBJECTID_CLAIMS", Default: "",
			Usage:   "Comma-separated claim names the `objectid` mapping reads, first present wins. Empty: Entra's `http://schemas.microsoft.com/identity/claims/objectidentifier`.",
			Example: "http://schemas.microsoft.com/identity/claims/objectidentifier",
			apply:   listSetting(func(c *Config) *[]string { return &c.SAML.ObjectIDClaims })},
		{Flag: "saml-email-claims", Env: "CROWDGATE_SAML_EMAIL_CLAIMS", Default: "",
			Usage:   "Comma-separated claim names the `email` mapping reads; two present with different values refuse the sign-in. Empty: Entra's `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress`, the standard `urn:oid:0.9.2342.19200300.100.1.3`, `mail` and `email`.",
			Example: "urn:oid:0.9.2342.19200300.100.1.3",
			apply:   listSetting(func(c *Config) *[]string { return &c.SAML.EmailClaims })},
		{Flag: "saml-directories", Env: "CROWDGATE_SAML_DIRECTORIES", Default: "",
			Usage:   "Comma-separated names of the directories SAML sign-in maps users onto. Empty: every Entra ID directory. Naming an internal directory (e.g. `Internal`) lets `nameid` and `email` sign local accounts in: an opt-in, for users imported from Crowd with another IdP.",
			Example: "Entra,Internal",
			apply:   listSetting(func(c *Config) *[]string { return &c.SAML.Directories })},
		{Flag: "saml-guests", Env: "CROWDGATE_SAML_GUESTS", Default: "same",
			Usage:   "Entra B2B guests (`#EXT#` user names, or another identity provider): `same` signs them in like members, `deny` never. The `email` mapping never matches a guest.",
			Example: "deny",
			apply:   oneOfSetting(func(c *Config) *string { return &c.SAML.Guests }, "same", "deny")},
		{Flag: "saml-sp-key-file", Env: "CROWDGATE_SAML_SP_KEY_FILE", Default: "",
			Usage:   "PEM RSA private key of crowdgate as a service provider, with CROWDGATE_SAML_SP_CERT_FILE: decrypts encrypted assertions and signs requests; its certificate appears in /saml/metadata (upload it to Entra as the token encryption certificate).",
			Example: "/etc/crowdgate/saml-sp.key",
			apply:   func(c *Config, v string) error { c.SAML.SPKeyFile = v; return nil }},
		{Flag: "saml-sp-cert-file", Env: "CROWDGATE_SAML_SP_CERT_FILE", Default: "",
			Usage:   "PEM certificate of the service provider key.",
			Example: "/etc/crowdgate/saml-sp.crt",
			apply:   func(c *Config, v string) error { c.SAML.SPCertFile = v; return nil }},
		{Flag: "saml-sign-requests", Env: "CROWDGATE_SAML_SIGN_REQUESTS", Default: "false", IsBool: true,
			Usage:   "Sign AuthnRequests and LogoutRequests with the SP key (RSA-SHA256), for IdPs that require it (Entra: \"Verification certificates\").",
			Example: "true",
			apply:   boolSetting(func(c *Config) *bool { return &c.SAML.SignRequests })},
		{Flag: "saml-require-encryption", Env: "CROWDGATE_SAML_REQUIRE_ENCRYPTION", Default: "false", IsBool: true,
			Usage:   "Refuse assertions not encrypted to the SP key (Entra: \"Token encryption\").",
			Example: "true",
			apply:   boolSetting(func(c *Config) *bool { return &c.SAML.RequireEncryption })},
		{Flag: "saml-console-force-authn", Env: "CROWDGATE_SAML_CONSOLE_FORCE_AUTHN", Default: "false", IsBool: true,
			Usage:   "Every console sign-in makes the IdP ask for credentials again (ForceAuthn). Re-authentication for sensitive console actions always does.",
			Example: "true",
			apply:   boolSetting(func(c *Config) *bool { return &c.SAML.ConsoleForceAuthn })},
		{Flag: "app-auth-failures", Env: "CROWDGATE_APP_AUTH_FAILURES", Default: "20",
			Usage: "Failed application authentications per source address within a minute (three times as many per application name) " +
				"after which further attempts get 429 without a password check. An application's current password, once verified, is never slowed.",
			Example: "50",
			apply:   intSetting(func(c *Config) *int { return &c.Crowd.AuthFailures }, 1)},
		{Flag: "breakglass", Env: "CROWDGATE_BREAKGLASS", Default: "all",
			Usage:   "Local password sign-in of internal-directory administrators, the emergency door when single sign-on fails: `all` (the console's sign-in form and `/sso/breakglass` into the console and applications), `console` (into the console only) or `off` (none; needs SAML sign-in). See docs/break-glass.md.",
			Example: "console",
			apply:   oneOfSetting(func(c *Config) *string { return &c.BreakGlass }, "all", "console", "off")},
		{Flag: "local-mfa", Env: "CROWDGATE_LOCAL_MFA", Default: "auto",
			Usage: "Second factor (TOTP authenticator code or recovery code) for local sign-in of internal-directory administrators: `auto` (optional while SAML sign-in is not configured, required once it is), `required` or `optional`. " +
				"An enrolled administrator always needs it; one who must have it and has none is sent to enrolment after the password. See docs/break-glass.md.",
			Example: "required",
			apply:   oneOfSetting(func(c *Config) *string { return &c.LocalMFA }, "auto", "required", "optional")},
	}
}

// listSetting reads a comma-separated list, dropping empty items.
func listSetting(field func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		var out []string
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
		*field(c) = out
		return nil
	}
}

// shortDuration formats d without zero trailing units: 30m rather than 30m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func intSetting(field func(*Config) *int, min int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			return fmt.Errorf("%q is not a whole number of at least %d", v, min)
		}
		*field(c) = n
		return nil
	}
}

func boolSetting(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*field(c) = b
		return nil
	}
}

func durationSetting(field func(*Config) *time.Duration, min time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			return fmt.Errorf("%q is not a duration such as 90s, 30m or 8h", v)
		case d < min || (min == 0 && d < 0):
			return fmt.Errorf("%s is shorter than %s", d, min)
		}
		*field(c) = d
		return nil
	}
}

func oneOfSetting(field func(*Config) *string, allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		for _, a := range allowed {
			if strings.EqualFold(v, a) {
				*field(c) = a
				return nil
			}
		}
		return fmt.Errorf("%q is not %s", v, strings.Join(allowed, " or "))
	}
}

func addrSetting(field func(*Config) *string, optional bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" && optional {
			*field(c) = ""
			return nil
		}
		host, port, err := net.SplitHostPort(v)
		if err != nil {
			return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8095 or [::]:8095)", v)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("%q: port %q is not a number from 0 to 65535", v, port)
		}
		if strings.ContainsAny(host, " /") {
			return fmt.Errorf("%q: %q is not a host name or IP address", v, host)
		}
		*field(c) = v
		return nil
	}
}

// name is how messages refer to a setting.

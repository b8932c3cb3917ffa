package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/internal/doctor"
	"github.com/crowdgate/crowdgate/store"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultPathPrefix    = "/console"
	DefaultAdminGroup    = "crowdgate-admins"
	DefaultSessionCookie = "crowdgate_console"
	DefaultReauthAge     = 10 * time.Minute
	DefaultSessionMaxAge = 12 * time.Hour
	DefaultLoginFailures = 5
	DefaultLoginWindow   = 5 * time.Minute
)

// Config configures the console.
type Config struct {
	// PathPrefix is where the console is served; default "/console". Everything, static files
	// included, lives under it.
	PathPrefix string
	// AdminGroup names the group whose direct and nested members are administrators, in whichever
	// directory the signed-in user lives; default "crowdgate-admins".
	AdminGroup string
	// SessionCookie names the console's session cookie (never the Crowd SSO cookie); default
	// "crowdgate_console", the name the saml package sets after a console sign-in.
	SessionCookie string
	// Secure marks the console's cookies Secure (serve the console over HTTPS).
	Secure bool
	// PublicURL is crowdgate's base URL as browsers reach it (https://sso.example.com), used in the
	// configuration snippets and the CSRF origin check. Empty: taken from each request.
	PublicURL string
	// LoginURL is where unauthenticated browsers are sent: the SAML console sign-in, e.g.
	// "/sso/login?dest=/console/" (its dest parameter is replaced by the page to come back to).
	// Empty: the console's own break-glass page, PathPrefix+"/login".
	LoginURL string
	// NoLocalSignIn turns the console's password sign-in off (CROWDGATE_BREAKGLASS=off): only
	// LoginURL's single sign-on remains.
	NoLocalSignIn bool
	// RequireSecondFactor makes local administrators sign in with a second factor (TOTP) and
	// sends those without one to enrolment (CROWDGATE_LOCAL_MFA). An enrolled administrator
	// needs it whatever this says.
	RequireSecondFactor bool
	// CrowdURL is the Crowd server URL Jira and Confluence are told to use (their "Server URL");
	// default PublicURL+"/crowd".
	CrowdURL string
	// SSOURL is the base of crowdgate's browser sign-in for Seraph's login.url and logout.url in the
	// snippets; default PublicURL+"/sso".
	SSOURL string
	// ReauthAge is how recent a sign-in must be for sensitive actions (rotating an application
	// credential, changing Entra ID settings); older sessions re-enter the password (break-glass
	// administrators) or sign in again. Default 10 minutes.
	ReauthAge time.Duration
	// SessionMaxAge is a console session's absolute lifetime from sign-in, however active it
	// stays (besides the store's idle timeout); default 12 hours.
	SessionMaxAge time.Duration
	// LoginFailures failed break-glass sign-ins from one address within LoginWindow block that
	// address until the window has passed; defaults 5 and 5 minutes.
	LoginFailures int
	LoginWindow   time.Duration
	// SyncController runs and tests Entra ID synchronisation; nil hides "sync now" and "test
	// connection" (cmd/crowdgate wires it to graphsync).
	SyncController SyncController
	// Doctor runs the setup checks of `crowdgate doctor` for the console; nil hides them.
	Doctor func(ctx context.Context) []doctor.Result
	// Secrets encrypts the Entra ID client secret before it is stored; nil stores it as entered
	// (tests of the console alone; cmd/crowdgate always sets it).
	Secrets SecretSealer
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// TrustedProxies may set X-Forwarded-For: the client address (sign-in throttling, audit) is the
	// one the nearest of them saw.
	TrustedProxies store.AddressList
}

func (c Config) withDefaults() Config {
	c.PathPrefix = cmp.Or(c.PathPrefix, DefaultPathPrefix)
	c.AdminGroup = cmp.Or(c.AdminGroup, DefaultAdminGroup)
	c.SessionCookie = cmp.Or(c.SessionCookie, DefaultSessionCookie)
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	c.ReauthAge = cmp.Or(c.ReauthAge, DefaultReauthAge)
	c.SessionMaxAge = cmp.Or(c.SessionMaxAge, DefaultSessionMaxAge)
	c.LoginFailures = cmp.Or(c.LoginFailures, DefaultLoginFailures)
	c.LoginWindow = cmp.Or(c.LoginWindow, DefaultLoginWindow)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every invalid field of c (after defaults) at once.
func (c Config) Validate() error {
	c = c.withDefaults()
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	if !strings.HasPrefix(c.PathPrefix, "/") || strings.HasSuffix(c.PathPrefix, "/") || strings.ContainsAny(c.PathPrefix, "?#% \t") {
		bad("api: path prefix %q must start with / and not end with one, without spaces, ? or #", c.PathPrefix)
	}
	if strings.ContainsAny(c.SessionCookie, " \t\r\n;,=\"") {
		bad("api: session cookie name %q contains characters a cookie name cannot hold", c.SessionCookie)
	}
	if strings.TrimSpace(c.AdminGroup) != c.AdminGroup {
		bad("api: admin group %q starts or ends with white space", c.AdminGroup)
	}
	for _, f := range []struct{ name, v string }{{"public URL", c.PublicURL}, {"Crowd URL", c.CrowdURL}, {"SSO URL", c.SSOURL}} {
		if f.v == "" {
			continue
		}
		if u, err := url.Parse(f.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("api: %s %q is not an absolute http(s) URL", f.name, f.v)
		}
	}
	if c.LoginURL != "" {
		u, err := url.Parse(c.LoginURL)
		switch {
		case err != nil:
			bad("api: login URL %q: %v", c.LoginURL, err)
		case u.IsAbs() && u.Scheme != "http" && u.Scheme != "https":
			bad("api: login URL %q must be a path or an http(s) URL", c.LoginURL)
		case !u.IsAbs() && !strings.HasPrefix(c.LoginURL, "/"):
			bad("api: login URL %q must be a path starting with / or an absolute URL", c.LoginURL)
		}
	}
	if c.ReauthAge < 0 || c.SessionMaxAge < 0 || c.LoginFailures < 0 || c.LoginWindow < 0 {
		bad("api: ReauthAge, SessionMaxAge, LoginFailures and LoginWindow must not be negative")
	}
	return errors.Join(problems...)
}

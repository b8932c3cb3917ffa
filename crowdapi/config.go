package crowdapi

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// Config configures the Crowd REST surface.
type Config struct {
	// ContextPath is where Crowd's URLs start, "/crowd" by default (as real Crowd), "" for the root.
	ContextPath string
	// BaseURL is the externally visible URL of the context path (e.g. https://sso.example.com/crowd),
	// used for links and Location headers; empty means derived from each request.
	BaseURL string
	// Version is sent in X-Embedded-Crowd-Version as "Crowd/<Version>".
	Version string
	// MaxBodyBytes bounds request bodies; 0 means 1 MiB.
	MaxBodyBytes int64
	// Observer, when set, is told about every request (metrics).
	Observer Observer
	// AuthFailures failed application authentications from one source address within a minute
	// (three times as many for one application name, from anywhere) make further attempts that
	// would need a password hash wait, answered 429 without one; 0 means DefaultAuthFailures.
	// Applications presenting their current password are never slowed: it is verified from memory.
	AuthFailures int
	// TrustedProxies may set X-Forwarded-For: the client address is the one the nearest of them saw.
	TrustedProxies store.AddressList
}

// DefaultAuthFailures is Config.AuthFailures's default.
const DefaultAuthFailures = 20

// Observer receives one call per request: the route template relative to the API version (e.g.
// "/session/:token"), the method, the status and the duration.
type Observer interface {
	ObserveRequest(route, method string, status int, d time.Duration)
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []string
	if c.ContextPath != "" && (!strings.HasPrefix(c.ContextPath, "/") || strings.HasSuffix(c.ContextPath, "/")) {
		errs = append(errs, fmt.Sprintf("context path %q must start with / and not end with one (or be empty)", c.ContextPath))
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Sprintf("base URL %q must be an absolute http(s) URL", c.BaseURL))
		}
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, "max body bytes must not be negative")
	}
	if c.AuthFailures < 0 {
		errs = append(errs, "auth failures must not be negative")
	}
	if len(errs) > 0 {
		return fmt.Errorf("crowdapi: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Prefix is the path under which the API is served: <context>/rest/usermanagement.
func (c *Config) Prefix() string { return c.ContextPath + "/rest/usermanagement" }

package saml

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/crowdgate/crowdgate/store"
)

// maxReturnURL bounds return URLs (they travel in a cookie).
const maxReturnURL = 2048

// target is where a sign-in ends: an application (SSO session, Crowd cookie) or the console.
type target struct {
	Kind   string // targetApp or targetConsole
	App    store.Application
	Return string // absolute URL the browser is sent to
}

// errBadReturn wraps every refused return URL: an open redirect is never followed.
var errBadReturn = errors.New("return URL refused")

// returnParams are the query parameters naming the return URL, in order of preference:
// crowdgate's own, Seraph's os_destination, and common variants.
var returnParams = []string{"dest", "os_destination", "returnTo", "return_to", "returnUrl"}

// resolveTarget decides where a sign-in for application appName (may be empty) returning to
// dest (absolute, or relative as Seraph's ${originalurl} is) ends. Only the console under the
// public URL and the configured base URLs of applications are accepted.
func (sp *SP) resolveTarget(ctx context.Context, appName, dest string) (target, error) {
	if len(dest) > maxReturnURL {
		return target{}, fmt.Errorf("%w: longer than %d bytes", errBadReturn, maxReturnURL)
	}
	if strings.ContainsAny(dest, "\\\x00\r\n\t ") || strings.ContainsFunc(dest, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return target{}, fmt.Errorf("%w: %q contains a backslash, white space or a control character", errBadReturn, dest)
	}
	var app *store.Application
	if appName != "" {
		apps, err := sp.st.Applications(ctx)
		if err != nil {
			return target{}, fmt.Errorf("saml: applications: %w", err)
		}
		for i := range apps {
			if store.Lower(apps[i].Name) == store.Lower(appName) {
				app = &apps[i]
			}
		}
		if app == nil {
			return target{}, fmt.Errorf("%w: unknown application %q", errBadReturn, appName)
		}
	}
	if dest == "" {
		if app == nil {
			return target{Kind: targetConsole, Return: sp.cfg.PublicURL + "/console/"}, nil
		}
		if len(app.BaseURLs) == 0 {
			return target{}, fmt.Errorf("%w: application %q has no base URL", errBadReturn, app.Name)
		}
		dest = app.BaseURLs[0]
	}
	u, err := url.Parse(dest)
	if err != nil {
		return target{}, fmt.Errorf("%w: %v", errBadReturn, err)
	}
	if what := trickyPath(u.EscapedPath()); what != "" {
		// Two applications on one origin differ by path alone; Tomcat reads "..;" and encoded
		// dots and slashes differently from path.Clean, so such a path could pass the check for
		// one application and land in the other.
		return target{}, fmt.Errorf("%w: %q has %s in its path", errBadReturn, dest, what)
	}
	if !u.IsAbs() {
		// Seraph's ${originalurl} is relative to the application's context path.
		if u.Host != "" || !strings.HasPrefix(dest, "/") || strings.HasPrefix(dest, "//") {
			return target{}, fmt.Errorf("%w: %q is neither absolute nor a path", errBadReturn, dest)
		}
		base := sp.cfg.PublicURL
		if app != nil {
			if len(app.BaseURLs) == 0 {
				return target{}, fmt.Errorf("%w: application %q has no base URL", errBadReturn, app.Name)
			}
			base = app.BaseURLs[0]
		}
		if u, err = url.Parse(strings.TrimRight(base, "/") + dest); err != nil {
			return target{}, fmt.Errorf("%w: %v", errBadReturn, err)
		}
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return target{}, fmt.Errorf("%w: %q is not an http(s) URL of a host", errBadReturn, dest)
	}
	if app == nil && sameOrigin(u, sp.public) && underPath(u, sp.consolePath()) {
		return target{Kind: targetConsole, Return: u.String()}, nil
	}
	apps := []store.Application{}
	if app != nil {
		apps = append(apps, *app)
	} else if apps, err = sp.st.Applications(ctx); err != nil {
		return target{}, fmt.Errorf("saml: applications: %w", err)
	}
	best, bestLen := -1, -1
	for i, a := range apps {
		for _, b := range a.BaseURLs {
			bu, err := url.Parse(b)
			if err != nil || !sameOrigin(u, bu) || !underPath(u, bu.Path) {
				continue
			}
			if l := len(strings.TrimRight(bu.Path, "/")); l > bestLen {
				best, bestLen = i, l
			}
		}
	}
	if best < 0 {
		return target{}, fmt.Errorf("%w: %s is not under a base URL of %s", errBadReturn, u.Redacted(), appLabel(app))
	}
	return target{Kind: targetApp, App: apps[best], Return: u.String()}, nil
}

func appLabel(app *store.Application) string {
	if app == nil {
		return "any application"
	}
	return "application " + app.Name
}

// sameOrigin compares scheme, host and port (default ports made explicit).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && hostPort(a) == hostPort(b)
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// underPath reports whether u's (cleaned) path is prefix or below it, on a segment boundary.
func underPath(u *url.URL, prefix string) bool {
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		return true
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	p = path.Clean(p)
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// trickyPath names what makes an escaped path ambiguous: dot segments, percent-encoded dots,
// slashes and backslashes, and ';' path parameters. A genuine return URL of Jira or Confluence
// has none of them. Empty: none.
func trickyPath(p string) string {
	l := strings.ToLower(p)
	switch {
	case strings.Contains(l, ";"):
		return "a ';' path parameter"
	case strings.Contains(l, "%2e"):
		return "an encoded dot"
	case strings.Contains(l, "%2f") || strings.Contains(l, "%5c"):
		return "an encoded slash or backslash"
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "a dot segment"
		}
	}
	return ""
}

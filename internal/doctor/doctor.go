// Package doctor checks a crowdgate setup end to end and says, for each check, what is wrong and
// what to do: the database, the public URL, the SSO cookie's domain against every application, the
// applications' mappings and allowed groups, the identity provider's metadata and certificates, and
// each Entra ID directory's credentials. `crowdgate doctor` prints the results; the console's
// overview shows them.
package doctor

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/internal/clientaddr"
	"github.com/crowdgate/crowdgate/store"
)

// Status is a check's verdict.
type Status string

// The verdicts, from good to bad.
const (
	OK   Status = "OK"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Result is one check's outcome: what was checked, the verdict, and what to do about it.
type Result struct {
	Check  string
	Status Status
	Detail string
}

// Store is what the checks read.
type Store interface {
	Ping(ctx context.Context) error
	CookieConfig(ctx context.Context) (store.CookieConfig, error)
	Applications(ctx context.Context) ([]store.Application, error)
	Directories(ctx context.Context) ([]store.Directory, error)
	GroupByName(ctx context.Context, directoryID int64, name string) (store.Group, error)
}

// Config is the setup to check.
type Config struct {
	BaseURL         string   // CROWDGATE_BASE_URL
	TLS             bool     // crowdgate terminates TLS itself
	TrustedProxies  []string // CROWDGATE_TRUSTED_PROXIES
	IdPMetadataURL  string
	IdPMetadataFile string
	// PendingMigrations reports how many schema migrations are not applied yet.
	PendingMigrations func(ctx context.Context) (int, error)
	// Entra reads one page of users and groups of an Entra ID directory with its stored
	// credentials; nil skips those checks.
	Entra      func(ctx context.Context, d store.Directory) error
	HTTPClient *http.Client     // for the metadata; default a client with a 10 s timeout
	Now        func() time.Time // default time.Now
}

// expirySoon is how early an expiring certificate is reported.
const expirySoon = 30 * 24 * time.Hour

// Run performs every check and returns the results in a fixed order.
func Run(ctx context.Context, cfg Config, st Store) []Result {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	var out []Result
	add := func(check string, s Status, format string, args ...any) {
		// One line per check: errors from the Azure SDK span many lines.
		detail := strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " ")
		out = append(out, Result{Check: check, Status: s, Detail: detail})
	}
	if err := st.Ping(ctx); err != nil {
		add("database", Fail, "the database does not answer (%v): check CROWDGATE_DATABASE_URL and that the server runs", err)
		return out // nothing else can be read
	}
	add("database", OK, "reachable")
	if cfg.PendingMigrations != nil {
		switch n, err := cfg.PendingMigrations(ctx); {
		case err != nil:
			add("migrations", Fail, "cannot read the schema version (%v)", err)
		case n > 0:
			add("migrations", Warn, "%d migration(s) not applied: run `crowdgate migrate` (crowdgate serve applies them at start)", n)
		default:
			add("migrations", OK, "the schema is up to date")
		}
	}
	base := checkBaseURL(cfg, add)
	checkApplications(ctx, cfg, st, base, add)
	checkIdP(ctx, cfg, add)
	if cfg.Entra != nil {
		dirs, err := st.Directories(ctx)
		if err != nil {
			add("entra", Fail, "cannot list directories (%v)", err)
		}
		for _, d := range dirs {
			if d.Kind != store.DirectoryAzureAD || !d.Active {
				continue
			}
			if err := cfg.Entra(ctx, d); err != nil {
				add("entra "+d.Name, Fail, "%v: check the tenant id, client id and credential, and that the app registration has the Graph application permissions User.Read.All and GroupMember.Read.All with admin consent", err)
			} else {
				add("entra "+d.Name, OK, "got a token and read a page of users")
			}
		}
	}
	return out
}

// Failed reports whether any result is a FAIL.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

func checkBaseURL(cfg Config, add func(string, Status, string, ...any)) *url.URL {
	if cfg.BaseURL == "" {
		add("base URL", Warn, "CROWDGATE_BASE_URL is not set: SAML sign-in, secure cookies and the configuration snippets need crowdgate's public URL")
		return nil
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Host == "" {
		add("base URL", Fail, "CROWDGATE_BASE_URL %q is not an absolute URL", cfg.BaseURL)
		return nil
	}
	switch {
	case u.Scheme != "https" && !clientaddr.LoopbackHost(u.Hostname()):
		add("base URL", Warn, "%s is not https: browsers send the SSO cookie in clear text and a real identity provider on another site cannot complete sign-in; serve crowdgate over HTTPS", cfg.BaseURL)
	case u.Scheme == "https" && !cfg.TLS && len(cfg.TrustedProxies) == 0:
		add("base URL", Warn, "%s is https but crowdgate has no TLS certificate and no trusted proxies: set CROWDGATE_TRUSTED_PROXIES to the TLS proxy's address so client addresses and X-Forwarded-Proto are believed", cfg.BaseURL)
	default:
		add("base URL", OK, "%s", cfg.BaseURL)
	}
	return u
}

// covers reports whether a cookie for domain is sent to host ("" is a host-only cookie of own).
func covers(domain, own, host string) bool {
	host = strings.ToLower(host)
	d := strings.ToLower(strings.TrimPrefix(domain, "."))
	if d == "" {
		return strings.EqualFold(host, own)
	}
	return host == d || strings.HasSuffix(host, "."+d)
}

func checkApplications(ctx context.Context, cfg Config, st Store, base *url.URL, add func(string, Status, string, ...any)) {
	cc, err := st.CookieConfig(ctx)
	if err != nil {
		add("cookie domain", Fail, "cannot read the SSO cookie configuration (%v)", err)
		return
	}
	apps, err := st.Applications(ctx)
	if err != nil {
		add("applications", Fail, "cannot list applications (%v)", err)
		return
	}
	own := ""
	if base != nil {
		own = base.Hostname()
		if !covers(cc.Domain, own, own) {
			add("cookie domain", Fail, "the SSO cookie's domain %q does not cover crowdgate's own host %s: set the cookie domain (console → Settings) to a parent domain of both", cc.Domain, own)
		}
	}
	var uncovered []string
	for _, a := range apps {
		for _, raw := range a.BaseURLs {
			if u, err := url.Parse(raw); err == nil && u.Host != "" && !covers(cc.Domain, own, u.Hostname()) {
				uncovered = append(uncovered, a.Name+" ("+u.Hostname()+")")
			}
		}
	}
	switch {
	case len(uncovered) > 0:
		add("cookie domain", Fail, "the SSO cookie (domain %q) is not sent to %s: single sign-on cannot work there; set the cookie domain to a parent domain of crowdgate and every application", cc.Domain, strings.Join(uncovered, ", "))
	case base != nil:
		add("cookie domain", OK, "%q covers crowdgate and every application URL", cc.Domain)
	}
	if len(apps) == 0 {
		add("applications", Warn, "no application is configured: add Jira or Confluence with `crowdgate app add`")
	}
	for _, a := range apps {
		if !a.Active {
			continue
		}
		check := "application " + a.Name
		if len(a.Mappings) == 0 {
			add(check, Fail, "maps no directory: no user can authenticate to it; map a directory in the console")
			continue
		}
		var missing []string
		for _, m := range a.Mappings {
			if m.AllowAll {
				continue
			}
			for _, g := range m.Groups {
				if _, err := st.GroupByName(ctx, m.DirectoryID, g); store.IsNotFound(err) {
					missing = append(missing, g)
				}
			}
		}
		switch {
		case len(missing) > 0:
			add(check, Warn, "allowed group(s) %s do not exist: nobody gets access through them; fix the names or create the groups", strings.Join(missing, ", "))
		case len(a.BaseURLs) == 0:
			add(check, Warn, "has no URL: sign-in cannot send users back to it; add its base URL (`crowdgate app add --url` or the console)")
		default:
			add(check, OK, "mapped, allowed groups exist, URL %s", strings.Join(a.BaseURLs, ", "))
		}
	}
}

// metadata is the part of SAML metadata the checks read.
type metadata struct {
	EntityID string `xml:"entityID,attr"`
	Keys     []struct {
		Use   string   `xml:"use,attr"`
		Certs []string `xml:"KeyInfo>X509Data>X509Certificate"`
	} `xml:"IDPSSODescriptor>KeyDescriptor"`
}

func checkIdP(ctx context.Context, cfg Config, add func(string, Status, string, ...any)) {
	if cfg.IdPMetadataURL == "" && cfg.IdPMetadataFile == "" {
		add("identity provider", Warn, "SAML sign-in is not configured: users sign in with passwords only (set CROWDGATE_SAML_IDP_METADATA_URL)")
		return
	}
	var body []byte
	var err error
	src := cfg.IdPMetadataFile
	if src != "" {
		body, err = os.ReadFile(src)
	} else {
		src = cfg.IdPMetadataURL
		body, err = fetch(ctx, cfg.HTTPClient, src)
	}
	if err != nil {
		add("identity provider", Fail, "cannot read the metadata at %s (%v)", src, err)
		return
	}
	var md metadata
	if err := xml.Unmarshal(body, &md); err != nil || md.EntityID == "" {
		add("identity provider", Fail, "%s is not SAML metadata with an entityID (%v)", src, err)
		return
	}
	now := cfg.Now()
	valid, soon := 0, ""
	var problems []string
	for _, k := range md.Keys {
		if k.Use != "" && k.Use != "signing" {
			continue
		}
		for _, c := range k.Certs {
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c), ""))
			if err != nil {
				problems = append(problems, "a certificate is not base64")
				continue
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				problems = append(problems, "a certificate does not parse")
				continue
			}
			switch {
			case now.After(cert.NotAfter):
				problems = append(problems, fmt.Sprintf("%s expired on %s", cert.Subject, cert.NotAfter.Format(time.DateOnly)))
			case now.Before(cert.NotBefore):
				problems = append(problems, fmt.Sprintf("%s is valid only from %s", cert.Subject, cert.NotBefore.Format(time.DateOnly)))
			default:
				valid++
				if cert.NotAfter.Sub(now) < expirySoon {
					soon = fmt.Sprintf("%s expires on %s", cert.Subject, cert.NotAfter.Format(time.DateOnly))
				}
			}
		}
	}
	switch {
	case valid == 0:
		add("identity provider", Fail, "%s (%s) has no valid signing certificate: %s; sign-in fails until the identity provider publishes one", md.EntityID, src, strings.Join(problems, "; "))
	case soon != "":
		add("identity provider", Warn, "%s: signing certificate %s; make sure the identity provider publishes its successor in the metadata", md.EntityID, soon)
	default:
		add("identity provider", OK, "%s: %d valid signing certificate(s)", md.EntityID, valid)
	}
}

func fetch(ctx context.Context, c *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 4<<20))
}

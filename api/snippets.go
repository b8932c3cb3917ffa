package api

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// snippets are copy-paste configuration texts for an application.
type snippets struct {
	Directory       string // Jira/Confluence: User directories → Add directory → Atlassian Crowd
	CrowdProperties string // WEB-INF/classes/crowd.properties
	Seraph          string // WEB-INF/classes/seraph-config.xml (Jira and Confluence only)
	SeraphPath      string
}

// publicURL is crowdgate's base URL as the browser reached it, unless configured.
func (s *server) publicURL(c echo.Context) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	r := c.Request()
	scheme := "http"
	if r.TLS != nil || s.cfg.Secure || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *server) snippets(c echo.Context, app store.Application, credential string, cc store.CookieConfig) snippets {
	base := s.publicURL(c)
	crowd := s.cfg.CrowdURL
	if crowd == "" {
		crowd = base + "/crowd"
	}
	crowd = strings.TrimRight(crowd, "/")
	sso := s.cfg.SSOURL
	if sso == "" {
		sso = base + "/sso"
	}
	sso = strings.TrimRight(sso, "/")
	pw := credential
	if pw == "" {
		pw = "<the application password, shown when it was created or rotated>"
	}
	appQ := url.QueryEscape(app.Name)
	var sn snippets
	sn.Directory = fmt.Sprintf(`Directory type:            Atlassian Crowd
Name:                      crowdgate
Server URL:                %s
Application name:          %s
Application password:      %s
Crowd permissions:         Read only
Enable nested groups:      on
Enable incremental sync:   on
Synchronisation interval:  60 minutes
`, crowd, app.Name, pw)
	var props strings.Builder
	kv := func(k, v string) { fmt.Fprintf(&props, "%-40s%s\n", k, v) }
	kv("application.name", propEscape(app.Name))
	kv("application.password", propEscape(pw))
	kv("application.login.url", sso+"/login?app="+appQ)
	kv("crowd.server.url", crowd+"/services/")
	kv("crowd.base.url", crowd+"/")
	kv("session.isauthenticated", "session.isauthenticated")
	kv("session.tokenkey", "session.tokenkey")
	kv("session.validationinterval", "2")
	kv("session.lastvalidation", "session.lastvalidation")
	if cc.Name != "" && cc.Name != store.DefaultCookieName {
		kv("cookie.tokenkey", propEscape(cc.Name))
	}
	if cc.Domain != "" {
		kv("cookie.domain", propEscape(cc.Domain))
	}
	sn.CrowdProperties = props.String()

	var auth string
	switch app.Kind {
	case store.AppJira:
		auth, sn.SeraphPath = "com.atlassian.jira.security.login.SSOSeraphAuthenticator", "atlassian-jira/WEB-INF/classes/seraph-config.xml"
	case store.AppConfluence:
		auth, sn.SeraphPath = "com.atlassian.confluence.user.ConfluenceCrowdSSOAuthenticator", "confluence/WEB-INF/classes/seraph-config.xml"
	default:
		return sn
	}
	login := xmlEscape(sso + "/login?app=" + appQ + "&dest=${originalurl}")
	sn.Seraph = fmt.Sprintf(`<!-- Replace the existing <authenticator> element: -->
<authenticator class="%s"/>

<!-- In <parameters>: sign in through crowdgate (Entra ID single sign-on). -->
<init-param>
    <param-name>login.url</param-name>
    <param-value>%s</param-value>
</init-param>
<init-param>
    <param-name>link.login.url</param-name>
    <param-value>%s</param-value>
</init-param>
<init-param>
    <param-name>logout.url</param-name>
    <param-value>%s</param-value>
</init-param>
`, auth, login, login, xmlEscape(sso+"/logout?app="+appQ))
	return sn
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// propEscape escapes a value for a Java .properties file.
func propEscape(v string) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	v = r.Replace(v)
	if strings.HasPrefix(v, " ") {
		v = `\` + v
	}
	return v
}

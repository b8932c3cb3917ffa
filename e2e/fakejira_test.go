package e2e_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// fakeJira plays Jira with Seraph's Crowd SSO authenticator (SSOSeraphAuthenticator with
// session.validationinterval=0; docs/crowd-wire.md, "Jira's call sequences", and docs/saml.md,
// "The Crowd cookie"): every page but /logout needs a signed-in user. For each request it asks crowdgate for the cookie's name
// (GET /config/cookie), reads that cookie, validates the token with POST /session/{token} and
// the browser's address as the validation factor, takes session/user/@name as the principal,
// loads the user with GET /session/{token}?expand=user and, the first time it sees a token,
// tells crowdgate with POST /authentication/notify. Without a valid token it redirects the
// browser to Seraph's login.url, crowdgate's /sso/login?app=jira&dest=${originalurl}. Its
// logout is Seraph's: DELETE /session/{token}, the cookie removed, then logout.url.
type fakeJira struct {
	crowdURL string // crowdgate's Crowd base URL (crowd.base.url), e.g. http://127.0.0.1:1234/crowd
	ssoURL   string // crowdgate's public URL, for login.url and logout.url
	app      string // application.name
	password string // application.password
	client   *http.Client

	mu         sync.Mutex
	calls      []crowdCall     // every Crowd REST call, in order
	principals []string        // the users pages were served to, in order
	notified   map[string]bool // tokens already announced with /authentication/notify
}

// crowdCall is one request fakeJira made to the Crowd REST API; the token in the path is
// replaced by {token}, so calls compare across sign-ins.
type crowdCall struct {
	Method string
	Path   string // relative to <crowd>/rest/usermanagement/1, with the query
	Status int
}

func (c crowdCall) String() string { return fmt.Sprintf("%s %s %d", c.Method, c.Path, c.Status) }

func newFakeJira(crowdURL, ssoURL, app, password string) *fakeJira {
	return &fakeJira{crowdURL: crowdURL, ssoURL: ssoURL, app: app, password: password,
		client: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		notified: map[string]bool{}}
}

func (j *fakeJira) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /logout", j.logout)
	mux.HandleFunc("GET /secure/Dashboard.jspa", j.page("System Dashboard", "Your assigned issues, activity stream and filters."))
	mux.HandleFunc("GET /browse/{key}", func(w http.ResponseWriter, r *http.Request) {
		j.page(r.PathValue("key"), "Issue "+r.PathValue("key")+": Sign in to Jira through Entra ID.")(w, r)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/secure/Dashboard.jspa", http.StatusFound)
	})
	return mux
}

// Calls returns the Crowd REST calls made so far.
func (j *fakeJira) Calls() []crowdCall {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]crowdCall(nil), j.calls...)
}

// Principals returns the users pages were served to.
func (j *fakeJira) Principals() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.principals...)
}

var jiraPage = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} - fakejira</title>
<style>body{margin:0;font-family:system-ui,sans-serif;color:#172b4d;background:#f4f5f7}
header{background:#0747a6;color:#fff;padding:.8rem 1.5rem;display:flex;justify-content:space-between;align-items:center}
header b{font-size:1.1rem}header a{color:#fff}main{max-width:48rem;margin:2rem auto;background:#fff;border-radius:6px;padding:1.5rem 2rem;box-shadow:0 1px 2px rgba(9,30,66,.25)}
#who{background:#e3fcef;border-left:4px solid #00875a;padding:.6rem 1rem}#url{color:#6b778c;font-size:.85rem}</style></head>
<body><header><b>fakejira</b><span>{{.Display}} · <a id="logout" href="/logout">Log out</a></span></header>
<main><h1 id="title">{{.Title}}</h1>
<p id="who">Signed in as <b id="principal">{{.User}}</b> ({{.Display}}, {{.Email}}) through Crowd SSO.</p>
<p>{{.Body}}</p><p id="url">{{.URL}}</p></main></body></html>`))

// page serves a protected page.
func (j *fakeJira) page(title, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := j.authenticate(w, r)
		if err != nil {
			http.Error(w, "Crowd is unavailable: "+err.Error(), http.StatusBadGateway)
			return
		}
		if !ok {
			// Seraph's login.url: ${originalurl} is the context-relative URL asked for.
			http.Redirect(w, r, j.ssoURL+"/sso/login?app="+url.QueryEscape(j.app)+"&dest="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return
		}
		j.mu.Lock()
		j.principals = append(j.principals, u.Name)
		j.mu.Unlock()
		var buf bytes.Buffer
		if err := jiraPage.Execute(&buf, map[string]string{"Title": title, "Body": body, "User": u.Name, "Display": u.DisplayName, "Email": u.Email,
			"URL": "http://" + r.Host + r.URL.RequestURI()}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(buf.Bytes())
	}
}

type cookieConfig struct {
	XMLName xml.Name `xml:"cookie-config"`
	Domain  string   `xml:"domain"`
	Secure  bool     `xml:"secure"`
	Name    string   `xml:"name"`
}

type crowdUser struct {
	Name        string `xml:"name,attr"`
	DisplayName string `xml:"display-name"`
	Email       string `xml:"email"`
}

type crowdSession struct {
	XMLName xml.Name   `xml:"session"`
	Token   string     `xml:"token"`
	User    *crowdUser `xml:"user"`
}

// authenticate is CrowdHttpAuthenticatorImpl.isAuthenticated followed by Seraph's user lookup.
// ok is false when the request carries no valid token; err is set when Crowd cannot be asked.
func (j *fakeJira) authenticate(w http.ResponseWriter, r *http.Request) (u crowdUser, ok bool, err error) {
	ctx := r.Context()
	cc, err := j.cookieConfig(ctx)
	if err != nil {
		return crowdUser{}, false, err
	}
	c, err := r.Cookie(cc.Name)
	if err != nil || c.Value == "" {
		return crowdUser{}, false, nil
	}
	token := c.Value
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return crowdUser{}, false, err
	}
	sess, status, err := j.Validate(ctx, token, host)
	if err != nil {
		return crowdUser{}, false, err
	}
	if status != http.StatusOK || sess.User == nil || sess.User.Name == "" {
		// Any failed validation logs the user out of Jira.
		return crowdUser{}, false, nil
	}
	// The cookie is written again after each successful validation (CrowdHttpTokenHelperImpl).
	http.SetCookie(w, &http.Cookie{Name: cc.Name, Value: token, Path: "/", HttpOnly: true, Secure: cc.Secure,
		Domain: strings.TrimPrefix(cc.Domain, ".")})
	// findUserFromSSOToken.
	var full crowdSession
	if status, err := j.call(ctx, http.MethodGet, "/session/"+url.PathEscape(token)+"?expand=user", nil, &full); err != nil {
		return crowdUser{}, false, err
	} else if status != http.StatusOK || full.User == nil || full.User.Name != sess.User.Name {
		return crowdUser{}, false, nil
	}
	j.mu.Lock()
	first := !j.notified[token]
	j.notified[token] = true
	j.mu.Unlock()
	if first {
		var notified crowdUser
		status, err := j.call(ctx, http.MethodPost, "/authentication/notify?username="+url.QueryEscape(sess.User.Name), nil, &notified)
		if err != nil {
			return crowdUser{}, false, err
		}
		if status != http.StatusOK {
			return crowdUser{}, false, nil
		}
	}
	return *full.User, true, nil
}

// Validate is Seraph's POST /session/{token} with the browser's address as remote_address (no
// X-Forwarded-For: there is no proxy). It returns the session on 200, and the status.
func (j *fakeJira) Validate(ctx context.Context, token, remoteAddress string) (crowdSession, int, error) {
	body := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><validation-factors><validation-factor><name>remote_address</name><value>` +
		xmlEscape(remoteAddress) + `</value></validation-factor></validation-factors>`
	var s crowdSession
	status, err := j.call(ctx, http.MethodPost, "/session/"+url.PathEscape(token), []byte(body), &s)
	return s, status, err
}

func (j *fakeJira) logout(w http.ResponseWriter, r *http.Request) {
	cc, err := j.cookieConfig(r.Context())
	if err != nil {
		http.Error(w, "Crowd is unavailable: "+err.Error(), http.StatusBadGateway)
		return
	}
	if c, err := r.Cookie(cc.Name); err == nil && c.Value != "" {
		if _, err := j.call(r.Context(), http.MethodDelete, "/session/"+url.PathEscape(c.Value), nil, nil); err != nil {
			http.Error(w, "Crowd is unavailable: "+err.Error(), http.StatusBadGateway)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cc.Name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: cc.Secure,
		Domain: strings.TrimPrefix(cc.Domain, ".")})
	// Seraph's logout.url.
	http.Redirect(w, r, j.ssoURL+"/sso/logout?app="+url.QueryEscape(j.app), http.StatusFound)
}

func (j *fakeJira) cookieConfig(ctx context.Context) (cookieConfig, error) {
	var cc cookieConfig
	status, err := j.call(ctx, http.MethodGet, "/config/cookie", nil, &cc)
	if err != nil {
		return cookieConfig{}, err
	}
	if status != http.StatusOK || cc.Name == "" {
		return cookieConfig{}, fmt.Errorf("GET /config/cookie: status %d, name %q", status, cc.Name)
	}
	return cc, nil
}

// call makes one Crowd REST request as the application, in XML as the Java client does, and
// decodes a 2xx answer into out (when not nil).
func (j *fakeJira) call(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, j.crowdURL+"/rest/usermanagement/1"+path, rd)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(j.app, j.password)
	req.Header.Set("Accept", "application/xml")
	if body != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	j.mu.Lock()
	j.calls = append(j.calls, crowdCall{Method: method, Path: redactToken(path), Status: resp.StatusCode})
	j.mu.Unlock()
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 == 2 && out != nil && len(data) > 0 {
		if err := xml.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %q: %w", method, redactToken(path), data, err)
		}
	}
	return resp.StatusCode, nil
}

// redactToken replaces the token of a /session/{token} path by {token}.
func redactToken(path string) string {
	rest, ok := strings.CutPrefix(path, "/session/")
	if !ok {
		return path
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		return "/session/{token}" + rest[i:]
	}
	return "/session/{token}"
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

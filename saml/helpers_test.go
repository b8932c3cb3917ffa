package saml_test

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/x509"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// The cast of every test: alice may use Jira, bob may not, root is a break-glass admin.
var (
	alice, bob = samltest.Alice, samltest.Bob
	guest      = samltest.EntraUser{UPN: "gina_partner.example#EXT#@contoso.onmicrosoft.com", ObjectID: "8d5f6c4a-2e3f-4a7b-8c1d-2e3f4a5b6c7d",
		Email: "gina@partner.example", GivenName: "Gina", Surname: "Guest", DisplayName: "Gina Guest", IdentityProvider: "live.com"}
)

const (
	idpPassword   = "idp-password-1"
	rootPassword  = "break-glass-password-1"
	jiraPath      = "/jira"
	dashboardPath = "/secure/Dashboard.jspa"
)

// fixture is a store with an Entra and an internal directory, a fake Jira, and crowdgate's
// sign-in served on 127.0.0.1.
type fixture struct {
	t        *testing.T
	st       *store.Store
	entra    store.Directory
	internal store.Directory
	jira     store.Application
	users    map[string]store.User
	jiraSrv  *httptest.Server
	jiraSeen chan string // crowd.token_key values the fake Jira received
	sso      *httptest.Server
	handler  http.Handler
	sp       *saml.SP
	cfg      saml.Config
	logs     *logSink
	idp      *samltest.IdP // crewjam IdP (end-to-end), or
	key      *samltest.Key // the IdP key for built responses
	spKey    *samltest.Key // the SP key, when the preset has one
	clock    *clock        // the SP's clock
	metadata []byte        // static IdP metadata for built responses
}

const tenant = samltest.DefaultTenant

func (f *fixture) issuer() string { return "https://sts.windows.net/" + tenant + "/" }
func (f *fixture) acsURL() string { return f.sso.URL + "/saml/acs" }

// entraMetadata is the static metadata of the fixture's IdP with certs.
func entraMetadata(certs ...*x509.Certificate) []byte {
	return samltest.EntraMetadata("https://sts.windows.net/"+tenant+"/", "https://login.microsoftonline.com/"+tenant+"/saml2",
		"https://login.microsoftonline.com/"+tenant+"/saml2", certs...)
}

// newStore builds the directory every test uses, on the dialect (empty: storetest's default).
func newStore(t *testing.T, f *fixture, dialect string, sc store.Config) {
	ctx := context.Background()
	if dialect == "" {
		dialect = storetest.Dialect()
	}
	st := storetest.OpenConfig(t, dialect, sc)
	f.st = st
	f.internal = storetest.Must(st.EnsureInternalDirectory(ctx))
	f.entra = storetest.Must(st.CreateDirectory(ctx, store.Directory{Name: "Entra", Kind: store.DirectoryAzureAD, Active: true, NestedGroups: true,
		Config: `{"tenant_id":"` + tenant + `"}`}))
	jiraUsers := storetest.Must(st.CreateGroup(ctx, store.NewGroup{DirectoryID: f.entra.ID, Name: "jira-users", Active: true}))
	f.users = map[string]store.User{}
	for _, u := range []samltest.EntraUser{alice, bob, guest} {
		su := storetest.Must(st.CreateUser(ctx, store.NewUser{DirectoryID: f.entra.ID, Name: u.UPN, ExternalID: u.ObjectID,
			FirstName: u.GivenName, LastName: u.Surname, Email: u.Email, Active: true}))
		f.users[u.UPN] = su
		if u.UPN != bob.UPN {
			if err := st.AddUserToGroup(ctx, su.ID, jiraUsers.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	bg := storetest.Must(st.CreateGroup(ctx, store.NewGroup{DirectoryID: f.internal.ID, Name: "crowdgate-breakglass", Active: true}))
	root := storetest.Must(st.CreateUser(ctx, store.NewUser{DirectoryID: f.internal.ID, Name: "root", Password: rootPassword, Active: true}))
	if err := st.AddUserToGroup(ctx, root.ID, bg.ID); err != nil {
		t.Fatal(err)
	}
	f.users["root"] = root
	f.users["svc"] = storetest.Must(st.CreateUser(ctx, store.NewUser{DirectoryID: f.internal.ID, Name: "svc", Password: rootPassword, Active: true}))

	f.jiraSeen = make(chan string, 16)
	f.jiraSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(store.DefaultCookieName); err == nil {
			select {
			case f.jiraSeen <- c.Value:
			default:
			}
		}
		io.WriteString(w, "<html><body>Jira dashboard</body></html>")
	}))
	t.Cleanup(f.jiraSrv.Close)
	f.jira = storetest.Must(st.CreateApplication(ctx, store.NewApplication{
		Name: "jira", Password: "jira-secret", Active: true, Kind: store.AppJira,
		BaseURLs: []string{f.jiraSrv.URL + jiraPath},
		Mappings: []store.Mapping{{DirectoryID: f.entra.ID, Groups: []string{"jira-users"}},
			{DirectoryID: f.internal.ID, Groups: []string{"crowdgate-breakglass"}}},
	}))
}

// newFixture starts crowdgate's sign-in. With e2e set it runs against the crewjam IdP;
// otherwise against static metadata for f.key, and tests post built responses.
func newFixture(t *testing.T, e2e bool, opts ...func(*saml.Config)) *fixture {
	t.Helper()
	return newFixtureOn(t, "", e2e, opts...)
}

func newFixtureOn(t *testing.T, dialect string, e2e bool, opts ...func(*saml.Config)) *fixture {
	t.Helper()
	return newFixtureIdP(t, dialect, e2e, samltest.IdPOptions{}, opts...)
}

// newFixtureIdP is newFixtureOn with options for the crewjam IdP.
func newFixtureIdP(t *testing.T, dialect string, e2e bool, io samltest.IdPOptions, opts ...func(*saml.Config)) *fixture {
	t.Helper()
	return newFixtureStore(t, dialect, e2e, io, store.Config{}, opts...)
}

// newFixtureStore is newFixtureIdP with a store configuration (trusted proxies, say).
func newFixtureStore(t *testing.T, dialect string, e2e bool, io samltest.IdPOptions, sc store.Config, opts ...func(*saml.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, logs: &logSink{}, clock: &clock{}}
	newStore(t, f, dialect, sc)
	f.sso = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.handler.ServeHTTP(w, r) }))
	t.Cleanup(f.sso.Close)
	f.cfg = saml.Config{PublicURL: f.sso.URL, BreakGlass: true, BreakGlassGroup: "crowdgate-breakglass", Now: f.clock.now}
	if e2e {
		f.idp = samltest.NewIdP(t, io)
		for _, u := range []samltest.EntraUser{alice, bob, guest} {
			f.idp.AddUser(t, u, idpPassword)
		}
		f.cfg.IdPMetadataURL = f.idp.MetadataURL()
	} else {
		f.key = samltest.NewKey(t, "idp")
		f.metadata = samltest.EntraMetadata(f.issuer(), "https://login.microsoftonline.com/"+tenant+"/saml2",
			"https://login.microsoftonline.com/"+tenant+"/saml2", f.key.Cert)
		f.cfg.IdPMetadataXML = f.metadata
	}
	for _, o := range opts {
		o(&f.cfg)
	}
	f.start()
	return f
}

// start (re)creates the SP from f.cfg and serves it with a stand-in console page.
func (f *fixture) start() {
	f.t.Helper()
	sp, err := saml.New(f.cfg, f.st, slog.New(f.logs))
	if err != nil {
		f.t.Fatalf("saml.New: %v", err)
	}
	f.sp = sp
	mux := http.NewServeMux()
	mux.Handle("/", sp.Handler())
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		u, ok := sp.ConsoleUser(r)
		if !ok {
			http.Redirect(w, r, sp.ConsoleLoginURL(f.sso.URL+r.URL.Path), http.StatusFound)
			return
		}
		io.WriteString(w, "console of "+u.Name)
	})
	mux.HandleFunc("/console/logout", sp.ConsoleLogout)
	f.handler = mux
	if f.idp != nil {
		md, err := sp.Metadata()
		if err != nil {
			f.t.Fatal(err)
		}
		f.idp.RegisterSP(f.t, "crowdgate", md)
	}
}

// sessions returns the live sessions of a kind.
func (f *fixture) sessions(kind string) []store.Session {
	f.t.Helper()
	s, err := f.st.ListSessions(context.Background(), store.SessionFilter{Kind: kind})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// failures returns the FAILURE audit entries by actor kind SAML.
func (f *fixture) failures() []store.AuditEntry {
	f.t.Helper()
	// Failures are one row per address and minute: ending the minute's rows here makes the next
	// refusal a row of its own, so a test sees each.
	if err := f.st.FlushSignInFailures(context.Background(), true); err != nil {
		f.t.Fatal(err)
	}
	all, err := f.st.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, e := range all {
		if e.Outcome == "FAILURE" && e.ActorKind == store.ActorSAML {
			out = append(out, e)
		}
	}
	return out
}

// client is a cookie-keeping client that does not follow redirects: attack tests look at each
// answer.
func client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login is a started sign-in: the AuthnRequest id and RelayState, and the browser holding the
// state cookie.
type login struct {
	c         *http.Client
	requestID string
	relay     string
}

// startLogin begins a sign-in for query (e.g. "app=jira&dest=/x") and returns what the IdP
// would receive.
func (f *fixture) startLogin(c *http.Client, query string) login {
	f.t.Helper()
	resp, err := c.Get(f.sso.URL + "/sso/login?" + query)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		f.t.Fatalf("GET /sso/login?%s = %d, want 302", query, resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		f.t.Fatal(err)
	}
	return login{c: c, requestID: requestID(f.t, loc.Query().Get("SAMLRequest")), relay: loc.Query().Get("RelayState")}
}

// requestID inflates a redirect-binding AuthnRequest and returns its ID.
func requestID(t *testing.T, m string) string {
	t.Helper()
	s := inflated(t, m)
	i := strings.Index(s, ` ID="`)
	if i < 0 {
		t.Fatalf("no ID in %s", s)
	}
	s = s[i+5:]
	return s[:strings.IndexByte(s, '"')]
}

// post sends a SAMLResponse to the ACS with the login's browser.
func (f *fixture) post(c *http.Client, samlResponse, relay string) *http.Response {
	f.t.Helper()
	resp, err := c.PostForm(f.acsURL(), url.Values{"SAMLResponse": {samlResponse}, "RelayState": {relay}})
	if err != nil {
		f.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// response returns the Entra-shaped response to l for u at the SP's current time.
func (f *fixture) response(l login, u samltest.EntraUser) samltest.Response {
	return samltest.EntraResponse(tenant, f.acsURL(), f.sso.URL+"/saml/metadata", l.requestID, u, f.clock.now())
}

// clock is a movable clock for the SP.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// logSink keeps log records for assertions.
type logSink struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logSink) WithGroup(string) slog.Handler      { return l }

// reasons returns the "reason" of every record with the message, in order.
func (l *logSink) reasons(msg string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Message != msg {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "reason" {
				out = append(out, a.Value.String())
			}
			return true
		})
	}
	return out
}

// all returns every record as text, to check nothing secret was logged.
func (l *logSink) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, r := range l.records {
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.Key + "=" + a.Value.String())
			return true
		})
		b.WriteString("\n")
	}
	return b.String()
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// inflated decodes a redirect-binding message.
func inflated(t *testing.T, m string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(m)
	if err != nil {
		t.Fatal(err)
	}
	x, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return string(x)
}

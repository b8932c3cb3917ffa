package e2e_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/crowdgate/crowdgate/crowdapi"
	"github.com/crowdgate/crowdgate/internal/syncbuf"
	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// The cast: alice is in Jira's licence group, bob is not. Both exist at the IdP and, with
// their Entra object ids as external ids, in crowdgate's AZURE_AD directory.
var alice, bob = samltest.Alice, samltest.Bob

const (
	idpPassword  = "entra-password-1"
	jiraPassword = "jira-app-secret-1"
	licenceGroup = "jira-software-users"
)

// env is everything the journey runs against, all on 127.0.0.1 over plain http: the IdP,
// crowdgate (the Crowd REST API under /crowd/rest/usermanagement/ and the SAML sign-in under
// /saml/ and /sso/, on one server) and fakejira. The three share the host, so the host-only
// crowd.token_key cookie crowdgate sets reaches fakejira (cookies ignore ports), and the
// SameSite=Lax sign-in state cookie comes back with the IdP's POST to the ACS (same site).
type env struct {
	st      *store.Store
	idp     *samltest.IdP
	ssoURL  string // crowdgate
	jiraURL string // fakejira
	jira    *fakeJira
	app     store.Application
	users   map[string]store.User // by UPN
	hits    *hitLog               // requests crowdgate answered
	logs    *syncbuf.Buffer       // crowdgate's log, shown when the test fails
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with a change to the SAML configuration, made after the directory exists.
func newEnvWith(t *testing.T, edit func(*saml.Config)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{hits: &hitLog{}, logs: &syncbuf.Buffer{}, users: map[string]store.User{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("crowdgate's log:\n%s", e.logs.String())
		}
	})
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// Listeners first: crowdgate must know its public URL, and Jira's base URL goes into the store.
	sso := httptest.NewUnstartedServer(nil)
	jira := httptest.NewUnstartedServer(nil)
	e.ssoURL = "http://" + sso.Listener.Addr().String()
	e.jiraURL = "http://" + jira.Listener.Addr().String()

	e.st = storetest.New(t)
	entra := storetest.Must(e.st.CreateDirectory(ctx, store.Directory{Name: "Contoso Entra ID", Kind: store.DirectoryAzureAD, Active: true}))
	licensed := storetest.Must(e.st.CreateGroup(ctx, store.NewGroup{DirectoryID: entra.ID, Name: licenceGroup, Active: true}))
	for _, u := range []samltest.EntraUser{alice, bob} {
		su := storetest.Must(e.st.CreateUser(ctx, store.NewUser{DirectoryID: entra.ID, Name: u.UPN, ExternalID: u.ObjectID,
			FirstName: u.GivenName, LastName: u.Surname, DisplayName: u.DisplayName, Email: u.Email, Active: true}))
		e.users[u.UPN] = su
	}
	if err := e.st.AddUserToGroup(ctx, e.users[alice.UPN].ID, licensed.ID); err != nil {
		t.Fatal(err)
	}
	e.app = storetest.Must(e.st.CreateApplication(ctx, store.NewApplication{
		Name: "jira", Password: jiraPassword, Active: true, Kind: store.AppJira,
		BaseURLs: []string{e.jiraURL},
		Mappings: []store.Mapping{{DirectoryID: entra.ID, Groups: []string{licenceGroup}}},
	}))

	e.idp = samltest.NewIdP(t, samltest.IdPOptions{})
	for _, u := range []samltest.EntraUser{alice, bob} {
		e.idp.AddUser(t, u, idpPassword)
	}
	samlCfg := saml.Config{PublicURL: e.ssoURL, IdPMetadataURL: e.idp.MetadataURL()}
	if edit != nil {
		edit(&samlCfg)
	}
	sp, err := saml.New(samlCfg, e.st, log.With("surface", "saml"))
	if err != nil {
		t.Fatalf("saml.New: %v", err)
	}
	md, err := sp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	e.idp.RegisterSP(t, "crowdgate", md)
	crowd, err := crowdapi.New(crowdapi.Config{ContextPath: "/crowd"}, e.st, log.With("surface", "crowdapi"))
	if err != nil {
		t.Fatalf("crowdapi.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/crowd/rest/usermanagement/", crowd)
	mux.Handle("/saml/", sp.Handler())
	mux.Handle("/sso/", sp.Handler())
	sso.Config.Handler = e.hits.wrap(mux)
	sso.Start()
	t.Cleanup(sso.Close)

	e.jira = newFakeJira(e.ssoURL+"/crowd", e.ssoURL, "jira", jiraPassword)
	jira.Config.Handler = e.jira.handler()
	jira.Start()
	t.Cleanup(jira.Close)
	return e
}

// sessions returns the live sessions of a user.
func (e *env) sessions(t *testing.T, upn string) []store.Session {
	t.Helper()
	s, err := e.st.ListSessions(context.Background(), store.SessionFilter{UserID: e.users[upn].ID})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hit is a request crowdgate answered.
type hit struct {
	Method string
	Path   string
	Status int
}

// hitLog records the requests a handler answers.
type hitLog struct {
	mu   sync.Mutex
	hits []hit
}

func (l *hitLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		l.mu.Lock()
		l.hits = append(l.hits, hit{Method: r.Method, Path: r.URL.Path, Status: sw.status})
		l.mu.Unlock()
	})
}

// since returns the hits after the first n, and the count now.
func (l *hitLog) since(n int) ([]hit, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]hit(nil), l.hits[n:]...), len(l.hits)
}

func (l *hitLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.hits)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// browserOnly filters the hits a browser made (not fakejira's Crowd REST calls).
func browserOnly(hs []hit) []hit {
	var out []hit
	for _, h := range hs {
		if !strings.HasPrefix(h.Path, "/crowd/") {
			out = append(out, h)
		}
	}
	return out
}

package doctor_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/internal/doctor"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// setup is a store with an internal directory, an Entra ID directory, a licence group and Jira.
type setup struct {
	st    *store.Store
	ctx   context.Context
	dir   store.Directory
	entra store.Directory
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	st := storetest.New(t)
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
	s := &setup{st: st, ctx: ctx}
	s.dir = storetest.Must(st.EnsureInternalDirectory(ctx))
	s.entra = storetest.Must(st.CreateDirectory(ctx, store.Directory{Name: "Contoso", Kind: store.DirectoryAzureAD, Active: true}))
	storetest.Must(st.CreateGroup(ctx, store.NewGroup{DirectoryID: s.dir.ID, Name: "jira-users", Active: true}))
	if err := st.SetCookieConfig(ctx, store.CookieConfig{Name: store.DefaultCookieName, Domain: "example.com", Secure: true}); err != nil {
		t.Fatal(err)
	}
	storetest.Must(st.CreateApplication(ctx, store.NewApplication{Name: "jira", Kind: "JIRA", Password: "jira-password-1", Active: true,
		BaseURLs: []string{"https://jira.example.com"},
		Mappings: []store.Mapping{{DirectoryID: s.dir.ID, Groups: []string{"jira-users"}}}}))
	return s
}

// idp serves Entra-like metadata with the given signing certificates.
func idp(t *testing.T, certs ...*x509.Certificate) string {
	t.Helper()
	md := samltest.EntraMetadata("https://sts.windows.net/tenant/", "https://login.example/saml2", "https://login.example/saml2", certs...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(md) }))
	t.Cleanup(srv.Close)
	return srv.URL + "/federationmetadata.xml"
}

func byCheck(rs []doctor.Result) map[string]doctor.Result {
	m := map[string]doctor.Result{}
	for _, r := range rs {
		m[r.Check] = r
	}
	return m
}

func TestHealthySetup(t *testing.T) {
	s := newSetup(t)
	cfg := doctor.Config{
		BaseURL: "https://sso.example.com", TrustedProxies: []string{"10.0.0.1"},
		IdPMetadataURL:    idp(t, samltest.NewKey(t, "Microsoft Azure Federated SSO Certificate").Cert),
		PendingMigrations: func(context.Context) (int, error) { return 0, nil },
		Entra:             func(context.Context, store.Directory) error { return nil },
	}
	rs := doctor.Run(s.ctx, cfg, s.st)
	for _, r := range rs {
		if r.Status != doctor.OK {
			t.Errorf("%s: %s %s; want OK", r.Check, r.Status, r.Detail)
		}
	}
	for _, c := range []string{"database", "migrations", "base URL", "cookie domain", "application jira", "identity provider", "entra Contoso"} {
		if _, ok := byCheck(rs)[c]; !ok {
			t.Errorf("no %q check in %+v", c, rs)
		}
	}
	if doctor.Failed(rs) {
		t.Error("Failed() on a healthy setup")
	}
}

// TestBrokenSetups breaks one thing at a time and expects exactly that check to say so.
func TestBrokenSetups(t *testing.T) {
	valid := samltest.NewKey(t, "Valid").Cert
	for _, tc := range []struct {
		name   string
		edit   func(t *testing.T, s *setup, cfg *doctor.Config)
		check  string
		status doctor.Status
		detail string
	}{
		{"cookie domain misses an application", func(t *testing.T, s *setup, _ *doctor.Config) {
			storetest.Must(s.st.CreateApplication(s.ctx, store.NewApplication{Name: "wiki", Kind: "CONFLUENCE", Password: "wiki-password-1",
				Active: true, BaseURLs: []string{"https://wiki.example.org"}, Mappings: []store.Mapping{{DirectoryID: s.dir.ID, AllowAll: true}}}))
		}, "cookie domain", doctor.Fail, "not sent to wiki (wiki.example.org)"},
		{"cookie domain misses crowdgate", func(_ *testing.T, _ *setup, cfg *doctor.Config) {
			cfg.BaseURL = "https://sso.example.net"
		}, "cookie domain", doctor.Fail, "does not cover crowdgate's own host sso.example.net"},
		{"application without a directory", func(t *testing.T, s *setup, _ *doctor.Config) {
			storetest.Must(s.st.CreateApplication(s.ctx, store.NewApplication{Name: "orphan", Kind: "GENERIC", Password: "orphan-password-1", Active: true}))
		}, "application orphan", doctor.Fail, "maps no directory"},
		{"allowed group missing", func(t *testing.T, s *setup, _ *doctor.Config) {
			storetest.Must(s.st.CreateApplication(s.ctx, store.NewApplication{Name: "bamboo", Kind: "GENERIC", Password: "bamboo-password-1", Active: true,
				BaseURLs: []string{"https://bamboo.example.com"}, Mappings: []store.Mapping{{DirectoryID: s.dir.ID, Groups: []string{"bamboo-users"}}}}))
		}, "application bamboo", doctor.Warn, "bamboo-users do not exist"},
		{"application without URL", func(t *testing.T, s *setup, _ *doctor.Config) {
			storetest.Must(s.st.CreateApplication(s.ctx, store.NewApplication{Name: "nourl", Kind: "GENERIC", Password: "nourl-password-1", Active: true,
				Mappings: []store.Mapping{{DirectoryID: s.dir.ID, AllowAll: true}}}))
		}, "application nourl", doctor.Warn, "has no URL"},
		{"plain HTTP base URL", func(_ *testing.T, _ *setup, cfg *doctor.Config) { cfg.BaseURL = "http://sso.example.com" },
			"base URL", doctor.Warn, "is not https"},
		{"https behind an untrusted proxy", func(_ *testing.T, _ *setup, cfg *doctor.Config) { cfg.TrustedProxies = nil },
			"base URL", doctor.Warn, "set CROWDGATE_TRUSTED_PROXIES"},
		{"metadata unreachable", func(_ *testing.T, _ *setup, cfg *doctor.Config) { cfg.IdPMetadataURL = "http://127.0.0.1:1/metadata" },
			"identity provider", doctor.Fail, "cannot read the metadata"},
		{"signing certificate expired", func(t *testing.T, _ *setup, cfg *doctor.Config) {
			old := samltest.NewKeyValid(t, "Old", time.Now().Add(-400*24*time.Hour), time.Now().Add(-24*time.Hour)).Cert
			cfg.IdPMetadataURL = idp(t, old)
		}, "identity provider", doctor.Fail, "has no valid signing certificate: CN=Old expired"},
		{"signing certificate expires soon", func(t *testing.T, _ *setup, cfg *doctor.Config) {
			cfg.IdPMetadataURL = idp(t, samltest.NewKeyValid(t, "Soon", time.Now().Add(-24*time.Hour), time.Now().Add(10*24*time.Hour)).Cert)
		}, "identity provider", doctor.Warn, "signing certificate CN=Soon expires on"},
		{"pending migrations", func(_ *testing.T, _ *setup, cfg *doctor.Config) {
			cfg.PendingMigrations = func(context.Context) (int, error) { return 2, nil }
		}, "migrations", doctor.Warn, "2 migration(s) not applied"},
		{"Entra credentials refused", func(_ *testing.T, _ *setup, cfg *doctor.Config) {
			cfg.Entra = func(context.Context, store.Directory) error {
				return errors.New("AADSTS7000215: Invalid client secret provided")
			}
		}, "entra Contoso", doctor.Fail, "AADSTS7000215"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t)
			cfg := doctor.Config{
				BaseURL: "https://sso.example.com", TrustedProxies: []string{"10.0.0.1"}, IdPMetadataURL: idp(t, valid),
				PendingMigrations: func(context.Context) (int, error) { return 0, nil },
				Entra:             func(context.Context, store.Directory) error { return nil },
			}
			tc.edit(t, s, &cfg)
			rs := doctor.Run(s.ctx, cfg, s.st)
			var got *doctor.Result
			for i, r := range rs {
				if r.Check == tc.check && r.Status != doctor.OK {
					got = &rs[i]
				} else if r.Status != doctor.OK {
					t.Errorf("unrelated check %s: %s %s", r.Check, r.Status, r.Detail)
				}
			}
			if got == nil || got.Status != tc.status || !strings.Contains(got.Detail, tc.detail) {
				t.Fatalf("check %q = %+v; want %s containing %q (all: %+v)", tc.check, got, tc.status, tc.detail, rs)
			}
			if doctor.Failed(rs) != (tc.status == doctor.Fail) {
				t.Errorf("Failed() = %v with a %s", doctor.Failed(rs), tc.status)
			}
		})
	}
}

// TestDatabaseDown: a closed store is one FAIL and nothing else is tried.
func TestDatabaseDown(t *testing.T) {
	s := newSetup(t)
	if err := s.st.Close(); err != nil {
		t.Fatal(err)
	}
	rs := doctor.Run(s.ctx, doctor.Config{}, s.st)
	if len(rs) != 1 || rs[0].Check != "database" || rs[0].Status != doctor.Fail || !strings.Contains(rs[0].Detail, "CROWDGATE_DATABASE_URL") {
		t.Fatalf("results = %+v; want one database FAIL", rs)
	}
}

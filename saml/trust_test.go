package saml_test

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
)

func writeMetadata(t *testing.T, path, entityID string, certs ...*x509.Certificate) {
	t.Helper()
	md := samltest.EntraMetadata(entityID, "https://login.microsoftonline.com/"+tenant+"/saml2", "", certs...)
	if err := os.WriteFile(path, md, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) advance(d time.Duration) {
	f.clock.mu.Lock()
	f.clock.offset += d
	f.clock.mu.Unlock()
}

// signIn posts a response for alice signed with key and returns the status and the reasons
// logged meanwhile.
func (f *fixture) signIn(key *samltest.Key) (int, []string) {
	before := len(f.logs.reasons("saml: sign-in refused"))
	deleteSessions(f.t, f)
	l := jiraLogin(f)
	resp := f.post(l.c, f.signedBy(l, alice, nil, key, nil, nil), l.relay)
	if resp.StatusCode == http.StatusSeeOther {
		if s := f.sessions(store.SessionSSO); len(s) != 1 || s[0].UserID != f.users[alice.UPN].ID {
			f.t.Fatalf("sessions %+v, want alice's", s)
		}
	}
	return resp.StatusCode, f.logs.reasons("saml: sign-in refused")[before:]
}

// TestRolloverSurvivesRestart: a certificate that left the metadata stays trusted for the
// retention period across a restart (the trust is kept in the store), and not a minute longer.
func TestRolloverSurvivesRestart(t *testing.T) {
	t.Parallel()
	old, next := samltest.NewKey(t, "old"), samltest.NewKey(t, "next")
	path := filepath.Join(t.TempDir(), "idp.xml")
	writeMetadata(t, path, "https://sts.windows.net/"+tenant+"/", old.Cert, next.Cert)
	f := newFixture(t, false, func(c *saml.Config) { c.IdPMetadataXML, c.IdPMetadataFile = nil, path })
	if st, r := f.signIn(old); st != http.StatusSeeOther {
		t.Fatalf("before the rollover: %d %q", st, r)
	}
	writeMetadata(t, path, "https://sts.windows.net/"+tenant+"/", next.Cert)
	f.advance(time.Hour)
	f.start() // a restart reads the new metadata: old is gone from it
	if st, r := f.signIn(old); st != http.StatusSeeOther {
		t.Fatalf("after a restart within the retention: %d %q, want the old certificate still trusted", st, r)
	}
	f.advance(saml.DefaultCertRetention + time.Minute)
	f.start()
	if st, r := f.signIn(old); st != http.StatusBadRequest || len(r) != 1 || !strings.Contains(r[0], "Could not verify certificate against trusted certs") {
		t.Fatalf("after the retention: %d %q, want the old certificate refused", st, r)
	}
	if st, r := f.signIn(next); st != http.StatusSeeOther {
		t.Fatalf("new certificate: %d %q", st, r)
	}
}

// TestEntityIDPinned: metadata that names another IdP is refused, alerted in the log and
// counted, and the refusal survives a restart.
func TestEntityIDPinned(t *testing.T) {
	t.Parallel()
	key := samltest.NewKey(t, "idp")
	var evil atomic.Bool
	mdSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entity := "https://sts.windows.net/" + tenant + "/"
		if evil.Load() {
			entity = "https://idp.evil.example/"
		}
		w.Write(samltest.EntraMetadata(entity, "https://login.microsoftonline.com/"+tenant+"/saml2", "", key.Cert))
	}))
	defer mdSrv.Close()
	f := newFixture(t, false, func(c *saml.Config) { c.IdPMetadataXML, c.IdPMetadataURL = nil, mdSrv.URL })
	f.key = key
	if st, r := f.signIn(key); st != http.StatusSeeOther {
		t.Fatalf("genuine IdP: %d %q", st, r)
	}
	evil.Store(true)
	sp, err := saml.New(f.cfg, f.st, slog.New(f.logs)) // a restart
	if err != nil {
		t.Fatal(err)
	}
	if n := sp.MetadataRejections(); n != 1 {
		t.Errorf("MetadataRejections = %d, want 1", n)
	}
	if logs := f.logs.all(); !strings.Contains(logs, "ALERT: IdP metadata refused, its entityID changed") || !strings.Contains(logs, "offered=https://idp.evil.example/") {
		t.Errorf("no alert in the log:\n%s", logs)
	}
	srv := httptest.NewServer(sp.Handler())
	defer srv.Close()
	if r := get(t, srv.URL+"/sso/login?app=jira"); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("sign-in with the changed IdP: %d, want 503", r.StatusCode)
	}

	// A file source refuses at start.
	path := filepath.Join(t.TempDir(), "idp.xml")
	writeMetadata(t, path, "https://sts.windows.net/"+tenant+"/", key.Cert)
	cfg := f.cfg
	cfg.IdPMetadataURL, cfg.IdPMetadataFile = "", path
	if _, err := saml.New(cfg, f.st, nil); err != nil {
		t.Fatal(err)
	}
	writeMetadata(t, path, "https://idp.evil.example/", key.Cert)
	if _, err := saml.New(cfg, f.st, nil); err == nil || !strings.Contains(err.Error(), "entityID changed") {
		t.Errorf("New with a changed entityID = %v", err)
	}
}

// TestMetadataRedirectToHTTPRefused: the metadata fetch follows no redirect to plain http.
func TestMetadataRedirectToHTTPRefused(t *testing.T) {
	t.Parallel()
	mdSrv := httptest.NewServer(http.RedirectHandler("http://idp.example.test/metadata.xml", http.StatusFound))
	defer mdSrv.Close()
	f := newFixture(t, false, func(c *saml.Config) { c.IdPMetadataXML, c.IdPMetadataURL = nil, mdSrv.URL })
	if r := get(t, f.sso.URL+"/sso/login?app=jira"); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("sign-in: %d, want 503", r.StatusCode)
	}
	want := fmt.Sprintf("redirect to %q refused: not https", "http://idp.example.test/metadata.xml")
	if logs := f.logs.all(); !strings.Contains(logs, want) {
		t.Errorf("log lacks %s:\n%s", want, logs)
	}
}

package main

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/secretbox"
	"github.com/crowdgate/crowdgate/store"
)

// runWithTokenClient runs one command line with the fake token service's certificate trusted.
func runWithTokenClient(t *testing.T, e env, tokenClient *http.Client, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{getenv: e.getenv, stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, graphTokenClient: tokenClient}
	err := c.run(t.Context(), args)
	return result{stdout: out.String(), stderr: errb.String(), err: err}
}

func settingsOf(t *testing.T, st *store.Store, name string) (store.Directory, graphsync.Settings) {
	t.Helper()
	d, err := st.DirectoryByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := graphsync.ParseSettings(d.Config)
	if err != nil {
		t.Fatal(err)
	}
	return d, s
}

// TestDirectoryAddEntra: the directory is created with its settings, the secret sealed for it,
// audited; what the console or the syncer would refuse is refused before anything is written.
func TestDirectoryAddEntra(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := dbEnv(t, dialect).with("CROWDGATE_SECRET_KEY", randomKey(t))
		for _, tc := range []struct {
			args  []string
			stdin string
			want  string
		}{
			{[]string{"--tenant", "t", "--client-id", "c", "--interval", "25h"}, "", "the sync interval must be a duration from 1m to 24h"},
			{[]string{"--tenant", "a/b", "--client-id", "c"}, "", "the tenant must be a tenant id or domain"},
			{[]string{"--secret-stdin", "--certificate", "/nonexistent"}, "s\n", "give one"},
			{[]string{"--secret-stdin", "--managed-identity"}, "s\n", "choose one credential"},
			{[]string{"--secret-stdin"}, "", "standard input holds no value"},
		} {
			r := runCmd(t, e, tc.stdin, append([]string{"directory", "add", "entra", "Entra"}, tc.args...)...)
			if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Errorf("%v: err = %v, want %q", tc.args, r.err, tc.want)
			}
		}
		st := openStore(t, e)
		if _, err := st.DirectoryByName(context.Background(), "Entra"); err == nil {
			t.Fatal("a refused command created the directory")
		}

		r := mustRun(t, e, "s3cr3t-value\n", "directory", "add", "entra", "Entra", "--tenant", "contoso.onmicrosoft.com",
			"--client-id", "11111111-2222-3333-4444-555555555555", "--secret-stdin", "--interval", "2h", "--group", "jira-users,Confluence Users")
		if !strings.Contains(r.stderr, `created Entra ID directory "Entra"`) || strings.Contains(r.stderr, "not synchronised") {
			t.Errorf("stderr %q", r.stderr)
		}
		d, s := settingsOf(t, st, "Entra")
		if d.Kind != store.DirectoryAzureAD || s.TenantID != "contoso.onmicrosoft.com" || s.SyncInterval != "2h" ||
			strings.Join(s.Groups, "|") != "jira-users|Confluence Users" || s.CredentialKind() != graphsync.CredentialSecret {
			t.Errorf("directory %+v settings %+v", d, s)
		}
		if !secretbox.IsSealed(s.ClientSecret) || strings.Contains(d.Config, "s3cr3t-value") {
			t.Errorf("the secret is not sealed: %s", d.Config)
		}
		keys := newSecretKeys(mustConfig(t, e), slog.New(slog.DiscardHandler))
		if plain, err := keys.openSecret(d.ID, graphsync.KeyClientSecret, s.ClientSecret); err != nil || plain != "s3cr3t-value" {
			t.Errorf("open the stored secret: %q, %v", plain, err)
		}
		if a := lastAuditOf(t, st, "DIRECTORY_IDP_SETTINGS_CHANGED"); !strings.Contains(a, `"client_secret"`) || strings.Contains(a, "s3cr3t") {
			t.Errorf("audit %s", a)
		}
		if r := runCmd(t, e, "x\n", "directory", "add", "entra", "Entra", "--secret-stdin"); r.err == nil || !strings.Contains(r.err.Error(), "already exists") {
			t.Errorf("duplicate: %v", r.err)
		}

		// A certificate file, PEM or PFX, is stored sealed; the credential follows.
		pfx := filepath.Join(t.TempDir(), "app.pfx")
		if err := os.WriteFile(pfx, []byte{0x30, 0x82, 0x01, 0x02, 0xff}, 0o600); err != nil {
			t.Fatal(err)
		}
		r = mustRun(t, e, "", "directory", "add", "entra", "Cert", "--tenant", "t", "--client-id", "c", "--certificate", pfx)
		_, s = settingsOf(t, st, "Cert")
		d, _ = settingsOf(t, st, "Cert")
		cert, err := keys.openSecret(d.ID, graphsync.KeyCertificate, s.Certificate)
		if err != nil || s.CredentialKind() != graphsync.CredentialCertificate {
			t.Fatalf("certificate: %v, %+v", err, s)
		}
		if b, err := graphsync.CertificateFile(cert); err != nil || !bytes.Equal(b, []byte{0x30, 0x82, 0x01, 0x02, 0xff}) {
			t.Errorf("stored certificate %x, %v", b, err)
		}
		// A managed identity needs nothing more.
		mustRun(t, e, "", "directory", "add", "entra", "Managed", "--managed-identity")
		if _, s := settingsOf(t, st, "Managed"); s.CredentialKind() != graphsync.CredentialManagedIdentity || s.Ready() != nil {
			t.Errorf("managed identity settings %+v", s)
		}
		// Incomplete: created, and said to be incomplete.
		r = mustRun(t, e, "", "directory", "add", "entra", "Later", "--tenant", "t")
		if !strings.Contains(r.stderr, "not synchronised until it is complete: no client id, client secret yet") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
}

// TestDirectorySet: key=value pairs and secrets change the settings through the same validation;
// unknown keys stored by others are kept.
func TestDirectorySet(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := dbEnv(t, dialect).with("CROWDGATE_SECRET_KEY", randomKey(t))
		mustRun(t, e, "old\n", "directory", "add", "entra", "Entra", "--tenant", "t", "--client-id", "c", "--secret-stdin")
		st := openStore(t, e)
		d, _ := settingsOf(t, st, "Entra")
		d.Config = strings.TrimSuffix(d.Config, "}") + `,"future_key":[1,2]}`
		if _, err := st.UpdateDirectory(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ args []string }{
			{[]string{"sync_interval=48h"}}, {[]string{"user_removal=archive"}}, {[]string{"colour=blue"}},
			{[]string{"client_secret=x"}}, {[]string{"interval"}}, {nil},
		} {
			if r := runCmd(t, e, "", append([]string{"directory", "set", "Entra"}, tc.args...)...); r.err == nil {
				t.Errorf("%v accepted", tc.args)
			}
		}
		r := mustRun(t, e, "", "directory", "set", "Entra", "user_removal=delete", "username_source=mail", "exclude_guests=true", "groups=a, b")
		if !strings.Contains(r.stderr, "changed exclude_guests, groups, user_removal, username_source") {
			t.Errorf("stderr %q", r.stderr)
		}
		d, s := settingsOf(t, st, "Entra")
		if s.UserRemoval != "delete" || s.UsernameSource != "mail" || !s.ExcludeGuests || strings.Join(s.Groups, "|") != "a|b" ||
			!strings.Contains(d.Config, `"future_key":[1,2]`) {
			t.Errorf("after set: %s", d.Config)
		}
		before := s.ClientSecret
		mustRun(t, e, "new\n", "directory", "set", "Entra", "--secret-stdin")
		_, s = settingsOf(t, st, "Entra")
		keys := newSecretKeys(mustConfig(t, e), slog.New(slog.DiscardHandler))
		if plain, err := keys.openSecret(d.ID, graphsync.KeyClientSecret, s.ClientSecret); err != nil || plain != "new" || s.ClientSecret == before {
			t.Errorf("new secret: %q, %v", plain, err)
		}
		if _, err := st.CreateDirectory(context.Background(), store.Directory{Name: "Internal", Kind: store.DirectoryInternal, Active: true}); err != nil {
			t.Fatal(err)
		}
		if r := runCmd(t, e, "", "directory", "set", "Internal", "tenant_id=x"); r.err == nil || !strings.Contains(r.err.Error(), "not an Entra ID directory") {
			t.Errorf("internal directory: %v", r.err)
		}
	})
}

// TestSyncNowAndStatus: "sync now" runs a round against (a fake) Entra ID with the stored settings
// and prints its report; "sync status" shows each directory's state, including one that cannot be
// synchronised and why.
func TestSyncNowAndStatus(t *testing.T) {
	f := newFakeEntra(t, "s3cret", 3)
	e := f.env(dbEnv(t, "sqlite").with("CROWDGATE_SECRET_KEY", randomKey(t)))
	mustRun(t, e, "s3cret\n", "directory", "add", "entra", "Entra", "--tenant", "tenant-1", "--client-id", "client-1", "--secret-stdin")
	mustRun(t, e, "", "directory", "add", "entra", "Half", "--tenant", "t")

	r := runWithTokenClient(t, e, f.sts.Client(), "", "sync", "now", "Entra")
	if r.err != nil || !strings.Contains(r.stdout, "Entra: full round (run 1)") || !strings.Contains(r.stdout, "users +3 ~0 -0") {
		t.Fatalf("sync now: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	r = runWithTokenClient(t, e, f.sts.Client(), "", "sync", "now", "Entra")
	if r.err != nil || !strings.Contains(r.stdout, "delta round (run 2)") {
		t.Errorf("second sync now: %v\n%s", r.err, r.stdout)
	}
	r = runWithTokenClient(t, e, f.sts.Client(), "", "sync", "now", "Entra", "--full")
	if r.err != nil || !strings.Contains(r.stdout, "full round (run 3)") {
		t.Errorf("sync now --full: %v\n%s", r.err, r.stdout)
	}
	if r := runCmd(t, e, "", "sync", "now", "Half"); r.err == nil || !strings.Contains(r.err.Error(), `directory "Half": no client id, client secret yet`) {
		t.Errorf("incomplete directory: %v", r.err)
	}
	if r := runCmd(t, e, "", "sync", "now", "Nowhere"); r.err == nil || !strings.Contains(r.err.Error(), `no directory "Nowhere"`) {
		t.Errorf("unknown directory: %v", r.err)
	}

	r = mustRun(t, e, "", "sync", "status")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "DIRECTORY") {
		t.Fatalf("sync status:\n%s", r.stdout)
	}
	if !strings.HasPrefix(lines[1], "Entra") || !strings.Contains(lines[1], " ok ") || !strings.Contains(lines[1], "full success") {
		t.Errorf("Entra line %q", lines[1])
	}
	if !strings.HasPrefix(lines[2], "Half") || !strings.Contains(lines[2], "not synchronising") || !strings.Contains(lines[2], "no client id, client secret yet") {
		t.Errorf("Half line %q", lines[2])
	}

	// Nothing is held: nothing to apply.
	r = runWithTokenClient(t, e, f.sts.Client(), "", "sync", "apply-held", "Entra")
	if r.err == nil || !strings.Contains(r.err.Error(), "nothing to apply") {
		t.Errorf("apply-held: %v", r.err)
	}
}

// mustConfig is the serve configuration e gives.
func mustConfig(t *testing.T, e env) config.Config {
	t.Helper()
	cfg, err := config.AddFlags(flag.NewFlagSet("test", flag.ContinueOnError), config.ScopeServe).Load(e.getenv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// lastAuditOf is the details of the newest audit entry of action.
func lastAuditOf(t *testing.T, st *store.Store, action string) string {
	t.Helper()
	es, err := st.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1})
	if err != nil || len(es) == 0 {
		t.Fatalf("no audit entry %s (%v)", action, err)
	}
	return es[0].Details
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/secretbox"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

const testAdminPassword = "quiet otter mosaic 2719"

// fakeEntra is a fake Entra ID tenant: Microsoft Graph and its token service, which accepts only
// the client secret given.
type fakeEntra struct {
	graph *fakegraph.Server
	sts   *fakegraph.STS
}

func newFakeEntra(t *testing.T, secret string, users int) *fakeEntra {
	t.Helper()
	tn := fakegraph.NewTenant()
	for i := range users {
		if err := tn.AddUser(fakegraph.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1),
			UserPrincipalName: fmt.Sprintf("user%d@contoso.com", i+1), DisplayName: fmt.Sprintf("User %d", i+1), AccountEnabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakeEntra{graph: fakegraph.New(tn, fakegraph.Options{}), sts: fakegraph.NewSTS(fakegraph.STSOptions{ClientSecret: secret})}
	t.Cleanup(f.graph.Close)
	t.Cleanup(f.sts.Close)
	return f
}

// env points crowdgate's Entra ID directories at the fake.
func (f *fakeEntra) env(e env) env {
	return e.with("CROWDGATE_GRAPH_BASE_URL", f.graph.BaseURL(), "CROWDGATE_GRAPH_AUTHORITY_HOST", f.sts.AuthorityHost(),
		"CROWDGATE_ADMIN_PASSWORD", testAdminPassword, "CROWDGATE_LISTEN", "127.0.0.1:0")
}

// start runs crowdgate with the fake's token service trusted.
func (f *fakeEntra) start(t *testing.T, e env) *running {
	t.Helper()
	return startServerWith(t, f.env(e), func(c *cli) { c.graphTokenClient = f.sts.Client() })
}

// secretsSent are the client secrets the token service received.
func (f *fakeEntra) secretsSent() []string {
	var out []string
	for _, form := range f.sts.TokenRequests() {
		out = append(out, form.Get("client_secret"))
	}
	return out
}

func randomKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, secretbox.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return secretbox.EncodeKey(k)
}

var dirIDInLocation = regexp.MustCompile(`/directories/(\d+)`)

// createEntraDirectory adds an Entra ID directory through the console and saves its connection
// settings with the secret; it returns the directory's id and the settings form's outcome.
func createEntraDirectory(t *testing.T, b *browser, name, secret string) (int64, reply) {
	t.Helper()
	r := b.Post("/console/directories", url.Values{"kind": {store.DirectoryAzureAD}, "name": {name}})
	m := dirIDInLocation.FindStringSubmatch(r.Header.Get("Location"))
	if r.Status != http.StatusSeeOther || m == nil {
		t.Fatalf("create directory: %d %s %.500s", r.Status, r.Header.Get("Location"), r.Body)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	r = b.Post(fmt.Sprintf("/console/directories/%d/entra", id), url.Values{"tenant_id": {"tenant-1"}, "client_id": {"client-1"},
		"client_secret": {secret}, "sync_interval": {"1h"}})
	return id, r
}

// syncRun starts a sync of the directory in the console and waits for a finished run.
func syncRun(t *testing.T, b *browser, st *store.Store, dirID int64) store.SyncRun {
	t.Helper()
	finished := func() bool {
		runs, err := st.SyncRuns(context.Background(), dirID, 1)
		return err == nil && (len(runs) == 0 || runs[0].FinishedAt != nil)
	}
	for {
		r := b.Post(fmt.Sprintf("/console/directories/%d/sync", dirID), nil)
		page := b.Follow(r).Body
		if strings.Contains(page, "could not start") {
			t.Fatalf("sync did not start: %.3000s", page)
		}
		if !strings.Contains(page, "A sync is already running.") {
			break
		}
		// The syncer's own first round (the settings were just saved) is under way: ask again after it.
		pollUntil(t, 60*time.Second, "the running sync to finish", finished)
	}
	var run store.SyncRun
	pollUntil(t, 60*time.Second, "a finished sync run", func() bool {
		runs, err := st.SyncRuns(context.Background(), dirID, 1)
		if err != nil || len(runs) == 0 || runs[0].FinishedAt == nil {
			return false
		}
		run = runs[0]
		return true
	})
	return run
}

// TestEntraSecretEncryptedEndToEnd saves a client secret in the console of a running crowdgate,
// and checks that the database holds only ciphertext, the console never shows the secret, the
// synchroniser sends the decrypted secret to the token service, and the run reaches the metrics.
func TestEntraSecretEncryptedEndToEnd(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		const secret = "Entra~Client.Secret-8Q~xyz"
		fe := newFakeEntra(t, secret, 3)
		e := dbEnv(t, dialect)
		if dialect == "postgres" {
			e = e.with("CROWDGATE_SECRET_KEY", randomKey(t))
		}
		srv := fe.start(t, e)
		st := openStore(t, e)
		base := "http://" + srv.addrs.Main
		b := newBrowser(t, base)
		if !b.Login("admin", testAdminPassword).SignedIn() {
			t.Fatal("admin sign-in failed")
		}
		keyFile := store.SQLitePath(e["CROWDGATE_DATABASE_URL"]) + ".key"
		if dialect == "sqlite" {
			if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("key file created before any secret was saved: %v", err)
			}
		}
		id, r := createEntraDirectory(t, b, "Contoso", secret)
		if page := b.Follow(r).Body; !strings.Contains(page, "Entra ID settings saved") {
			t.Fatalf("settings not saved: %.3000s", page)
		}

		d, err := st.Directory(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(d.Config, secret) || !strings.Contains(d.Config, `"client_secret":"enc:v1:`) {
			t.Fatalf("stored config %s: want the secret encrypted", d.Config)
		}
		if dialect == "sqlite" {
			fi, err := os.Stat(keyFile)
			if err != nil {
				t.Fatalf("no generated key file beside the database: %v", err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
			}
			if !strings.Contains(srv.stderr.String(), keyFile) {
				t.Error("the log does not say where the generated key is")
			}
		}
		set, _ := graphsync.ParseSettings(d.Config)
		stored := set.ClientSecret

		// The console shows neither the secret nor its ciphertext.
		page := b.Get(fmt.Sprintf("/console/directories/%d", id)).Body
		for _, leak := range []string{secret, stored, strings.Split(stored, ":")[3]} {
			if strings.Contains(page, leak) {
				t.Errorf("the directory page shows %q", leak)
			}
		}
		if !strings.Contains(b.Get("/console/directories").Body, "Contoso") {
			t.Error("directory list lacks the directory")
		}

		run := syncRun(t, b, st, id)
		if run.Status != store.SyncSucceeded {
			t.Fatalf("sync run %+v", run)
		}
		sent := fe.secretsSent()
		if len(sent) == 0 || sent[0] != secret {
			t.Errorf("the token service received secrets %q, want the decrypted one", sent)
		}
		if _, err := st.UserByName(context.Background(), id, "user2@contoso.com"); err != nil {
			t.Errorf("synchronised user: %v", err)
		}

		// The run reached Prometheus (the observer runs just after the run is recorded).
		wants := []string{`crowdgate_sync_runs_total{mode="full",result="success"} `,
			`crowdgate_sync_changes_total{change="added",kind="user"} 3`, `crowdgate_sync_duration_seconds_count{mode="full"} `}
		var metrics string
		pollUntil(t, 10*time.Second, "sync metrics", func() bool {
			_, metrics = get(t, http.DefaultClient, base+"/metrics")
			for _, want := range wants {
				if !strings.Contains(metrics, want) {
					return false
				}
			}
			return true
		})

		// Nothing in the audit log carries the secret or its ciphertext.
		for _, a := range auditEntries(t, st) {
			if strings.Contains(a.Details, secret) || strings.Contains(a.Details, "enc:v1:") {
				t.Errorf("audit entry %s carries the secret: %s", a.Action, a.Details)
			}
		}
	})
}

// TestEntraSecretWithoutKeyOnPostgres: with PostgreSQL and no key configured crowdgate starts, but
// refuses to save a secret, telling the administrator what to set; nothing is saved.
func TestEntraSecretWithoutKeyOnPostgres(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		if d != "postgres" {
			continue
		}
		fe := newFakeEntra(t, "pw", 0)
		e := dbEnv(t, d)
		srv := fe.start(t, e)
		st := openStore(t, e)
		b := newBrowser(t, "http://"+srv.addrs.Main)
		if !b.Login("admin", testAdminPassword).SignedIn() {
			t.Fatal("admin sign-in failed")
		}
		id, r := createEntraDirectory(t, b, "Contoso", "a-secret-value")
		page := b.Follow(r).Body
		if !strings.Contains(page, "CROWDGATE_SECRET_KEY") || !strings.Contains(page, "Nothing was saved") {
			t.Errorf("the refusal does not say what to set: %.3000s", page)
		}
		dir, err := st.Directory(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if dir.Config != "{}" {
			t.Errorf("config %s, want nothing saved", dir.Config)
		}
		return
	}
	t.Skip("needs PostgreSQL (CROWDGATE_TEST_POSTGRES)")
}

// TestEntraSecretUpgradeAndRotation: plaintext secrets stored before encryption are encrypted at
// start (one audited change per directory); after a key rotation (new key, old one listed as
// previous) they are encrypted again with the new key; with a wrong key crowdgate still starts and
// the directory's sync fails with an error naming the setting.
func TestEntraSecretUpgradeAndRotation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		const secret = "plain-old-secret"
		fe := newFakeEntra(t, secret, 1)
		e := dbEnv(t, dialect)
		st := openStore(t, e)
		ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
		d, err := st.CreateDirectory(ctx, store.Directory{Name: "Legacy", Kind: store.DirectoryAzureAD, Active: false,
			Config: `{"tenant_id":"tenant-1","client_id":"client-1","client_secret":"` + secret + `","page_size":500,"big":12345678901234567890}`})
		if err != nil {
			t.Fatal(err)
		}
		k1, k2, k3 := randomKey(t), randomKey(t), randomKey(t)
		storedWith := func(key string) string {
			t.Helper()
			d, err := st.Directory(context.Background(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(d.Config, secret) || !strings.Contains(d.Config, `"page_size":500`) || !strings.Contains(d.Config, `12345678901234567890`) {
				t.Fatalf("config after start: %s", d.Config)
			}
			set, err := graphsync.ParseSettings(d.Config)
			s := set.ClientSecret
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := secretbox.ParseKey(key)
			box, _ := secretbox.New(raw)
			if box.NeedsSeal(s) {
				t.Fatalf("stored secret %q is not sealed with the expected key %s", s, box.CurrentKeyID())
			}
			plain, err := box.Open(s, secretAAD(d.ID, graphsync.KeyClientSecret))
			if err != nil || plain != secret {
				t.Fatalf("open: %q, %v", plain, err)
			}
			return s
		}
		encrypted := func() []store.AuditEntry {
			es, err := st.ListAudit(context.Background(), store.AuditFilter{Action: "DIRECTORY_SECRET_ENCRYPTED"})
			if err != nil {
				t.Fatal(err)
			}
			return es
		}

		srv := fe.start(t, e.with("CROWDGATE_SECRET_KEY", k1))
		first := storedWith(k1)
		if es := encrypted(); len(es) != 1 || !strings.Contains(es[0].Details, "plain text") || es[0].ActorKind != store.ActorSystem {
			t.Fatalf("audit of the upgrade: %+v", es)
		}
		srv.stop()

		// Same key again: nothing to do.
		srv = fe.start(t, e.with("CROWDGATE_SECRET_KEY", k1))
		if storedWith(k1) != first || len(encrypted()) != 1 {
			t.Error("a restart with the same key changed the stored secret")
		}
		srv.stop()

		// Rotation: k2 current, k1 previous.
		srv = fe.start(t, e.with("CROWDGATE_SECRET_KEY", k2, "CROWDGATE_SECRET_PREVIOUS_KEYS", k1))
		storedWith(k2)
		if es := encrypted(); len(es) != 2 || !strings.Contains(es[0].Details, "previous key") {
			t.Fatalf("audit of the rotation: %+v", es)
		}
		srv.stop()

		// A key file holding k2 works as well; activate the directory and sync with it.
		keyFile := filepath.Join(t.TempDir(), "secret.key")
		if err := os.WriteFile(keyFile, []byte(k2+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		srv = fe.start(t, e.with("CROWDGATE_SECRET_KEY_FILE", keyFile))
		b := newBrowser(t, "http://"+srv.addrs.Main)
		if !b.Login("admin", testAdminPassword).SignedIn() {
			t.Fatal("admin sign-in failed")
		}
		d.Active = true
		d.Config = storedDirectory(t, st, d.ID).Config
		if _, err := st.UpdateDirectory(ctx, d); err != nil {
			t.Fatal(err)
		}
		if run := syncRun(t, b, st, d.ID); run.Status != store.SyncSucceeded {
			t.Fatalf("sync with the key file: %+v", run)
		}
		srv.stop()

		// The wrong key: crowdgate starts, the sync fails with an error that names the setting.
		srv = fe.start(t, e.with("CROWDGATE_SECRET_KEY", k3))
		b = newBrowser(t, "http://"+srv.addrs.Main)
		if !b.Login("admin", testAdminPassword).SignedIn() {
			t.Fatal("admin sign-in failed")
		}
		page := b.Follow(b.Post(fmt.Sprintf("/console/directories/%d/sync", d.ID), nil)).Body
		if !strings.Contains(page, "could not start") || !strings.Contains(page, "CROWDGATE_SECRET_KEY") {
			t.Errorf("sync with the wrong key: the page does not name the setting: %.3000s", page)
		}
		es, err := st.ListAudit(context.Background(), store.AuditFilter{Action: "SYNC_REQUESTED", Limit: 1})
		if err != nil || len(es) != 1 || es[0].Outcome != "FAILURE" || !strings.Contains(es[0].Details, "CROWDGATE_SECRET_KEY") {
			t.Errorf("audit of the failed sync: %+v %v", es, err)
		}
		var prog struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(b.Get(fmt.Sprintf("/console/directories/%d/progress", d.ID)).Body), &prog); err != nil ||
			!strings.Contains(prog.Error, "CROWDGATE_SECRET_KEY") {
			t.Errorf("progress error %q, %v", prog.Error, err)
		}
		storedWith(k2) // left as it was
	})
}

func storedDirectory(t *testing.T, st *store.Store, id int64) store.Directory {
	t.Helper()
	d, err := st.Directory(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSecretKeys covers the key ring without a server: lazy key file creation (SQLite only),
// PostgreSQL's refusal without a key, plaintext pass-through and a clear error for a wrong key.
func TestSecretKeys(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	sq := newSecretKeys(config.Config{Store: store.Config{URL: filepath.Join(dir, "db", "crowdgate.db")}}, log)
	if got, err := sq.openSecret(1, graphsync.KeyClientSecret, "legacy-plain"); err != nil || got != "legacy-plain" {
		t.Errorf("plaintext: %q %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "db", "crowdgate.db.key")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a key file was created without need")
	}
	sealed, err := sq.SealSecret(context.Background(), 7, graphsync.KeyClientSecret, "s")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sq.openSecret(7, graphsync.KeyClientSecret, sealed); err != nil || got != "s" {
		t.Errorf("round trip: %q %v", got, err)
	}
	if _, err := sq.openSecret(8, graphsync.KeyClientSecret, sealed); err == nil || !strings.Contains(err.Error(), "CROWDGATE_SECRET_KEY") {
		t.Errorf("secret of directory 7 opened for directory 8: %v", err)
	}
	// A restarted process reads the generated file.
	again := newSecretKeys(config.Config{Store: store.Config{URL: "file:" + filepath.Join(dir, "db", "crowdgate.db") + "?x=1"}}, log)
	if got, err := again.openSecret(7, graphsync.KeyClientSecret, sealed); err != nil || got != "s" {
		t.Errorf("after restart: %q %v", got, err)
	}
	// Setting a key later keeps the generated one for decryption.
	withKey := newSecretKeys(config.Config{Store: store.Config{URL: filepath.Join(dir, "db", "crowdgate.db")}, Secrets: config.SecretConfig{Key: randomKey(t)}}, log)
	if got, err := withKey.openSecret(7, graphsync.KeyClientSecret, sealed); err != nil || got != "s" {
		t.Errorf("generated key as previous: %q %v", got, err)
	}

	pg := newSecretKeys(config.Config{Store: store.Config{URL: "postgres://x@127.0.0.1/db"}}, log)
	if _, err := pg.SealSecret(context.Background(), 1, graphsync.KeyClientSecret, "s"); !errors.Is(err, errNoSecretKey) || !strings.Contains(err.Error(), "CROWDGATE_SECRET_KEY") {
		t.Errorf("postgres without key: %v", err)
	}
	if _, err := pg.openSecret(7, graphsync.KeyClientSecret, sealed); err == nil || !strings.Contains(err.Error(), "CROWDGATE_SECRET_KEY") {
		t.Errorf("postgres, sealed secret, no key: %v", err)
	}
	wrong := newSecretKeys(config.Config{Store: store.Config{URL: "postgres://x@127.0.0.1/db"}, Secrets: config.SecretConfig{Key: randomKey(t)}}, log)
	if _, err := wrong.openSecret(7, graphsync.KeyClientSecret, sealed); err == nil || !strings.Contains(err.Error(), "CROWDGATE_SECRET_KEY") || !strings.Contains(err.Error(), "PREVIOUS_KEYS") {
		t.Errorf("wrong key: %v", err)
	}
	missing := newSecretKeys(config.Config{Store: store.Config{URL: "postgres://x@127.0.0.1/db"}, Secrets: config.SecretConfig{KeyFile: filepath.Join(dir, "nope")}}, log)
	if _, err := missing.load(false); err == nil || !strings.Contains(err.Error(), "CROWDGATE_SECRET_KEY_FILE") {
		t.Errorf("missing key file: %v", err)
	}
}

// TestServeRefusesUnreadableKeyFile: a configured key file that cannot be read stops the start.
func TestServeRefusesUnreadableKeyFile(t *testing.T) {
	e := dbEnv(t, "sqlite").with("CROWDGATE_LISTEN", "127.0.0.1:0", "CROWDGATE_SECRET_KEY_FILE", filepath.Join(t.TempDir(), "missing.key"))
	r := runCmd(t, e, "", "serve")
	if r.err == nil || !strings.Contains(r.err.Error(), "CROWDGATE_SECRET_KEY_FILE") {
		t.Fatalf("serve with a missing key file: %v", r.err)
	}
}

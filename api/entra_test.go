package api_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/graphsync"
)

// TestEntraSettingsOneValidation: the console refuses what the syncer would refuse (an interval over
// a day) with the same words, saves the settings that had no field before, and a stored setting the
// syncer cannot use shows as an error, never "Healthy".
func TestEntraSettingsOneValidation(t *testing.T) {
	h, c := signedIn(t)
	base := "/console/directories/" + itoa(h.entra.ID)
	form := func(kv ...string) url.Values {
		v := url.Values{"tenant_id": {"contoso.onmicrosoft.com"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	r := c.Post(base+"/entra", form("sync_interval", "25h"))
	wantContains(t, c.Follow(r).Body, "The sync interval must be a duration from 1m to 24h, such as 30m or 1h.")
	d, _ := h.st.Directory(context.Background(), h.entra.ID)
	if strings.Contains(d.Config, "25h") {
		t.Fatalf("a 25h interval was saved: %s", d.Config)
	}

	r = c.Post(base+"/entra", form("sync_interval", "2h", "user_removal", "delete", "username_source", "mail", "exclude_guests", "on"))
	wantStatus(t, r, http.StatusSeeOther)
	d, _ = h.st.Directory(context.Background(), h.entra.ID)
	set, err := graphsync.ParseSettings(d.Config)
	if err != nil || set.UserRemoval != graphsync.RemovalDelete || set.UsernameSource != graphsync.UsernameMail || !set.ExcludeGuests ||
		set.SyncInterval != "2h" || set.ClientSecret != "s3cr3t-value" {
		t.Fatalf("saved %+v (%v)", set, err)
	}
	if e := h.lastAudit("DIRECTORY_IDP_SETTINGS_CHANGED"); e.Details != `{"changed":["exclude_guests","sync_interval","user_removal","username_source"]}` {
		t.Errorf("audit details %s", e.Details)
	}
	page := c.Get(base).Body
	wantContains(t, page, `<option value="delete" selected>`, `<option value="mail" selected>`, `name="exclude_guests" checked`)

	// A run succeeded, so the directory would look healthy; the stored settings (changed behind the
	// console's back) are ones the syncer refuses.
	h.sync.SyncNow(context.Background(), h.entra.ID, false)
	for h.sync.step() {
	}
	wantContains(t, c.Get(base).Body, "Healthy")
	d.Config = strings.Replace(d.Config, `"2h"`, `"48h"`, 1)
	if _, err := h.st.UpdateDirectory(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	page = c.Get(base).Body
	wantContains(t, page, "Not synchronising: invalid settings", "These settings cannot be used")
	if strings.Contains(page, "Healthy") {
		t.Error("a directory whose settings the syncer refuses is shown healthy")
	}
}

// TestStoppedSyncerNotHealthy: when the synchroniser reports the directory stopped, the badge says
// so, with the reason, whatever the last run did.
func TestStoppedSyncerNotHealthy(t *testing.T) {
	h, c := signedIn(t)
	base := "/console/directories/" + itoa(h.entra.ID)
	h.sync.SyncNow(context.Background(), h.entra.ID, false)
	for h.sync.step() {
	}
	h.sync.mu.Lock()
	h.sync.progress[h.entra.ID] = api.SyncProgress{Stopped: true, Error: `directory "Contoso Entra ID": the client secret cannot be decrypted`}
	h.sync.mu.Unlock()
	page := c.Get(base).Body
	wantContains(t, page, ">Not synchronising<", "the client secret cannot be decrypted")
	if strings.Contains(page, "Healthy") {
		t.Error("a stopped syncer is shown healthy")
	}
	wantContains(t, c.Get("/console/directories").Body, "Not synchronising")
}

// TestFullSyncNow: the "Full sync now" button asks for a full round, needs a recent sign-in and is
// audited.
func TestFullSyncNow(t *testing.T) {
	h, c := signedIn(t)
	base := "/console/directories/" + itoa(h.entra.ID)
	wantContains(t, c.Get(base).Body, `id="full-sync-now"`)
	h.age(11 * time.Minute)
	r := c.Post(base+"/sync", url.Values{"full": {"1"}})
	if !strings.HasPrefix(r.Header.Get("Location"), "/console/reauth") {
		t.Errorf("stale full sync went to %q", r.Header.Get("Location"))
	}
	if len(h.sync.fulls) != 0 {
		t.Fatal("a full sync started without a recent sign-in")
	}
	h.age(-11 * time.Minute)
	r = c.Post(base+"/sync", url.Values{"full": {"1"}})
	wantContains(t, c.Follow(r).Body, "Full sync started.")
	if !slices.Equal(h.sync.fulls, []int64{h.entra.ID}) {
		t.Errorf("full rounds asked for %v", h.sync.fulls)
	}
	if e := h.lastAudit("FULL_SYNC_REQUESTED"); e.Actor != "admin" || e.Outcome != "SUCCESS" {
		t.Errorf("audit %+v", e)
	}
}

// postMultipart posts fields and one file as multipart/form-data, as the connection form does.
func postMultipart(c *client, path string, fields map[string]string, fileField, fileName string, file []byte) response {
	c.T.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fields["_csrf"] = c.CSRF()
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			c.T.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile(fileField, fileName)
	if err != nil {
		c.T.Fatal(err)
	}
	if _, err := fw.Write(file); err != nil {
		c.T.Fatal(err)
	}
	if err := w.Close(); err != nil {
		c.T.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, c.Base+path, &body)
	if err != nil {
		c.T.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.Do(req)
}

// TestEntraCertificateUpload: a certificate file uploaded with the form is stored (PEM as text, a
// PFX in base64), never shown again, and kept when the form is saved without a file.
func TestEntraCertificateUpload(t *testing.T) {
	h, c := signedIn(t)
	base := "/console/directories/" + itoa(h.entra.ID)
	pem := "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIIEsecretkey\n-----END PRIVATE KEY-----\n"
	fields := func() map[string]string {
		return map[string]string{"tenant_id": "contoso.onmicrosoft.com", "client_id": "c", "credential": "certificate", "certificate_password": "pw"}
	}
	r := postMultipart(c, base+"/entra", fields(), "certificate", "app.pem", []byte(pem))
	wantContains(t, c.Follow(r).Body, "Entra ID settings saved.")
	d, _ := h.st.Directory(context.Background(), h.entra.ID)
	s, err := graphsync.ParseSettings(d.Config)
	if err != nil || s.CredentialKind() != graphsync.CredentialCertificate || s.Certificate != pem || s.CertificatePassword != "pw" {
		t.Fatalf("stored %+v (%v)", s, err)
	}
	page := c.Get(base).Body
	wantContains(t, page, "A certificate is stored.", `<option value="certificate" selected>`)
	if strings.Contains(page, "MIIEsecretkey") {
		t.Error("the page shows the private key")
	}
	// Saved again without a file: the certificate stays; a PFX replaces it in base64.
	wantStatus(t, postMultipart(c, base+"/entra", fields(), "certificate", "", nil), http.StatusSeeOther)
	if d, _ := h.st.Directory(context.Background(), h.entra.ID); !strings.Contains(d.Config, "MIIEsecretkey") {
		t.Error("saving without a file dropped the certificate")
	}
	pfx := []byte{0x30, 0x82, 0x0a, 0x00, 0xff, 0x00}
	wantStatus(t, postMultipart(c, base+"/entra", fields(), "certificate", "app.pfx", pfx), http.StatusSeeOther)
	d, _ = h.st.Directory(context.Background(), h.entra.ID)
	s, _ = graphsync.ParseSettings(d.Config)
	if b, err := graphsync.CertificateFile(s.Certificate); err != nil || !bytes.Equal(b, pfx) {
		t.Errorf("PFX stored as %q (%v)", s.Certificate, err)
	}
	// Too big: refused, nothing changed.
	before := d.Config
	r = postMultipart(c, base+"/entra", fields(), "certificate", "big.pfx", bytes.Repeat([]byte{1}, 65<<10))
	wantContains(t, c.Follow(r).Body, "Nothing was saved: the certificate file is larger than 64 KiB.")
	if d, _ := h.st.Directory(context.Background(), h.entra.ID); d.Config != before {
		t.Error("a refused upload changed the settings")
	}
}

// TestApplyHeld: a run held by the mass-change guard is shown with "Apply anyway", which needs a
// recent sign-in, is audited, and applies it.
func TestApplyHeld(t *testing.T) {
	h, c := signedIn(t)
	base := "/console/directories/" + itoa(h.entra.ID)
	if strings.Contains(c.Get(base).Body, `id="apply-held"`) {
		t.Fatal("apply-held offered with nothing held")
	}
	h.sync.mu.Lock()
	h.sync.progress[h.entra.ID] = api.SyncProgress{Held: "it would deactivate 812 of 900 users"}
	h.sync.mu.Unlock()
	wantContains(t, c.Get(base).Body, `id="apply-held"`, "it would deactivate 812 of 900 users", "Run held: review it")
	h.age(11 * time.Minute)
	r := c.Post(base+"/apply-held", nil)
	if !strings.HasPrefix(r.Header.Get("Location"), "/console/reauth") || len(h.sync.applied) != 0 {
		t.Fatalf("stale apply-held went to %q, applied %v", r.Header.Get("Location"), h.sync.applied)
	}
	h.age(-11 * time.Minute)
	wantContains(t, c.Follow(c.Post(base+"/apply-held", nil)).Body, "The held run is being applied.")
	if !slices.Equal(h.sync.applied, []int64{h.entra.ID}) {
		t.Errorf("applied %v", h.sync.applied)
	}
	if e := h.lastAudit("SYNC_HELD_APPLIED"); e.Actor != "admin" || e.Outcome != "SUCCESS" {
		t.Errorf("audit %+v", e)
	}
	wantContains(t, c.Follow(c.Post(base+"/apply-held", nil)).Body, "The held run could not be applied: directory")
}

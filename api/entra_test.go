package api_test

import (
	"context"
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
	h := newHarness(t)
	c := h.loggedIn()
	base := "/console/directories/" + itoa(h.entra.ID)
	form := func(kv ...string) url.Values {
		v := url.Values{"tenant_id": {"contoso.onmicrosoft.com"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	r := c.post(base+"/entra", form("sync_interval", "25h"))
	wantContains(t, c.follow(r).Body, "The sync interval must be a duration from 1m to 24h, such as 30m or 1h.")
	d, _ := h.st.Directory(context.Background(), h.entra.ID)
	if strings.Contains(d.Config, "25h") {
		t.Fatalf("a 25h interval was saved: %s", d.Config)
	}

	r = c.post(base+"/entra", form("sync_interval", "2h", "user_removal", "delete", "username_source", "mail", "exclude_guests", "on"))
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
	page := c.get(base).Body
	wantContains(t, page, `<option value="delete" selected>`, `<option value="mail" selected>`, `name="exclude_guests" checked`)

	// A run succeeded, so the directory would look healthy; the stored settings (changed behind the
	// console's back) are ones the syncer refuses.
	h.sync.SyncNow(context.Background(), h.entra.ID, false)
	for h.sync.step() {
	}
	wantContains(t, c.get(base).Body, "Healthy")
	d.Config = strings.Replace(d.Config, `"2h"`, `"48h"`, 1)
	if _, err := h.st.UpdateDirectory(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	page = c.get(base).Body
	wantContains(t, page, "Not synchronising: invalid settings", "These settings cannot be used")
	if strings.Contains(page, "Healthy") {
		t.Error("a directory whose settings the syncer refuses is shown healthy")
	}
}

// TestStoppedSyncerNotHealthy: when the synchroniser reports the directory stopped, the badge says
// so, with the reason, whatever the last run did.
func TestStoppedSyncerNotHealthy(t *testing.T) {
	h := newHarness(t)
	c := h.loggedIn()
	base := "/console/directories/" + itoa(h.entra.ID)
	h.sync.SyncNow(context.Background(), h.entra.ID, false)
	for h.sync.step() {
	}
	h.sync.mu.Lock()
	h.sync.progress[h.entra.ID] = api.SyncProgress{Stopped: true, Error: `directory "Contoso Entra ID": the client secret cannot be decrypted`}
	h.sync.mu.Unlock()
	page := c.get(base).Body
	wantContains(t, page, ">Not synchronising<", "the client secret cannot be decrypted")
	if strings.Contains(page, "Healthy") {
		t.Error("a stopped syncer is shown healthy")
	}
	wantContains(t, c.get("/console/directories").Body, "Not synchronising")
}

// TestFullSyncNow: the "Full sync now" button asks for a full round, needs a recent sign-in and is
// audited.
func TestFullSyncNow(t *testing.T) {
	h := newHarness(t)
	c := h.loggedIn()
	base := "/console/directories/" + itoa(h.entra.ID)
	wantContains(t, c.get(base).Body, `id="full-sync-now"`)
	h.age(11 * time.Minute)
	r := c.post(base+"/sync", url.Values{"full": {"1"}})
	if !strings.HasPrefix(r.Header.Get("Location"), "/console/reauth") {
		t.Errorf("stale full sync went to %q", r.Header.Get("Location"))
	}
	if len(h.sync.fulls) != 0 {
		t.Fatal("a full sync started without a recent sign-in")
	}
	h.age(-11 * time.Minute)
	r = c.post(base+"/sync", url.Values{"full": {"1"}})
	wantContains(t, c.follow(r).Body, "Full sync started.")
	if !slices.Equal(h.sync.fulls, []int64{h.entra.ID}) {
		t.Errorf("full rounds asked for %v", h.sync.fulls)
	}
	if e := h.lastAudit("FULL_SYNC_REQUESTED"); e.Actor != "admin" || e.Outcome != "SUCCESS" {
		t.Errorf("audit %+v", e)
	}
}

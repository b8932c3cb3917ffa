package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestReauthenticationAsksTheIdP: an administrator who signed in with SAML re-authenticates
// through the SAML sign-in with reauth=1, which makes crowdgate's SP send ForceAuthn; a plain
// sign-in link would let the IdP sign the administrator back in from its own session.
func TestReauthenticationAsksTheIdP(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.LoginURL = "/sso/login" })
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
	// An Entra administrator: a member of the group bound by object id.
	admins := storetest.Must(h.st.CreateGroup(ctx, store.NewGroup{DirectoryID: h.entra.ID, Name: "IT operations", ExternalID: adminsObjectID, Active: true}))
	u := storetest.Must(h.st.CreateUser(ctx, store.NewUser{DirectoryID: h.entra.ID, Name: "eve@contoso.example", ExternalID: "0b5c4f0e-1111-2222-3333-444455556666", Active: true}))
	if err := h.st.AddUserToGroup(ctx, u.ID, admins.ID); err != nil {
		t.Fatal(err)
	}
	_, token, err := h.st.CreateSession(ctx, store.NewSession{UserID: u.ID, Kind: store.SessionConsole})
	if err != nil {
		t.Fatal(err)
	}
	c := h.client()
	su, _ := url.Parse(h.srv.URL + "/console/")
	c.HTTP.Jar.SetCookies(su, []*http.Cookie{{Name: api.DefaultSessionCookie, Value: token, Path: "/console"}})
	h.age(api.DefaultReauthAge + 1)

	want := "/sso/login?dest=" + url.QueryEscape("/console/applications") + "&reauth=1"
	page := c.Get("/console/reauth?next=" + url.QueryEscape("/console/applications"))
	if page.Status != http.StatusOK || !strings.Contains(page.Body, strings.ReplaceAll(want, "&", "&amp;")) {
		t.Errorf("reauth page %d does not link to %s:\n%s", page.Status, want, page.Body)
	}
	r := c.Post("/console/reauth", url.Values{"next": {"/console/applications"}})
	if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || loc != want {
		t.Errorf("POST /console/reauth: %d to %q, want 303 to %q", r.Status, loc, want)
	}
}

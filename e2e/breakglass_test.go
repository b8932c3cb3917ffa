package e2e_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crowdgate/crowdgate/internal/chromium"
	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestBreakGlassRedirectUnderCSP: the break-glass form posts to crowdgate, whose answer
// redirects to the application on another origin. Chromium applies the page's CSP form-action
// to that redirect too, so the redirect must be allowed by it: the administrator lands on Jira,
// signed in.
func TestBreakGlassRedirectUnderCSP(t *testing.T) {
	waitBrowser := chromium.Start(t, 1280, 800)
	const rootPassword = "break-glass-password-1"
	e := newEnvWith(t, func(c *saml.Config) {
		c.BreakGlass, c.BreakGlassGroup = true, "crowdgate-breakglass"
	})
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
	internal := storetest.Must(e.st.EnsureInternalDirectory(ctx))
	bg := storetest.Must(e.st.CreateGroup(ctx, store.NewGroup{DirectoryID: internal.ID, Name: "crowdgate-breakglass", Active: true}))
	root := storetest.Must(e.st.CreateUser(ctx, store.NewUser{DirectoryID: internal.ID, Name: "root", Password: rootPassword, Active: true}))
	if err := e.st.AddUserToGroup(ctx, root.ID, bg.ID); err != nil {
		t.Fatal(err)
	}
	mappings := append(e.app.Mappings, store.Mapping{DirectoryID: internal.ID, Groups: []string{"crowdgate-breakglass"}})
	if _, err := e.st.UpdateApplication(ctx, e.app.ID, store.ApplicationChange{Mappings: &mappings}); err != nil {
		t.Fatal(err)
	}
	browser := waitBrowser()
	tb := newTab(t, browser, newShots(t))
	dashboard := e.jiraURL + "/secure/Dashboard.jspa"
	tb.navigate("open the break-glass page", e.ssoURL+"/sso/breakglass?app=jira&dest=/secure/Dashboard.jspa")
	tb.waitFor("the break-glass form", hasText("Emergency sign-in"))
	tb.do("sign in with the local password",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "root"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), rootPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
	tb.waitFor("Jira, signed in as root", both(at(dashboard), hasText("Signed in as root")))
}

package api_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crowdgate/crowdgate/internal/chromium"
	"github.com/crowdgate/crowdgate/store"
)

var updateDocs = flag.Bool("update-docs", false, "write the overview screenshot to docs/console-overview.png")

// screenshots keeps the PNGs of a browser test in CROWDGATE_SCREENSHOTS, or a temporary directory.
type screenshots struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newScreenshots(t *testing.T, ctx context.Context) *screenshots {
	t.Helper()
	dir := os.Getenv("CROWDGATE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &screenshots{t: t, ctx: ctx, dir: dir}
}

func (s *screenshots) take(name string) []byte {
	s.t.Helper()
	if _, err := chromedp.Run(s.ctx, chromedp.Evaluate[chromedp.Void]("window.scrollTo(0, 0)")); err != nil {
		s.t.Fatalf("scroll: %v", err)
	}
	png, err := chromedp.Run(s.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		s.t.Fatalf("screenshot %s is not a PNG", name)
	}
	s.t.Logf("%s: screenshot %s", time.Now().Format("15:04:05.000"), name)
	p := filepath.Join(s.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		s.t.Fatal(err)
	}
	return png
}

// textOf is the text of the element sel selects.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// TestBrowser drives the console in headless Chromium through an administrator's day: sign in,
// add Jira and choose its licence group, find out why a user may use Jira, revoke a session, and
// run a sync while watching its progress.
func TestBrowser(t *testing.T) {
	waitBrowser := chromium.Start(t, 1440, 1000)
	h := newHarness(t)
	f := newFixture(h)
	h.addUser(h.entra.ID, "bob.smith@contoso.com", f.team.ID)
	h.addUser(h.dir.ID, "svc-jira")
	for _, n := range []string{"carol", "dan", "erin", "frank", "grace", "heidi", "ivan"} {
		h.addUser(h.entra.ID, n+"@contoso.com", f.team.ID)
	}
	ctx, cancel := context.WithTimeout(waitBrowser(), 120*time.Second) // about 30 s on an idle 2-core machine
	defer cancel()
	shots := newScreenshots(t, ctx)
	defer func() { t.Logf("screenshots in %s", shots.dir) }()
	base := h.srv.URL + "/console"
	text := func(sel string) string {
		t.Helper()
		return textOf(t, ctx, sel)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		t.Logf("%s: %s", time.Now().Format("15:04:05.000"), what)
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitFor polls a JavaScript predicate until it holds, across the page's own reloads.
	waitFor := func(what, expr string, timeout time.Duration) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			left := time.Until(deadline)
			_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(left)))
			if err == nil {
				return
			}
			if left <= 0 || ctx.Err() != nil || !strings.Contains(err.Error(), "navigated") && !strings.Contains(err.Error(), "context") {
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
	// submit clicks a button that posts a form and waits for the next page.
	submit := func(what string, sel string) {
		t.Helper()
		t.Logf("%s: %s", time.Now().Format("15:04:05.000"), what)
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Sign in through the break-glass page.
	do("open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("username")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/console/login?next=") {
		t.Fatalf("not sent to sign in: %s", loc)
	}
	shots.take("01-login")
	do("fill the sign-in form", chromedp.SetValue(chromedp.ID("username"), "admin"), chromedp.SetValue(chromedp.ID("password"), adminPassword))
	submit("sign in", "#signin")
	if got := text("h1"); got != "Overview" {
		t.Fatalf("after sign-in the page says %q", got)
	}

	// Add Jira, then keep only the Entra directory's licence group.
	do("open the new application form", chromedp.Navigate(base+"/applications/new"), chromedp.WaitVisible(chromedp.ID("app-name")))
	do("fill it", chromedp.SetValue(chromedp.ID("app-name"), "jira"), chromedp.SetValue(chromedp.ID("app-groups"), "jira-software-users"))
	shots.take("02-application-new")
	submit("create the application", "#create-application")
	credential := text("#credential")
	if _, err := h.st.AuthenticateApplication(context.Background(), "jira", strings.TrimSpace(credential)); err != nil {
		t.Fatalf("the credential shown (%q) does not authenticate: %v", credential, err)
	}
	wantContains(t, text("#snippets"), "SSOSeraphAuthenticator", "application.name")
	shots.take("03-application-credential")
	submit("continue", "#continue")
	app, err := h.st.ApplicationByName(context.Background(), "jira")
	if err != nil {
		t.Fatal(err)
	}
	groups := fmt.Sprintf("#groups_%d", h.entra.ID)
	do("set the allowed groups", chromedp.SetValue(chromedp.CSS(groups), "jira-software-users\nconfluence-users"))
	submit("save the mappings", "#save-mappings")
	wantContains(t, text(".flash"), "allowed groups saved")
	app, _ = h.st.Application(context.Background(), app.ID)
	if len(app.Mappings) != 2 || strings.Join(app.Mappings[1].Groups, ",") != "confluence-users,jira-software-users" {
		t.Fatalf("mappings after saving: %+v", app.Mappings)
	}
	// A licence limit of 10 for 9 licensed users: the warning shows.
	do("set the licence limit", chromedp.SetValue(chromedp.CSS(`#settings input[name="licence_limit"]`), "10"))
	submit("save the settings", `#settings button[type="submit"]`)
	wantContains(t, text(".callout.warn"), "Near the licence limit", "9 of 10")
	shots.take("04-application")

	// Find alice and see why she may use Jira.
	sso, _, err := h.st.CreateSession(h.ctx(), store.NewSession{Kind: store.SessionSSO, UserID: f.alice.ID, ApplicationID: app.ID, RemoteAddress: "198.51.100.23"})
	if err != nil {
		t.Fatal(err)
	}
	do("search for alice", chromedp.Navigate(base+"/users"), chromedp.SetValue(chromedp.ID("q"), "alice"))
	submit("search", "#search")
	wantContains(t, text("#users"), "alice@contoso.com")
	submit("open alice", `#users a[href$="/users/`+itoa(f.alice.ID)+`"]`)
	why := text(`tr[data-app="jira"] .why`)
	wantContains(t, why, "member of jira-software-users", "through team-a", "Contoso Entra ID")
	shots.take("05-user-why")

	// Revoke her session from her page.
	submit("revoke the session", fmt.Sprintf(`tr[data-session="%d"] button`, sso.ID))
	wantContains(t, text(".flash"), "Session revoked")
	if live, _ := h.st.ListSessions(context.Background(), store.SessionFilter{UserID: f.alice.ID}); len(live) != 0 {
		t.Fatalf("sessions after revocation: %+v", live)
	}
	do("open sessions", chromedp.Navigate(base+"/sessions"), chromedp.WaitVisible(chromedp.CSS("table")))
	shots.take("06-sessions")

	// Run a sync and watch it: the fake synchroniser advances when the test says, so the page is
	// seen running at 25 % before the run ends, however slow the machine.
	do("open the Entra directory", chromedp.Navigate(fmt.Sprintf("%s/directories/%d", base, h.entra.ID)), chromedp.WaitVisible(chromedp.ID("sync-now")))
	do("fill the Entra settings", chromedp.SetValue(chromedp.CSS(`input[name="client_id"]`), "0d4b1c5e-93a2-4a57-9f0e-2c1f7a3b6d88"),
		chromedp.SetValue(chromedp.CSS(`input[name="sync_interval"]`), "30m"))
	submit("save the Entra settings", `#entra button[type="submit"]`)
	wantContains(t, text(".flash"), "Entra ID settings saved")
	submit("sync now", "#sync-now")
	waitFor("the run shown", `document.getElementById('progress') && !document.getElementById('progress').hidden`, 10*time.Second)
	h.sync.step()
	waitFor("progress at 25 %", `document.querySelector('#progress progress').value >= 25`, 10*time.Second)
	shots.take("07-sync-running")
	for h.sync.step() {
	}
	// The page reloads itself when the run ends; the history then shows it.
	waitFor("the finished run", `(function(){var r=document.querySelector('#run-history tbody tr'); var h=document.getElementById('health'); return r && r.textContent.indexOf('success') >= 0 && h && h.textContent === 'Healthy';})()`, 15*time.Second)
	wantContains(t, text("#run-history"), "full", "3 / 0 / 0")
	shots.take("08-sync-finished")

	// The other pages render in the browser with their key content.
	for _, p := range []struct{ path, sel, want string }{
		{"/groups/" + itoa(f.licensed.ID), "#grants", "jira"},
		{"/access", "#access-report", "alice@contoso.com"},
		{"/audit", "table", "SESSION_DELETED"},
		{"/directories", "table", "Healthy"},
		{"/applications", "#applications", "jira"},
	} {
		do("open "+p.path, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.sel)))
		wantContains(t, text(p.sel), p.want)
		shots.take("09" + strings.ReplaceAll(strings.Split(p.path, "?")[0], "/", "-"))
	}
	do("open the overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("applications")))
	wantContains(t, text("#directories"), "Contoso Entra ID", "Healthy")
	wantContains(t, text("#applications"), "jira")
	png := shots.take("10-overview")
	if *updateDocs {
		if err := os.MkdirAll(filepath.Join("..", "docs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "console-overview.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSeatsBrowser shows the licence insight in Chromium: the overview's seats tile, the seats
// page with the group each seat is held through and the inactive ones, and a user's last sign-in
// per application.
func TestSeatsBrowser(t *testing.T) {
	waitBrowser := chromium.Start(t, 1440, 1000)
	h := newHarness(t)
	f := newSeatsFixture(t, h)
	ctx, cancel := context.WithTimeout(waitBrowser(), 90*time.Second)
	defer cancel()
	shots := newScreenshots(t, ctx)
	base := h.srv.URL + "/console"
	text := func(sel string) string {
		t.Helper()
		return strings.Join(strings.Fields(textOf(t, ctx, sel)), " ")
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("username")))
	do("sign in", chromedp.SetValue(chromedp.ID("username"), "admin"), chromedp.SetValue(chromedp.ID("password"), adminPassword))
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#signin"))); err != nil {
		t.Fatal(err)
	}

	// Overview: 3 of 5 seats in use, 2 inactive.
	do("overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("seats")))
	tile := text(`tr.seat-summary[data-app="jira"]`)
	wantContains(t, tile, "3 / 5")
	if inactive := text(`tr.seat-summary[data-app="jira"] td.num`); inactive != "2" {
		t.Errorf("inactive on the overview: %q (row %q)", inactive, tile)
	}
	shots.take("seats-01-overview")

	// The application's page leads to its seats.
	do("application", chromedp.Navigate(base+"/applications/"+itoa(f.app.ID)), chromedp.WaitVisible(chromedp.ID("app-seats")))
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("app-seats"))); err != nil {
		t.Fatal(err)
	}
	wantContains(t, text("#seats-in-use"), "3 / 5")
	wantContains(t, text("#seats-inactive"), "2", "90 days")
	wantContains(t, text(`tr.seat[data-user="alice@contoso.com"]`), "team-a (in jira-software-users)", "1 h ago", "active")
	wantContains(t, text(`tr.seat[data-user="carol@contoso.com"]`), "jira-software-users", "inactive")
	wantContains(t, text(`tr.seat[data-user="mallory@contoso.com"]`), "never", "inactive")
	shots.take("seats-02-seats")

	// Only the inactive ones, after 200 days: mallory alone.
	do("only inactive", chromedp.SetValue(chromedp.CSS(`#seats input[name="inactive"]`), "200"), chromedp.Click(chromedp.CSS(`#seats input[name="only"]`)))
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#seats button[type="submit"]`))); err != nil {
		t.Fatal(err)
	}
	if rows := text("#seats tbody"); !strings.Contains(rows, "mallory@contoso.com") || strings.Contains(rows, "carol@contoso.com") {
		t.Errorf("inactive for 200 days: %q", rows)
	}

	// Alice's page: her last sign-in to jira.
	do("alice", chromedp.Navigate(base+"/users/"+itoa(f.alice.ID)), chromedp.WaitVisible(chromedp.ID("sign-ins")))
	wantContains(t, text(`tr.sign-in[data-app="jira"]`), "jira", "1 h ago", "UTC")
	if last := text("#last-sign-in"); !strings.HasSuffix(last, "UTC") {
		t.Errorf("last sign-in on alice's page: %q", last)
	}
	shots.take("seats-03-user")
}

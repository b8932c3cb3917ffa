package api_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crowdgate/crowdgate/internal/chromium"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// seatsFixture: jira licensed to jira-software-users (Entra), limit 5. alice holds a seat through
// team-a (nested) and signed in an hour ago; carol holds one directly and last signed in 120 days
// ago; mallory (a formula for a display name) holds one and never signed in; bob has no seat.
type seatsFixture struct {
	fixture
	app            store.Application
	carol, mallory store.User
}

func newSeatsFixture(t *testing.T, h *harness) seatsFixture {
	t.Helper()
	f := seatsFixture{fixture: newFixture(h)}
	f.carol = h.addUser(h.entra.ID, "carol@contoso.com", f.licensed.ID)
	f.mallory = storetest.Must(h.st.CreateUser(h.ctx(), store.NewUser{DirectoryID: h.entra.ID, Name: "mallory@contoso.com",
		DisplayName: "=HYPERLINK(\"http://evil.example\")", Email: "mallory@contoso.com", Active: true}))
	if err := h.st.AddUserToGroup(h.ctx(), f.mallory.ID, f.licensed.ID); err != nil {
		t.Fatal(err)
	}
	f.app = storetest.Must(h.st.CreateApplication(h.ctx(), store.NewApplication{Name: "jira", Password: "jira-secret-1", Active: true,
		Kind: store.AppJira, LicenceLimit: 5, Mappings: []store.Mapping{{DirectoryID: h.entra.ID, Groups: []string{"jira-software-users"}}}}))
	signIn := func(u store.User, at time.Time) {
		h.st.SetClock(func() time.Time { return at })
		defer h.st.SetClock(time.Now)
		if _, _, err := h.st.CreateSession(h.ctx(), store.NewSession{Kind: store.SessionSSO, UserID: u.ID, ApplicationID: f.app.ID}); err != nil {
			t.Fatal(err)
		}
	}
	signIn(f.carol, time.Now().Add(-120*24*time.Hour))
	if _, err := h.st.FlushAuthentications(h.ctx()); err != nil {
		t.Fatal(err)
	}
	signIn(f.alice, time.Now().Add(-time.Hour)) // still pending: the pages show it all the same
	return f
}

// TestSeatsCSV: the export lists every seat with the group it is held through, the last sign-in
// and whether it is inactive, with formulas neutralised; only=inactive and inactive=N filter.
func TestSeatsCSV(t *testing.T) {
	h := newHarness(t)
	f := newSeatsFixture(t, h)
	c := h.loggedIn()
	rows := func(query string) [][]string {
		t.Helper()
		r := c.Get("/console/applications/" + itoa(f.app.ID) + "/seats.csv" + query)
		wantStatus(t, r, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		recs, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs[1:] {
			if rec[8] != "" { // times vary: keep the date's presence only
				rec[8] = "T"
			}
		}
		return recs
	}
	got := rows("")
	want := [][]string{
		{"application", "user", "display_name", "email", "directory", "held_through", "allowed_group", "via", "last_sign_in", "inactive"},
		{"jira", "alice@contoso.com", "Alice", "alice@contoso.com", "Contoso Entra ID", "team-a", "jira-software-users", "team-a", "T", "false"},
		{"jira", "carol@contoso.com", "Carol", "carol@contoso.com", "Contoso Entra ID", "jira-software-users", "jira-software-users", "", "T", "true"},
		{"jira", "mallory@contoso.com", `'=HYPERLINK("http://evil.example")`, "mallory@contoso.com", "Contoso Entra ID", "jira-software-users", "jira-software-users", "", "", "true"},
	}
	if strings.Join(flat(got), "|") != strings.Join(flat(want), "|") {
		t.Errorf("CSV:\n%q\nwant\n%q", got, want)
	}
	if got := rows("?only=inactive&inactive=200"); len(got) != 2 || got[1][1] != "mallory@contoso.com" {
		t.Errorf("inactive for 200 days: %q", got)
	}
	wantStatus(t, c.Get("/console/applications/"+itoa(f.app.ID)+"/seats.csv?inactive=0"), http.StatusBadRequest)
}

func flat(recs [][]string) []string {
	var out []string
	for _, r := range recs {
		out = append(out, strings.Join(r, ","))
	}
	return out
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
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.Join(strings.Fields(s), " ")
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

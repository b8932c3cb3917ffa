package main

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestReportSeatsMatchesCrowdAPI: `crowdgate report seats jira` lists exactly the users the Crowd
// API lets authenticate to jira (members of its licence group, nested included, and active), each
// with the group the seat is held through and the sign-in the API just recorded, written behind at
// the server's shutdown.
func TestReportSeatsMatchesCrowdAPI(t *testing.T) {
	e := dbEnv(t, storetest.Dialect()).with("CROWDGATE_LISTEN", "127.0.0.1:0")
	srv := startServer(t, e)
	base := "http://" + srv.addrs.Main
	st := openStore(t, e)
	ctx := t.Context()
	dir := storetest.Must(st.EnsureInternalDirectory(ctx))
	group := func(name string, parent *store.Group) store.Group {
		g := storetest.Must(st.CreateGroup(ctx, store.NewGroup{DirectoryID: dir.ID, Name: name, Active: true}))
		if parent != nil {
			if err := st.AddGroupToGroup(ctx, g.ID, parent.ID); err != nil {
				t.Fatal(err)
			}
		}
		return g
	}
	lic := group("jira-users", nil)
	team := group("team", &lic)
	other := group("other", nil)
	users := map[string]store.Group{"alice": team, "bob": lic, "carol": other, "dave": lic, "=erin": lic}
	for name, g := range users {
		u := storetest.Must(st.CreateUser(ctx, store.NewUser{DirectoryID: dir.ID, Name: name, Active: name != "dave", Password: name + "-password-1"}))
		if err := st.AddUserToGroup(ctx, u.ID, g.ID); err != nil {
			t.Fatal(err)
		}
	}
	storetest.Must(st.CreateApplication(ctx, store.NewApplication{Name: "jira", Password: "jira-secret-1", Active: true, Kind: store.AppJira,
		Mappings: []store.Mapping{{DirectoryID: dir.ID, Groups: []string{"jira-users"}}}}))

	// The Crowd API's view: who may authenticate to jira.
	var allowed []string
	for name := range users {
		r := crowdCall(t, base, "jira", "jira-secret-1", "POST", "/authentication?username="+url.QueryEscape(name), map[string]string{"value": name + "-password-1"})
		switch r.Status {
		case http.StatusOK:
			allowed = append(allowed, name)
		case http.StatusBadRequest:
		default:
			t.Fatalf("authentication of %s: %d %s", name, r.Status, r.Body)
		}
	}
	slices.Sort(allowed)
	if strings.Join(allowed, ",") != "=erin,alice,bob" {
		t.Fatalf("the API let in %v", allowed)
	}
	if err := srv.stop(); err != nil { // writes the sign-ins behind
		t.Fatal(err)
	}

	out := mustRun(t, e, "", "report", "seats", "jira", "--inactive", "30d").stdout
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var seats []string
	for _, r := range recs[1:] {
		name := strings.TrimPrefix(r[1], "'") // formula-neutralised
		seats = append(seats, name)
		if r[8] == "" || r[9] != "false" {
			t.Errorf("seat of %s: last sign-in %q, inactive %q", name, r[8], r[9])
		}
		if want := users[name].Name; r[5] != want {
			t.Errorf("seat of %s held through %q, want %q", name, r[5], want)
		}
	}
	if strings.Join(seats, ",") != strings.Join(allowed, ",") {
		t.Errorf("report seats: %v; the Crowd API authenticates %v\n%s", seats, allowed, out)
	}
	if !strings.Contains(out, "\njira,'=erin,") {
		t.Errorf("a leading = is not neutralised:\n%s", out)
	}
	if r := runCmd(t, e, "", "report", "seats", "jira", "--inactive", "0d"); r.err == nil {
		t.Error("--inactive 0d accepted")
	}
}

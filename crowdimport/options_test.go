package crowdimport_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/crowdimport"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

func TestOptions(t *testing.T) {
	st := newSQLite(t)
	ctx := context.Background()
	for _, o := range []crowdimport.Options{
		{OtherDirectories: "ldap"},
		{DESKey: []byte("1234")},
		{TargetDirectory: " padded"},
	} {
		if _, err := crowdimport.BackupFile(ctx, golden, st, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	key, err := crowdimport.ParseDESKey("Y3Jvd2RERVM=")
	if err != nil || string(key) != "crowdDES" {
		t.Errorf("ParseDESKey = %q, %v", key, err)
	}
	if _, err := crowdimport.ParseDESKey("Y3Jvd2Q="); err == nil {
		t.Error("a 5-byte key was accepted")
	}
	// An Entra replica cannot receive an import.
	if _, err := st.CreateDirectory(ctx, store.Directory{Name: "Entra", Kind: store.DirectoryAzureAD, Active: true}); err != nil {
		t.Fatal(err)
	}
	_, err = crowdimport.BackupFile(ctx, golden, st, crowdimport.Options{TargetDirectory: "entra"})
	if !errors.Is(err, crowdimport.ErrInvalidInput) || !strings.Contains(err.Error(), `"Entra" exists and is AZURE_AD`) {
		t.Errorf("import into an Entra directory: %v", err)
	}
}

// TestRESTMembershipOfUnlistedUser: a live Crowd may change between requests; a membership naming
// a user that was not listed is skipped and reported, not fatal.
func TestRESTMembershipOfUnlistedUser(t *testing.T) {
	ghost := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasSuffix(r.URL.Path, "/group/membership") {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			body := strings.Replace(rec.Body.String(), "</memberships>",
				`<membership group="team-0001"><users><user name="ghost"/></users><groups></groups></membership></memberships>`, 1)
			w.WriteHeader(rec.Code)
			w.Write([]byte(body))
		})
	}
	src := newCrowdSource(t, "sqlite", ghost)
	dst := storetest.Open(t, "sqlite")
	rep, err := crowdimport.REST(context.Background(), nil, src.url, "migrator", "migrator-secret", dst, crowdimport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.UserMemberships.Skipped != 1 || !strings.Contains(rep.String(), `"ghost in team-0001"`) {
		t.Errorf("report:\n%s", rep)
	}
}

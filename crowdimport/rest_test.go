package crowdimport_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/crowdapi"
	"github.com/crowdgate/crowdgate/crowdimport"
	"github.com/crowdgate/crowdgate/crowdimport/backuptest"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// crowdSource is crowdgate itself playing Crowd: a store filled from a generated backup, served by
// crowdapi over HTTP, with an application "migrator" that sees the internal directory.
type crowdSource struct {
	st  *store.Store
	url string // the context URL, as an operator would give it
}

func newCrowdSource(t *testing.T, dialect string, wrap func(http.Handler) http.Handler) crowdSource {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, dialect)
	input, _ := generate(t, backuptest.Config{Users: 24, Groups: 12, Seed: 5})
	if _, err := crowdimport.Backup(ctx, bytes.NewReader(input), st, crowdimport.Options{}); err != nil {
		t.Fatal(err)
	}
	dir, err := st.DirectoryByName(ctx, backuptest.InternalDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateApplication(ctx, store.NewApplication{Name: "migrator", Password: "migrator-secret", Active: true,
		Mappings: []store.Mapping{{DirectoryID: dir.ID, AllowAll: true}}}); err != nil {
		t.Fatal(err)
	}
	h, err := crowdapi.New(crowdapi.Config{ContextPath: "/crowd"}, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return crowdSource{st: st, url: srv.URL + "/crowd"}
}

func TestREST(t *testing.T) {
	noMembership := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/group/membership") {
				w.Header().Set("X-Embedded-Crowd-Version", "Crowd/2.2.7")
				http.NotFound(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	for _, d := range storetest.Dialects(t) {
		for _, variant := range []struct {
			name string
			wrap func(http.Handler) http.Handler
		}{{"membership=bulk", nil}, {"membership=per-group", noMembership}} {
			t.Run("dialect="+d+"/"+variant.name, func(t *testing.T) {
				ctx := context.Background()
				src := newCrowdSource(t, d, variant.wrap)
				dst := storetest.Open(t, d)
				opts := crowdimport.Options{PageSize: 7, Log: testLog(t)}

				dry := opts
				dry.DryRun = true
				before := takeSnapshot(t, dst)
				rep, err := crowdimport.REST(ctx, nil, src.url, "migrator", "migrator-secret", dst, dry)
				if err != nil {
					t.Fatal(err)
				}
				if after := takeSnapshot(t, dst); !after.equal(before) || rep.Users.Created != 24 {
					t.Fatalf("dry run: store %+v -> %+v; report:\n%s", before, after, rep)
				}

				rep, err = crowdimport.REST(ctx, nil, src.url, "migrator", "migrator-secret", dst, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("report:\n%s", rep)
				if rep.Users.Created != 24 || rep.Directories.Created != 1 || !strings.Contains(rep.String(), "no password hashes travel") {
					t.Errorf("report:\n%s", rep)
				}
				if fallback := strings.Contains(rep.String(), "group by group"); fallback != (variant.wrap != nil) {
					t.Errorf("fallback noted = %v", fallback)
				}
				compareDirectories(t, src.st, directoryView(t, src.st, backuptest.InternalDir), dst, directoryView(t, dst, "Internal"))

				again, err := crowdimport.REST(ctx, nil, src.url, "migrator", "migrator-secret", dst, opts)
				if err != nil {
					t.Fatal(err)
				}
				if again.Changes() != 0 || again.Users.Unchanged != 24 {
					t.Errorf("second run:\n%s", again)
				}
				// No hashes travel over REST: imported users have no password.
				v := directoryView(t, dst, "Internal")
				if _, err := v.Authenticate(ctx, backuptest.UserName(2), backuptest.Password(2)); !errors.Is(err, store.ErrBadCredential) {
					t.Errorf("a REST-imported user signs in with a password: %v", err)
				}
			})
		}
	}
}

// compareDirectories checks two views hold the same users, groups and memberships.
func compareDirectories(t *testing.T, wantSt *store.Store, want *store.View, gotSt *store.Store, got *store.View) {
	t.Helper()
	ctx := context.Background()
	type user struct {
		Name, First, Last, Display, Email, ExternalID string
		Active                                        bool
		Attrs                                         map[string][]string
	}
	type group struct {
		Name, Description string
		Active            bool
		Attrs             map[string][]string
	}
	users := func(v *store.View, st *store.Store) []user {
		us, err := store.Users(func(fn func(store.User) error) error {
			return v.SearchUsers(ctx, store.Restriction{}, store.All, fn)
		})
		return withAttributes(t, us, err, func(u store.User) (map[string][]string, error) { return st.UserAttributes(ctx, u.ID) },
			func(u store.User, attrs map[string][]string) user {
				// Crowd's own attributes (lastAuthenticated, ...) are served from the source's records,
				// not from what it stored: they do not travel as stored attributes.
				maps.DeleteFunc(attrs, func(name string, _ []string) bool { return store.IsCrowdAttribute(name) })
				return user{u.Name, u.FirstName, u.LastName, u.DisplayName, u.Email, u.ExternalID, u.Active, attrs}
			})
	}
	groups := func(v *store.View, st *store.Store) []group {
		gs, err := store.Groups(func(fn func(store.Group) error) error {
			return v.SearchGroups(ctx, store.Restriction{}, store.All, fn)
		})
		return withAttributes(t, gs, err, func(g store.Group) (map[string][]string, error) { return st.GroupAttributes(ctx, g.ID) },
			func(g store.Group, attrs map[string][]string) group {
				return group{g.Name, g.Description, g.Active, attrs}
			})
	}
	memberships := func(v *store.View) []store.Membership {
		var out []store.Membership
		if err := v.Memberships(ctx, func(m store.Membership) error { out = append(out, m); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	wu, gu := users(want, wantSt), users(got, gotSt)
	if len(wu) == 0 {
		t.Fatal("the source has no users")
	}
	if diff := cmp.Diff(wu, gu); diff != "" {
		t.Errorf("users differ (-source +imported):\n%s", diff)
	}
	if diff := cmp.Diff(groups(want, wantSt), groups(got, gotSt)); diff != "" {
		t.Errorf("groups differ (-source +imported):\n%s", diff)
	}
	wm := memberships(want)
	nested := 0
	for _, m := range wm {
		nested += len(m.Groups)
	}
	if nested == 0 {
		t.Fatal("the source has no nested groups")
	}
	if diff := cmp.Diff(wm, memberships(got)); diff != "" {
		t.Errorf("memberships differ (-source +imported):\n%s", diff)
	}
}

// withAttributes turns listed users or groups (es, or the error listing them) into rows, each with
// its stored attributes.
func withAttributes[E, R any](t *testing.T, es []E, err error, attrs func(E) (map[string][]string, error),
	row func(E, map[string][]string) R) []R {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var out []R
	for _, e := range es {
		a, err := attrs(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, row(e, a))
	}
	return out
}

func TestRESTErrors(t *testing.T) {
	ctx := context.Background()
	src := newCrowdSource(t, "sqlite", nil)
	dst := storetest.Open(t, "sqlite")
	before := takeSnapshot(t, dst)

	_, err := crowdimport.REST(ctx, nil, src.url, "migrator", "wrong", dst, crowdimport.Options{})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "check the application name and password") {
		t.Errorf("wrong password: %v", err)
	}
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	_, err = crowdimport.REST(ctx, nil, plain.URL, "migrator", "migrator-secret", dst, crowdimport.Options{})
	if err == nil || !strings.Contains(err.Error(), "does not answer as Crowd's REST API") {
		t.Errorf("not Crowd: %v", err)
	}
	_, err = crowdimport.REST(ctx, nil, "crowd.example.com", "a", "b", dst, crowdimport.Options{})
	if err == nil || !strings.Contains(err.Error(), "absolute http(s) URL") {
		t.Errorf("bad URL: %v", err)
	}
	if after := takeSnapshot(t, dst); !after.equal(before) {
		t.Errorf("failed imports changed the store: %+v -> %+v", before, after)
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
	dst := newSQLite(t)
	rep, err := crowdimport.REST(context.Background(), nil, src.url, "migrator", "migrator-secret", dst, crowdimport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.UserMemberships.Skipped != 1 || !strings.Contains(rep.String(), `"ghost in team-0001"`) {
		t.Errorf("report:\n%s", rep)
	}
}

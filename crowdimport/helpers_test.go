package crowdimport_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// eachDialect runs fn on a fresh store of every dialect storetest offers.
func eachDialect(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) { fn(t, storetest.Open(t, d)) })
	}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// snapshot is what a failed or dry import must leave untouched.
type snapshot struct {
	Directories  []string
	Users        int64
	Applications []string
	Audit        int
}

func takeSnapshot(t *testing.T, st *store.Store) snapshot {
	t.Helper()
	ctx := context.Background()
	var s snapshot
	dirs, err := st.Directories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		s.Directories = append(s.Directories, d.Name)
		n, err := st.UserCount(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		s.Users += n
	}
	apps, err := st.Applications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		s.Applications = append(s.Applications, a.Name)
	}
	audit, err := st.ListAudit(ctx, store.AuditFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	s.Audit = len(audit)
	return s
}

func (s snapshot) equal(o snapshot) bool {
	return slices.Equal(s.Directories, o.Directories) && s.Users == o.Users &&
		slices.Equal(s.Applications, o.Applications) && s.Audit == o.Audit
}

// viewOf returns app's view (by application name).
func viewOf(t *testing.T, st *store.Store, app string) *store.View {
	t.Helper()
	ctx := context.Background()
	a, err := st.ApplicationByName(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.View(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// directoryView returns a view of one directory through a throw-away application.
func directoryView(t *testing.T, st *store.Store, dir string) *store.View {
	t.Helper()
	ctx := context.Background()
	d, err := st.DirectoryByName(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	name := "verify-" + d.LowerName
	if _, err := st.ApplicationByName(ctx, name); store.IsNotFound(err) {
		if _, err := st.CreateApplication(ctx, store.NewApplication{Name: name, Password: "verify-password", Active: true,
			Mappings: []store.Mapping{{DirectoryID: d.ID, AllowAll: true}}}); err != nil {
			t.Fatal(err)
		}
	}
	return viewOf(t, st, name)
}

func newSQLite(t *testing.T) *store.Store { return storetest.Open(t, "sqlite") }

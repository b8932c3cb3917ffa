package migrations_test

import (
	"context"
	"database/sql"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/migrations"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// versions returns the migration versions of a dialect's folder, in order.
func versions(t *testing.T, dialect string) []int64 {
	t.Helper()
	fsys, err := migrations.FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, n := range names {
		v, err := strconv.ParseInt(strings.SplitN(n, "_", 2)[0], 10, 64)
		if err != nil {
			t.Fatalf("%s/%s: no version number: %v", dialect, n, err)
		}
		out = append(out, v)
	}
	return out
}

// TestDialectsCarrySameVersions: every migration exists in both dialects' folders, so a schema
// change cannot reach one database and not the other.
func TestDialectsCarrySameVersions(t *testing.T) {
	pg, lite := versions(t, "postgres"), versions(t, "sqlite")
	if len(pg) == 0 {
		t.Fatal("no migrations")
	}
	if !slices.Equal(pg, lite) {
		t.Errorf("migration versions differ: postgres %v, sqlite %v", pg, lite)
	}
}

// columns lists the schema's tables and columns as "table.column", goose's own table left out.
func columns(t *testing.T, db *sql.DB, dialect string) []string {
	t.Helper()
	q := `SELECT m.name || '.' || p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'goose_db_version'`
	if dialect == "postgres" {
		q = `SELECT table_name || '.' || column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'`
	}
	rows, err := db.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	set := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		set[c] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(set))
}

// TestUpDownUp: on each dialect the migrations go up, all the way down (leaving no table) and up
// again to the same schema, so every down migration works and undoes its up.
func TestUpDownUp(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			ctx := context.Background()
			db, err := storetest.Open(t, d).DB() // migrated up
			if err != nil {
				t.Fatal(err)
			}
			up := columns(t, db, d)
			if len(up) == 0 {
				t.Fatal("no tables after migrating up")
			}
			p, err := migrations.Provider(db, d, nil)
			if err != nil {
				t.Fatal(err)
			}
			latest := versions(t, d)[len(versions(t, d))-1]
			if v, err := p.GetDBVersion(ctx); err != nil || v != latest {
				t.Fatalf("version after up: %d, %v; want %d", v, err, latest)
			}
			if _, err := p.DownTo(ctx, 0); err != nil {
				t.Fatalf("down to 0: %v", err)
			}
			if left := columns(t, db, d); len(left) != 0 {
				t.Errorf("after down to 0, left behind: %v", left)
			}
			if _, err := p.Up(ctx); err != nil {
				t.Fatalf("up again: %v", err)
			}
			if again := columns(t, db, d); !slices.Equal(again, up) {
				t.Errorf("schema after down and up differs from the first up:\nfirst %v\nagain %v", up, again)
			}
		})
	}
}

// Package storetest opens freshly migrated stores for tests in every package: a new SQLite file per
// test, or a new PostgreSQL database per test when CROWDGATE_TEST_POSTGRES holds a DSN.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/crowdgate/crowdgate/store"
)

// EnvPostgres names the variable holding a PostgreSQL DSN (a server where the user may CREATE DATABASE).
const EnvPostgres = "CROWDGATE_TEST_POSTGRES"

// EnvDialect selects the dialect New uses: "sqlite" (default) or "postgres".
const EnvDialect = "CROWDGATE_TEST_DIALECT"

// Dialects returns the dialects a suite runs on: the one CROWDGATE_TEST_DIALECT names when it is
// set (CI runs the whole tree once per dialect), else "sqlite", plus "postgres" when
// CROWDGATE_TEST_POSTGRES is set.
func Dialects(t testing.TB) []string {
	switch d := os.Getenv(EnvDialect); {
	case d != "":
		return []string{d}
	case os.Getenv(EnvPostgres) != "":
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// Open returns a freshly migrated, empty store of the dialect, closed (and its database dropped)
// when the test ends. With CROWDGATE_TEST_POSTGRES set, a connection failure fails the test.
func Open(t testing.TB, dialect string) *store.Store {
	return OpenConfig(t, dialect, store.Config{})
}

// OpenConfig is Open with a configuration; its URL is replaced by the test database.
func OpenConfig(t testing.TB, dialect string, cfg store.Config) *store.Store {
	t.Helper()
	cfg.URL = URL(t, dialect)
	if cfg.PasswordWorkers == 0 {
		cfg.PasswordWorkers = 2
	}
	s, err := store.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("storetest: open %s: %v", dialect, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// URL returns the address of a new empty database of the dialect, removed when the test ends.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return filepath.Join(t.TempDir(), "crowdgate.db")
	case "postgres":
		dsn := os.Getenv(EnvPostgres)
		if dsn == "" {
			t.Skipf("storetest: %s is not set", EnvPostgres)
		}
		return createDatabase(t, dsn)
	}
	t.Fatalf("storetest: unknown dialect %q", dialect)
	return ""
}

// New opens a store of the dialect named by CROWDGATE_TEST_DIALECT (default sqlite).
func New(t testing.TB) *store.Store {
	d := os.Getenv(EnvDialect)
	if d == "" {
		d = "sqlite"
	}
	return Open(t, d)
}

// Dialect is the dialect New uses.
func Dialect() string {
	if d := os.Getenv(EnvDialect); d != "" {
		return d
	}
	return "sqlite"
}

func createDatabase(t testing.TB, dsn string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: connect to %s: %v", EnvPostgres, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "crowdgate_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("storetest: create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(dsn)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		t.Fatalf("storetest: %s must be a postgres:// URL: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Must returns v, or panics (failing the test with a stack trace) on err: for fixtures built in one
// line, where a fixture that cannot be built means the test cannot go on.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Errorf("storetest: fixture: %w", err))
	}
	return v
}

// DialectOf returns the dialect of s, for tests that open a second store like the first.
func DialectOf(s *store.Store) string { return s.Dialect() }

// Must2 is Must for calls returning two values.
func Must2[T, U any](v T, w U, err error) (T, U) {
	if err != nil {
		panic(fmt.Errorf("storetest: fixture: %w", err))
	}
	return v, w
}

// Two opens two stores on one new database of the dialect, as two crowdgate instances would; both
// are closed (and the database dropped) when the test ends.
func Two(t testing.TB, dialect string) (*store.Store, *store.Store) {
	t.Helper()
	url := URL(t, dialect)
	open := func() *store.Store {
		s, err := store.Open(context.Background(), store.Config{URL: url, PasswordWorkers: 1}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("storetest: open %s: %v", dialect, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(), open()
}

// Addresses parses a list of IPs, CIDR ranges and host names (trusted proxies, for example).
func Addresses(t testing.TB, entries ...string) store.AddressList {
	t.Helper()
	l, err := store.ParseAddressList(entries)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

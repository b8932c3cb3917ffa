package migrations_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3/lock"

	"github.com/crowdgate/crowdgate/migrations"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// openPostgres returns a handle on a new empty PostgreSQL database, or skips.
func openPostgres(t *testing.T) *sql.DB {
	t.Helper()
	if !slices.Contains(storetest.Dialects(t), "postgres") {
		t.Skip("the migration lock exists only on PostgreSQL")
	}
	db, err := sql.Open("pgx", storetest.URL(t, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// holdMigrationLock takes goose's advisory lock on its own connection, as an instance that is
// migrating does, until release is called.
func holdMigrationLock(t *testing.T, db *sql.DB) (release func()) {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "SELECT pg_advisory_lock($1)", lock.DefaultLockID); err != nil {
		t.Fatal(err)
	}
	return func() {
		conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", lock.DefaultLockID)
		conn.Close()
	}
}

// Two instances started together on an empty database migrate one after the other. The second one
// polled goose's lock only every 5 seconds, so it became ready about 5 s after the first (seen in
// e2e/instances); it now polls every second.
func TestSecondInstanceWaitsForMigrationLockAboutASecond(t *testing.T) {
	db := openPostgres(t)
	release := holdMigrationLock(t, db)
	time.AfterFunc(200*time.Millisecond, release)
	ctx, cancel := context.WithTimeout(t.Context(), 4500*time.Millisecond) // goose alone: 5 s
	defer cancel()
	start := time.Now()
	if err := migrations.Up(ctx, db, "postgres", nil); err != nil {
		t.Fatalf("Up after the migration lock was released 200ms in: %v after %s", err, time.Since(start))
	}
	t.Logf("migrated %s after the other instance's lock was taken, 200ms after it was released", time.Since(start).Round(time.Millisecond))
}

// Package migrations holds crowdgate's database schema as plain SQL migrations, one directory per
// dialect with the same versions, embedded in the binary and applied in order by goose.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialects lists the supported dialects, which are also the names of the migration directories.
var Dialects = []string{"postgres", "sqlite"}

// FS returns the migration files of one dialect.
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case "postgres", "sqlite":
		return fs.Sub(files, dialect)
	}
	return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
}

// Provider returns a goose provider for dialect over db. On PostgreSQL it holds a session advisory
// lock while it works, so instances that start together migrate one after the other.
func Provider(db *sql.DB, dialect string, log *slog.Logger) (*goose.Provider, error) {
	sub, err := FS(dialect)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []goose.ProviderOption{goose.WithSlog(log)}
	gd := goose.DialectSQLite3
	if dialect == "postgres" {
		gd = goose.DialectPostgres
		// Poll the lock every second (goose's default is every 5 s, for 5 minutes): an instance
		// started beside one that is migrating is then ready a second after it, not five.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("migrations: locker: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Up applies every pending migration of dialect.
func Up(ctx context.Context, db *sql.DB, dialect string, log *slog.Logger) error {
	p, err := Provider(db, dialect, log)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: up: %w", err)
	}
	return nil
}

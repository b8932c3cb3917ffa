package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/store"
)

// backup writes a consistent copy of a SQLite database to a new file while the server may be
// running. VACUUM INTO reads one snapshot inside a read transaction, so writers (the server, other
// commands) carry on and the copy holds every committed change up to that moment and nothing
// half-written. PostgreSQL has pg_dump for this; the command refuses rather than pretending.
func (c *cli) backup(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("backup"))
	cf := config.AddFlags(fs, config.ScopeAll)
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	dest := pos[0]
	cfg, err := cf.Load(c.getenv)
	if err != nil {
		return err
	}
	if cfg.Store.Dialect() == "postgres" {
		return fmt.Errorf("crowdgate backup copies SQLite databases only; this one is PostgreSQL (%s): "+
			"use pg_dump, e.g. pg_dump --format=custom --file=crowdgate.dump \"$CROWDGATE_DATABASE_URL\" "+
			"(docs/operations.md, \"Backup and restore\")", redactDatabaseURL(cfg.Store.URL))
	}
	src := store.SQLitePath(cfg.Store.URL)
	if _, err := os.Stat(src); err != nil {
		// Opening the store would create an empty database and back that up.
		return fmt.Errorf("no SQLite database to back up at %s (CROWDGATE_DATABASE_URL): %w", src, err)
	}
	// The key that encrypts the secrets stored in the database (Entra client secrets), when
	// crowdgate generated it beside a SQLite database, travels with the copy: without it the
	// restored secrets cannot be read. A key given in the configuration is the operator's to keep.
	keySrc, keyDest := src+".key", dest+".key"
	key, err := os.ReadFile(keySrc)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read the secret key beside the database: %w", err)
	}
	for _, f := range []string{dest, keyDest} {
		if f == keyDest && key == nil {
			continue
		}
		if _, err := os.Lstat(f); err == nil {
			return fmt.Errorf("%s already exists; crowdgate backup never overwrites a file", f)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}

	log := newLogger(cfg.Log, c.stderr)
	cfg.Store.SkipMigrations = true // a backup copies what is there, whatever its schema version
	st, err := store.Open(ctx, cfg.Store, log)
	if err != nil {
		return err
	}
	defer st.Close()
	db, err := st.DB()
	if err != nil {
		return err
	}

	// Write into a private temporary file beside the destination and rename it at the end, so an
	// interrupted backup never leaves a file that looks complete. os.CreateTemp makes it 0600: the
	// copy holds password hashes. VACUUM INTO accepts an existing empty file.
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create the backup file: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpName)
		}
	}()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmpName); err != nil {
		return fmt.Errorf("back up %s: %w", src, err)
	}
	version, err := checkSQLiteCopy(ctx, tmpName)
	if err != nil {
		return fmt.Errorf("the copy of %s failed its check: %w", src, err)
	}
	if err := syncFile(tmpName); err != nil {
		return err
	}
	if err := os.Rename(tmpName, dest); err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	done = true
	if key != nil {
		if err := writeNewFile(keyDest, key); err != nil {
			return fmt.Errorf("copy the secret key %s: %w", keySrc, err)
		}
		fmt.Fprintf(c.stderr, "crowdgate backup: copied the secret key %s to %s: keep them together\n", keySrc, keyDest)
	}
	if d, err := os.Open(filepath.Dir(dest)); err == nil { // make the renames durable
		d.Sync()
		d.Close()
	}
	size := int64(0)
	if fi, err := os.Stat(dest); err == nil {
		size = fi.Size()
	}
	fmt.Fprintf(c.stderr, "crowdgate backup: wrote %s (%d bytes, schema version %d) from %s\n", dest, size, version, src)
	fmt.Fprintf(c.stderr, "restore: stop crowdgate, then start it with CROWDGATE_DATABASE_URL=%s (or copy the file over %s)\n", dest, src)
	return nil
}

// checkSQLiteCopy opens the copy read-only, runs SQLite's quick_check and returns the schema
// version it carries.
func checkSQLiteCopy(ctx context.Context, path string) (int64, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return 0, err
	}
	if res != "ok" {
		return 0, fmt.Errorf("quick_check: %s", res)
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT max(version_id) FROM goose_db_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("not a crowdgate database: %w", err)
	}
	return v.Int64, nil
}

// writeNewFile writes b to a new file readable by its owner only, and flushes it.
func writeNewFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncFile flushes a file's contents to disk.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/migrations"
	"github.com/crowdgate/crowdgate/store"
)

// openDB opens the store without migrating it, and its database handle, for the commands that
// work on the database itself whatever its schema version (migrate, backup).
func (c *cli) openDB(ctx context.Context, cf *config.Flags) (context.Context, *store.Store, *sql.DB, *slog.Logger, error) {
	ctx, st, log, err := c.openStore(ctx, cf, true)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	db, err := st.DB()
	if err != nil {
		st.Close()
		return nil, nil, nil, nil, err
	}
	return ctx, st, db, log, nil
}

// migrate applies, rolls back or lists schema migrations. "serve" applies pending migrations by
// itself; this command is for operators who want to do it as a separate step, or to look.
func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("migrate"))
	cf, pos, err := c.parseConfig(fs, config.ScopeAll, args, 0, 1)
	if err != nil {
		return helpOK(err)
	}
	action := "up"
	if len(pos) == 1 {
		action = pos[0]
	}
	switch action {
	case "up", "down", "status":
	default:
		fmt.Fprintf(c.stderr, "crowdgate migrate: %q is not up, down or status\n", action)
		fs.Usage()
		return errUsage
	}
	ctx, st, db, log, err := c.openDB(ctx, cf)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := migrations.Provider(db, st.Dialect(), log)
	if err != nil {
		return err
	}
	switch action {
	case "up":
		res, err := p.Up(ctx)
		for _, r := range res {
			fmt.Fprintln(c.stdout, r)
		}
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		v, err := p.GetDBVersion(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s database is at version %d\n", st.Dialect(), v)
	case "down":
		r, err := p.Down(ctx)
		if r != nil {
			fmt.Fprintln(c.stdout, r)
		}
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
	case "status":
		sts, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("migrate status: %w", err)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
		for _, s := range sts {
			at := "-"
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s/%s\n", s.Source.Version, s.State, at, st.Dialect(), s.Source.Path)
		}
		return tw.Flush()
	}
	return nil
}

// Set at build time: go build -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
var (
	version string
	commit  string
)

// buildVersion returns the version and commit: from the linker flags, else from the module and
// VCS information Go records in the binary.
func buildVersion() (ver, rev string) {
	ver, rev = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && bi.Main.Version != "" {
			ver = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" && modified && commit == "" {
			rev += "-dirty"
		}
	}
	if ver == "" {
		ver = "(devel)"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev
}

func (c *cli) version(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("version"))
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return helpOK(err)
	}
	v, rev := buildVersion()
	fmt.Fprintf(c.stdout, "crowdgate %s\ncommit %s\n%s %s/%s\n", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// backup writes a consistent copy of a SQLite database to a new file while the server may be
// running. VACUUM INTO reads one snapshot inside a read transaction, so writers (the server, other
// commands) carry on and the copy holds every committed change up to that moment and nothing
// half-written. PostgreSQL has pg_dump for this; the command refuses rather than pretending.
func (c *cli) backup(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("backup"))
	cf, pos, err := c.parseConfig(fs, config.ScopeAll, args, 1, 1)
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

	ctx, st, db, _, err := c.openDB(ctx, cf)
	if err != nil {
		return err
	}
	defer st.Close()

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

package main

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// TestBackupWhileWriting backs up a running server's SQLite database while another process
// writes to it, checks the copy is whole and consistent, then serves from the copy as a restore
// does.
func TestBackupWhileWriting(t *testing.T) {
	e, srv := startSQLite(t)
	adminPassword, st, dir := firstStart(t, srv, e)
	ctx := t.Context()
	origID, err := st.Setting(ctx, "database_id")
	if err != nil {
		t.Fatal(err)
	}

	// A writer commits users one by one (each with its event and audit entry) until told to stop.
	var written atomic.Int64
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			if _, err := st.CreateUser(ctx, store.NewUser{DirectoryID: dir.ID, Name: fmt.Sprintf("w%05d", i), Active: true}); err != nil {
				writerDone <- err
				return
			}
			written.Add(1)
		}
	}()
	waitFor(t, "first writes", func() bool { return written.Load() >= 20 })

	dest := filepath.Join(t.TempDir(), "backups", "crowdgate-copy.db")
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		t.Fatal(err)
	}
	// A secret key generated beside the database (<database>.key) is copied beside the backup.
	// (A valid key, 32 bytes in base64, in case the server reads it.)
	keyBytes := []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n")
	if err := os.WriteFile(store.SQLitePath(e["CROWDGATE_DATABASE_URL"])+".key", keyBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	before := written.Load()
	r := mustRun(t, e, "", "backup", dest)
	after := written.Load()
	waitFor(t, "writes after the backup", func() bool { return written.Load() >= after+5 })
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatalf("writer: %v", err)
	}
	t.Logf("users written: %d before the backup, %d when it returned, %d in all\n%s", before, after, written.Load(), r.stderr)
	if !strings.Contains(r.stderr, "wrote "+dest) {
		t.Errorf("backup did not report the file it wrote:\n%s", r.stderr)
	}

	fi, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, want 0600 (it holds password hashes)", fi.Mode().Perm())
	}
	if kfi, err := os.Stat(dest + ".key"); err != nil || kfi.Mode().Perm() != 0o600 {
		t.Errorf("secret key beside the backup: %v %v, want a 0600 copy", kfi, err)
	} else if b, _ := os.ReadFile(dest + ".key"); string(b) != string(keyBytes) {
		t.Errorf("secret key copy %q, want %q", b, keyBytes)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".*tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	// The copy is a whole SQLite database whose rows agree with each other, holding a snapshot
	// taken while the command ran: every user committed before it, none after it returned.
	copyDB, err := sql.Open("sqlite", "file:"+dest+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	for _, check := range []string{"PRAGMA integrity_check", "PRAGMA foreign_key_check"} {
		rows, err := copyDB.Query(check)
		if err != nil {
			t.Fatalf("%s: %v", check, err)
		}
		var problems []string
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			if s := fmt.Sprint(vals...); s != "ok" {
				problems = append(problems, s)
			}
		}
		rows.Close()
		if len(problems) > 0 {
			t.Errorf("%s on the copy: %v", check, problems)
		}
	}
	var users, events int64
	if err := copyDB.QueryRow("SELECT count(*) FROM users WHERE name LIKE 'w%'").Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users < before || users > after {
		t.Errorf("the copy holds %d written users, want between %d (before the backup) and %d (when it returned)", users, before, after)
	}
	// Each user's creation event is in the same transaction: a consistent copy has them all.
	if err := copyDB.QueryRow("SELECT count(*) FROM users u WHERE u.name LIKE 'w%' AND NOT EXISTS " +
		"(SELECT 1 FROM audit_log a WHERE a.action = 'USER_CREATED' AND a.object = u.name)").Scan(&events); err != nil {
		t.Fatal(err)
	} else if events != 0 {
		t.Errorf("%d users in the copy lack the audit entry written in the same transaction", events)
	}
	copyDB.Close()

	// Restore: stop the server and point CROWDGATE_DATABASE_URL at the copy. It is the same
	// database: same identity (Jira's event tokens stay valid), same administrator password, no
	// new administrator.
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	restored := env{"CROWDGATE_DATABASE_URL": dest, "CROWDGATE_PASSWORD_WORKERS": "2", "CROWDGATE_LISTEN": "127.0.0.1:0"}
	srv2 := startServer(t, restored)
	if strings.Contains(srv2.stdout.String(), "password") {
		t.Errorf("the restored database got a new administrator:\n%s", srv2.stdout.String())
	}
	if code, body := get(t, http.DefaultClient, "http://"+srv2.addrs.Main+"/readyz"); code != http.StatusOK {
		t.Errorf("restored server /readyz = %d %q", code, body)
	}
	rst := openStore(t, restored)
	if id, err := rst.Setting(ctx, "database_id"); err != nil || id != origID {
		t.Errorf("restored database id %q (%v), want the original %q", id, err, origID)
	}
	rdir, err := rst.EnsureInternalDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := rst.UserByName(ctx, rdir.ID, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := rst.CheckPassword(ctx, admin, adminPassword); err != nil {
		t.Errorf("the administrator's password does not work on the restored database: %v", err)
	}
	if out := mustRun(t, restored, "", "user", "list"); !strings.Contains(out.stdout, fmt.Sprintf("w%05d", before-1)) {
		t.Errorf("user list on the restored database lacks w%05d:\n%s", before-1, out.stdout)
	}
}

// TestBackupRefuses covers what the command must not do: back up PostgreSQL, overwrite a file,
// or create an empty database where none was.
func TestBackupRefuses(t *testing.T) {
	tmp := t.TempDir()
	dest := filepath.Join(tmp, "copy.db")

	// PostgreSQL: refused without connecting (nothing listens on port 1), pointing at pg_dump.
	r := runCmd(t, env{"CROWDGATE_DATABASE_URL": "postgres://crowdgate:secret@127.0.0.1:1/crowdgate"}, "", "backup", dest)
	if r.err == nil || exitCode(r.err) != 1 || !strings.Contains(r.err.Error(), "pg_dump") {
		t.Errorf("backup on PostgreSQL: %v, want a refusal that names pg_dump", r.err)
	}
	if r.err != nil && strings.Contains(r.err.Error(), "secret") {
		t.Errorf("the refusal shows the database password: %v", r.err)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Error("backup on PostgreSQL wrote a file")
	}

	// No database yet: refused, and none is created.
	missing := filepath.Join(tmp, "nothing", "crowdgate.db")
	r = runCmd(t, env{"CROWDGATE_DATABASE_URL": missing}, "", "backup", dest)
	if r.err == nil || !strings.Contains(r.err.Error(), "no SQLite database") {
		t.Errorf("backup of a missing database: %v", r.err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("backup created the database it was asked to copy")
	}

	// An existing destination is never overwritten.
	e := dbEnv(t, "sqlite")
	mustRun(t, e, "", "migrate")
	if err := os.WriteFile(dest, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCmd(t, e, "", "backup", dest)
	if r.err == nil || !strings.Contains(r.err.Error(), "already exists") {
		t.Errorf("backup over an existing file: %v", r.err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "keep me" {
		t.Errorf("the existing file was changed: %q", b)
	}

	// A missing argument is a usage error.
	if r := runCmd(t, e, "", "backup"); exitCode(r.err) != 2 {
		t.Errorf("backup without a file: %v, want a usage error", r.err)
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

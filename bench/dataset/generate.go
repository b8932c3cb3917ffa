package dataset

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/password"
)

// Info is what Generate built.
type Info struct {
	DirectoryID int64
	Apps        map[string]store.Application
	Rows        map[string]int           // rows inserted per table
	Took        map[string]time.Duration // time per step
	Total       time.Duration
}

// PKCS5S2 encodes plain the way Crowd's "atlassian-security" encoder does: PBKDF2-HMAC-SHA1, 10,000
// iterations, 16-byte salt, 32-byte key, "{PKCS5S2}" + base64(salt || key).
func PKCS5S2(plain string, salt []byte) (string, error) {
	key, err := pbkdf2.Key(sha1.New, plain, salt, 10000, 32)
	if err != nil {
		return "", err
	}
	return "{PKCS5S2}" + base64.StdEncoding.EncodeToString(append(append([]byte{}, salt[:16]...), key...)), nil
}

// credentials hashes each distinct password once, on every core.
func (s Spec) credentials() ([]string, error) {
	out := make([]string, s.DistinctPasswords)
	errs := make([]error, s.DistinctPasswords)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for p := range out {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			salt := s.prf("salt", p)
			out[p], errs[p] = PKCS5S2(fmt.Sprintf("bench-pw-%03d", p), salt[:16])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// uuid derives a stable UUID-shaped external id.
func (s Spec) uuid(label string, i int) string {
	h := s.prf(label, i)
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// dropIndexes drops the secondary indexes of tables and returns the statements that recreate them.
func dropIndexes(ctx context.Context, conn *sql.Conn, dialect string, tables []string) ([]string, error) {
	var defs, names []string
	for _, t := range tables {
		var q string
		if dialect == "postgres" {
			q = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 " +
				"AND indexname NOT IN (SELECT conname FROM pg_constraint)"
		} else {
			q = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL"
		}
		rows, err := conn.QueryContext(ctx, q, t)
		if err != nil {
			return nil, fmt.Errorf("dataset: indexes of %s: %w", t, err)
		}
		for rows.Next() {
			var name, def string
			if err := rows.Scan(&name, &def); err != nil {
				rows.Close()
				return nil, err
			}
			names, defs = append(names, name), append(defs, def)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		if _, err := conn.ExecContext(ctx, "DROP INDEX "+n); err != nil {
			return nil, fmt.Errorf("dataset: drop index %s: %w", n, err)
		}
	}
	return defs, nil
}

// memberships returns the direct (group index, user index) pairs, sorted.
func (s Spec) memberships(l Layout) [][2]int32 {
	rng := rand.New(rand.NewPCG(s.Seed, 0x6d656d62))
	extra, rem := 0, 0
	if s.Memberships > s.Users {
		extra, rem = (s.Memberships-s.Users)/s.Users, (s.Memberships-s.Users)%s.Users
	}
	out := make([][2]int32, 0, s.Memberships)
	var cur []int32
	for u := 0; u < s.Users && len(out) < s.Memberships; u++ {
		cur = append(cur[:0], int32(l.teamBase()+rng.IntN(l.Teams)))
		k := extra
		if u < rem {
			k++
		}
		for len(cur) < k+1 {
			f := rng.Float64()
			g := int32(l.flatBase() + int(float64(l.Flat)*f*f))
			if !slices.Contains(cur, g) {
				cur = append(cur, g)
			}
		}
		for _, g := range cur {
			if len(out) < s.Memberships {
				out = append(out, [2]int32{g, int32(u)})
			}
		}
	}
	slices.SortFunc(out, func(a, b [2]int32) int {
		if a[0] != b[0] {
			return int(a[0] - b[0])
		}
		return int(a[1] - b[1])
	})
	return out
}

// tableWriter inserts rows into one table: COPY on PostgreSQL, multi-row INSERTs on SQLite.
type tableWriter interface {
	write(ctx context.Context, table string, cols []string, n int, row func(i int) []any) error
}

// Generate fills an empty, migrated store with the dataset. It creates the internal directory and
// the applications through the store (so their credentials and audit rows are the real thing), then
// bulk-inserts users, groups, memberships and sessions with raw SQL through the store's database
// handle. progress receives one line per step.
func Generate(ctx context.Context, st *store.Store, s Spec, progress func(string)) (Info, error) {
	if progress == nil {
		progress = func(string) {}
	}
	if err := s.Validate(); err != nil {
		return Info{}, err
	}
	start := time.Now()
	info := Info{Apps: map[string]store.Application{}, Rows: map[string]int{}, Took: map[string]time.Duration{}}
	step := func(name string, rows int, t0 time.Time) {
		d := time.Since(t0)
		info.Took[name] += d
		info.Rows[name] += rows
		rate := ""
		if rows > 0 && d > 0 {
			rate = fmt.Sprintf(" (%.0f rows/s)", float64(rows)/d.Seconds())
		}
		progress(fmt.Sprintf("  %-18s %9d rows in %6.2fs%s", name, rows, d.Seconds(), rate))
	}
	db, err := st.DB()
	if err != nil {
		return info, err
	}
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		return info, fmt.Errorf("dataset: %w", err)
	}
	if n != 0 {
		return info, fmt.Errorf("dataset: the database already has %d users; generate into an empty one", n)
	}

	t0 := time.Now()
	dir, err := st.EnsureInternalDirectory(ctx)
	if err != nil {
		return info, err
	}
	info.DirectoryID = dir.ID
	for _, a := range Apps {
		app, err := st.CreateApplication(ctx, store.NewApplication{Name: a.Name, Kind: a.Kind, Password: a.Password, Active: true,
			Mappings: []store.Mapping{{DirectoryID: dir.ID, Groups: []string{a.Group}, Operations: store.AllOperations}}})
		if err != nil {
			return info, fmt.Errorf("dataset: application %s: %w", a.Name, err)
		}
		info.Apps[a.Name] = app
	}
	step("directory+apps", 1+len(Apps), t0)

	t0 = time.Now()
	creds, err := s.credentials()
	if err != nil {
		return info, err
	}
	argon, err := password.Hash(Argon2Password)
	if err != nil {
		return info, err
	}
	step("password hashes", s.DistinctPasswords+1, t0)

	// One connection does the bulk load, with foreign-key checks off: the data is consistent by
	// construction (dataset_test checks it), and checking 2.2 million references one row at a time
	// would be most of the load time. On PostgreSQL this needs a superuser; without one the checks
	// stay on and the load is slower.
	var w tableWriter
	conn, err := db.Conn(ctx)
	if err != nil {
		return info, err
	}
	defer conn.Close()
	if st.Dialect() == "postgres" {
		if _, err := conn.ExecContext(ctx, "SET session_replication_role = replica"); err != nil {
			progress("  (foreign-key checks stay on: " + err.Error() + ")")
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "RESET session_replication_role")
		w = pgWriter{conn}
	} else {
		// A page cache that holds the unique indexes (random keys: token hashes, external ids).
		for _, p := range []string{"PRAGMA foreign_keys = OFF", "PRAGMA cache_size = -262144", "PRAGMA temp_store = MEMORY"} {
			if _, err := conn.ExecContext(ctx, p); err != nil {
				return info, err
			}
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA cache_size = -2000")
		defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON")
		w = sqliteWriter{conn}
	}

	// Secondary indexes (not those behind primary keys and unique constraints) are dropped for the
	// load and rebuilt after it from their own definitions: one sort instead of millions of random
	// b-tree inserts.
	t0 = time.Now()
	indexes, err := dropIndexes(ctx, conn, st.Dialect(), []string{"users", "user_memberships", "sessions"})
	if err != nil {
		return info, err
	}
	step("drop indexes", len(indexes), t0)

	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	l := s.Layout()
	// load writes a table's n rows and reports the step, timed from t0 (so preparing the rows counts).
	load := func(t0 time.Time, table string, cols []string, n int, row func(i int) []any) error {
		if err := w.write(ctx, table, cols, n, row); err != nil {
			return err
		}
		step(table, n, t0)
		return nil
	}

	// Groups (ids 1..Groups).
	t0 = time.Now()
	err = load(t0, "groups", []string{"id", "directory_id", "external_id", "name", "lower_name", "description", "active", "created_at", "updated_at"},
		s.Groups, func(gi int) []any {
			name := l.GroupName(gi)
			ts := base.Add(time.Duration(gi) * time.Second)
			return []any{int64(gi + 1), dir.ID, s.uuid("group", gi), name, strings.ToLower(name), "", true, ts, ts}
		})
	if err != nil {
		return info, err
	}

	t0 = time.Now()
	edges := l.Edges()
	if err := load(t0, "group_memberships", []string{"parent_id", "child_id", "created_at"}, len(edges), linkRows(edges, base)); err != nil {
		return info, err
	}

	// Users (ids 1..Users).
	t0 = time.Now()
	err = load(t0, "users", []string{"id", "directory_id", "external_id", "name", "lower_name", "first_name", "last_name",
		"display_name", "lower_display_name", "email", "lower_email", "active", "credential", "password_changed_at", "created_at", "updated_at"},
		s.Users, func(i int) []any {
			name := UserName(i)
			first, last := fmt.Sprintf("First%d", i), fmt.Sprintf("Last%d", i)
			display := first + " " + last
			email := name + "@example.com"
			cred := argon
			if s.HasPKCS5S2(i) {
				cred = creds[s.PasswordIndex(i)]
			}
			ts := base.Add(time.Duration(i) * time.Second)
			return []any{int64(i + 1), dir.ID, s.uuid("user", i), name, name, first, last, display, strings.ToLower(display),
				email, email, true, cred, ts, ts, ts}
		})
	if err != nil {
		return info, err
	}

	// Direct memberships: one team per user, then flat groups drawn from a power law. They are
	// inserted in primary-key order, which keeps the index build sequential.
	t0 = time.Now()
	pairs := s.memberships(l)
	if err := load(t0, "user_memberships", []string{"group_id", "user_id", "created_at"}, len(pairs), linkRows(pairs, base)); err != nil {
		return info, err
	}

	// Sessions: live, idle timeout SessionIdle, application jira.
	t0 = time.Now()
	now := time.Now().UTC().Truncate(time.Microsecond)
	idle := int(s.SessionIdle / time.Second)
	jira := info.Apps["jira"].ID
	err = load(t0, "sessions", []string{"id", "token_hash", "kind", "user_id", "application_id", "factors", "remote_address",
		"idle_seconds", "created_at", "last_access_at", "expires_at"}, s.Sessions, func(i int) []any {
		h := sha256.Sum256([]byte(s.Token(i)))
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		return []any{int64(i + 1), hex.EncodeToString(h[:]), store.SessionSSO, int64(s.SessionUser(i) + 1), jira,
			`[{"name":"remote_address","value":"` + ip + `"}]`, ip, idle, now, now, now.Add(s.SessionIdle)}
	})
	if err != nil {
		return info, err
	}

	t0 = time.Now()
	for _, def := range indexes {
		if _, err := conn.ExecContext(ctx, def); err != nil {
			return info, fmt.Errorf("dataset: rebuild index: %s: %w", def, err)
		}
	}
	step("rebuild indexes", len(indexes), t0)

	t0 = time.Now()
	if st.Dialect() == "postgres" {
		for _, t := range []string{"users", "groups", "sessions"} {
			if _, err := conn.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence('"+t+"', 'id'), (SELECT MAX(id) FROM "+t+"))"); err != nil {
				return info, fmt.Errorf("dataset: sequence of %s: %w", t, err)
			}
		}
		// What autovacuum does soon after a bulk load (PostgreSQL 13+ vacuums insert-only tables too):
		// statistics for the planner, and a visibility map for index-only scans. Without it the
		// planner would see empty tables.
		if _, err := conn.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
			return info, fmt.Errorf("dataset: vacuum analyze: %w", err)
		}
	} else {
		// SQLite keeps AUTOINCREMENT counters in sqlite_sequence, updated by explicit ids already.
		// No ANALYZE: crowdgate never runs one on SQLite, so the benchmark does not either.
		if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			return info, fmt.Errorf("dataset: checkpoint: %w", err)
		}
	}
	step("finish", 0, t0)
	info.Total = time.Since(start)
	return info, nil
}

type pgWriter struct{ conn *sql.Conn }

// linkRows is the row function of a link table (parent or group, child or user: 0-based indexes of
// rows whose ids start at 1).
func linkRows[T int | int32](links [][2]T, created time.Time) func(i int) []any {
	return func(i int) []any {
		return []any{int64(links[i][0] + 1), int64(links[i][1] + 1), created}
	}
}

func (w pgWriter) write(ctx context.Context, table string, cols []string, n int, row func(i int) []any) error {
	return w.conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		i := 0
		got, err := pc.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			if i >= n {
				return nil, nil
			}
			r := row(i)
			i++
			return r, nil
		}))
		if err != nil {
			return fmt.Errorf("dataset: copy into %s: %w", table, err)
		}
		if int(got) != n {
			return fmt.Errorf("dataset: copy into %s: %d rows, want %d", table, got, n)
		}
		return nil
	})
}

type sqliteWriter struct{ db *sql.Conn }

// write inserts rows in one transaction, about 256 parameters per statement: the driver matches
// parameters to arguments in quadratic time, so wider statements get slower, not faster.
func (w sqliteWriter) write(ctx context.Context, table string, cols []string, n int, row func(i int) []any) error {
	per := max(1, 256/len(cols))
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	prefix := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	full, err := tx.PrepareContext(ctx, prefix+strings.TrimSuffix(strings.Repeat(one+",", per), ","))
	if err != nil {
		return fmt.Errorf("dataset: insert into %s: %w", table, err)
	}
	defer full.Close()
	args := make([]any, 0, per*len(cols))
	flush := func(rows int) error {
		if rows == 0 {
			return nil
		}
		var err error
		if rows == per {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, prefix+strings.TrimSuffix(strings.Repeat(one+",", rows), ","), args...)
		}
		args = args[:0]
		if err != nil {
			return fmt.Errorf("dataset: insert into %s: %w", table, err)
		}
		return nil
	}
	rows := 0
	for i := 0; i < n; i++ {
		r := row(i)
		if r == nil {
			return fmt.Errorf("dataset: %s: generator ended after %d of %d rows", table, i, n)
		}
		args = append(args, r...)
		if rows++; rows == per {
			if err := flush(rows); err != nil {
				return err
			}
			rows = 0
		}
	}
	if err := flush(rows); err != nil {
		return err
	}
	return tx.Commit()
}

package instances_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
)

// entra is a fake Entra ID tenant the child processes synchronise from: fakegraph's Graph behind a
// plain-http wrapper on 127.0.0.1 (which can slow pages down and act before a given request) and
// fakegraph's token service over TLS, whose certificate the children trust through SSL_CERT_FILE.
type entra struct {
	tenant *fakegraph.Tenant
	graph  *fakegraph.Server
	sts    *fakegraph.STS
	srv    *httptest.Server
	caFile string
	// secretKey encrypts the directories' client secrets (CROWDGATE_SECRET_KEY).
	secretKey string

	delay  atomic.Int64 // nanoseconds each delta page waits before it is served
	hold   atomic.Int64 // when > 0, delta requests from this number on get no answer until their caller gives up
	served atomic.Int64 // delta requests seen since the last reset
	mu     sync.Mutex
	before func(n int64) bool // called with each delta request's number; false drops the request
}

func newEntra(t *testing.T, tenant *fakegraph.Tenant, pageDelay time.Duration) *entra {
	t.Helper()
	e := &entra{tenant: tenant, graph: fakegraph.New(tenant, fakegraph.Options{}), sts: fakegraph.NewSTS(fakegraph.STSOptions{})}
	e.delay.Store(int64(pageDelay))
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(func() {
		e.srv.Close()
		e.graph.Close()
		e.sts.Close()
	})
	key := make([]byte, 32)
	rand.Read(key)
	e.secretKey = base64.StdEncoding.EncodeToString(key)
	e.caFile = filepath.Join(t.TempDir(), "sts.pem")
	if err := writePeerCertificate(e.sts.AuthorityHost(), e.caFile); err != nil {
		t.Fatal(err)
	}
	return e
}

// writePeerCertificate saves the certificate a TLS server presents as PEM.
func writePeerCertificate(rawURL, file string) error {
	host := strings.TrimSuffix(strings.TrimPrefix(rawURL, "https://"), "/")
	conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only to read the test STS's certificate
	if err != nil {
		return fmt.Errorf("read the STS certificate: %w", err)
	}
	defer conn.Close()
	der := conn.ConnectionState().PeerCertificates[0].Raw
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
}

func (e *entra) serve(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "/delta") {
		n := e.served.Add(1)
		e.mu.Lock()
		before := e.before
		e.mu.Unlock()
		if before != nil && !before(n) {
			panic(http.ErrAbortHandler) // the caller is being killed: it gets no answer
		}
		if h := e.hold.Load(); h > 0 && n >= h {
			<-r.Context().Done()
			return
		}
		select {
		case <-time.After(time.Duration(e.delay.Load())):
		case <-r.Context().Done():
			return
		}
	}
	e.graph.ServeHTTP(w, r)
}

// reset forgets the request count and sets the hook run before each delta request (nil: none).
func (e *entra) reset(before func(n int64) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.served.Store(0)
	e.before = before
}

// env is what a child needs to reach this tenant. Every instance also gets the same key to
// encrypt the stored client secret with, as production instances sharing a database must.
func (e *entra) env() map[string]string {
	return map[string]string{
		"CROWDGATE_SECRET_KEY":           e.secretKey,
		"CROWDGATE_GRAPH_BASE_URL":       e.srv.URL + "/v1.0",
		"CROWDGATE_GRAPH_AUTHORITY_HOST": e.sts.AuthorityHost(),
		"SSL_CERT_FILE":                  e.caFile,
	}
}

// createEntraDirectory adds an active AZURE_AD directory with nested groups, configured as the
// console stores it, and returns its id.
func createEntraDirectory(t *testing.T, dbURL, name string) int64 {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{URL: dbURL, PasswordWorkers: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer st.Close()
	cfg, _ := json.Marshal(map[string]string{"tenant_id": "tenant-1", "client_id": "client-1", "client_secret": "s3cret"})
	d, err := st.CreateDirectory(ctx, store.Directory{Name: name, Kind: store.DirectoryAzureAD, Active: true, NestedGroups: true,
		Config: string(cfg)})
	if err != nil {
		t.Fatalf("create directory %q: %v", name, err)
	}
	return d.ID
}

// rUser is a user as the replica holds it.
type rUser struct {
	Name, First, Last, Display, Email string
	Active                            bool
}

// replica is a directory's users, groups (name and description) and direct memberships, by
// external id; members are "u:<id>" and "g:<id>", sorted.
type replica struct {
	Users   map[string]rUser
	Groups  map[string][2]string
	Members map[string][]string
}

func (r replica) clone() replica {
	c := replica{Users: maps.Clone(r.Users), Groups: maps.Clone(r.Groups), Members: map[string][]string{}}
	for g, m := range r.Members {
		c.Members[g] = slices.Clone(m)
	}
	return c
}

// mapUser is graphsync's documented mapping of a generated Entra user (userPrincipalName as name).
func mapUser(u fakegraph.User) rUser {
	su := u.WantSyncUser()
	return rUser{Name: su.Name, First: su.FirstName, Last: su.LastName, Display: su.DisplayName, Email: su.Email, Active: su.Active}
}

// truth is the replica the tenant must produce now.
func truth(t *fakegraph.Tenant) replica {
	r := replica{Users: map[string]rUser{}, Groups: map[string][2]string{}, Members: map[string][]string{}}
	for _, id := range t.UserIDs() {
		u, _ := t.User(id)
		r.Users[id] = mapUser(u)
	}
	// Only security groups are replicated by default (Microsoft 365 groups are not); a group named
	// like a protected name it is not bound to is replicated as "name#<first 8 of its id>".
	security := func(id string) bool {
		g, _ := t.Group(id)
		return g.SecurityEnabled && !slices.Contains(g.GroupTypes, "Unified")
	}
	protected := map[string]bool{"crowdgate-admins": true}
	for _, n := range graphsync.DefaultProtectedNames {
		protected[n] = true
	}
	for _, id := range t.GroupIDs() {
		g, _ := t.Group(id)
		if !security(id) {
			continue
		}
		name := strings.TrimSpace(g.DisplayName)
		if protected[strings.ToLower(name)] {
			name += "#" + id[:8]
		}
		r.Groups[id] = [2]string{name, g.Description}
		for _, m := range t.Members(id) {
			prefix := "u:"
			if m.Kind == fakegraph.KindGroup {
				if !security(m.ID) {
					continue
				}
				prefix = "g:"
			}
			r.Members[id] = append(r.Members[id], prefix+m.ID)
		}
		sort.Strings(r.Members[id])
	}
	return r
}

// db is a connection to a test database, for the checks.
type db struct {
	t    *testing.T
	conn *pgx.Conn
}

func openDB(t *testing.T, url string) *db {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &db{t: t, conn: conn}
}

func (d *db) int(q string, args ...any) int64 {
	d.t.Helper()
	var n int64
	if err := d.conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		d.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// replica reads a directory's replica in one repeatable-read transaction, so it is one state.
func (d *db) replica(dirID int64) replica {
	d.t.Helper()
	ctx := context.Background()
	r := replica{Users: map[string]rUser{}, Groups: map[string][2]string{}, Members: map[string][]string{}}
	tx, err := d.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		d.t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	scan := func(q string, fn func(rows pgx.Rows) error) {
		rows, err := tx.Query(ctx, q, dirID)
		if err != nil {
			d.t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := fn(rows); err != nil {
				d.t.Fatalf("%s: %v", q, err)
			}
		}
		if err := rows.Err(); err != nil {
			d.t.Fatalf("%s: %v", q, err)
		}
	}
	scan("SELECT external_id, name, first_name, last_name, display_name, email, active FROM users WHERE directory_id = $1",
		func(rows pgx.Rows) error {
			var id string
			var u rUser
			err := rows.Scan(&id, &u.Name, &u.First, &u.Last, &u.Display, &u.Email, &u.Active)
			r.Users[id] = u
			return err
		})
	scan("SELECT external_id, name, description FROM groups WHERE directory_id = $1", func(rows pgx.Rows) error {
		var id, name, desc string
		err := rows.Scan(&id, &name, &desc)
		r.Groups[id] = [2]string{name, desc}
		return err
	})
	member := func(prefix string) func(rows pgx.Rows) error {
		return func(rows pgx.Rows) error {
			var g, m string
			err := rows.Scan(&g, &m)
			r.Members[g] = append(r.Members[g], prefix+m)
			return err
		}
	}
	scan("SELECT g.external_id, u.external_id FROM user_memberships m JOIN groups g ON g.id = m.group_id "+
		"JOIN users u ON u.id = m.user_id WHERE g.directory_id = $1", member("u:"))
	scan("SELECT p.external_id, c.external_id FROM group_memberships m JOIN groups p ON p.id = m.parent_id "+
		"JOIN groups c ON c.id = m.child_id WHERE p.directory_id = $1", member("g:"))
	for _, m := range r.Members {
		sort.Strings(m)
	}
	return r
}

// checkIntegrity asserts what must hold of a directory in every state, even after a crash:
// memberships join objects that exist in one directory, and users removed from Entra ID (kept
// deactivated) hold no memberships.
func (d *db) checkIntegrity(dirID int64) {
	d.t.Helper()
	for what, q := range map[string]string{
		"user memberships naming a missing user or group": "SELECT count(*) FROM user_memberships m LEFT JOIN users u ON u.id = m.user_id " +
			"LEFT JOIN groups g ON g.id = m.group_id WHERE u.id IS NULL OR g.id IS NULL",
		"group memberships naming a missing group": "SELECT count(*) FROM group_memberships m LEFT JOIN groups p ON p.id = m.parent_id " +
			"LEFT JOIN groups c ON c.id = m.child_id WHERE p.id IS NULL OR c.id IS NULL",
		"user memberships across directories": "SELECT count(*) FROM user_memberships m JOIN users u ON u.id = m.user_id " +
			"JOIN groups g ON g.id = m.group_id WHERE u.directory_id <> g.directory_id AND (g.directory_id = $1 OR u.directory_id = $1)",
		"group memberships across directories": "SELECT count(*) FROM group_memberships m JOIN groups p ON p.id = m.parent_id " +
			"JOIN groups c ON c.id = m.child_id WHERE p.directory_id <> c.directory_id AND (p.directory_id = $1 OR c.directory_id = $1)",
		"memberships of users removed from Entra ID": "SELECT count(*) FROM user_memberships m JOIN users u ON u.id = m.user_id " +
			"JOIN sync_outside o ON o.directory_id = u.directory_id AND o.external_id = u.external_id " +
			"WHERE u.directory_id = $1 AND o.reason = 'REMOVED'",
	} {
		var n int64
		var err error
		if strings.Contains(q, "$1") {
			err = d.conn.QueryRow(context.Background(), q, dirID).Scan(&n)
		} else {
			err = d.conn.QueryRow(context.Background(), q).Scan(&n)
		}
		if err != nil {
			d.t.Fatalf("%s: %v", q, err)
		}
		if n != 0 {
			d.t.Errorf("%d %s", n, what)
		}
	}
}

// syncRun is a row of sync_runs.
type syncRun struct {
	ID               int64
	Mode, Status     string
	Instance, Errors string
	Started          time.Time
	Finished         *time.Time
}

func (d *db) runs(dirID int64) []syncRun {
	d.t.Helper()
	rows, err := d.conn.Query(context.Background(), "SELECT id, mode, status, instance, errors, started_at, finished_at "+
		"FROM sync_runs WHERE directory_id = $1 ORDER BY id", dirID)
	if err != nil {
		d.t.Fatal(err)
	}
	defer rows.Close()
	var out []syncRun
	for rows.Next() {
		var r syncRun
		if err := rows.Scan(&r.ID, &r.Mode, &r.Status, &r.Instance, &r.Errors, &r.Started, &r.Finished); err != nil {
			d.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		d.t.Fatal(err)
	}
	return out
}

// lastRun is the newest run of the directory, zero when there is none.
func (d *db) lastRun(dirID int64) syncRun {
	d.t.Helper()
	rs := d.runs(dirID)
	if len(rs) == 0 {
		return syncRun{}
	}
	return rs[len(rs)-1]
}

// waitRun waits for a run newer than after to finish, and fails the test unless it succeeded.
func (d *db) waitRun(dirID, after int64, timeout time.Duration) syncRun {
	d.t.Helper()
	var got syncRun
	eventually(d.t, timeout, "a sync run finishes", func() bool {
		for _, r := range d.runs(dirID) {
			if r.ID > after && r.Status != store.SyncRunning {
				got = r
				return true
			}
		}
		return false
	})
	if got.Status != store.SyncSucceeded {
		d.t.Fatalf("sync run %d: %s %s: %s", got.ID, got.Mode, got.Status, got.Errors)
	}
	return got
}

// links returns the saved delta links of the directory ("" when none or no state yet).
func (d *db) links(dirID int64) (users, groups string) {
	d.t.Helper()
	err := d.conn.QueryRow(context.Background(), "SELECT users_delta_link, groups_delta_link FROM sync_state WHERE directory_id = $1",
		dirID).Scan(&users, &groups)
	if err != nil && err != pgx.ErrNoRows {
		d.t.Fatal(err)
	}
	return users, groups
}

// diff describes how got differs from want, "" when equal; at most a few lines.
func diff(got, want replica) string {
	var out []string
	add := func(format string, args ...any) {
		if len(out) < 12 {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	for id, w := range want.Users {
		if g, ok := got.Users[id]; !ok {
			add("user %s %q missing", id, w.Name)
		} else if g != w {
			add("user %s: %+v, want %+v", id, g, w)
		}
	}
	for id, g := range got.Users {
		if _, ok := want.Users[id]; !ok {
			add("user %s %q unexpected", id, g.Name)
		}
	}
	for id, w := range want.Groups {
		if g, ok := got.Groups[id]; !ok {
			add("group %s %q missing", id, w[0])
		} else if g != w {
			add("group %s: %q, want %q", id, g, w)
		}
	}
	for id, g := range got.Groups {
		if _, ok := want.Groups[id]; !ok {
			add("group %s %q unexpected", id, g[0])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(mergeKeys(got.Members, want.Members))) {
		if !slices.Equal(got.Members[id], want.Members[id]) {
			add("members of group %s: %d, want %d (e.g. %s)", id, len(got.Members[id]), len(want.Members[id]),
				firstDifference(got.Members[id], want.Members[id]))
		}
	}
	return strings.Join(out, "\n")
}

func mergeKeys(a, b map[string][]string) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func firstDifference(got, want []string) string {
	w := map[string]bool{}
	for _, x := range want {
		w[x] = true
	}
	g := map[string]bool{}
	for _, x := range got {
		g[x] = true
		if !w[x] {
			return "extra " + x
		}
	}
	for _, x := range want {
		if !g[x] {
			return "missing " + x
		}
	}
	return "same set, different order"
}

// withRemoved adds the users the tenant deleted: graphsync keeps removed users, inactive and
// without memberships; want is adjusted to that.
func withRemoved(want replica, removed map[string]rUser) replica {
	w := want.clone()
	for id, u := range removed {
		u.Active = false
		w.Users[id] = u
	}
	return w
}

package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/internal/syncbuf"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// env is a test environment: CROWDGATE_* variables without the process's own.
type env map[string]string

func (e env) getenv(k string) string { return e[k] }

// with returns a copy of e with more variables.
func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// dbEnv returns an environment pointing at a new empty database of the dialect.
func dbEnv(t *testing.T, dialect string) env {
	t.Helper()
	return env{"CROWDGATE_DATABASE_URL": storetest.URL(t, dialect), "CROWDGATE_PASSWORD_WORKERS": "2"}
}

// forEachDialect runs fn on SQLite, and on PostgreSQL when CROWDGATE_TEST_POSTGRES is set.
func forEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			t.Parallel()
			fn(t, d)
		})
	}
}

// result is what one command printed.
type result struct {
	stdout, stderr string
	err            error
}

// runCmd runs one command line in-process, as main does, with stdin as standard input.
func runCmd(t *testing.T, e env, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), args, e.getenv, strings.NewReader(stdin), &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), err: err}
}

// mustRun runs a command that must succeed.
func mustRun(t *testing.T, e env, stdin string, args ...string) result {
	t.Helper()
	r := runCmd(t, e, stdin, args...)
	if r.err != nil {
		t.Fatalf("crowdgate %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

// openStore opens the test database beside the command under test, as an operator's second process would.
func openStore(t *testing.T, e env) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{URL: e["CROWDGATE_DATABASE_URL"], PasswordWorkers: 2}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// running is a server started by run in the background.
type running struct {
	addrs  listeners
	stdout *syncbuf.Buffer
	stderr *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startServer runs "crowdgate serve args..." until the test ends (or stop is called).
func startServer(t *testing.T, e env, args ...string) *running {
	t.Helper()
	return startServerWith(t, e, nil, args...)
}

// startSQLite starts a server on a new SQLite database, listening on a free port.
func startSQLite(t *testing.T) (env, *running) {
	t.Helper()
	e := dbEnv(t, "sqlite").with("CROWDGATE_LISTEN", "127.0.0.1:0")
	return e, startServer(t, e)
}

// firstStart reads what a server's first start on a new database left: the administrator
// password it printed once, and the store with its internal directory.
func firstStart(t *testing.T, srv *running, e env) (password string, st *store.Store, dir store.Directory) {
	t.Helper()
	m := passwordLine.FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("no generated administrator password on stdout:\n%s", srv.stdout.String())
	}
	st = openStore(t, e)
	dir, err := st.EnsureInternalDirectory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return m[1], st, dir
}

var errAlreadyStopped = errors.New("already stopped")

// stop cancels the server's context and waits for run to return.
func (r *running) stop() error {
	if r.cancel == nil {
		return errAlreadyStopped
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("server did not stop within 30s of cancellation")
	}
}

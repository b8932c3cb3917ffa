package crowdapi_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/crowdapi"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenScrub replaces per-run values (tokens) before a golden comparison.
var goldenScrub func(string) string

// env is a running Crowd REST server over a real store, with an internal directory and an
// application "jira" (password "jira-secret") mapped to it with every permission.
type env struct {
	t    *testing.T
	st   *store.Store
	srv  *httptest.Server
	dir  store.Directory
	app  store.Application
	base string // http://127.0.0.1:port/crowd/rest/usermanagement/1
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := storetest.New(t)
	ctx := context.Background()
	dir := storetest.Must(st.EnsureInternalDirectory(ctx))
	// The recorded Crowd requests these tests replay use short passwords ("password"): no minimum.
	dir.MinPasswordLen = 0
	dir = storetest.Must(st.UpdateDirectory(ctx, dir))
	app := storetest.Must(st.CreateApplication(ctx, store.NewApplication{
		Name: "jira", Password: "jira-secret", Active: true, Kind: store.AppJira,
		Mappings: []store.Mapping{{DirectoryID: dir.ID, AllowAll: true, Operations: store.AllOperations}},
	}))
	h, err := crowdapi.New(crowdapi.Config{ContextPath: "/crowd"}, st, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, st: st, srv: srv, dir: dir, app: app, base: srv.URL + "/crowd/rest/usermanagement/1"}
}

// with returns e reporting to t (for subtests).
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// req is one HTTP request to the API.
type req struct {
	method, path string // path relative to the usermanagement/1 base
	body         string
	contentType  string // default application/xml when there is a body
	accept       string // default application/xml; "-" for none
	user, pass   string // default jira / jira-secret
	latest       bool   // under usermanagement/latest instead of usermanagement/1
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(r req) resp {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	base := e.base
	if r.latest {
		base = strings.TrimSuffix(base, "/1") + "/latest"
	}
	hr, err := http.NewRequest(r.method, base+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.body != "" || r.contentType != "" {
		ct := r.contentType
		if ct == "" {
			ct = "application/xml; charset=UTF-8"
		}
		hr.Header.Set("Content-Type", ct)
	}
	switch r.accept {
	case "":
		hr.Header.Set("Accept", "application/xml")
	case "-":
	default:
		hr.Header.Set("Accept", r.accept)
	}
	user, pass := r.user, r.pass
	if user == "" && pass == "" {
		user, pass = "jira", "jira-secret"
	}
	if user != "-" {
		hr.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

// must checks status and the Crowd header every response carries.
func (e *env) must(r req, status int) resp {
	e.t.Helper()
	got := e.do(r)
	if got.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.path, got.status, status, got.body)
	}
	if got.header.Get("X-Embedded-Crowd-Version") == "" {
		e.t.Fatalf("%s %s: no X-Embedded-Crowd-Version header", r.method, r.path)
	}
	return got
}

// golden compares body with testdata/golden/name after replacing the volatile parts (server URL,
// keys, dates, tokens) with placeholders.
func golden(t *testing.T, name, body string, replace ...string) {
	t.Helper()
	body = strings.NewReplacer(replace...).Replace(body)
	if goldenScrub != nil {
		body = goldenScrub(body)
	}
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test ./crowdapi -update)", name, err)
	}
	if string(want) != body {
		t.Errorf("%s differs from golden:\n--- want\n%s\n--- got\n%s", name, want, body)
	}
}

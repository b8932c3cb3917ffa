package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// startServerWith is startServer with a hook on the command's environment (test transports).
func startServerWith(t *testing.T, e env, edit func(*cli), args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan listeners, 1)
	c := &cli{getenv: e.getenv, stdin: strings.NewReader(""), stdout: r.stdout,
		stderr: io.MultiWriter(r.stderr, t.Output()), listening: func(l listeners) { ready <- l }}
	if edit != nil {
		edit(c)
	}
	go func() { r.done <- c.run(ctx, append([]string{"serve"}, args...)) }()
	select {
	case r.addrs = <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("server did not start within 60s")
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil && !errors.Is(err, errAlreadyStopped) {
			t.Errorf("server stopped with: %v", err)
		}
	})
	return r
}

// browser is a console user agent: a cookie jar, no automatic redirects.
type browser struct {
	t    *testing.T
	base string // http://127.0.0.1:port
	http *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) reply {
	b.t.Helper()
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: string(body)}
}

func (b *browser) get(path string) reply {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

// csrf returns the console's CSRF token for the browser's session (or, signed out, its CSRF
// cookie), read from the sign-in page's form.
func (b *browser) csrf() string {
	b.t.Helper()
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(b.get("/console/login").body)
	if m == nil {
		b.t.Fatal("no CSRF token on the sign-in page")
	}
	return m[1]
}

// post submits a console form with the CSRF token.
func (b *browser) post(path string, form url.Values) reply {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", b.csrf())
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// login signs in on the console's break-glass page; it reports whether the sign-in succeeded.
func (b *browser) login(user, pw string) bool {
	b.t.Helper()
	r := b.post("/console/login", url.Values{"username": {user}, "password": {pw}, "next": {"/console/"}})
	return r.status == http.StatusSeeOther && !strings.Contains(r.header.Get("Location"), "/login")
}

// flash follows a form's redirect and returns the page it lands on.
func (b *browser) follow(r reply) string {
	b.t.Helper()
	if r.status/100 != 3 {
		b.t.Fatalf("want a redirect, got %d: %.2000s", r.status, r.body)
	}
	return b.get(r.header.Get("Location")).body
}

// crowd calls the Crowd REST API as an application.
func crowdCall(t *testing.T, base, app, pw, method, path string, body any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, base+"/crowd/rest/usermanagement/1"+path, rd)
	req.SetBasicAuth(app, pw)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: string(b)}
}

// auditEntries returns every audit entry, oldest first.
func auditEntries(t *testing.T, st *store.Store) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	before := int64(0)
	for {
		es, err := st.ListAudit(context.Background(), store.AuditFilter{Limit: 1000, BeforeID: before})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, es...) // newest first
		if len(es) < 1000 {
			break
		}
		before = es[len(es)-1].ID
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// pollUntil polls cond every 50 ms until it holds or d passes.
func pollUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/internal/consoletest"
	"github.com/crowdgate/crowdgate/internal/syncbuf"
	"github.com/crowdgate/crowdgate/store"
)

// startServerWith is startServer with a hook on the command's environment (test transports).
func startServerWith(t *testing.T, e env, edit func(*cli), args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, cancel: cancel, done: make(chan error, 1)}
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

// browser is a console user agent; reply is what the server answered (also to Crowd calls).
type (
	browser = consoletest.Client
	reply   = consoletest.Response
)

func newBrowser(t *testing.T, base string) *browser { return consoletest.New(t, base) }

// crowdCall calls the Crowd REST API as an application.
func crowdCall(t *testing.T, base, app, pw, method, path string, body any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	return crowdRequest(t, base+"/crowd/rest/usermanagement/1"+path, app, pw, method, "application/json", rd)
}

// crowdRequest calls the Crowd REST API at url as an application; contentType is the body's type
// and the one asked for.
func crowdRequest(t *testing.T, url, app, pw, method, contentType string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(app, pw)
	req.Header.Set("Accept", contentType)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{Status: res.StatusCode, Header: res.Header, Body: string(b)}
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

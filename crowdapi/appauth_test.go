package crowdapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/crowdapi"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestApplicationAuthentication covers targets S5: the password is always required, a wrong one is
// 401 in plain text, an address outside the allow-list is 403, and X-Forwarded-For counts only
// from trusted proxies.
func TestApplicationAuthentication(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()
	dir := storetest.Must(st.EnsureInternalDirectory(ctx))
	mapping := []store.Mapping{{DirectoryID: dir.ID, AllowAll: true}}
	storetest.Must(st.CreateApplication(ctx, store.NewApplication{Name: "local", Password: "local-secret", Active: true,
		RemoteAddresses: []string{"127.0.0.1"}, Mappings: mapping}))
	storetest.Must(st.CreateApplication(ctx, store.NewApplication{Name: "remote", Password: "remote-secret", Active: true,
		RemoteAddresses: []string{"10.20.0.0/16"}, Mappings: mapping}))
	storetest.Must(st.CreateApplication(ctx, store.NewApplication{Name: "off", Password: "off-secret", Active: false, Mappings: mapping}))
	h, err := crowdapi.New(crowdapi.Config{ContextPath: "", TrustedProxies: storetest.Addresses(t, "127.0.0.0/8")}, st,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	call := func(auth, xff string) (int, string, http.Header) {
		r, _ := http.NewRequest("GET", srv.URL+"/rest/usermanagement/1/config/cookie", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	basic := func(u, p string) string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(u, p)
		return r.Header.Get("Authorization")
	}
	for _, tc := range []struct {
		name, auth, xff string
		status          int
		body            string
	}{
		{"no credentials", "", "", 401, "Application failed to authenticate"},
		{"not basic", "Bearer abc", "", 401, "Application failed to authenticate"},
		{"malformed base64", "Basic !!!", "", 401, "Application failed to authenticate"},
		{"unknown application", basic("nobody", "x"), "", 401, "Application failed to authenticate"},
		{"wrong password from an allowed address", basic("local", "wrong-secret"), "", 401, "Application failed to authenticate"},
		{"empty password from an allowed address", basic("local", ""), "", 401, "Application failed to authenticate"},
		{"right password", basic("LOCAL", "local-secret"), "", 200, ""},
		{"right password, outside the allow-list", basic("remote", "remote-secret"), "", 403, "forbidden"},
		{"forwarded through a trusted proxy from an allowed address", basic("remote", "remote-secret"), "10.20.3.4", 200, ""},
		{"forwarded chain with an untrusted hop", basic("remote", "remote-secret"), "10.20.3.4, 192.0.2.1", 403, "forbidden"},
		{"inactive application", basic("off", "off-secret"), "", 403, "inactive"},
		// The address is checked before the password: a refused address learns nothing about it.
		{"wrong password, outside the allow-list", basic("remote", "wrong-secret"), "", 403, "forbidden"},
		// Left of the address a trusted proxy saw, the client writes what it likes.
		{"client-written address before the forwarded one", basic("local", "local-secret"), "1.1.1.1, 203.0.113.9", 403, "forbidden"},
		{"client-written junk before the forwarded one", basic("local", "local-secret"), "junk, 203.0.113.9", 403, "forbidden"},
		{"client claiming the allowed address", basic("local", "local-secret"), "127.0.0.1, 203.0.113.9", 403, "forbidden"},
	} {
		status, body, hdr := call(tc.auth, tc.xff)
		if status != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, status, body, tc.status, tc.body)
		}
		if hdr.Get("X-Embedded-Crowd-Version") == "" {
			t.Errorf("%s: no X-Embedded-Crowd-Version", tc.name)
		}
		if status == 401 && (hdr.Get("WWW-Authenticate") == "" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain")) {
			t.Errorf("%s: 401 headers %v", tc.name, hdr)
		}
	}
}

// TestXForwardedForIgnoredWithoutTrust: with no trusted proxies the header changes nothing.
func TestXForwardedForIgnoredWithoutTrust(t *testing.T) {
	e := newEnv(t)
	m := []store.Mapping{{DirectoryID: e.dir.ID, AllowAll: true}}
	addrs := []string{"10.1.1.1"}
	storetest.Must(e.st.UpdateApplication(context.Background(), e.app.ID, store.ApplicationChange{RemoteAddresses: &addrs, Mappings: &m}))
	r, _ := http.NewRequest("GET", e.base+"/config/cookie", nil)
	r.SetBasicAuth("jira", "jira-secret")
	r.Header.Set("X-Forwarded-For", "10.1.1.1")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("spoofed X-Forwarded-For from an untrusted peer: %d, want 403", res.StatusCode)
	}
}

package instances_test

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/saml/samltest"
)

const samlTenant = samltest.DefaultTenant

// TestSAMLReplayAcrossInstances: two crowdgate processes on one database behind one address (a
// load balancer, here a reverse proxy the test switches). A browser signs in on one; the very same
// SAML response, posted again with the browser's sign-in state cookie, is refused by the other as
// replayed: the replay cache is the database's, not a process's. Both orders.
func TestSAMLReplayAcrossInstances(t *testing.T) {
	dbURL := needPostgres(t)
	idpKey := samltest.NewKey(t, "idp")
	issuer := "https://sts.windows.net/" + samlTenant + "/"
	sso := "https://login.microsoftonline.com/" + samlTenant + "/saml2"
	mdFile := filepath.Join(t.TempDir(), "federationmetadata.xml")
	if err := os.WriteFile(mdFile, samltest.EntraMetadata(issuer, sso, sso, idpKey.Cert), 0o600); err != nil {
		t.Fatal(err)
	}

	// The load balancer: every request goes to the instance behind.
	var behind atomic.Pointer[url.URL]
	lb := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(behind.Load())
		r.Out.Host = r.In.Host
	}})
	t.Cleanup(lb.Close)

	cli(t, dbURL, userPassword+"\n", "user", "add", "alice", "--password-stdin")
	vars := map[string]string{
		"CROWDGATE_DATABASE_URL":           dbURL,
		"CROWDGATE_BASE_URL":               lb.URL,
		"CROWDGATE_SAML_IDP_METADATA_FILE": mdFile,
		"CROWDGATE_SAML_USER_MAPPING":      "nameid",
		"CROWDGATE_SAML_DIRECTORIES":       "Internal",
	}
	procs := []*proc{launch(t, "A", vars), launch(t, "B", vars)}
	for _, p := range procs {
		p.ready()
	}
	to := func(p *proc) {
		u, _ := url.Parse(p.base())
		behind.Store(u)
	}

	for _, order := range [][2]*proc{{procs[0], procs[1]}, {procs[1], procs[0]}} {
		first, second := order[0], order[1]
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

		// Sign in on the first instance.
		to(first)
		resp, err := c.Get(lb.URL + "/sso/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil {
			t.Fatalf("%s: /sso/login = %d to %q", first.name, resp.StatusCode, resp.Header.Get("Location"))
		}
		lbURL, _ := url.Parse(lb.URL)
		consoleURL, _ := url.Parse(lb.URL + "/console/")
		state := jar.Cookies(lbURL) // the browser's sign-in state, as an attacker would capture it
		r := samltest.EntraResponse(samlTenant, lb.URL+"/saml/acs", lb.URL+"/saml/metadata",
			authnRequestID(t, loc.Query().Get("SAMLRequest")), samltest.EntraUser{UPN: "alice", ObjectID: "00000000-0000-4000-8000-00000000a11c"}, time.Now())
		doc, err := r.Build(idpKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"SAMLResponse": {samltest.Encode(doc)}, "RelayState": {loc.Query().Get("RelayState")}}
		if status, body := postForm(t, c, lb.URL+"/saml/acs", form); status != http.StatusSeeOther {
			t.Fatalf("%s: genuine response = %d, want 303\n%.2000s", first.name, status, body)
		}
		if _, ok := cookieNamed(jar.Cookies(consoleURL), "crowdgate_console"); !ok {
			t.Fatalf("%s: no console session after the genuine response", first.name)
		}

		// The same response and state cookie on the other instance.
		to(second)
		replay, _ := cookiejar.New(nil)
		replay.SetCookies(lbURL, state)
		c2 := &http.Client{Jar: replay, CheckRedirect: c.CheckRedirect}
		if status, body := postForm(t, c2, lb.URL+"/saml/acs", form); status != http.StatusBadRequest {
			t.Errorf("%s after %s: replayed response = %d, want 400\n%.2000s", second.name, first.name, status, body)
		}
		if !waitLog(second, `msg="saml: sign-in refused"`, `reason="replayed: `) {
			t.Errorf("%s: no sign-in refused as replayed in the log", second.name)
		}
		if _, ok := cookieNamed(replay.Cookies(consoleURL), "crowdgate_console"); ok {
			t.Errorf("%s: the replay got a console cookie", second.name)
		}
	}
}

// postForm posts form with c and returns the status and body.
func postForm(t *testing.T, c *http.Client, to string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.PostForm(to, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitLog waits (up to the exit timeout) for a log line of p holding every part.
func waitLog(p *proc, parts ...string) bool {
	deadline := time.After(exitTimeout)
	for {
		changed := p.log.changed()
		for _, line := range strings.Split(p.log.String(), "\n") {
			all := true
			for _, s := range parts {
				all = all && strings.Contains(line, s)
			}
			if all {
				return true
			}
		}
		select {
		case <-changed:
		case <-deadline:
			return false
		}
	}
}

func cookieNamed(cs []*http.Cookie, name string) (*http.Cookie, bool) {
	for _, c := range cs {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

var authnRequestIDAttr = regexp.MustCompile(` ID="([^"]+)"`)

// authnRequestID inflates a redirect-binding AuthnRequest and returns its ID.
func authnRequestID(t *testing.T, m string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(m)
	if err != nil {
		t.Fatalf("SAMLRequest: %v", err)
	}
	x, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("SAMLRequest: %v", err)
	}
	id := authnRequestIDAttr.FindSubmatch(x)
	if id == nil {
		t.Fatalf("no ID in %s", x)
	}
	return string(id[1])
}

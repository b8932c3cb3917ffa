package instances_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// console is an administrator signed in to one instance's admin console with a local password.
type console struct {
	t    *testing.T
	base string
	name string
	hc   *http.Client
	csrf string
}

func signIn(t *testing.T, p *proc, user, password string) *console {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &console{t: t, base: p.base() + "/console", name: p.name, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	c.csrf = c.token()
	c.request("POST", "/login", url.Values{"username": {user}, "password": {password}}, http.StatusSeeOther)
	c.csrf = c.token() // bound to the session: a new one after sign-in
	return c
}

// token reads the CSRF token the console's forms carry (bound to the session) from the sign-in page.
func (c *console) token() string {
	c.t.Helper()
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(c.request("GET", "/login", nil, http.StatusOK))
	if m == nil {
		c.t.Fatalf("%s: no CSRF token on the console's sign-in page", c.name)
	}
	return m[1]
}

// request sends one console request (forms carry the CSRF token) and checks its status.
func (c *console) request(method, path string, form url.Values, want int) string {
	c.t.Helper()
	b, err := c.try(method, path, form, want)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// try is request for other goroutines than the test's: it returns the error.
func (c *console) try(method, path string, form url.Values, want int) (string, error) {
	var body io.Reader
	if form != nil {
		form.Set("_csrf", c.csrf)
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: console %s %s: %w", c.name, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return "", fmt.Errorf("%s: console %s %s = %d, want %d\n%.2000s", c.name, method, path, resp.StatusCode, want, b)
	}
	return string(b), nil
}

// syncNow presses "Sync now" on a directory's page; it may run on any goroutine.
func (c *console) syncNow(dirID int64) error {
	_, err := c.try("POST", "/directories/"+strconv.FormatInt(dirID, 10)+"/sync", url.Values{}, http.StatusSeeOther)
	return err
}

// syncing reports whether this instance says it is running a sync of the directory.
func (c *console) syncing(dirID int64) bool {
	c.t.Helper()
	var p struct {
		Running bool `json:"running"`
	}
	body := c.request("GET", "/directories/"+strconv.FormatInt(dirID, 10)+"/progress", nil, http.StatusOK)
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		c.t.Fatalf("%s: progress: %v\n%s", c.name, err, body)
	}
	return p.Running
}

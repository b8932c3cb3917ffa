package instances_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/crowdgate/crowdgate/internal/consoletest"
)

// console is an administrator signed in to one instance's admin console with a local password.
type console struct {
	t    *testing.T
	name string
	b    *consoletest.Client
}

func signIn(t *testing.T, p *proc, user, password string) *console {
	t.Helper()
	c := &console{t: t, name: p.name, b: consoletest.New(t, p.base())}
	c.b.CSRF() // from the sign-in page
	if r := c.b.Login(user, password); !r.SignedIn() {
		t.Fatalf("%s: console sign-in as %s: %d %s", p.name, user, r.Status, r.Header.Get("Location"))
	}
	return c
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
	r, err := c.b.Request(method, "/console"+path, form)
	if err != nil {
		return "", fmt.Errorf("%s: console %s %s: %w", c.name, method, path, err)
	}
	if r.Status != want {
		return "", fmt.Errorf("%s: console %s %s = %d, want %d\n%.2000s", c.name, method, path, r.Status, want, r.Body)
	}
	return r.Body, nil
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

// Package consoletest is a browser for crowdgate's admin console in tests: a cookie jar, no
// automatic redirects, forms posted with the console's CSRF token. The console's own tests (api),
// the command's (cmd/crowdgate) and the multi-instance ones (e2e/instances) share it.
package consoletest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Client is one browser. Methods without an error result fail the test on a transport error; use
// Request from other goroutines than the test's.
type Client struct {
	T    testing.TB
	Base string // the server's root URL, e.g. http://127.0.0.1:8095
	HTTP *http.Client
}

// Response is what the console answered.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// SignedIn reports whether r answers a sign-in form with a sign-in: a redirect away from the
// sign-in page.
func (r Response) SignedIn() bool {
	return r.Status == http.StatusSeeOther && !strings.Contains(r.Header.Get("Location"), "/login")
}

// New returns a browser with an empty cookie jar for the server at base.
func New(t testing.TB, base string) *Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Client{T: t, Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Try sends a request and reads the whole answer.
func (c *Client) Try(req *http.Request) (Response, error) {
	res, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: string(b)}, nil
}

// Do is Try that fails the test on a transport error.
func (c *Client) Do(req *http.Request) Response {
	c.T.Helper()
	r, err := c.Try(req)
	if err != nil {
		c.T.Fatal(err)
	}
	return r
}

// Request sends a GET (form nil) or a form with the CSRF token (which it must already have, see
// CSRF) and returns the error instead of failing the test, for other goroutines than the test's.
func (c *Client) Request(method, path string, form url.Values) (Response, error) {
	var body io.Reader
	if form != nil {
		if _, ok := form["_csrf"]; !ok {
			tok, err := c.token()
			if err != nil {
				return Response{}, fmt.Errorf("%s %s: %w", method, path, err)
			}
			form.Set("_csrf", tok)
		}
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.Base+path, body)
	if err != nil {
		return Response{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return c.Try(req)
}

// Get fetches a page.
func (c *Client) Get(path string) Response {
	c.T.Helper()
	r, err := c.Request(http.MethodGet, path, nil)
	if err != nil {
		c.T.Fatal(err)
	}
	return r
}

// csrfInput is the CSRF token as the console's forms carry it, or as every page's head does.
var csrfInput = regexp.MustCompile(`name="(?:_csrf" value|csrf-token" content)="([^"]+)"`)

// CSRF returns the console's CSRF token as its forms carry it: bound to the client's session once
// signed in (a new one after each sign-in), before that to its CSRF cookie. It is read from the
// sign-in page's form, which every visitor may load.
func (c *Client) CSRF() string {
	c.T.Helper()
	tok, err := c.token()
	if err != nil {
		c.T.Fatal(err)
	}
	return tok
}

func (c *Client) token() (string, error) {
	req, err := http.NewRequest(http.MethodGet, c.Base+"/console/login", nil)
	if err != nil {
		return "", err
	}
	r, err := c.Try(req)
	if err != nil {
		return "", err
	}
	m := csrfInput.FindStringSubmatch(r.Body)
	if m == nil {
		return "", fmt.Errorf("no CSRF token on the console's sign-in page (HTTP %d)", r.Status)
	}
	return m[1], nil
}

// Post submits a form with the CSRF token, unless the form carries its own _csrf.
func (c *Client) Post(path string, form url.Values) Response {
	c.T.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", c.CSRF())
	}
	return c.PostRaw(path, form, nil)
}

// PostRaw submits a form exactly as given (no CSRF token added), with extra request headers.
func (c *Client) PostRaw(path string, form url.Values, header http.Header) Response {
	c.T.Helper()
	req, err := http.NewRequest(http.MethodPost, c.Base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return c.Do(req)
}

// Login submits the console's local-password sign-in form (see Response.SignedIn).
func (c *Client) Login(user, pw string) Response {
	c.T.Helper()
	return c.Post("/console/login", url.Values{"username": {user}, "password": {pw}, "next": {"/console/"}})
}

// Follow fetches where a redirect points; anything but a redirect fails the test.
func (c *Client) Follow(r Response) Response {
	c.T.Helper()
	if r.Status/100 != 3 {
		c.T.Fatalf("want a redirect, got %d: %.2000s", r.Status, r.Body)
	}
	return c.Get(r.Header.Get("Location"))
}

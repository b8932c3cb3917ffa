package instances_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// prolog starts every XML body, as Jira's Crowd client writes it.
const prolog = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`

// crowd is an application calling one instance's Crowd REST API, as Jira does: XML both ways,
// HTTP basic authentication with the application's name and password.
type crowd struct {
	t        *testing.T
	base     string // .../crowd/rest/usermanagement/1
	app, pw  string
	instance string
	hc       *http.Client
}

func newCrowd(t *testing.T, p *proc, app, pw string) *crowd {
	return &crowd{t: t, base: p.base() + "/crowd/rest/usermanagement/1", app: app, pw: pw, instance: p.name,
		hc: &http.Client{Timeout: 30 * time.Second}}
}

// do sends one request and returns the status and body; a transport error fails the test.
func (c *crowd) do(method, path, body string) (int, string) {
	c.t.Helper()
	code, b, err := c.try(method, path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return code, b
}

// try is do for other goroutines than the test's: it returns the error.
func (c *crowd) try(method, path, body string) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(prolog + body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, "", err
	}
	req.SetBasicAuth(c.app, c.pw)
	req.Header.Set("Accept", "application/xml")
	if body != "" {
		req.Header.Set("Content-Type", "application/xml; charset=UTF-8")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("%s: %s %s: %w", c.instance, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("%s: %s %s: reading the answer: %w", c.instance, method, path, err)
	}
	return resp.StatusCode, string(b), nil
}

// must sends a request that must answer want.
func (c *crowd) must(want int, method, path, body string) string {
	c.t.Helper()
	code, b := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s: %s %s = %d, want %d\n%s", c.instance, method, path, code, want, b)
	}
	return b
}

// factors are the validation factors Jira sends for a browser on 127.0.0.1.
const factors = `<validation-factors><validation-factor><name>remote_address</name><value>127.0.0.1</value></validation-factor></validation-factors>`

// createSession signs a user in (Seraph's login: POST /session with the password) and returns the
// SSO token.
func (c *crowd) createSession(user, password string) string {
	c.t.Helper()
	body := c.must(http.StatusCreated, "POST", "/session", "<authentication-context><username>"+user+
		"</username><password>"+password+"</password>"+factors+"</authentication-context>")
	var s struct {
		Token string `xml:"token"`
		User  struct {
			Name string `xml:"name,attr"`
		} `xml:"user"`
	}
	if err := xml.Unmarshal([]byte(body), &s); err != nil || s.Token == "" || s.User.Name != user {
		c.t.Fatalf("%s: session answer %q (%v)", c.instance, body, err)
	}
	return s.Token
}

// validate is Seraph's check on every request (POST /session/{token}); it returns the status.
func (c *crowd) validate(token string) int {
	c.t.Helper()
	code, _ := c.do("POST", "/session/"+token, factors)
	return code
}

// refusedWithin polls validations of token until one is refused, and returns how long that took
// from since and the refusal's status. It fails the test when none is refused within timeout.
func (c *crowd) refusedWithin(token string, since time.Time, timeout time.Duration) (time.Duration, int) {
	c.t.Helper()
	for {
		code := c.validate(token)
		if code != http.StatusOK {
			return time.Since(since), code
		}
		if time.Since(since) > timeout {
			c.t.Fatalf("%s: session still valid %s after the change", c.instance, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// event is one entry of /event, as a comparable line.
type event string

// events reads GET /event/{token}: the events since token, in the order served, and the new token.
func (c *crowd) events(token string) ([]event, string) {
	c.t.Helper()
	body := c.must(http.StatusOK, "GET", "/event/"+url.PathEscape(token), "")
	evs, next, err := parseEvents(body)
	if err != nil {
		c.t.Fatalf("%s: /event answer: %v\n%s", c.instance, err, body)
	}
	return evs, next
}

// eventToken reads GET /event, the token of "now".
func (c *crowd) eventToken() string {
	c.t.Helper()
	body := c.must(http.StatusOK, "GET", "/event", "")
	_, tok, err := parseEvents(body)
	if err != nil || tok == "" {
		c.t.Fatalf("%s: /event answer: %v\n%s", c.instance, err, body)
	}
	return tok
}

func parseEvents(body string) ([]event, string, error) {
	type named struct {
		Name string `xml:"name,attr"`
	}
	var doc struct {
		Token  string `xml:"newEventToken,attr"`
		Events []struct {
			XMLName   xml.Name
			Operation string  `xml:"operation"`
			User      named   `xml:"user"`
			Group     named   `xml:"group"`
			ChildUser named   `xml:"childUser"`
			Parents   []named `xml:"parentGroups>group"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		return nil, "", fmt.Errorf("parse events: %w", err)
	}
	out := make([]event, 0, len(doc.Events))
	for _, e := range doc.Events {
		name := e.User.Name + e.Group.Name + e.ChildUser.Name
		var parents []string
		for _, p := range e.Parents {
			parents = append(parents, p.Name)
		}
		s := e.XMLName.Local + " " + e.Operation + " " + name
		if len(parents) > 0 {
			s += " in " + strings.Join(parents, ",")
		}
		out = append(out, event(s))
	}
	return out, doc.Token, nil
}

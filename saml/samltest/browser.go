package samltest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Browser is an HTTP client that behaves like a browser on the sign-in path: it keeps cookies,
// follows redirects, submits the IdP's auto-posting SAML forms (which a browser's script would
// submit) and fills the IdP's login form with User and Password once per navigation.
type Browser struct {
	Client   *http.Client
	Jar      *cookiejar.Jar
	User     string
	Password string
	t        testing.TB
}

// Page is where a navigation ended.
type Page struct {
	URL    *url.URL
	Status int
	Header http.Header
	Body   string
}

// NewBrowser returns a browser with an empty cookie jar.
func NewBrowser(t testing.TB) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{Client: &http.Client{Jar: jar}, Jar: jar, t: t}
}

// Get navigates to rawURL and on through redirects and forms, at most 10 form submissions.
func (b *Browser) Get(rawURL string) *Page {
	b.t.Helper()
	p := b.do(http.MethodGet, rawURL, nil, nil)
	return b.follow(p)
}

// Post submits form values to rawURL, as a form on a page of that origin does, and follows on
// like Get.
func (b *Browser) Post(rawURL string, form url.Values) *Page {
	b.t.Helper()
	from, err := url.Parse(rawURL)
	if err != nil {
		b.t.Fatalf("samltest: browser: %v", err)
	}
	return b.follow(b.do(http.MethodPost, rawURL, form, from))
}

// Open fetches rawURL, following redirects but submitting no form.
func (b *Browser) Open(rawURL string) *Page {
	b.t.Helper()
	return b.do(http.MethodGet, rawURL, nil, nil)
}

func (b *Browser) follow(p *Page) *Page {
	b.t.Helper()
	loggedIn := false
	for range 10 {
		f, ok := ParseForm(p)
		if !ok {
			return p
		}
		switch {
		case f.HasPassword() && f.Values.Has("user"): // the IdP's login form
			if loggedIn || b.User == "" {
				return p // wrong credentials: the IdP shows its form again
			}
			loggedIn = true
			f.Values.Set("user", b.User)
			f.Values.Set("password", b.Password)
		case f.Values.Has("SAMLResponse") || f.Values.Has("SAMLRequest"):
		default:
			return p
		}
		p = b.do(f.Method, f.Action, f.Values, p.URL)
	}
	b.t.Fatalf("samltest: browser: too many forms, last at %s", p.URL)
	return nil
}

// do sends one request and follows its redirects. from is the page that submitted a form (nil:
// the user navigated), which sets Sec-Fetch-Site as a browser would.
func (b *Browser) do(method, rawURL string, form url.Values, from *url.URL) *Page {
	b.t.Helper()
	var body io.Reader
	if form != nil && method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		b.t.Fatalf("samltest: browser: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", fetchSite(from, req.URL))
	resp, err := b.Client.Do(req)
	if err != nil {
		b.t.Fatalf("samltest: browser: %s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("samltest: browser: read %s: %v", rawURL, err)
	}
	return &Page{URL: resp.Request.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(data)}
}

// Cookie returns the cookie named name that the browser would send to rawURL.
func (b *Browser) Cookie(rawURL, name string) (*http.Cookie, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, false
	}
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// Form is the first form of a page.
type Form struct {
	Action   string
	Method   string
	Values   url.Values
	password bool
}

// HasPassword reports whether the form asks for a password.
func (f Form) HasPassword() bool { return f.password }

// ParseForm returns the first form of an HTML page, with its action resolved against the page.
func ParseForm(p *Page) (Form, bool) {
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		return Form{}, false
	}
	var form *html.Node
	var find func(n *html.Node)
	find = func(n *html.Node) {
		if form != nil {
			return
		}
		if n.Type == html.ElementNode && n.Data == "form" {
			form = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	if form == nil {
		return Form{}, false
	}
	f := Form{Method: strings.ToUpper(attr(form, "method")), Values: url.Values{}}
	if f.Method == "" {
		f.Method = http.MethodGet
	}
	action, err := p.URL.Parse(attr(form, "action"))
	if err != nil {
		return Form{}, false
	}
	f.Action = action.String()
	var inputs func(n *html.Node)
	inputs = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" {
			if name := attr(n, "name"); name != "" {
				f.Values.Add(name, attr(n, "value"))
			}
			if strings.EqualFold(attr(n, "type"), "password") {
				f.password = true
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			inputs(c)
		}
	}
	inputs(form)
	return f, true
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// fetchSite is the Sec-Fetch-Site of a request to u from a page at from: same-origin, same-site
// (same host, another port: every test server is on 127.0.0.1), cross-site, or none for a
// navigation the user started.
func fetchSite(from, u *url.URL) string {
	switch {
	case from == nil:
		return "none"
	case from.Scheme == u.Scheme && from.Host == u.Host:
		return "same-origin"
	case from.Hostname() == u.Hostname():
		return "same-site"
	}
	return "cross-site"
}

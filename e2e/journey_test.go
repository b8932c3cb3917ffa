package e2e_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/internal/chromium"
	"github.com/crowdgate/crowdgate/store"
)

// step is an expected hop: method, URL prefix and status, and a query parameter it must carry.
type step struct {
	Method string
	Prefix string
	Status int64
	Param  string
}

// hasParam reports whether rawURL's query has the parameter.
func hasParam(rawURL, name string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Query().Has(name)
}

// wantHops checks the tab's document requests were exactly these, in order.
func wantHops(t *testing.T, what string, got []hop, want ...step) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = got[i].Method == want[i].Method && strings.HasPrefix(got[i].URL, want[i].Prefix) && got[i].Status == want[i].Status &&
			(want[i].Param == "" || hasParam(got[i].URL, want[i].Param))
	}
	if !ok {
		var w strings.Builder
		for _, s := range want {
			w.WriteString("  " + s.Method + " " + s.Prefix + "… " + strconv.FormatInt(s.Status, 10))
			if s.Param != "" {
				w.WriteString(" (with " + s.Param + ")")
			}
			w.WriteString("\n")
		}
		t.Errorf("%s: the browser's requests were\n%swant\n%s", what, hopList(got), w.String())
	}
}

// wantCalls checks the Crowd REST calls fakejira made after the first n.
func wantCalls(t *testing.T, what string, j *fakeJira, n int, want ...string) {
	t.Helper()
	var got []string
	for _, c := range j.Calls()[n:] {
		got = append(got, c.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: fakejira's Crowd REST calls (-want +got):\n%s", what, diff)
	}
}

func wantText(t *testing.T, what string, s state, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s.Text, p) {
			t.Errorf("%s: page %s does not say %q; it says:\n%s", what, s.URL, p, s.Text)
		}
	}
}

func hasText(parts ...string) func(state) bool {
	return func(s state) bool {
		for _, p := range parts {
			if !strings.Contains(s.Text, p) {
				return false
			}
		}
		return true
	}
}

func both(a, b func(state) bool) func(state) bool {
	return func(s state) bool { return a(s) && b(s) }
}

// signIn fills the IdP's login form, which the tab shows, and presses "Log In".
func signIn(tb *tab, upn string) {
	tb.t.Helper()
	tb.do("sign in at the IdP as "+upn,
		chromedp.SendKeys(chromedp.CSS(`input[name="user"]`), upn),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), idpPassword),
		chromedp.Click(chromedp.CSS(`input[type="submit"][value="Log In"]`)),
	)
}

// TestSSOJourney is issue 4's acceptance test: the whole browser journey in headless Chromium.
// A user opens a protected Jira page, is sent on without a click through crowdgate to the
// IdP's login page, signs in, and lands on the page she asked for, signed in through the Crowd
// SSO cookie that Jira validates over the Crowd REST API as Seraph does. Then: another page
// without the IdP, logout, a user outside Jira's licence group refused, and open redirects
// refused.
func TestSSOJourney(t *testing.T) {
	start := time.Now()
	waitBrowser := chromium.Start(t, 1280, 800)
	e := newEnv(t)
	t.Logf("IdP, crowdgate and fakejira ready in %v", time.Since(start).Round(time.Millisecond))
	browser := waitBrowser()
	shots := newShots(t)
	ctx := context.Background()

	dashboard := e.jiraURL + "/secure/Dashboard.jspa?selectPageId=10100"
	idpSSO := e.idp.HTTP.URL + "/sso"
	loginPrefix := e.ssoURL + "/sso/login?app=jira&dest=" + url.QueryEscape("/secure/Dashboard.jspa?selectPageId=10100")
	// The AuthnRequest, HTTP-Redirect binding.
	toIdP := step{"GET", idpSSO + "?", 200, "SAMLRequest"}
	atIdPLogin := both(under(idpSSO), func(s state) bool { return strings.Contains(s.Title, "Log in") })

	// alice's tab lives across the subtests of her journey.
	alicePage := newTab(t, browser, shots)
	var token string // alice's crowd.token_key
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"alice_signs_in", func(t *testing.T) {
			tb := alicePage
			tb.t = t
			calls := len(e.jira.Calls())
			tb.navigate("open a protected Jira page", dashboard)
			tb.waitFor("the IdP's login page", atIdPLogin)
			// Straight from Jira through crowdgate to the IdP: no page at crowdgate to click through.
			wantHops(t, "to the IdP", tb.hopsSince(0),
				step{"GET", dashboard, 302, ""},
				step{"GET", loginPrefix, 302, ""},
				toIdP)
			wantCalls(t, "unauthenticated page", e.jira, calls, "GET /config/cookie 200")
			tb.screenshot("01-idp-login")

			m, calls := tb.mark(), len(e.jira.Calls())
			signIn(tb, alice.UPN)
			s := tb.waitFor("back at Jira, signed in", both(at(dashboard), hasText("Signed in as "+alice.UPN)))
			wantText(t, "Jira", s, "System Dashboard", "Alice Adams")
			wantHops(t, "back to Jira", tb.hopsSince(m),
				step{"POST", idpSSO, 200, ""}, // the IdP's auto-posting response form
				step{"POST", e.ssoURL + "/saml/acs", 303, ""},
				step{"GET", dashboard, 200, ""})
			if got, _ := chromedp.Run(tb.ctx, chromedp.Text(chromedp.ID("principal"))); got != alice.UPN {
				t.Errorf("principal on the page = %q, want %q", got, alice.UPN)
			}
			png := tb.screenshot("02-jira-signed-in")
			publish(t, "sso-journey.png", png)

			c, ok := tb.cookie(e.jiraURL+"/", store.DefaultCookieName)
			if !ok {
				t.Fatalf("no %s cookie for Jira after sign-in", store.DefaultCookieName)
			}
			token = c.Value
			if !c.HTTPOnly || !c.Session || c.Path != "/" || c.Domain != "127.0.0.1" || c.Secure {
				t.Errorf("cookie %+v: want a host-only HttpOnly session cookie on 127.0.0.1, Path=/, not Secure", *c)
			}
			if c2, ok := tb.cookie(e.ssoURL+"/", store.DefaultCookieName); !ok || c2.Value != token {
				t.Errorf("crowdgate and Jira do not share the cookie")
			}
			sess, err := e.st.SessionByToken(ctx, token)
			if err != nil {
				t.Fatalf("SessionByToken: %v", err)
			}
			if sess.Kind != store.SessionSSO || sess.UserID != e.users[alice.UPN].ID || sess.ApplicationID == nil || *sess.ApplicationID != e.app.ID {
				t.Errorf("session %+v, want alice's SSO session for jira", sess)
			}
			// Seraph's sequence for a token new to Jira.
			wantCalls(t, "first signed-in page", e.jira, calls,
				"GET /config/cookie 200",
				"POST /session/{token} 200",
				"GET /session/{token}?expand=user 200",
				"POST /authentication/notify?username="+url.QueryEscape(alice.UPN)+" 200")
		}},
		{"second_page_without_the_IdP", func(t *testing.T) {
			tb := alicePage
			tb.t = t
			m, calls, hits := tb.mark(), len(e.jira.Calls()), e.hits.count()
			issue := e.jiraURL + "/browse/ABC-1"
			tb.navigate("open another protected page", issue)
			s := tb.waitFor("the issue", both(at(issue), hasText("Signed in as "+alice.UPN)))
			wantText(t, "issue", s, "ABC-1")
			wantHops(t, "second page", tb.hopsSince(m), step{"GET", issue, 200, ""})
			if hs, _ := e.hits.since(hits); len(browserOnly(hs)) != 0 {
				t.Errorf("the browser went to crowdgate: %+v", browserOnly(hs))
			}
			wantCalls(t, "validated page", e.jira, calls,
				"GET /config/cookie 200",
				"POST /session/{token} 200",
				"GET /session/{token}?expand=user 200")
			tb.screenshot("03-jira-second-page")
		}},
		{"logout", func(t *testing.T) {
			tb := alicePage
			tb.t = t
			m, calls := tb.mark(), len(e.jira.Calls())
			tb.do("log out of Jira", chromedp.Click(chromedp.ID("logout")))
			s := tb.waitFor("crowdgate's signed-out page", both(at(e.ssoURL+"/sso/logout?app=jira"), hasText("signed out")))
			wantText(t, "signed out", s, "Back to jira")
			wantHops(t, "logout", tb.hopsSince(m),
				step{"GET", e.jiraURL + "/logout", 302, ""},
				step{"GET", e.ssoURL + "/sso/logout?app=jira", 200, ""})
			wantCalls(t, "Seraph's logout", e.jira, calls, "GET /config/cookie 200", "DELETE /session/{token} 204")
			for _, u := range []string{e.jiraURL + "/", e.ssoURL + "/"} {
				if c, ok := tb.cookie(u, store.DefaultCookieName); ok {
					t.Errorf("%s still sends %s=%s after logout", u, c.Name, c.Value)
				}
			}
			if _, err := e.st.SessionByToken(ctx, token); !store.IsNotFound(err) {
				t.Errorf("alice's session after logout: %v, want not found", err)
			}
			if _, status, err := e.jira.Validate(ctx, token, "127.0.0.1"); err != nil || status != http.StatusNotFound {
				t.Errorf("validating the old token: %d, %v; want 404", status, err)
			}
			tb.screenshot("04-signed-out")

			// The protected page again: through crowdgate to the IdP, whose own session (single
			// logout is off, as by default) signs alice in again with a new token.
			m = tb.mark()
			tb.navigate("open the protected page again", dashboard)
			tb.waitFor("back at Jira", both(at(dashboard), hasText("Signed in as "+alice.UPN)))
			wantHops(t, "after logout", tb.hopsSince(m),
				step{"GET", dashboard, 302, ""},
				step{"GET", loginPrefix, 302, ""},
				toIdP,
				step{"POST", e.ssoURL + "/saml/acs", 303, ""},
				step{"GET", dashboard, 200, ""})
			if c, ok := tb.cookie(e.jiraURL+"/", store.DefaultCookieName); !ok || c.Value == token {
				t.Errorf("after signing in again: cookie %v, want a new token", c)
			}
		}},
		{"bob_is_refused", func(t *testing.T) {
			tb := newTab(t, browser, shots)
			calls, hits := len(e.jira.Calls()), e.hits.count()
			tb.navigate("bob opens a protected Jira page", dashboard)
			tb.waitFor("the IdP's login page", atIdPLogin)
			m := tb.mark()
			signIn(tb, bob.UPN)
			s := tb.waitFor("crowdgate's refusal", both(at(e.ssoURL+"/saml/acs"), hasText("Sign-in failed")))
			wantText(t, "refusal", s, "You are signed in as "+bob.UPN+", but you do not have access to jira.")
			wantHops(t, "bob", tb.hopsSince(m),
				step{"POST", idpSSO, 200, ""},
				step{"POST", e.ssoURL + "/saml/acs", http.StatusForbidden, ""})
			tb.screenshot("05-bob-refused")
			for _, u := range []string{e.jiraURL + "/", e.ssoURL + "/"} {
				if c, ok := tb.cookie(u, store.DefaultCookieName); ok {
					t.Errorf("bob got %s=%s", c.Name, c.Value)
				}
			}
			if s := e.sessions(t, bob.UPN); len(s) != 0 {
				t.Errorf("bob has sessions: %+v", s)
			}
			// Back to Jira: the IdP signs him in at once, crowdgate refuses him again.
			m = tb.mark()
			tb.navigate("bob tries Jira again", e.jiraURL+"/browse/ABC-1")
			tb.waitFor("refused again", both(at(e.ssoURL+"/saml/acs"), hasText("do not have access to jira")))
			wantHops(t, "bob again", tb.hopsSince(m),
				step{"GET", e.jiraURL + "/browse/ABC-1", 302, ""},
				step{"GET", e.ssoURL + "/sso/login?app=jira&dest=" + url.QueryEscape("/browse/ABC-1"), 302, ""},
				toIdP,
				step{"POST", e.ssoURL + "/saml/acs", http.StatusForbidden, ""})
			if slices.Contains(e.jira.Principals(), bob.UPN) {
				t.Errorf("fakejira served a page to bob: %v", e.jira.Principals())
			}
			// Jira never had a token to validate.
			wantCalls(t, "bob's visits", e.jira, calls, "GET /config/cookie 200", "GET /config/cookie 200")
			var acs []int
			hs, _ := e.hits.since(hits)
			for _, h := range hs {
				if h.Path == "/saml/acs" {
					acs = append(acs, h.Status)
				}
			}
			if !slices.Equal(acs, []int{http.StatusForbidden, http.StatusForbidden}) {
				t.Errorf("crowdgate answered bob's ACS posts with %v, want two 403s", acs)
			}
		}},
		{"open_redirect_is_refused", func(t *testing.T) {
			tb := newTab(t, browser, shots)
			jiraPort := strings.TrimPrefix(e.jiraURL, "http://127.0.0.1:")
			for i, c := range []struct {
				path   string
				status int64
				text   string
			}{
				{"/sso/login?app=jira&dest=" + url.QueryEscape("https://evil.example/"), 400, "The sign-in link is not valid"},
				{"/sso/login?dest=" + url.QueryEscape("https://evil.example/"), 400, "The sign-in link is not valid"},
				{"/sso/login?app=jira&dest=" + url.QueryEscape("//evil.example/"), 400, "The sign-in link is not valid"},
				{"/sso/login?app=jira&os_destination=" + url.QueryEscape("https://evil.example/"), 400, "The sign-in link is not valid"},
				{"/sso/login?app=jira&dest=" + url.QueryEscape("http://127.0.0.1:"+jiraPort+"@evil.example/"), 400, "The sign-in link is not valid"},
				{"/sso/login?app=jira&dest=" + url.QueryEscape("http://127.0.0.1:"+jiraPort+".evil.example/"), 400, "The sign-in link is not valid"},
				// Logout never redirects to a foreign return URL either.
				{"/sso/logout?app=jira&dest=" + url.QueryEscape("https://evil.example/"), 200, "You are signed out."},
			} {
				m := tb.mark()
				u := e.ssoURL + c.path
				tb.navigate("open "+c.path, u)
				s := tb.waitFor("crowdgate's answer", at(u))
				wantText(t, c.path, s, c.text)
				wantHops(t, c.path, tb.hopsSince(m), step{"GET", u, c.status, ""})
				if i == 0 {
					tb.screenshot("06-open-redirect-refused")
				}
			}
			for _, h := range tb.hopsSince(0) {
				if strings.Contains(h.URL, "//evil.example") || strings.HasPrefix(h.URL, e.idp.HTTP.URL) {
					t.Errorf("the browser was sent on to %s", h.URL)
				}
			}
			// The same sign-in link to Jira itself is followed at once.
			m := tb.mark()
			tb.navigate("a valid link", e.ssoURL+"/sso/login?app=jira&dest="+url.QueryEscape(e.jiraURL+"/browse/ABC-1"))
			tb.waitFor("the IdP's login page", under(idpSSO))
			wantHops(t, "valid link", tb.hopsSince(m),
				step{"GET", e.ssoURL + "/sso/login", 302, ""},
				toIdP)
		}},
	}
	failed := false
	for _, s := range steps {
		dependent := strings.HasPrefix(s.name, "second_") || s.name == "logout"
		start := time.Now()
		ok := t.Run(s.name, func(t *testing.T) {
			if dependent && failed {
				t.Skip("alice's sign-in failed")
			}
			s.run(t)
		})
		t.Logf("%s: %v in %v", s.name, map[bool]string{true: "ok", false: "FAILED"}[ok], time.Since(start).Round(time.Millisecond))
		if !ok && (s.name == "alice_signs_in" || dependent) {
			failed = true
		}
	}
}

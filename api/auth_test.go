package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/internal/totp"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	for _, path := range []string{"/console/login", "/console/static/console.css", "/console/nope"} {
		r := c.Get(path)
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "same-origin",
			"X-Frame-Options":        "DENY",
		} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	if cc := c.Get("/console/login").Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("login page Cache-Control %q", cc)
	}
}

func TestUnauthenticated(t *testing.T) {
	t.Run("break-glass page", func(t *testing.T) {
		h := newHarness(t)
		r := h.client().Get("/console/users?q=x")
		wantStatus(t, r, http.StatusFound)
		if loc := r.Header.Get("Location"); loc != "/console/login?next="+url.QueryEscape("/console/users?q=x") {
			t.Errorf("redirect to %q", loc)
		}
	})
	t.Run("SAML login URL", func(t *testing.T) {
		h := newHarness(t, func(c *api.Config) { c.LoginURL = "/sso/login?dest=/console/" })
		c := h.client()
		r := c.Get("/console/groups")
		wantStatus(t, r, http.StatusFound)
		if loc := r.Header.Get("Location"); loc != "/sso/login?dest="+url.QueryEscape("/console/groups") {
			t.Errorf("redirect to %q", loc)
		}
		// The break-glass page stays reachable and links to the IdP sign-in.
		wantContains(t, c.Get("/console/login").Body, "Sign in with Microsoft Entra ID", `href="/sso/login?dest=%2Fconsole%2F"`)
	})
	t.Run("posts and JSON get 401", func(t *testing.T) {
		h := newHarness(t)
		c := h.client()
		wantStatus(t, c.Post("/console/users", url.Values{"name": {"x"}}), http.StatusUnauthorized)
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/console/directories/1/progress", nil)
		r := c.Do(req)
		wantStatus(t, r, http.StatusUnauthorized)
		if !strings.Contains(r.Body, `"error"`) {
			t.Errorf("JSON error body: %s", r.Body)
		}
	})
	t.Run("SSO session does not open the console", func(t *testing.T) {
		h := newHarness(t)
		_, token, err := h.st.CreateSession(context.Background(), store.NewSession{Kind: store.SessionSSO, UserID: h.admin.ID})
		if err != nil {
			t.Fatal(err)
		}
		c := h.client()
		u, _ := url.Parse(h.srv.URL + "/console/")
		c.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "crowdgate_console", Value: token, Path: "/console"}})
		wantStatus(t, c.Get("/console/"), http.StatusFound)
	})
}

func TestLoginLogout(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	r := c.Login("admin", adminPassword)
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/console/" {
		t.Errorf("after sign-in: %q", loc)
	}
	var cookie *http.Cookie
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if ck.Name == "crowdgate_console" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.Path != "/console" || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", cookie)
	}
	sess, err := h.st.SessionByToken(context.Background(), cookie.Value)
	if err != nil || sess.Kind != store.SessionConsole || sess.UserID != h.admin.ID {
		t.Fatalf("session %+v, %v", sess, err)
	}
	if e := h.lastAudit("LOGIN"); e.Actor != "admin" || e.ActorKind != store.ActorAdmin || e.Source != "127.0.0.1" || e.Outcome != "SUCCESS" {
		t.Errorf("login audit %+v", e)
	}
	wantContains(t, c.Get("/console/").Body, "Overview", "Ada Admin")
	r = c.Post("/console/logout", nil)
	wantStatus(t, r, http.StatusSeeOther)
	if _, err := h.st.SessionByToken(context.Background(), cookie.Value); !store.IsNotFound(err) {
		t.Errorf("session after sign-out: %v", err)
	}
	wantContains(t, c.Follow(r).Body, "You have signed out")
	wantStatus(t, c.Get("/console/"), http.StatusFound)
	if e := h.lastAudit("LOGOUT"); e.Actor != "admin" {
		t.Errorf("logout audit %+v", e)
	}
}

func TestLoginRefusals(t *testing.T) {
	h := newHarness(t)
	h.addUser(h.dir.ID, "mallory")
	if err := h.st.SetPassword(h.ctx(), mustUser(t, h, "mallory").ID, "mallory-password"); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	for _, tc := range []struct{ user, pw, reason string }{
		{"admin", "wrong", "failed to authenticate"},
		{"nobody", "x", "not found"},
		{"mallory", "mallory-password", "not a member of a bound administrator group"},
	} {
		r := c.Login(tc.user, tc.pw)
		wantStatus(t, r, http.StatusUnauthorized)
		wantContains(t, r.Body, "Sign-in failed")
		// One row per address and minute: its first refusal as it came, then the count.
		if err := h.st.FlushSignInFailures(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		e := h.lastAudit("CONSOLE_LOGIN")
		if e.Outcome != "FAILURE" || !strings.Contains(e.Details, `"`+tc.user+`"`) || !strings.Contains(e.Details, tc.reason) || e.Source != "127.0.0.1" {
			t.Errorf("audit of %s: %+v", tc.user, e)
		}
	}
}

func mustUser(t *testing.T, h *harness, name string) store.User {
	t.Helper()
	u, err := h.st.UserByName(context.Background(), h.dir.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestLoginThrottle: failures slow down the address they come from, even for the right password.
func TestLoginThrottle(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	for range store.GuardSlowAfter {
		wantStatus(t, c.Login("nobody", "guess"), http.StatusUnauthorized)
	}
	r := c.Login("admin", adminPassword)
	wantStatus(t, r, http.StatusTooManyRequests)
	wantContains(t, r.Body, "Too many failed attempts")
	// Throttled attempts are counted, not audited: the row holds the 5 checked failures.
	if err := h.st.FlushSignInFailures(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if e := h.lastAudit("CONSOLE_LOGIN"); !strings.Contains(e.Details, `"count":5,`) {
		t.Errorf("aggregated audit %+v", e)
	}
}

func TestNonAdminForbidden(t *testing.T) {
	h := newHarness(t)
	// A SAML sign-in creates console sessions for anyone; only administrators get in.
	bob := h.addUser(h.entra.ID, "bob@contoso.com")
	_, token, err := h.st.CreateSession(context.Background(), store.NewSession{Kind: store.SessionConsole, UserID: bob.ID})
	if err != nil {
		t.Fatal(err)
	}
	c := h.client()
	u, _ := url.Parse(h.srv.URL + "/console/")
	c.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "crowdgate_console", Value: token, Path: "/console"}})
	for _, path := range []string{"/console/", "/console/users", "/console/audit.csv"} {
		r := c.Get(path)
		wantStatus(t, r, http.StatusForbidden)
		if path == "/console/" {
			wantContains(t, r.Body, "Not an administrator", "crowdgate-admins")
		}
	}
	wantStatus(t, c.Post("/console/users", url.Values{"name": {"x"}}), http.StatusForbidden)
	// A group that merely carries the admin group's name, as any tenant user can create one in
	// Entra, grants nothing.
	ctx := h.ctx()
	team := h.addGroup(h.entra.ID, "it-team")
	lookalike := h.addGroup(h.entra.ID, "crowdgate-admins")
	if err := h.st.AddGroupToGroup(ctx, team.ID, lookalike.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.st.AddUserToGroup(ctx, bob.ID, team.ID); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.Get("/console/"), http.StatusForbidden)
	// A nested member of the Entra group bound by object id is an administrator, and its page says why.
	bound := storetest.Must(h.st.CreateGroup(ctx, store.NewGroup{DirectoryID: h.entra.ID, Name: "IT operations",
		ExternalID: adminsObjectID, Active: true}))
	if err := h.st.AddGroupToGroup(ctx, team.ID, bound.ID); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.Get("/console/"), http.StatusOK)
	r := c.Get(fmt.Sprintf("/console/users/%d", bob.ID))
	wantContains(t, r.Body, "Administrator", "member of IT operations (Contoso Entra ID, bound by Entra object id) through it-team")
	// Signing out works for everyone.
	wantStatus(t, c.Post("/console/logout", nil), http.StatusSeeOther)
}

func TestCSRF(t *testing.T) {
	h, c := signedIn(t)
	form := func(token string) url.Values {
		return url.Values{"_csrf": {token}, "directory": {"1"}, "name": {"eve"}, "password": {"long enough password"}, "password2": {"long enough password"}}
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"missing token", url.Values{"name": {"eve"}}, nil},
		{"wrong token", form("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), nil},
		{"foreign origin", form(c.CSRF()), http.Header{"Origin": {"https://evil.example"}}},
		{"cross-site fetch", form(c.CSRF()), http.Header{"Sec-Fetch-Site": {"cross-site"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.PostRaw("/console/users", tc.form, tc.header)
			wantStatus(t, r, http.StatusForbidden)
		})
	}
	if _, err := h.st.UserByName(context.Background(), h.dir.ID, "eve"); !store.IsNotFound(err) {
		t.Fatalf("a refused form created the user: %v", err)
	}
	// The sign-in form is protected too.
	fresh := h.client()
	r := fresh.PostRaw("/console/login", url.Values{"username": {"admin"}, "password": {adminPassword}}, nil)
	wantStatus(t, r, http.StatusForbidden)
	// The same form with the token and a same-origin Origin works.
	r = c.PostRaw("/console/users", form(c.CSRF()), http.Header{"Origin": {h.srv.URL}, "Sec-Fetch-Site": {"same-origin"}})
	wantStatus(t, r, http.StatusSeeOther)
}

func TestReauthentication(t *testing.T) {
	h, c := signedIn(t)
	app := createApp(t, h, c, "jira", "JIRA")
	h.age(api.DefaultReauthAge + 1)
	// Stale sign-in: the rotation is refused and sends the administrator to confirm.
	r := c.Post("/console/applications/"+itoa(app.ID)+"/rotate", nil)
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "/console/reauth?next=") {
		t.Fatalf("redirect %q", loc)
	}
	page := c.Follow(r)
	wantContains(t, page.Body, "Confirm it is you", "needs a recent sign-in")
	// A wrong password changes nothing.
	wantStatus(t, c.Post("/console/reauth", url.Values{"password": {"nope"}, "next": {"/console/applications"}}), http.StatusUnauthorized)
	// The right one renews the session, audited.
	r = c.Post("/console/reauth", url.Values{"password": {adminPassword}, "next": {"/console/applications/" + itoa(app.ID)}})
	wantStatus(t, r, http.StatusSeeOther)
	if e := h.lastAudit("CONSOLE_REAUTH"); e.Outcome != "SUCCESS" || e.Actor != "admin" {
		t.Errorf("audit %+v", e)
	}
	h.age(-api.DefaultReauthAge - 1)
	r = c.Post("/console/applications/"+itoa(app.ID)+"/rotate", nil)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.Body, "Credential rotated", "shown <b>only now</b>")
	// Inline: the password field of the form re-authenticates in one step.
	h.age(api.DefaultReauthAge + 1)
	r = c.Post("/console/applications/"+itoa(app.ID)+"/rotate", url.Values{"reauth_password": {adminPassword}})
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.Body, "Credential rotated")
}

// TestLockOutNotWeaponised: 50 addresses (behind a trusted proxy) send wrong passwords for the
// administrator (and wrong codes) while the administrator signs in with password and second factor
// from another address: the administrator gets in every time, and every attacking address ends
// blocked.
func TestLockOutNotWeaponised(t *testing.T) {
	st := storetest.New(t)
	h := newHarnessOn(t, st, func(c *api.Config) { c.TrustedProxies = storetest.Addresses(t, "127.0.0.1") })
	const attackers = 50
	attempts := store.GuardBlockAfter + 2
	type attacker struct {
		addr, csrf string
		c          *client
	}
	var as []attacker
	for i := range attackers {
		c := h.client()
		as = append(as, attacker{addr: fmt.Sprintf("198.18.0.%d", i+1), csrf: c.CSRF(), c: c})
	}
	// The administrator has a second factor; each sign-in below spends one recovery code.
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
	secret := storetest.Must(st.StartTOTP(ctx, h.admin))
	codes := storetest.Must(st.ConfirmTOTPCode(ctx, h.admin, storetest.Must(totp.Code(secret, time.Now()))))
	signIn := func(c *client, csrf, addr, pw, code string) (int, error) {
		form := url.Values{"username": {"admin"}, "password": {pw}, "code": {code}, "next": {"/console/"}, "_csrf": {csrf}}
		req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/console/login", strings.NewReader(form.Encode()))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", addr)
		res, err := c.HTTP.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	started := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	errs := make(chan error, attackers*attempts)
	for _, a := range as {
		wg.Go(func() {
			for range attempts {
				status, err := signIn(a.c, a.csrf, a.addr, "wrong password", "123456")
				once.Do(func() { close(started) })
				if err != nil || status != http.StatusUnauthorized && status != http.StatusTooManyRequests {
					errs <- fmt.Errorf("attacker %s: status %d, %v", a.addr, status, err)
				}
			}
		})
	}
	<-started
	admin := h.client()
	csrf := admin.CSRF()
	for i := range 10 {
		status, err := signIn(admin, csrf, "203.0.113.10", adminPassword, codes[i])
		if err != nil || status != http.StatusSeeOther {
			t.Errorf("administrator's sign-in %d during the attack: status %d, %v", i+1, status, err)
		}
		admin.HTTP.Jar.SetCookies(mustURL(t, h.srv.URL+"/console/"), []*http.Cookie{{Name: "crowdgate_console", Value: "", MaxAge: -1}})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, a := range as {
		until, err := st.BlockedUntil(context.Background(), a.addr)
		if err != nil || until.IsZero() {
			t.Errorf("attacking address %s not blocked (%v)", a.addr, err)
		}
		if status, err := signIn(a.c, a.csrf, a.addr, adminPassword, ""); err != nil || status != http.StatusTooManyRequests {
			t.Errorf("attacking address %s with the right password: status %d, %v; want 429", a.addr, status, err)
		}
	}
	if until, _ := st.BlockedUntil(context.Background(), "203.0.113.10"); !until.IsZero() {
		t.Errorf("the administrator's address is blocked until %s", until)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestLoginUnknownUserHashes: an unknown name costs the password hashing of a known one.
func TestLoginUnknownUserHashes(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	for _, user := range []string{"admin", "nobody-at-all"} {
		before := h.st.PasswordVerifications()
		wantStatus(t, c.Login(user, "a wrong guess"), http.StatusUnauthorized)
		if n := h.st.PasswordVerifications() - before; n != 1 {
			t.Errorf("%s: %d password hashes checked, want 1", user, n)
		}
	}
}

// TestLocalSignInOff: CROWDGATE_BREAKGLASS=off takes the password form away and refuses a posted
// password, right or wrong, without checking it.
func TestLocalSignInOff(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.NoLocalSignIn, c.LoginURL = true, "/sso/login?dest=/console/" })
	c := h.client()
	page := c.Get("/console/login")
	wantStatus(t, page, http.StatusOK)
	if strings.Contains(page.Body, `name="password"`) {
		t.Error("the sign-in page offers a password form")
	}
	before := h.st.PasswordVerifications()
	r := c.Login("admin", adminPassword)
	wantStatus(t, r, http.StatusForbidden)
	wantContains(t, r.Body, "Local sign-in is switched off")
	if n := h.st.PasswordVerifications() - before; n != 0 {
		t.Errorf("%d passwords checked", n)
	}
	if e := h.lastAudit("CONSOLE_LOGIN"); e.Outcome != "FAILURE" || !strings.Contains(e.Details, "CROWDGATE_BREAKGLASS=off") {
		t.Errorf("audit %+v", e)
	}
}

// TestReauthenticationAsksTheIdP: an administrator who signed in with SAML re-authenticates
// through the SAML sign-in with reauth=1, which makes crowdgate's SP send ForceAuthn; a plain
// sign-in link would let the IdP sign the administrator back in from its own session.
func TestReauthenticationAsksTheIdP(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.LoginURL = "/sso/login" })
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
	// An Entra administrator: a member of the group bound by object id.
	admins := storetest.Must(h.st.CreateGroup(ctx, store.NewGroup{DirectoryID: h.entra.ID, Name: "IT operations", ExternalID: adminsObjectID, Active: true}))
	u := storetest.Must(h.st.CreateUser(ctx, store.NewUser{DirectoryID: h.entra.ID, Name: "eve@contoso.example", ExternalID: "0b5c4f0e-1111-2222-3333-444455556666", Active: true}))
	if err := h.st.AddUserToGroup(ctx, u.ID, admins.ID); err != nil {
		t.Fatal(err)
	}
	_, token, err := h.st.CreateSession(ctx, store.NewSession{UserID: u.ID, Kind: store.SessionConsole})
	if err != nil {
		t.Fatal(err)
	}
	c := h.client()
	su, _ := url.Parse(h.srv.URL + "/console/")
	c.HTTP.Jar.SetCookies(su, []*http.Cookie{{Name: api.DefaultSessionCookie, Value: token, Path: "/console"}})
	h.age(api.DefaultReauthAge + 1)

	want := "/sso/login?dest=" + url.QueryEscape("/console/applications") + "&reauth=1"
	page := c.Get("/console/reauth?next=" + url.QueryEscape("/console/applications"))
	if page.Status != http.StatusOK || !strings.Contains(page.Body, strings.ReplaceAll(want, "&", "&amp;")) {
		t.Errorf("reauth page %d does not link to %s:\n%s", page.Status, want, page.Body)
	}
	r := c.Post("/console/reauth", url.Values{"next": {"/console/applications"}})
	if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || loc != want {
		t.Errorf("POST /console/reauth: %d to %q, want 303 to %q", r.Status, loc, want)
	}
}

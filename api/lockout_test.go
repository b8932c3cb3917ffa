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

// TestLockOutNotWeaponised: 50 addresses (behind a trusted proxy) send wrong passwords for the
// administrator (and wrong codes) while the administrator signs in with password and second factor
// from another address: the administrator gets in every time, and every attacking address ends
// blocked.
func TestLockOutNotWeaponised(t *testing.T) {
	st := storetest.OpenConfig(t, storetest.Dialect(), store.Config{TrustedProxies: []string{"127.0.0.1"}})
	h := newHarnessOn(t, st)
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

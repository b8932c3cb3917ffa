package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/internal/totp"
	"github.com/crowdgate/crowdgate/store"
)

var (
	secretRe   = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	recoveryRe = regexp.MustCompile(`<li>([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})</li>`)
)

const refusedAnyFactor = "Sign-in failed. Check the user name, password and code."

func loginCode(c *client, user, pw, code string) response {
	return c.Post("/console/login", url.Values{"username": {user}, "password": {pw}, "code": {code}, "next": {"/console/"}})
}

// enrol sets up the signed-in administrator's second factor through the pages and returns the
// secret, the time of the code used and the recovery codes.
func enrol(t *testing.T, c *client) (string, time.Time, []string) {
	t.Helper()
	wantStatus(t, c.Post("/console/second-factor/start", nil), http.StatusSeeOther)
	page := c.Get("/console/second-factor")
	wantStatus(t, page, http.StatusOK)
	m := secretRe.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no secret on the enrolment page:\n%.3000s", page.Body)
	}
	secret := m[1]
	wantContains(t, page.Body, "otpauth://totp/crowdgate:", `src="/console/second-factor/qr.png"`)
	qr := c.Get("/console/second-factor/qr.png")
	if qr.Status != http.StatusOK || qr.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(qr.Body, "\x89PNG") ||
		qr.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("QR code: %d %q %q", qr.Status, qr.Header.Get("Content-Type"), qr.Header.Get("Cache-Control"))
	}
	now := time.Now()
	code, _ := totp.Code(secret, now)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	r := c.Post("/console/second-factor/confirm", url.Values{"code": {wrong}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	wantContains(t, r.Body, "The code was not accepted")
	r = c.Post("/console/second-factor/confirm", url.Values{"code": {code}})
	wantStatus(t, r, http.StatusOK)
	var codes []string
	for _, m := range recoveryRe.FindAllStringSubmatch(r.Body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != store.RecoveryCodes {
		t.Fatalf("%d recovery codes shown, want %d", len(codes), store.RecoveryCodes)
	}
	if strings.Contains(c.Get("/console/second-factor").Body, codes[0]) {
		t.Error("the recovery codes are shown again")
	}
	return secret, now, codes
}

// TestSecondFactorSignIn (optional): enrolment from the console; then the password alone, a wrong
// code and a replayed code are refused with one answer; a fresh code and a recovery code (once) get in.
func TestSecondFactorSignIn(t *testing.T) {
	h := newHarness(t)
	c := h.loggedIn() // optional and not enrolled: the password suffices
	if strings.Contains(c.Get("/console/").Body, `id="mfa-banner"`) {
		t.Error("banner while the second factor is optional")
	}
	secret, at, codes := enrol(t, c)
	if e := h.lastAudit("TOTP_ENROLLED"); e.Object != "admin" || e.Actor != "admin" {
		t.Errorf("enrolment audit %+v", e)
	}

	wrong := "000000"
	if c, _ := totp.Code(secret, at.Add(totp.Period)); c == wrong {
		wrong = "111111"
	}
	next, _ := totp.Code(secret, at.Add(totp.Period))
	for _, tc := range []struct{ name, code string }{{"no code", ""}, {"wrong code", wrong}} {
		r := loginCode(h.client(), "admin", adminPassword, tc.code)
		wantStatus(t, r, http.StatusUnauthorized)
		wantContains(t, r.Body, refusedAnyFactor)
	}
	// A wrong password with the right code gets the same answer.
	r := loginCode(h.client(), "admin", "a wrong password entirely", next)
	wantStatus(t, r, http.StatusUnauthorized)
	wantContains(t, r.Body, refusedAnyFactor)

	r = loginCode(h.client(), "admin", adminPassword, next)
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/console/" {
		t.Errorf("signed in to %q", loc)
	}
	if e := h.lastAudit("LOGIN"); !strings.Contains(e.Details, "password and second factor") {
		t.Errorf("login audit %+v", e)
	}
	r = loginCode(h.client(), "admin", adminPassword, next) // replayed
	wantStatus(t, r, http.StatusUnauthorized)
	wantContains(t, r.Body, refusedAnyFactor)

	wantStatus(t, loginCode(h.client(), "admin", adminPassword, codes[2]), http.StatusSeeOther)
	if e := h.lastAudit("RECOVERY_CODE_USED"); e.Object != "admin" {
		t.Errorf("recovery audit %+v", e)
	}
	// The fifth failure of the address: still answered, the slow-down comes after it.
	wantStatus(t, loginCode(h.client(), "admin", adminPassword, codes[2]), http.StatusUnauthorized)
	// Four of those five failures had the right password: wrong codes count against the address
	// like wrong passwords, so codes cannot be guessed at the speed of requests.
	r = loginCode(h.client(), "admin", adminPassword, codes[5])
	wantStatus(t, r, http.StatusTooManyRequests)

	// The page needs a recent sign-in, and comes back to itself after one.
	h.age(time.Hour)
	r = c.Get("/console/second-factor")
	if loc := r.Header.Get("Location"); r.Status/100 != 3 || loc != "/console/reauth?next="+url.QueryEscape("/console/second-factor") {
		t.Errorf("an hour-old session at the enrolment page: %d to %q", r.Status, loc)
	}
}

// TestSecondFactorRequired: an administrator without a factor is sent to enrolment and can reach
// nothing else until it is set up; the banner names who is missing; another administrator resets
// a lost factor (audited), nobody their own.
func TestSecondFactorRequired(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.RequireSecondFactor = true })
	admins, err := h.st.GroupByName(context.Background(), h.dir.ID, "crowdgate-admins")
	if err != nil {
		t.Fatal(err)
	}
	bob := h.addUser(h.dir.ID, "bob", admins.ID)
	const bobPassword = "violet-harbour-lantern-93"
	if err := h.st.SetPassword(h.ctx(), bob.ID, bobPassword); err != nil {
		t.Fatal(err)
	}

	c := h.client()
	r := c.Login("admin", adminPassword)
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/console/second-factor" {
		t.Fatalf("required, not enrolled: sent to %q, want the enrolment page", loc)
	}
	r = c.Get("/console/users")
	if r.Status != http.StatusFound || r.Header.Get("Location") != "/console/second-factor" {
		t.Fatalf("users page before enrolment: %d to %q", r.Status, r.Header.Get("Location"))
	}
	wantStatus(t, c.Post("/console/groups", url.Values{"name": {"sneaky"}}), http.StatusForbidden)
	page := c.Get("/console/second-factor")
	wantContains(t, page.Body, `id="mfa-banner"`, "admin, bob", "A second factor is required")

	enrol(t, c)
	page = c.Get("/console/users")
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.Body, `id="mfa-banner"`) || strings.Contains(page.Body, "admin, bob") || !strings.Contains(page.Body, "have not set one up yet: bob.") {
		t.Errorf("banner after admin's enrolment:\n%.3000s", page.Body)
	}

	// admin cannot shed their own factor; bob (enrolled too) resets it.
	r = c.Post("/console/users/"+itoa(h.admin.ID)+"/second-factor/reset", nil)
	wantStatus(t, r, http.StatusSeeOther)
	if ok, _ := h.st.TOTPEnrolled(context.Background(), h.admin); !ok {
		t.Fatal("an administrator reset their own second factor")
	}
	cb := h.client()
	wantStatus(t, cb.Login("bob", bobPassword), http.StatusSeeOther)
	enrol(t, cb)
	wantStatus(t, cb.Post("/console/users/"+itoa(h.admin.ID)+"/second-factor/reset", nil), http.StatusSeeOther)
	if ok, _ := h.st.TOTPEnrolled(context.Background(), h.admin); ok {
		t.Fatal("the reset left the second factor")
	}
	if e := h.lastAudit("TOTP_RESET"); e.Object != "admin" || e.Actor != "bob" {
		t.Errorf("reset audit %+v", e)
	}
	if strings.Contains(cb.Get("/console/").Body, "have not set one up yet: bob") {
		t.Error("bob still in the banner")
	}
}

// TestConsoleLoginFloodAggregated: a flood of wrong sign-ins from one address is one audit row
// holding the count of the checked failures; the throttled ones are not audited.
func TestConsoleLoginFloodAggregated(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	before := auditCount(t, h, "CONSOLE_LOGIN")
	status := map[int]int{}
	for i := range 60 {
		status[c.Login("user"+itoa(int64(i)), "a guess").Status]++
	}
	// 5 checked failures, then waits: a slow run may outlast a wait and have one more checked.
	checked := status[http.StatusUnauthorized]
	if checked < store.GuardSlowAfter || checked+status[http.StatusTooManyRequests] != 60 || status[http.StatusTooManyRequests] < 30 {
		t.Fatalf("answers %v", status)
	}
	if err := h.st.FlushSignInFailures(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	rows := auditCount(t, h, "CONSOLE_LOGIN") - before
	if rows > 2 { // the minute may turn during the flood
		t.Fatalf("%d audit rows for 60 failed sign-ins, want 1 (2 across a minute's end)", rows)
	}
	total := 0
	es, _ := h.st.ListAudit(context.Background(), store.AuditFilter{Action: "CONSOLE_LOGIN", Limit: 10})
	for _, e := range es {
		var d struct{ Count int }
		if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
			t.Fatal(err)
		}
		total += d.Count
	}
	if total != checked {
		t.Errorf("aggregated count %d, want the %d checked failures", total, checked)
	}
	t.Logf("60 failed console sign-ins: %v, %d audit row(s)", status, rows)
}

func auditCount(t *testing.T, h *harness, action string) int {
	t.Helper()
	es, err := h.st.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// fromSource returns an HTTP client whose connections leave from the loopback address ip, so one
// test plays several client machines against a server on 127.0.0.1.
func fromSource(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 32},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// bruteForceSetup starts crowdgate with an application "jira" and users victim00..victimNN in the
// internal directory (lock-out after 5 failures for 5 minutes, the default).
func bruteForceSetup(t *testing.T, dialect string, victims int) (*running, *store.Store, store.Directory) {
	t.Helper()
	e := dbEnv(t, dialect).with("CROWDGATE_ADMIN_PASSWORD", testAdminPassword, "CROWDGATE_LISTEN", "127.0.0.1:0")
	srv := startServer(t, e)
	mustRun(t, e, "jira-app-password\n", "app", "add", "jira", "--kind", "jira", "--password-stdin")
	st := openStore(t, e)
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
	dir, err := st.EnsureInternalDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dir.LockoutThreshold != 5 || dir.LockoutSeconds != 300 {
		t.Fatalf("internal directory lock-out %d/%ds, want the default 5/300s", dir.LockoutThreshold, dir.LockoutSeconds)
	}
	for i := range victims {
		if _, err := st.CreateUser(ctx, store.NewUser{DirectoryID: dir.ID, Name: fmt.Sprintf("victim%02d", i), Active: true,
			Password: fmt.Sprintf("Victim-password-%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateUser(ctx, store.NewUser{DirectoryID: dir.ID, Name: "legit", Active: true, Password: "Legit-password-1"}); err != nil {
		t.Fatal(err)
	}
	return srv, st, dir
}

// lockedUsers lists the users of the directory that are locked out now.
func lockedUsers(t *testing.T, st *store.Store, dir store.Directory, names []string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		u, err := st.UserByName(context.Background(), dir.ID, n)
		if err != nil {
			t.Fatal(err)
		}
		if u.LockedUntil != nil && time.Now().Before(*u.LockedUntil) {
			out = append(out, n)
		}
	}
	return out
}

// countAudit counts audit entries matching the filter function.
func countAudit(t *testing.T, st *store.Store, match func(store.AuditEntry) bool) int {
	t.Helper()
	n := 0
	for _, e := range auditEntries(t, st) {
		if match(e) {
			n++
		}
	}
	return n
}

// TestBruteForceConsole attacks the console's break-glass sign-in from one source: 40 guesses at
// one account (the last 35 concurrent), then a spray of 200 concurrent guesses over 19 others.
// The per-source throttle (5 failures per 5 minutes) lets exactly 5 guesses reach a password
// check, which locks the one account guessed at (threshold 5) and no other; every refused attempt
// is audited with the source address; the administrator signs in from another address meanwhile.
func TestBruteForceConsole(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		const victims = 20
		srv, st, dir := bruteForceSetup(t, dialect, victims)
		base := "http://" + srv.addrs.Main
		attacker := newBrowser(t, base)
		attacker.HTTP = fromSource("127.0.0.1")
		attacker.HTTP.Jar = newBrowser(t, base).HTTP.Jar
		attacker.CSRF()

		var statuses sync.Map // status -> *atomic.Int64
		count := func(status int) {
			v, _ := statuses.LoadOrStore(status, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
		}
		attack := func(n int, user func(i int) string) {
			var wg sync.WaitGroup
			sem := make(chan struct{}, 16)
			for i := range n {
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					r := attacker.Post("/console/login", map[string][]string{"username": {user(i)}, "password": {fmt.Sprintf("guess-%d", i)}})
					count(r.Status)
				})
			}
			wg.Wait()
		}
		start := time.Now()
		// Guesses at one account one after the other, more at it concurrently, then a concurrent
		// spray over the others.
		for i := range 5 {
			count(attacker.Post("/console/login", map[string][]string{"username": {"victim00"}, "password": {fmt.Sprintf("guess-%d", i)}}).Status)
		}
		attack(35, func(int) string { return "victim00" })
		attack(200, func(i int) string { return fmt.Sprintf("victim%02d", 1+i%(victims-1)) })
		took := time.Since(start)

		get := func(status int) int64 {
			if v, ok := statuses.Load(status); ok {
				return v.(*atomic.Int64).Load()
			}
			return 0
		}
		t.Logf("240 guesses in %s: %d checked (401), %d throttled (429)", took.Round(time.Millisecond), get(401), get(429))
		if get(401) != 5 || get(429) != 235 {
			t.Errorf("%d guesses reached a password check and %d were throttled; want 5 and 235", get(401), get(429))
		}
		names := []string{"legit"}
		for i := range victims {
			names = append(names, fmt.Sprintf("victim%02d", i))
		}
		locked := lockedUsers(t, st, dir, names)
		t.Logf("accounts locked: %v", locked)
		if len(locked) != 1 || locked[0] != "victim00" {
			t.Errorf("locked accounts %v, want only victim00", locked)
		}
		if n := countAudit(t, st, func(e store.AuditEntry) bool {
			return e.Action == "ACCOUNT_LOCKED" && e.Object == "victim00" && e.ActorKind == store.ActorAdmin && e.Source == "127.0.0.1"
		}); n != 1 {
			t.Errorf("%d ACCOUNT_LOCKED entries for victim00 with the source address, want 1", n)
		}
		if n := countAudit(t, st, func(e store.AuditEntry) bool {
			return e.Action == "CONSOLE_LOGIN" && e.Outcome == "FAILURE" && e.Source == "127.0.0.1" && strings.HasPrefix(e.Actor, "victim")
		}); n != 240 {
			t.Errorf("%d audited failed console sign-ins, want all 240", n)
		}

		// The administrator, from another machine, is not affected.
		admin := newBrowser(t, base)
		jar := admin.HTTP.Jar
		admin.HTTP = fromSource("127.0.0.2")
		admin.HTTP.Jar = jar
		if !admin.Login("admin", testAdminPassword).SignedIn() {
			t.Fatal("the administrator cannot sign in from another address during the attack")
		}
		if n := countAudit(t, st, func(e store.AuditEntry) bool {
			return e.Action == "LOGIN" && e.Actor == "admin" && e.Source == "127.0.0.2"
		}); n != 1 {
			t.Errorf("%d audited sign-ins of admin from 127.0.0.2, want 1", n)
		}
	})
}

// TestBruteForceCrowdAuthentication sprays password guesses at Crowd's POST /authentication as the
// application "jira": 6 guesses at each of 6 accounts, the accounts attacked concurrently.
//
// What is throttled there: /authentication is called by Jira on the user's behalf, so the HTTP
// source is Jira itself and the request carries no browser address. Throttling that source would
// refuse every user of the application (the attacker would lock everyone out at once), so crowdgate
// does not throttle /authentication by source; it relies on the per-user lock-out (directory
// setting, temporary) and on the application throttling its own login form (Jira's CAPTCHA). The
// number of accounts an attacker can lock through an application is therefore the number it
// guesses at threshold times, each for the lock-out duration; the test pins that bound and that
// users not guessed at keep signing in through the same application.
func TestBruteForceCrowdAuthentication(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		const victims, guesses = 6, 6
		srv, st, dir := bruteForceSetup(t, dialect, victims)
		base := "http://" + srv.addrs.Main
		auth := func(user, pw string) int {
			return crowdCall(t, base, "jira", "jira-app-password", http.MethodPost, "/authentication?username="+user,
				map[string]string{"value": pw}).Status
		}
		var wg sync.WaitGroup
		var refused atomic.Int64
		start := time.Now()
		for v := range victims {
			wg.Go(func() {
				for g := range guesses {
					if s := auth(fmt.Sprintf("victim%02d", v), fmt.Sprintf("guess-%d", g)); s == http.StatusBadRequest {
						refused.Add(1)
					} else {
						t.Errorf("guess answered %d, want 400", s)
					}
				}
			})
		}
		wg.Wait()
		t.Logf("%d guesses over %d accounts in %s", victims*guesses, victims, time.Since(start).Round(time.Millisecond))
		if got := refused.Load(); got != victims*guesses {
			t.Errorf("%d guesses refused, want %d", got, victims*guesses)
		}
		var names []string
		for i := range victims {
			names = append(names, fmt.Sprintf("victim%02d", i))
		}
		if locked := lockedUsers(t, st, dir, append(names, "legit")); len(locked) != victims {
			t.Errorf("locked %v: want exactly the %d accounts guessed at", locked, victims)
		}
		// Concurrent guesses at one account: every failure counts (one atomic increment each), so
		// the account locks, and its lock-out is audited once.
		if _, err := st.CreateUser(store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"}),
			store.NewUser{DirectoryID: dir.ID, Name: "target", Active: true, Password: "Target-password-1"}); err != nil {
			t.Fatal(err)
		}
		var cwg sync.WaitGroup
		for g := range 10 {
			cwg.Go(func() { auth("target", fmt.Sprintf("guess-%d", g)) })
		}
		cwg.Wait()
		checked := countAudit(t, st, func(e store.AuditEntry) bool {
			return e.Object == "target" && (e.Action == "ACCOUNT_LOCKED" || e.Details == "wrong password")
		})
		targetLocks := countAudit(t, st, func(e store.AuditEntry) bool { return e.Object == "target" && e.Action == "ACCOUNT_LOCKED" })
		t.Logf("10 concurrent guesses at one account: %d reached the password check (threshold 5)", checked)
		if len(lockedUsers(t, st, dir, []string{"target"})) != 1 || targetLocks != 1 {
			t.Errorf("10 concurrent guesses at one account: locked %v, %d ACCOUNT_LOCKED entries; want locked, 1",
				lockedUsers(t, st, dir, []string{"target"}), targetLocks)
		}
		// A name that does not exist is audited too.
		auth("nobody-here", "guess")
		if n := countAudit(t, st, func(e store.AuditEntry) bool { return e.Object == "nobody-here" && e.Action == "LOGIN_FAILED" }); n != 1 {
			t.Errorf("%d LOGIN_FAILED entries for an unknown name, want 1", n)
		}

		// A correct password does not open a locked account.
		if s := auth("victim00", "Victim-password-00"); s != http.StatusBadRequest {
			t.Errorf("locked account authenticated: %d", s)
		}
		// Every failure is audited, as the application and from its address; each account's lock-out once.
		jira := func(e store.AuditEntry) bool {
			return e.ActorKind == store.ActorApplication && e.Actor == "jira" && e.Source == "127.0.0.1" && strings.HasPrefix(e.Object, "victim")
		}
		locks := countAudit(t, st, func(e store.AuditEntry) bool { return jira(e) && e.Action == "ACCOUNT_LOCKED" })
		fails := countAudit(t, st, func(e store.AuditEntry) bool { return jira(e) && e.Action == "LOGIN_FAILED" })
		if locks != victims || locks+fails != victims*guesses+1 {
			t.Errorf("audit: %d lock-outs and %d failed logins, want %d and %d", locks, fails, victims, victims*guesses+1-victims)
		}
		// Users not attacked sign in through the same application, also when Jira calls from elsewhere.
		if s := auth("legit", "Legit-password-1"); s != http.StatusOK {
			t.Errorf("legitimate user: %d", s)
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/crowd/rest/usermanagement/1/authentication?username=legit",
			strings.NewReader(`{"value":"Legit-password-1"}`))
		req.SetBasicAuth("jira", "jira-app-password")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		res, err := fromSource("127.0.0.3").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("legitimate user via another source: %d", res.StatusCode)
		}
	})
}

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
// The source is slowed down after 5 failures and blocked once it keeps trying (store/loginguard.go),
// so exactly 5 guesses reach a password check; no account is locked, every refused attempt is
// audited with the source address, the administrator signs in from another address meanwhile, and
// the account guessed at still opens with its password from elsewhere.
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
		if locked := lockedUsers(t, st, dir, names); len(locked) != 0 {
			t.Errorf("locked accounts %v, want none", locked)
		}
		if until, err := st.BlockedUntil(context.Background(), "127.0.0.1"); err != nil || until.IsZero() {
			t.Errorf("the attacking address is not blocked (%v)", err)
		}
		if n := countAudit(t, st, func(e store.AuditEntry) bool {
			return e.Action == "CONSOLE_LOGIN" && e.Outcome == "FAILURE" && e.Source == "127.0.0.1" && strings.HasPrefix(e.Actor, "victim")
		}); n < 1 || n > 2 {
			// One row per address and minute holds the count (two when the minute turns); the
			// throttled guesses are counted in the metrics, not audited.
			t.Errorf("%d audit rows of failed console sign-ins, want 1", n)
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
		// victim00 is not locked: its own password opens it from elsewhere (as an internal user who
		// is not an administrator, the console then says so).
		if _, err := st.AuthenticateLocal(store.WithActor(context.Background(), store.Actor{Kind: store.ActorAdmin, Address: "127.0.0.3"}),
			[]int64{dir.ID}, "victim00", "Victim-password-00"); err != nil {
			t.Errorf("victim00 with the right password from another address: %v", err)
		}
	})
}

// TestBruteForceCrowdAuthentication sprays password guesses at Crowd's POST /authentication as the
// application "jira": 20 guesses at each of 6 accounts, the accounts attacked concurrently.
//
// What is throttled there: /authentication is called by Jira on the user's behalf, so the HTTP
// source is Jira itself and the request carries no browser address. Throttling that source alone
// would refuse every user of the application (the attacker would lock everyone out at once), and
// locking the account would let anyone at Jira's login form keep its owner out everywhere. So the
// failures count against Jira's address together with the user name (store/loginguard.go): that
// name is slowed down through Jira from there, nobody else is, and the account opens from
// anywhere else. The test pins that bound and that users not guessed at keep signing in.
func TestBruteForceCrowdAuthentication(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		const victims, guesses = 6, store.GuardBlockAfter
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
		if locked := lockedUsers(t, st, dir, append(names, "legit")); len(locked) != 0 {
			t.Errorf("locked %v: want none", locked)
		}
		// Concurrent guesses at one account: at most store.GuardBurst checks run at once for a
		// clean address, and failures shrink that, so not all 10 reach the password check.
		if _, err := st.CreateUser(store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"}),
			store.NewUser{DirectoryID: dir.ID, Name: "target", Active: true, Password: "Target-password-1"}); err != nil {
			t.Fatal(err)
		}
		var cwg sync.WaitGroup
		for g := range 10 {
			cwg.Go(func() { auth("target", fmt.Sprintf("guess-%d", g)) })
		}
		cwg.Wait()
		checked := countAudit(t, st, func(e store.AuditEntry) bool { return e.Object == "target" && e.Details == "wrong password" })
		t.Logf("10 concurrent guesses at one account: %d reached the password check", checked)
		if checked < store.GuardSlowAfter || checked > store.GuardBurst {
			t.Errorf("10 concurrent guesses at one account: %d reached the password check, want %d to %d", checked, store.GuardSlowAfter, store.GuardBurst)
		}
		// A name that does not exist is audited too.
		auth("nobody-here", "guess")
		if n := countAudit(t, st, func(e store.AuditEntry) bool { return e.Object == "nobody-here" && e.Action == "LOGIN_FAILED" }); n != 1 {
			t.Errorf("%d LOGIN_FAILED entries for an unknown name, want 1", n)
		}

		// Through Jira from the attacked address the name is blocked, even with the right password.
		if s := auth("victim00", "Victim-password-00"); s != http.StatusBadRequest {
			t.Errorf("blocked name authenticated: %d", s)
		}
		// Every checked failure is audited, as the application and from its address.
		jira := func(e store.AuditEntry) bool {
			return e.ActorKind == store.ActorApplication && e.Actor == "jira" && e.Source == "127.0.0.1" && strings.HasPrefix(e.Object, "victim")
		}
		// (At least GuardSlowAfter per account; one more whenever a wait passed during the attack.)
		if fails := countAudit(t, st, func(e store.AuditEntry) bool { return jira(e) && e.Action == "LOGIN_FAILED" }); fails < victims*store.GuardSlowAfter || fails > victims*(store.GuardSlowAfter+3) {
			t.Errorf("audit: %d failed logins, want %d or a few more", fails, victims*store.GuardSlowAfter)
		}
		// Users not attacked sign in through the same application, and an attacked one through Jira
		// calling from elsewhere.
		if s := auth("legit", "Legit-password-1"); s != http.StatusOK {
			t.Errorf("legitimate user: %d", s)
		}
		for _, user := range []string{"legit", "victim00"} {
			pw := map[string]string{"legit": "Legit-password-1", "victim00": "Victim-password-00"}[user]
			req, _ := http.NewRequest(http.MethodPost, base+"/crowd/rest/usermanagement/1/authentication?username="+user,
				strings.NewReader(`{"value":"`+pw+`"}`))
			req.SetBasicAuth("jira", "jira-app-password")
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json")
			res, err := fromSource("127.0.0.3").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("%s via another source: %d", user, res.StatusCode)
			}
		}
	})
}

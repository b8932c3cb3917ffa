package crowdapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/crowdapi"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// lockoutEnv is a Crowd server whose store trusts (or not) the application's address 127.0.0.1 as
// a proxy, with users alice and bob.
func lockoutEnv(t *testing.T, trusted []string) (*store.Store, string) {
	t.Helper()
	st := storetest.New(t)
	ctx := context.Background()
	dir := storetest.Must(st.EnsureInternalDirectory(ctx))
	storetest.Must(st.CreateApplication(ctx, store.NewApplication{
		Name: "jira", Password: "jira-secret", Active: true, Kind: store.AppJira,
		Mappings: []store.Mapping{{DirectoryID: dir.ID, AllowAll: true, Operations: store.AllOperations}},
	}))
	for _, name := range []string{"alice", "bob"} {
		storetest.Must(st.CreateUser(ctx, store.NewUser{DirectoryID: dir.ID, Name: name, Active: true, Password: name + "-right-password"}))
	}
	h, err := crowdapi.New(crowdapi.Config{ContextPath: "/crowd", TrustedProxies: storetest.Addresses(t, trusted...)}, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return st, srv.URL + "/crowd/rest/usermanagement/1"
}

// post sends an XML body as jira and returns the status.
func post(base, path, body string) (int, error) {
	r, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	r.Header.Set("Content-Type", "application/xml")
	r.SetBasicAuth("jira", "jira-secret")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

func sessionBody(user, pw, addr string) string {
	return `<authentication-context><username>` + user + `</username><password>` + pw + `</password>` +
		`<validation-factors><validation-factor><name>remote_address</name><value>` + addr + `</value></validation-factor></validation-factors>` +
		`</authentication-context>`
}

// TestLockOutThroughApplication: 50 browsers send wrong passwords for alice through a trusted
// application (their addresses in the validation factors) while alice signs in from her own: she
// gets a session every time, and every attacking address ends blocked.
func TestLockOutThroughApplication(t *testing.T) {
	st, base := lockoutEnv(t, []string{"127.0.0.1"})
	const attackers = 50
	started := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	errs := make(chan error, attackers*(store.GuardBlockAfter+2))
	for i := range attackers {
		addr := fmt.Sprintf("198.18.1.%d", i+1)
		wg.Go(func() {
			for range store.GuardBlockAfter + 2 {
				status, err := post(base, "/session", sessionBody("alice", "guess", addr))
				once.Do(func() { close(started) })
				if err != nil || status != http.StatusBadRequest {
					errs <- fmt.Errorf("attacker %s: status %d, %v; want 400", addr, status, err)
				}
			}
		})
	}
	<-started
	for i := range 10 {
		if status, err := post(base, "/session", sessionBody("alice", "alice-right-password", "203.0.113.10")); err != nil || status != http.StatusCreated {
			t.Errorf("alice's sign-in %d during the attack: status %d, %v; want 201", i+1, status, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range attackers {
		addr := fmt.Sprintf("198.18.1.%d", i+1)
		if until, err := st.BlockedUntil(context.Background(), addr); err != nil || until.IsZero() {
			t.Errorf("attacking address %s not blocked (%v)", addr, err)
		}
	}
}

// TestLockOutUntrustedApplication: an application not trusted to report the browser's address
// counts failures against its own address and the user name: wrong passwords for alice slow down
// alice there, not bob, and not alice's sign-in through a trusted path.
func TestLockOutUntrustedApplication(t *testing.T) {
	_, base := lockoutEnv(t, nil)
	auth := func(user, pw string) int {
		t.Helper()
		status, err := post(base, "/authentication?username="+user, `<password><value>`+pw+`</value></password>`)
		if err != nil {
			t.Fatal(err)
		}
		return status
	}
	for range store.GuardSlowAfter {
		if s := auth("alice", "guess"); s != http.StatusBadRequest {
			t.Fatalf("wrong password: %d", s)
		}
	}
	if s := auth("alice", "alice-right-password"); s != http.StatusBadRequest {
		t.Errorf("alice right after %d failures through the application: %d, want 400 (slowed down)", store.GuardSlowAfter, s)
	}
	if s := auth("bob", "bob-right-password"); s != http.StatusOK {
		t.Errorf("bob through the same application: %d, want 200", s)
	}
	// The factors of an untrusted application are not believed: a new remote_address does not help.
	if s, _ := post(base, "/session", sessionBody("alice", "alice-right-password", "203.0.113.10")); s != http.StatusBadRequest {
		t.Errorf("alice with a fresh remote_address through an untrusted application: %d, want 400", s)
	}
}

// TestAuthenticationUnknownUserHashes: POST /authentication spends one password hash on an unknown
// name, as on a known one.
func TestAuthenticationUnknownUserHashes(t *testing.T) {
	st, base := lockoutEnv(t, nil)
	// The application's own password is checked once, then cached.
	if s, err := post(base, "/authentication?username=bob", `<password><value>bob-right-password</value></password>`); err != nil || s != http.StatusOK {
		t.Fatalf("warm-up: %d, %v", s, err)
	}
	for _, user := range []string{"alice", "nobody-at-all"} {
		before := st.PasswordVerifications()
		if s, err := post(base, "/authentication?username="+user, `<password><value>a wrong guess</value></password>`); err != nil || s != http.StatusBadRequest {
			t.Errorf("%s: status %d, %v; want 400", user, s, err)
		}
		if n := st.PasswordVerifications() - before; n != 1 {
			t.Errorf("%s: %d password hashes checked, want 1", user, n)
		}
	}
}

// floodEnv is a Crowd API with the application "jira" (password "jira-secret") and cfg.
func floodEnv(t *testing.T, cfg crowdapi.Config) (*store.Store, func(user, pass string) int) {
	t.Helper()
	st := storetest.New(t)
	ctx := context.Background()
	dir := storetest.Must(st.EnsureInternalDirectory(ctx))
	storetest.Must(st.CreateApplication(ctx, store.NewApplication{Name: "jira", Password: "jira-secret", Active: true,
		Mappings: []store.Mapping{{DirectoryID: dir.ID, AllowAll: true}}}))
	h, err := crowdapi.New(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return st, func(user, pass string) int {
		r, _ := http.NewRequest("GET", srv.URL+"/rest/usermanagement/1/config/cookie", nil)
		r.SetBasicAuth(user, pass)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Error(err)
			return 0
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
}

// TestUnknownApplicationCostsAHash: an unknown application name costs the same password hash as a
// wrong password for a known one, so the answer's timing does not tell which names exist; a
// password verified recently costs none.
func TestUnknownApplicationCostsAHash(t *testing.T) {
	st, call := floodEnv(t, crowdapi.Config{})
	hashes := func(user, pass string, want int) int64 {
		t.Helper()
		before := st.Stats().PasswordHashes
		if got := call(user, pass); got != want {
			t.Fatalf("%s: status %d, want %d", user, got, want)
		}
		return st.Stats().PasswordHashes - before
	}
	hashes("warm-up", "x", 401) // makes the process's dummy credential once
	if n := hashes("nobody", "guess", 401); n != 1 {
		t.Errorf("unknown application: %d hashes, want 1", n)
	}
	if n := hashes("jira", "guess", 401); n != 1 {
		t.Errorf("known application, wrong password: %d hashes, want 1", n)
	}
	hashes("jira", "jira-secret", 200)
	if n := hashes("jira", "jira-secret", 200); n != 0 {
		t.Errorf("a verified password again: %d hashes, want 0", n)
	}
}

// TestApplicationPasswordFlood: 200 wrong passwords at once are mostly refused with 429 before any
// hashing, the application's own (verified) password keeps working, and the audit log gets one row
// for the address and minute with the count of failures, however many there were.
func TestApplicationPasswordFlood(t *testing.T) {
	st, call := floodEnv(t, crowdapi.Config{})
	at := time.Now()
	st.SetClock(func() time.Time { return at }) // one minute of the audit log's for the whole flood
	if got := call("jira", "jira-secret"); got != 200 {
		t.Fatalf("jira: %d", got)
	}
	before := st.Stats()
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			name := "jira"
			if i%2 == 1 {
				name = strings.Repeat("x", 10000) // a name of 10,000 characters
			}
			got := call(name, fmt.Sprintf("guess %d", i)) // a guessing attack: every password differs
			mu.Lock()
			statuses[got]++
			mu.Unlock()
		})
	}
	wg.Wait()
	after := st.Stats()
	t.Logf("200 wrong passwords: statuses %v, %d password hashes", statuses, after.PasswordHashes-before.PasswordHashes)
	if statuses[401] > crowdapi.DefaultAuthFailures || statuses[429] < 200-crowdapi.DefaultAuthFailures || statuses[401]+statuses[429] != 200 {
		t.Errorf("statuses %v: want at most %d 401 and the rest 429", statuses, crowdapi.DefaultAuthFailures)
	}
	if n := after.PasswordHashes - before.PasswordHashes; n > int64(crowdapi.DefaultAuthFailures)+1 { // +1: the dummy credential
		t.Errorf("%d password hashes for 200 guesses, want at most %d", n, crowdapi.DefaultAuthFailures+1)
	}
	if n := after.SignInsThrottled - before.SignInsThrottled; n != uint64(statuses[429]) {
		t.Errorf("throttled counter %d, want %d", n, statuses[429])
	}
	if got := call("jira", "jira-secret"); got != 200 {
		t.Errorf("jira's own password during the flood: %d, want 200", got)
	}

	ctx := context.Background()
	if err := st.FlushSignInFailures(ctx, true); err != nil {
		t.Fatal(err)
	}
	rows, err := st.ListAudit(ctx, store.AuditFilter{Action: "APPLICATION_LOGIN_FAILED"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d audit rows, want 1 for the address and minute", len(rows))
	}
	var d struct {
		Count int
		Names []string
	}
	if err := json.Unmarshal([]byte(rows[0].Details), &d); err != nil {
		t.Fatalf("details %q: %v", rows[0].Details, err)
	}
	if d.Count != statuses[401] || rows[0].Source != "127.0.0.1" || rows[0].Outcome != "FAILURE" {
		t.Errorf("row %+v, want the count %d from 127.0.0.1", rows[0], statuses[401])
	}
	for _, n := range append(d.Names, rows[0].Object, rows[0].Actor) {
		if len(n) > store.MaxLoggedName+len("…") {
			t.Errorf("a name of %d bytes reached the audit log", len(n))
		}
	}
}

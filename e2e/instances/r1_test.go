package instances_test

import (
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/migrations"
	"github.com/crowdgate/crowdgate/store"
)

const (
	adminPassword = "first-operator-pass-r1"
	appPassword   = "jira-app-password"
	userPassword  = "user-password-1"
	licenceGroup  = "jira-users"
	// maxInvalidation is R1's bound: a change made through one instance is refused by the other
	// within a second (PostgreSQL NOTIFY; the validation cache alone would keep it for 30 s).
	maxInvalidation = time.Second
)

// TestTwoInstancesOnePostgres is R1: two crowdgate processes, A and B, on one PostgreSQL database.
func TestTwoInstancesOnePostgres(t *testing.T) {
	t.Parallel()
	dbURL := needPostgres(t)
	tenant := fakegraph.Generate(11, 400, 24, 2000, 2)
	ent := newEntra(t, tenant, 150*time.Millisecond)
	vars := map[string]string{"CROWDGATE_DATABASE_URL": dbURL, "CROWDGATE_ADMIN_PASSWORD": adminPassword}
	maps.Copy(vars, ent.env())

	// Both start at the same moment on the empty database: they migrate one after the other
	// (goose's advisory lock) and bootstrap once.
	a, b := launch(t, "A", vars), launch(t, "B", vars)
	a.ready()
	b.ready()
	d := openDB(t, dbURL)
	checkSchema(t, d)
	if n := d.int("SELECT count(*) FROM directories WHERE kind = 'INTERNAL'"); n != 1 {
		t.Errorf("%d internal directories after two simultaneous first starts, want 1", n)
	}
	if n := d.int("SELECT count(*) FROM users WHERE lower_name = 'admin'"); n != 1 {
		t.Errorf("%d administrators after two simultaneous first starts, want 1", n)
	}

	// The operator's setup, through the CLI while both serve; then Jira adds a user through B.
	cli(t, dbURL, userPassword+"\n", "user", "add", "alice", "--password-stdin", "--group", licenceGroup, "--create-groups",
		"--email", "alice@example.com")
	cli(t, dbURL, appPassword+"\n", "app", "add", "jira", "--kind", "jira", "--write", "--group", licenceGroup, "--password-stdin")
	ca, cb := newCrowd(t, a, "jira", appPassword), newCrowd(t, b, "jira", appPassword)
	cb.must(http.StatusCreated, "POST", "/user", `<user name="bob"><first-name>Bob</first-name><last-name>Brown</last-name>`+
		`<display-name>Bob Brown</display-name><email>bob@example.com</email><password><value>`+userPassword+
		`</value></password><active>true</active><attributes/></user>`)
	cb.must(http.StatusCreated, "POST", "/group/user/direct?groupname="+licenceGroup, `<user name="bob"/>`)

	t.Run("Sessions", func(t *testing.T) {
		ca.t, cb.t = t, t
		revoked, deactivated, unlicensed := ca.createSession("alice", userPassword), ca.createSession("alice", userPassword),
			ca.createSession("bob", userPassword)
		// B validates A's sessions, and then answers them from its cache: only an invalidation can
		// make it refuse within the bound.
		for _, tok := range []string{revoked, deactivated, unlicensed, revoked, deactivated, unlicensed} {
			if code := cb.validate(tok); code != http.StatusOK {
				t.Fatalf("a session created on A: validation on B = %d, want 200", code)
			}
		}

		ca.must(http.StatusNoContent, "DELETE", "/session/"+revoked, "")
		checkRefused(t, cb, "revocation on A", revoked, time.Now(), http.StatusNotFound)
		if code := cb.validate(deactivated); code != http.StatusOK {
			t.Errorf("revoking one session ended another one of the user: %d", code)
		}

		ca.must(http.StatusNoContent, "PUT", "/user?username=alice", `<user name="alice"><active>false</active></user>`)
		checkRefused(t, cb, "deactivation of the user on A", deactivated, time.Now(), http.StatusNotFound)

		if code := cb.validate(unlicensed); code != http.StatusOK {
			t.Fatalf("bob's session before the licence change: %d", code)
		}
		ca.must(http.StatusNoContent, "DELETE", "/group/user/direct?groupname="+licenceGroup+"&username=bob", "")
		checkRefused(t, cb, "removal from the allowed group on A", unlicensed, time.Now(), http.StatusForbidden)
	})

	t.Run("EventStream", func(t *testing.T) {
		ca.t, cb.t = t, t
		checkEventStream(t, ca, cb)
	})

	t.Run("OneSyncAtATime", func(t *testing.T) {
		checkOneSyncAtATime(t, a, b, d, dbURL, ent)
	})
}

// checkSchema asserts every migration is applied exactly once.
func checkSchema(t *testing.T, d *db) {
	t.Helper()
	sub, err := migrations.FS("postgres")
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(sub, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		v, _, _ := strings.Cut(f, "_")
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("migration %s: no version", f)
		}
		want = append(want, strconv.Itoa(n))
	}
	rows, err := d.conn.Query(t.Context(), "SELECT version_id FROM goose_db_version WHERE version_id > 0 AND is_applied ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, strconv.FormatInt(v, 10))
	}
	if !slices.Equal(got, want) {
		t.Errorf("applied migrations %v, want each of %v once", got, want)
	}
}

// checkRefused asserts that B refuses token within maxInvalidation of the change made at since.
func checkRefused(t *testing.T, b *crowd, change, token string, since time.Time, want int) {
	t.Helper()
	took, code := b.refusedWithin(token, since, 10*time.Second)
	t.Logf("%s: refused on B after %s (status %d)", change, took.Round(100*time.Microsecond), code)
	if took > maxInvalidation {
		t.Errorf("%s: B refused only after %s, want within %s", change, took, maxInvalidation)
	}
	if code != want {
		t.Errorf("%s: B answered %d, want %d", change, code, want)
	}
}

// checkEventStream makes changes alternately through A and B, then concurrently through both while
// a reader follows the stream from alternating instances: every reader sees one stream, in the
// order the changes were made. (Nothing is deleted: /event leaves out the creation of an object
// deleted since, by design.)
func checkEventStream(t *testing.T, ca, cb *crowd) {
	t0 := cb.eventToken()
	group := func(name string) string {
		return `<group name="` + name + `"><description>events</description><type>GROUP</type><active>true</active></group>`
	}
	steps := []struct {
		c                  *crowd
		want               int
		method, path, body string
		event              event // the event the step must produce, in this order
	}{
		{ca, 201, "POST", "/group", group("ev-team"), "groupEvent CREATED ev-team"},
		{cb, 201, "POST", "/user", `<user name="ev-carol"><first-name>Carol</first-name><last-name>Evans</last-name>` +
			`<display-name>Carol Evans</display-name><email>carol@example.com</email><password><value>` + userPassword +
			`</value></password><active>true</active><attributes/></user>`, "userEvent CREATED ev-carol"},
		{ca, 201, "POST", "/group/user/direct?groupname=ev-team", `<user name="ev-carol"/>`, "userMembershipEvent CREATED ev-carol in ev-team"},
		{cb, 204, "PUT", "/user?username=ev-carol", `<user name="ev-carol"><display-name>Carol E.</display-name><active>true</active></user>`,
			"userEvent UPDATED ev-carol"},
		{ca, 201, "POST", "/group/child-group/direct?groupname=" + licenceGroup, `<group name="ev-team"/>`,
			"groupMembershipEvent CREATED ev-team in " + licenceGroup},
		{cb, 204, "DELETE", "/group/user/direct?groupname=ev-team&username=ev-carol", "", "userMembershipEvent DELETED ev-carol in ev-team"},
		{ca, 201, "POST", "/group", group("ev-crew"), "groupEvent CREATED ev-crew"},
		{cb, 201, "POST", "/group/user/direct?groupname=ev-crew", `<user name="ev-carol"/>`, "userMembershipEvent CREATED ev-carol in ev-crew"},
	}
	var want []event
	for _, s := range steps {
		s.c.must(s.want, s.method, s.path, s.body)
		want = append(want, s.event)
	}
	evA, tokA := ca.events(t0)
	evB, tokB := cb.events(t0)
	if !slices.Equal(evA, evB) || tokA != tokB {
		t.Fatalf("the instances serve different streams since %s:\nA (%s): %q\nB (%s): %q", t0, tokA, evA, tokB, evB)
	}
	if !subsequence(want, evA) {
		t.Errorf("events since %s:\n%q\nwant, in this order:\n%q", t0, evA, want)
	}
	t.Logf("alternating writes: %d events, the same through A and B", len(evA))

	// Concurrent writers on both instances; a reader chains tokens across instances meanwhile.
	start := ca.eventToken()
	const perWriter = 12
	var wg sync.WaitGroup
	errs := make(chan error, 2*perWriter)
	for _, c := range []*crowd{ca, cb} {
		wg.Go(func() {
			for i := range perWriter {
				name := fmt.Sprintf("w-%s-%02d", strings.ToLower(c.instance), i)
				if code, body, err := c.try("POST", "/group", group(name)); err != nil || code != http.StatusCreated {
					errs <- fmt.Errorf("create %s: %d %v %s", name, code, err, body)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var followed []event
	tok, reads := start, 0
	for finished := false; !finished; reads++ {
		select {
		case <-done:
			finished = true // one more read after the last write
		default:
		}
		evs, next := []*crowd{ca, cb}[reads%2].events(tok)
		followed, tok = append(followed, evs...), next
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	allA, _ := ca.events(start)
	allB, _ := cb.events(start)
	if !slices.Equal(allA, allB) || !slices.Equal(followed, allA) {
		t.Fatalf("stream since %s:\nfollowed in %d reads: %q\nread at once on A: %q\nread at once on B: %q", start, reads, followed, allA, allB)
	}
	seen := map[event]int{}
	for _, e := range followed {
		seen[e]++
	}
	for _, w := range []string{"a", "b"} {
		var mine []event
		for i := range perWriter {
			e := event(fmt.Sprintf("groupEvent CREATED w-%s-%02d", w, i))
			if seen[e] != 1 {
				t.Errorf("%s appears %d times in the stream, want once", e, seen[e])
			}
			mine = append(mine, e)
		}
		if !subsequence(mine, followed) {
			t.Errorf("writer %s's events are out of its order: %q", w, followed)
		}
	}
	t.Logf("concurrent writes: %d events followed in %d reads alternating A and B, equal to one read on either", len(followed), reads)
}

// subsequence reports whether want occurs in got in order (other events may come between).
func subsequence(want, got []event) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// checkOneSyncAtATime asks both instances to synchronise the same Entra ID directory at the same
// moment, three times (the tenant changing in between): the runs never overlap, the instance that
// finds the other one syncing skips, and the replica ends equal to the tenant.
func checkOneSyncAtATime(t *testing.T, a, b *proc, d *db, dbURL string, ent *entra) {
	d.t = t
	const dirName = "Contoso Entra ID"
	dir := createEntraDirectory(t, dbURL, dirName)
	consoles := []*console{signIn(t, a, "admin", adminPassword), signIn(t, b, "admin", adminPassword)}
	ids := ent.tenant.UserIDs()
	gids := ent.tenant.GroupIDs()
	for round := range 3 {
		if round > 0 { // something for the delta round to do
			for i := range 25 {
				id := ids[(round*97+i*13)%len(ids)]
				if err := ent.tenant.UpdateUser(id, func(u *fakegraph.User) { u.DisplayName += fmt.Sprintf(" r%d", round) }); err != nil {
					t.Fatal(err)
				}
				ent.tenant.AddMember(gids[(round+i)%len(gids)], id) // already a member is fine
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, len(consoles))
		for i, c := range consoles {
			wg.Go(func() { errs[i] = c.syncNow(dir) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		waitSyncIdle(t, d, dir, consoles)
	}

	runs := d.runs(dir)
	instances := map[string]int{}
	for i, r := range runs {
		instances[r.Instance]++
		if r.Status != store.SyncSucceeded || r.Finished == nil {
			t.Errorf("run %d (%s on %s): %s %s", r.ID, r.Mode, r.Instance, r.Status, r.Errors)
			continue
		}
		if i > 0 && runs[i-1].Finished != nil && r.Started.Before(*runs[i-1].Finished) {
			t.Errorf("runs overlap: %d on %s ran %s–%s, %d on %s started %s", runs[i-1].ID, runs[i-1].Instance,
				runs[i-1].Started.Format(time.StampMicro), runs[i-1].Finished.Format(time.StampMicro), r.ID, r.Instance,
				r.Started.Format(time.StampMicro))
		}
	}
	// The audit trail agrees: every start is followed by its end before the next start.
	rows, err := d.conn.Query(t.Context(), "SELECT action FROM audit_log WHERE object = $1 AND action IN "+
		"('SYNC_STARTED', 'SYNC_FINISHED', 'SYNC_FAILED') ORDER BY id", dirName)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		actions = append(actions, s)
	}
	rows.Close()
	for i, act := range actions {
		if (i%2 == 0) != (act == "SYNC_STARTED") {
			t.Errorf("audited sync actions interleave: %v", actions)
			break
		}
	}
	skipped := a.log.count("another instance is syncing") + b.log.count("another instance is syncing")
	t.Logf("%d sync runs, never overlapping, by instance %v; %d rounds skipped because the other instance held the lock", len(runs), instances, skipped)
	if len(runs) < 3 || len(actions) != 2*len(runs) {
		t.Errorf("%d runs and %d audited start/end entries for 3 requested rounds", len(runs), len(actions))
	}
	// Both instances were asked at the same moment each round, and a run lasts several slowed pages:
	// the one that did not get the lock must have skipped.
	if skipped == 0 {
		t.Error("no instance ever skipped a round for the other one: the sync lock was not contended")
	}
	if df := diff(d.replica(dir), truth(ent.tenant)); df != "" {
		t.Errorf("replica after the runs differs from the tenant:\n%s", df)
	}
	d.checkIntegrity(dir)
}

// waitSyncIdle waits until no instance syncs the directory, no run is recorded as running and no
// new run appeared for 0.7 s.
func waitSyncIdle(t *testing.T, d *db, dir int64, consoles []*console) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	last, quiet := -1, time.Now()
	for {
		busy := false
		for _, c := range consoles {
			busy = busy || c.syncing(dir)
		}
		runs := d.runs(dir)
		for _, r := range runs {
			busy = busy || r.Status == store.SyncRunning
		}
		if busy || len(runs) != last {
			last, quiet = len(runs), time.Now()
		} else if time.Since(quiet) >= 700*time.Millisecond {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("directory %d still synchronising after 90s", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

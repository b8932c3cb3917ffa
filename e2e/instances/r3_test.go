package instances_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
)

// pageSize is fakegraph's default objects per delta page, which graphsync does not override.
const pageSize = 100

// seed returns the seed of the test's random choices: CROWDGATE_E2E_SEED when set (to replay a
// failure), else a new one. It is logged either way.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("CROWDGATE_E2E_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CROWDGATE_E2E_SEED=%q: %v", v, err)
		}
		s = n
	}
	t.Logf("seed %d (CROWDGATE_E2E_SEED=%d replays these choices)", s, s)
	return s
}

// TestSyncSurvivesSIGKILL is R3: a crowdgate process is killed with SIGKILL at seeded random points
// of full and delta synchronisations; each time the directory is consistent and in a state the
// design allows, and the next process's run completes it to an exact replica of the tenant.
func TestSyncSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	dbURL := needPostgres(t)
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, 0x5233))
	tenant := fakegraph.Generate(int64(s%1000), 3000, 100, 12000, 3)
	ent := newEntra(t, tenant, 15*time.Millisecond)
	dir := createEntraDirectory(t, dbURL, "Contoso Entra ID")
	vars := map[string]string{"CROWDGATE_DATABASE_URL": dbURL}
	maps.Copy(vars, ent.env())
	d := openDB(t, dbURL)
	kills := 0

	// 1. The first full round, killed while it reads Graph: nothing is written before every page
	// is read, so the directory is still empty.
	k := int64(2 + rng.IntN(12))
	t.Logf("kill 1: full round, SIGKILL before Graph delta request %d", k)
	killAtRequest(t, "full-read", vars, ent, k)
	kills++
	d.checkIntegrity(dir)
	if got := d.replica(dir); len(got.Users)+len(got.Groups)+len(got.Members) != 0 {
		t.Errorf("a full round killed while reading wrote %d users, %d groups", len(got.Users), len(got.Groups))
	}
	if r := d.lastRun(dir); r.Status != store.SyncRunning {
		t.Errorf("the killed run is recorded as %q, want it left %s (its process died)", r.Status, store.SyncRunning)
	}

	// 2. The next full round, killed while it applies (after its first batch of users committed):
	// the links were cleared first, and what is written is the tenant's.
	want := truth(tenant)
	ent.reset(nil)
	p := start(t, "full-apply", vars)
	eventually(t, 60*time.Second, "the full round writes its first users", func() bool {
		return d.int("SELECT count(*) FROM users WHERE directory_id = $1", dir) > 0
	})
	delay := time.Duration(rng.IntN(40)) * time.Millisecond
	time.Sleep(delay)
	p.kill()
	kills++
	d.checkIntegrity(dir)
	got := d.replica(dir)
	t.Logf("kill 2: full round, SIGKILL %s after its first users committed: %d of %d users, %d of %d groups written",
		delay, len(got.Users), len(want.Users), len(got.Groups), len(want.Groups))
	if r := d.lastRun(dir); r.Status == store.SyncRunning {
		if u, g := d.links(dir); u != "" || g != "" {
			t.Errorf("a full round killed half-way kept its delta links: the next run would not redo it")
		}
		if df := subset(got, want); df != "" {
			t.Errorf("a full round killed half-way wrote what the tenant does not hold:\n%s", df)
		}
	} else if df := diff(got, want); df != "" { // the kill came after the run
		t.Errorf("full round %s, but the replica differs from the tenant:\n%s", r.Status, df)
	}

	// 3. The next process's run redoes the full round and completes it.
	last := d.lastRun(dir).ID
	p = start(t, "full-complete", vars)
	run := d.waitRun(dir, last, 120*time.Second)
	p.kill()
	if run.Mode != store.SyncModeFull {
		t.Errorf("run after an unfinished full round: %s, want %s", run.Mode, store.SyncModeFull)
	}
	if df := diff(d.replica(dir), want); df != "" {
		t.Fatalf("replica after the completed full round differs from the tenant:\n%s", df)
	}

	// 4. Delta rounds: each page is applied with its link in one transaction, so a kill leaves
	// the replica as of the last applied page. First killed before a seeded Graph request, then at
	// a seeded moment after one (inside a transaction or a page wait).
	for round := 1; round <= 2; round++ {
		before := d.replica(dir)
		changes := mutate(t, tenant, rng, round)
		states := deltaStates(before, changes, withRemoved(truth(tenant), removedOf(before, changes)))
		pages := int64((len(changes)+pageSize-1)/pageSize + 1) // users pages, then one groups page
		var what string
		if round == 1 {
			k := 1 + rng.Int64N(pages)
			what = fmt.Sprintf("SIGKILL before Graph delta request %d of %d", k, pages)
			killAtRequest(t, "delta-"+strconv.Itoa(round), vars, ent, k)
		} else {
			k, after := 1+rng.Int64N(pages), time.Duration(rng.IntN(60))*time.Millisecond
			what = fmt.Sprintf("SIGKILL %s after Graph delta request %d of %d", after, k, pages)
			killAfterRequest(t, "delta-"+strconv.Itoa(round), vars, ent, k, after)
		}
		kills++
		d.checkIntegrity(dir)
		got := d.replica(dir)
		j := slices.IndexFunc(states, func(s replica) bool { return diff(got, s) == "" })
		t.Logf("kill %d: delta round of %d changed users, %s: replica is the state after %d of %d pages", kills, len(changes), what, j, pages)
		if j < 0 {
			t.Fatalf("after the kill the replica is no state the delta pages build in order; against the state before:\n%s\nagainst the final one:\n%s",
				diff(got, states[0]), diff(got, states[len(states)-1]))
		}
		last := d.lastRun(dir).ID // the killed run, which the next one closes as aborted
		p := start(t, "delta-"+strconv.Itoa(round)+"-complete", vars)
		run := d.waitRun(dir, last, 120*time.Second)
		p.kill()
		// A delta round goes on as one, except that a round killed before it activated the users it
		// re-enabled leaves a full round due (docs/sync-rounds.md).
		reenabling := len(states) > int(pages)+1 && j < len(states)-1
		if run.Mode != store.SyncModeDelta && !(reenabling && run.Mode == store.SyncModeFull) {
			t.Errorf("run after a killed delta round: %s, want it to go on as %s", run.Mode, store.SyncModeDelta)
		}
		if df := diff(d.replica(dir), states[len(states)-1]); df != "" {
			t.Fatalf("replica after the completed delta round differs from the tenant:\n%s", df)
		}
		d.checkIntegrity(dir)
	}

	// Every killed run was closed as aborted by the run after it; all others succeeded.
	aborted := 0
	for _, r := range d.runs(dir) {
		switch r.Status {
		case store.SyncAborted:
			aborted++
		case store.SyncSucceeded:
		default:
			t.Errorf("run %d (%s): %s %s", r.ID, r.Mode, r.Status, r.Errors)
		}
	}
	if aborted == 0 || aborted > kills {
		t.Errorf("%d runs recorded as aborted after %d kills", aborted, kills)
	}
}

// killAtRequest starts a process and kills it with SIGKILL when it makes Graph delta request k
// (which it never gets answered), then waits for it to be gone.
func killAtRequest(t *testing.T, name string, vars map[string]string, ent *entra, k int64) {
	t.Helper()
	h := &handoff{t: t}
	ent.reset(func(n int64) bool {
		if n < k {
			return true
		}
		if n == k {
			if p := h.get(); p != nil {
				p.cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		return false
	})
	p := launch(t, name, vars)
	h.set(p)
	p.wait(120 * time.Second)
	ent.reset(nil)
}

// killAfterRequest starts a process and kills it with SIGKILL after it made Graph delta request k
// (which is served), then waits for it to be gone.
func killAfterRequest(t *testing.T, name string, vars map[string]string, ent *entra, k int64, after time.Duration) {
	t.Helper()
	h := &handoff{t: t}
	ent.reset(func(n int64) bool {
		if n == k {
			if p := h.get(); p != nil {
				time.AfterFunc(after, func() { p.cmd.Process.Signal(syscall.SIGKILL) })
			}
		}
		return true
	})
	p := launch(t, name, vars)
	h.set(p)
	p.wait(120 * time.Second)
	ent.reset(nil)
}

// handoff passes the process being launched to a Graph hook, which may run before launch returns.
type handoff struct {
	t  *testing.T
	mu sync.Mutex
	p  *proc
}

func (h *handoff) set(p *proc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.p = p
}

// get waits (up to 10 s) for the process.
func (h *handoff) get() *proc {
	for range 1000 {
		h.mu.Lock()
		p := h.p
		h.mu.Unlock()
		if p != nil {
			return p
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Errorf("the Graph hook never got the process")
	return nil
}

// userChange is one user a delta round changes: its replica form after, or nil when deleted.
type userChange struct {
	id    string
	after *rUser
}

// mutate changes the tenant for a delta round: users renamed, disabled and (in later rounds)
// deleted, spread over several pages; members added to and removed from groups; groups renamed.
// It returns the user changes in the order delta pages carry them (by object id).
func mutate(t *testing.T, tenant *fakegraph.Tenant, rng *rand.Rand, round int) []userChange {
	t.Helper()
	ids := tenant.UserIDs()
	picked := map[string]bool{}
	for len(picked) < 250+rng.IntN(150) {
		picked[ids[rng.IntN(len(ids))]] = true
	}
	var out []userChange
	for _, id := range slices.Sorted(maps.Keys(picked)) {
		if round > 1 && rng.IntN(60) == 0 {
			if err := tenant.DeleteUser(id, false); err != nil {
				t.Fatal(err)
			}
			out = append(out, userChange{id: id})
			continue
		}
		err := tenant.UpdateUser(id, func(u *fakegraph.User) {
			u.DisplayName = fmt.Sprintf("%s (round %d)", u.GivenName, round)
			u.Surname += "-" + strconv.Itoa(round)
			if rng.IntN(20) == 0 {
				u.AccountEnabled = !u.AccountEnabled
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := tenant.User(id)
		m := mapUser(u)
		out = append(out, userChange{id: id, after: &m})
	}
	gids := tenant.GroupIDs()
	live := tenant.UserIDs()
	for i := range 15 {
		g := gids[rng.IntN(len(gids))]
		for range 4 {
			if err := tenant.AddMember(g, live[rng.IntN(len(live))]); err != nil {
				t.Fatal(err)
			}
		}
		removed := 0
		for _, m := range tenant.Members(g) {
			if m.Kind == fakegraph.KindUser && removed < 2 && rng.IntN(3) == 0 {
				if err := tenant.RemoveMember(g, m.ID); err != nil {
					t.Fatal(err)
				}
				removed++
			}
		}
		if i < 2 {
			if err := tenant.UpdateGroup(g, func(gr *fakegraph.Group) { gr.DisplayName += " r" + strconv.Itoa(round) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// removedOf returns the users a delta round deletes, as the replica held them before.
func removedOf(before replica, changes []userChange) map[string]rUser {
	out := map[string]rUser{}
	for _, c := range changes {
		if c.after == nil {
			out[c.id] = before.Users[c.id]
		}
	}
	return out
}

// deltaStates returns the states a delta round may leave: states[j] after its first j pages (users
// pages of pageSize changed users in id order, one transaction each), then, when users were
// re-enabled, the state after the groups page with them still inactive, and last the final one.
func deltaStates(before replica, changes []userChange, final replica) []replica {
	cur := before.clone()
	states := []replica{cur.clone()}
	reenabled := map[string]bool{}
	for chunk := range slices.Chunk(changes, pageSize) {
		for _, c := range chunk {
			if c.after != nil {
				u := *c.after
				if b, ok := before.Users[c.id]; ok && !b.Active && u.Active {
					// Re-enabled: it stays inactive until the groups round is applied (docs/sync-rounds.md).
					u.Active = false
					reenabled[c.id] = true
				} else {
					delete(reenabled, c.id)
				}
				cur.Users[c.id] = u
				continue
			}
			// Removed in Entra ID: kept deactivated, without memberships.
			u := cur.Users[c.id]
			u.Active = false
			cur.Users[c.id] = u
			for g, ms := range cur.Members {
				cur.Members[g] = slices.DeleteFunc(ms, func(m string) bool { return m == "u:"+c.id })
			}
		}
		states = append(states, cur.clone())
	}
	if len(reenabled) > 0 {
		// The groups page is applied, then the re-enabled users are activated: one transaction each.
		mid := final.clone()
		for id := range reenabled {
			u := mid.Users[id]
			u.Active = false
			mid.Users[id] = u
		}
		states = append(states, mid)
	}
	return append(states, final)
}

// subset describes what got holds that want does not ("" when got ⊆ want, object by object).
func subset(got, want replica) string {
	var out []string
	add := func(format string, args ...any) {
		if len(out) < 12 {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	for id, u := range got.Users {
		if w, ok := want.Users[id]; !ok || w != u {
			add("user %s: %+v, tenant %+v", id, u, w)
		}
	}
	for id, g := range got.Groups {
		if w, ok := want.Groups[id]; !ok || w != g {
			add("group %s: %q, tenant %q", id, g, w)
		}
	}
	for id, ms := range got.Members {
		for _, m := range ms {
			if !slices.Contains(want.Members[id], m) {
				add("membership %s in group %s not in the tenant", m, id)
			}
		}
	}
	return strings.Join(out, "\n")
}

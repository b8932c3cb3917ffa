package api_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/internal/consoletest"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

const adminPassword = "correct horse battery staple"

// harness is a console over a real store, with an internal directory holding the administrator
// "admin" (member of crowdgate-admins) and an Entra ID directory.
type harness struct {
	t     *testing.T
	st    *store.Store
	srv   *httptest.Server
	cfg   api.Config
	dir   store.Directory // internal
	entra store.Directory // AZURE_AD
	admin store.User
	sync  *fakeSync

	mu     sync.Mutex
	offset time.Duration // added to the console's clock
}

// adminsObjectID is the Entra object id of the group bound as administrators in every harness's
// store (CROWDGATE_ADMIN_ENTRA_GROUPS).
const adminsObjectID = "5a5a5a5a-0000-4000-8000-00000000ad01"

func newHarness(t *testing.T, edit ...func(*api.Config)) *harness {
	t.Helper()
	return newHarnessOn(t, storetest.OpenConfig(t, storetest.Dialect(), store.Config{AdminEntraGroups: []string{adminsObjectID}}), edit...)
}

// newHarnessOn is newHarness on a given store (one opened with a configuration).
func newHarnessOn(t *testing.T, st *store.Store, edit ...func(*api.Config)) *harness {
	t.Helper()
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
	h := &harness{t: t, st: st}
	h.dir = storetest.Must(st.EnsureInternalDirectory(ctx))
	h.entra = storetest.Must(st.CreateDirectory(ctx, store.Directory{Name: "Contoso Entra ID", Kind: store.DirectoryAzureAD,
		Active: true, NestedGroups: true, Config: `{"tenant_id":"contoso.onmicrosoft.com","client_secret":"s3cr3t-value","graph_base_url":"https://graph.microsoft.com/v1.0"}`}))
	admins := storetest.Must(st.CreateGroup(ctx, store.NewGroup{DirectoryID: h.dir.ID, Name: "crowdgate-admins", Active: true}))
	h.admin = storetest.Must(st.CreateUser(ctx, store.NewUser{DirectoryID: h.dir.ID, Name: "admin", DisplayName: "Ada Admin",
		Email: "admin@example.com", Active: true, Password: adminPassword}))
	if err := st.AddUserToGroup(ctx, h.admin.ID, admins.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.BindAdminGroup(ctx, admins.ID); err != nil {
		t.Fatal(err)
	}
	h.sync = newFakeSync(st)
	h.cfg = api.Config{SyncController: h.sync, Now: h.now, PublicURL: ""}
	for _, e := range edit {
		e(&h.cfg)
	}
	handler, err := api.New(h.cfg, st, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(handler)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *harness) now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().Add(h.offset)
}

// age moves the console's clock forward: sessions look older (for re-authentication).
func (h *harness) age(d time.Duration) {
	h.mu.Lock()
	h.offset += d
	h.mu.Unlock()
}

// ctx is a context whose writes are attributed to the test.
func (h *harness) ctx() context.Context {
	return store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
}

func (h *harness) addUser(dir int64, name string, groups ...int64) store.User {
	h.t.Helper()
	email := name
	if !strings.Contains(name, "@") {
		email = name + "@example.com"
	}
	u := storetest.Must(h.st.CreateUser(h.ctx(), store.NewUser{DirectoryID: dir, Name: name, DisplayName: displayName(name),
		Email: email, Active: true}))
	for _, g := range groups {
		if err := h.st.AddUserToGroup(h.ctx(), u.ID, g); err != nil {
			h.t.Fatal(err)
		}
	}
	return u
}

func (h *harness) addGroup(dir int64, name string, parents ...int64) store.Group {
	h.t.Helper()
	g := storetest.Must(h.st.CreateGroup(h.ctx(), store.NewGroup{DirectoryID: dir, Name: name, Active: true}))
	for _, p := range parents {
		if err := h.st.AddGroupToGroup(h.ctx(), g.ID, p); err != nil {
			h.t.Fatal(err)
		}
	}
	return g
}

// displayName makes "Bob Smith" of "bob.smith@contoso.com".
func displayName(name string) string {
	local, _, _ := strings.Cut(name, "@")
	words := strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '-' || r == '_' })
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// client is a browser of the console; response is what it answered.
type (
	client   = consoletest.Client
	response = consoletest.Response
)

func (h *harness) client() *client { return consoletest.New(h.t, h.srv.URL) }

// signedIn is the preamble of most console tests: a harness and a client signed in as its
// administrator.
func signedIn(t *testing.T) (*harness, *client) {
	t.Helper()
	h := newHarness(t)
	return h, h.loggedIn()
}

// loggedIn returns a client signed in as the administrator through the break-glass page.
func (h *harness) loggedIn() *client {
	h.t.Helper()
	c := h.client()
	res := c.Login("admin", adminPassword)
	if res.Status != http.StatusSeeOther {
		h.t.Fatalf("sign-in: %d %s", res.Status, res.Body)
	}
	return c
}

func wantStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.Status != want {
		body := r.Body
		if len(body) > 3000 {
			body = body[:3000]
		}
		t.Fatalf("status %d, want %d; body:\n%s", r.Status, want, body)
	}
}

func wantContains(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

// lastAudit returns the newest audit entry with the action.
func (h *harness) lastAudit(action string) store.AuditEntry {
	h.t.Helper()
	es, err := h.st.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(es) == 0 {
		h.t.Fatalf("no audit entry %s", action)
	}
	return es[0]
}

// fakeSync is a SyncController whose runs advance when the test (or a ticker) calls step: each
// run takes steps steps, recorded in the store's run history as a real synchroniser would.
type fakeSync struct {
	st      *store.Store
	steps   int
	testErr error

	mu       sync.Mutex
	progress map[int64]api.SyncProgress
	runs     map[int64]store.SyncRun
	tested   []int64
	fulls    []int64 // directories asked for a full round
	applied  []int64 // directories whose held run was applied
}

// ApplyHeld applies the held run (api.HeldApplier).
func (f *fakeSync) ApplyHeld(_ context.Context, dirID int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.progress[dirID]
	if p.Held == "" {
		return fmt.Errorf("directory %d has no held run", dirID)
	}
	p.Held = ""
	f.progress[dirID] = p
	f.applied = append(f.applied, dirID)
	return nil
}

func newFakeSync(st *store.Store) *fakeSync {
	return &fakeSync{st: st, steps: 4, progress: map[int64]api.SyncProgress{}, runs: map[int64]store.SyncRun{}}
}

func (f *fakeSync) SyncNow(ctx context.Context, dirID int64, full bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if full {
		f.fulls = append(f.fulls, dirID)
	}
	if f.progress[dirID].Running {
		return fmt.Errorf("directory %d: %w", dirID, api.ErrSyncRunning)
	}
	run, err := f.st.StartSyncRun(context.WithoutCancel(ctx), dirID, store.SyncModeFull, "test")
	if err != nil {
		return err
	}
	f.runs[dirID] = run
	f.progress[dirID] = api.SyncProgress{Running: true, Phase: "users", Total: f.steps * 25, StartedAt: run.StartedAt}
	return nil
}

// step advances every running sync by one step; it reports whether any is still running.
func (f *fakeSync) step() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	any := false
	for dir, p := range f.progress {
		if !p.Running {
			continue
		}
		p.Done += 25
		p.Phase = []string{"users", "groups", "memberships", "memberships"}[min(p.Done/25-1, 3)]
		if p.Done >= p.Total {
			run := f.runs[dir]
			run.Status = store.SyncSucceeded
			run.SyncCounts = store.SyncCounts{UsersAdded: 3, GroupsAdded: 2, MembershipsAdded: 5}
			if err := f.st.FinishSyncRun(context.Background(), run); err != nil {
				panic(err)
			}
			now := time.Now().UTC()
			_ = f.st.SaveSyncState(context.Background(), store.SyncState{DirectoryID: dir, LastSuccessAt: &now, LastFullAt: &now})
			p.Running, p.Phase, p.FinishedAt = false, "done", now
		} else {
			any = true
		}
		f.progress[dir] = p
	}
	return any
}

// failTests makes TestConnection fail with err from now on.
func (f *fakeSync) failTests(err error) {
	f.mu.Lock()
	f.testErr = err
	f.mu.Unlock()
}

func (f *fakeSync) Progress(dirID int64) api.SyncProgress {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.progress[dirID]
}

func (f *fakeSync) TestConnection(ctx context.Context, dirID int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tested = append(f.tested, dirID)
	if f.testErr != nil {
		return f.testErr
	}
	return nil
}

var errUnauthorizedClient = errors.New("AADSTS7000215: invalid client secret provided")

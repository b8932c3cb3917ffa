package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestSyncFence: on PostgreSQL, when the connection holding instance A's sync lock drops, instance B
// takes the lock, and from then on every write of A's run is refused (ErrSyncFenced) and changes
// nothing; A's end-of-run record does not overwrite B's sync state.
func TestSyncFence(t *testing.T) {
	if storetest.Dialect() != "postgres" {
		t.Skip("the lock connection can drop on PostgreSQL only")
	}
	ctx := context.Background()
	a, b := storetest.Two(t, "postgres")
	dir := azureDir(t, a)
	unlockA, ok, err := a.TryLockSync(ctx, dir.ID)
	if err != nil || !ok {
		t.Fatalf("A's lock: %v %v", ok, err)
	}
	defer unlockA()
	fenceA := storetest.Must(a.SyncFence(ctx, dir.ID))
	runA := storetest.Must(a.StartSyncRun(ctx, dir.ID, store.SyncModeDelta, "a"))
	apply(t, a, dir.ID, store.SyncBatch{Fence: fenceA, Users: []store.SyncUser{su("u1", "alice")}})

	// A's lock connection drops (a network cut, a proxy restart): the server ends its session (and
	// pg_terminate_backend waits until it has).
	db := storetest.Must(b.DB())
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(pg_terminate_backend(pid, 10000)) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted",
		dir.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate A's lock connection: %d, %v", n, err)
	}
	unlockB, ok, err := b.TryLockSync(ctx, dir.ID)
	if err != nil || !ok {
		t.Fatalf("B's lock after A's connection dropped: %v %v", ok, err)
	}
	defer unlockB()
	fenceB := storetest.Must(b.SyncFence(ctx, dir.ID))
	apply(t, b, dir.ID, store.SyncBatch{Fence: fenceB, State: &store.SyncState{UsersDeltaLink: "b-link"}})

	// A goes on writing: refused, nothing written.
	_, err = a.ApplySync(ctx, dir.ID, store.SyncBatch{Fence: fenceA, Users: []store.SyncUser{su("u2", "mallory")}})
	if !errors.Is(err, store.ErrSyncFenced) {
		t.Fatalf("A's write after losing the lock: %v", err)
	}
	if _, err := a.UserByExternalID(ctx, dir.ID, "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("A's refused write left u2: %v", err)
	}
	runA.Status = store.SyncSucceeded
	if err := a.FinishSync(ctx, store.SyncFinish{Run: runA, State: store.SyncState{DirectoryID: dir.ID, UsersDeltaLink: "a-link"},
		Directory: dir.Name, Fence: fenceA}); err != nil {
		t.Fatal(err)
	}
	if st := storetest.Must(b.SyncState(ctx, dir.ID)); st.UsersDeltaLink != "b-link" {
		t.Errorf("A's finish overwrote the state: %+v", st)
	}
	if runs := storetest.Must(b.SyncRuns(ctx, dir.ID, 1)); runs[0].ID != runA.ID || runs[0].Status != store.SyncFailed {
		t.Errorf("A's run: %+v", runs[0])
	}
}

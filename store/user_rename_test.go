package store_test

import (
	"context"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestUpdateUserRenameRollsBackWithRefusedField is the regression test of a console edit that
// renamed the user in one transaction and then failed to save an invalid field in another,
// leaving the rename: UserChange.Name now renames in the update's own transaction.
func TestUpdateUserRenameRollsBackWithRefusedField(t *testing.T) {
	onEachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		dir := storetest.Must(st.EnsureInternalDirectory(ctx))
		u := storetest.Must(st.CreateUser(ctx, store.NewUser{DirectoryID: dir.ID, Name: "bob", Active: true}))
		name, bad := "robert", "bob\x00@example.com"
		if _, err := st.UpdateUser(ctx, u.ID, store.UserChange{Name: &name, Email: &bad}); err == nil {
			t.Fatal("an invalid e-mail was accepted")
		}
		if got := storetest.Must(st.User(ctx, u.ID)); got.Name != "bob" {
			t.Fatalf("name %q after a refused change, want bob", got.Name)
		}
		good := "robert@example.com"
		got, err := st.UpdateUser(ctx, u.ID, store.UserChange{Name: &name, Email: &good})
		if err != nil || got.Name != "robert" || got.Email != good {
			t.Fatalf("rename with update: %+v %v", got, err)
		}
	})
}

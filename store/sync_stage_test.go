package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestSyncStage: a staged full round keeps its pages in order with their links; its checkpoint is
// each kind's last page; staging again replaces a page; the apply's last batch (ClearStage) drops
// it in its transaction; a run that lost the lock (its fence) can neither stage nor clear.
func TestSyncStage(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, d)
			dir := azureDir(t, s)
			if _, ok := storetest.Must2(s.SyncStagedRound(ctx, dir.ID)); ok {
				t.Fatal("a round is staged before any")
			}
			fence := storetest.Must(s.SyncFence(ctx, dir.ID))
			round := storetest.Must(s.SyncStageBegin(ctx, dir.ID, fence, "key-1"))
			put := func(p store.SyncStagePage) {
				t.Helper()
				if err := s.SyncStagePut(ctx, dir.ID, fence, p); err != nil {
					t.Fatal(err)
				}
			}
			for i := 1; i <= 3; i++ {
				put(store.SyncStagePage{Kind: store.SyncStageUsers, Seq: i, Items: 10, NextLink: fmt.Sprintf("u-next-%d", i),
					Payload: []byte(fmt.Sprintf(`[{"i":"u%d"}]`, i))})
			}
			put(store.SyncStagePage{Kind: store.SyncStageGroups, Seq: 1, Items: 4, NextLink: "g-next-1", Payload: []byte(`[]`)})
			put(store.SyncStagePage{Kind: store.SyncStageGroups, Seq: 2, Items: 5, DeltaLink: "g-delta", Payload: []byte(`[{"i":"g"}]`)})
			put(store.SyncStagePage{Kind: store.SyncStageUsers, Seq: 3, Items: 7, NextLink: "u-next-3b", Payload: []byte(`[{"i":"u3b"}]`)})

			got, ok := storetest.Must2(s.SyncStagedRound(ctx, dir.ID))
			want := store.SyncFullRound{Key: "key-1", StartedAt: round.StartedAt,
				Users:  store.SyncStageCursor{Pages: 3, Items: 27, NextLink: "u-next-3b"},
				Groups: store.SyncStageCursor{Pages: 2, Items: 9, DeltaLink: "g-delta"}}
			if !ok || !got.StartedAt.Equal(want.StartedAt) {
				t.Fatalf("staged round: %+v %t, want %+v", got, ok, want)
			}
			got.StartedAt = want.StartedAt
			if !reflect.DeepEqual(got, want) {
				t.Errorf("staged round:\n got %+v\nwant %+v", got, want)
			}
			var pages []string
			if err := s.SyncStagePages(ctx, dir.ID, store.SyncStageUsers, func(p store.SyncStagePage) error {
				pages = append(pages, fmt.Sprintf("%d %d %s %s", p.Seq, p.Items, p.NextLink, p.Payload))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if want := []string{`1 10 u-next-1 [{"i":"u1"}]`, `2 10 u-next-2 [{"i":"u2"}]`, `3 7 u-next-3b [{"i":"u3b"}]`}; !reflect.DeepEqual(pages, want) {
				t.Errorf("staged users pages: %q, want %q", pages, want)
			}

			// Another run took the lock: this one's staging is refused.
			later := storetest.Must(s.SyncFence(ctx, dir.ID))
			if err := s.SyncStagePut(ctx, dir.ID, fence, store.SyncStagePage{Kind: store.SyncStageUsers, Seq: 4, Payload: []byte(`[]`)}); !errors.Is(err, store.ErrSyncFenced) {
				t.Errorf("fenced put: %v", err)
			}
			if err := s.SyncStageClear(ctx, dir.ID, fence); !errors.Is(err, store.ErrSyncFenced) {
				t.Errorf("fenced clear: %v", err)
			}
			if got, _ := storetest.Must2(s.SyncStagedRound(ctx, dir.ID)); got.Users.Pages != 3 {
				t.Errorf("after fenced writes: %+v", got)
			}

			// The apply's last batch drops the stage with the state.
			apply(t, s, dir.ID, store.SyncBatch{Fence: later, ClearStage: true, State: &store.SyncState{UsersDeltaLink: "u-delta", GroupsDeltaLink: "g-delta"}})
			if _, ok := storetest.Must2(s.SyncStagedRound(ctx, dir.ID)); ok {
				t.Error("the stage survived ClearStage")
			}
			n := 0
			if err := s.SyncStagePages(ctx, dir.ID, store.SyncStageGroups, func(store.SyncStagePage) error { n++; return nil }); err != nil || n != 0 {
				t.Errorf("staged groups pages after ClearStage: %d, %v", n, err)
			}

			// A new round replaces whatever was staged.
			storetest.Must(s.SyncStageBegin(ctx, dir.ID, later, "key-2"))
			put2 := store.SyncStagePage{Kind: store.SyncStageUsers, Seq: 1, Items: 1, NextLink: "x", Payload: []byte(`[]`)}
			if err := s.SyncStagePut(ctx, dir.ID, later, put2); err != nil {
				t.Fatal(err)
			}
			storetest.Must(s.SyncStageBegin(ctx, dir.ID, later, "key-3"))
			if got, ok := storetest.Must2(s.SyncStagedRound(ctx, dir.ID)); !ok || got.Key != "key-3" || got.Users.Pages != 0 {
				t.Errorf("after a new begin: %+v %t", got, ok)
			}
			if err := s.SyncStageClear(ctx, dir.ID, later); err != nil {
				t.Fatal(err)
			}
			if _, ok := storetest.Must2(s.SyncStagedRound(ctx, dir.ID)); ok {
				t.Error("the stage survived SyncStageClear")
			}
		})
	}
}

package store_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/pgcluster"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestDatabaseRestart (targets R2): PostgreSQL goes away under a live store. Validations that need
// the database fail closed (an error, never "valid"), no acknowledged write is lost, and the store
// serves again within 5 s of the database's return, without a restart.
func TestDatabaseRestart(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" || !slices.Contains(storetest.Dialects(t), "postgres") {
		t.Skip("needs PostgreSQL (" + storetest.EnvPostgres + ") among the dialects under test")
	}
	pg := pgcluster.Start(t)
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{URL: pg.URL(), PasswordWorkers: 1, SessionCacheTTL: time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := setup(t, s)
	u := addUser(t, s, f.dir.ID, "alice")
	v := view(t, s, f.app)
	_, token := storetest.Must2(s.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: f.app.ID}))
	if _, _, err := v.ValidateSession(ctx, token, store.SessionCheck{}); err != nil {
		t.Fatal(err)
	}
	acked := addUser(t, s, f.dir.ID, "written-before-the-outage")

	pg.Stop()
	// Once the cached verdict (1 ms) is gone, no validation may answer valid.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, _, err := v.ValidateSession(ctx, token, store.SessionCheck{}); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("validations still answered from the cache 5 s into the outage")
		}
	}
	for i := range 20 {
		if _, _, err := v.ValidateSession(ctx, token, store.SessionCheck{}); err == nil {
			t.Fatalf("validation %d during the outage answered valid", i)
		}
	}
	if _, err := s.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: "during", Active: true}); err == nil {
		t.Fatal("a write during the outage reported success")
	}

	pg.Start()
	back := time.Now()
	for {
		_, _, err := v.ValidateSession(ctx, token, store.SessionCheck{})
		if err == nil {
			break
		}
		if time.Since(back) > 5*time.Second {
			t.Fatalf("still failing 5 s after the database returned: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("recovered %v after the database returned", time.Since(back).Round(time.Millisecond))
	if _, err := s.User(ctx, acked.ID); err != nil {
		t.Errorf("acknowledged write lost: %v", err)
	}
	if _, err := s.UserByName(ctx, f.dir.ID, "during"); !store.IsNotFound(err) {
		t.Errorf("the failed write exists: %v", err)
	}
}

package main

import (
	"testing"
)

// TestSignInsFlushedAtShutdown: a sign-in is written behind (the periodic flush runs every minute),
// and a graceful stop writes what is still pending.
func TestSignInsFlushedAtShutdown(t *testing.T) {
	e := dbEnv(t, "sqlite").with("CROWDGATE_LISTEN", "127.0.0.1:0", "CROWDGATE_ADMIN_PASSWORD", "operator-chosen-1")
	srv := startServer(t, e)
	b := newBrowser(t, "http://"+srv.addrs.Main)
	if !b.Login("admin", "operator-chosen-1").SignedIn() {
		t.Fatal("console sign-in failed")
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, e)
	dir, err := st.EnsureInternalDirectory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := st.UserByName(t.Context(), dir.ID, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if admin.LastLoginAt == nil {
		t.Errorf("the console sign-in was not written at shutdown:\n%s", srv.stderr.String())
	}
}

package crowdapi_test

import (
	"context"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestApplicationsEndSSOSessionsOnly: DELETE /session?username= and DELETE /session/{token} end SSO
// sessions; a console session, even with its token in hand, is not an application's to end.
func TestApplicationsEndSSOSessionsOnly(t *testing.T) {
	e := newEnv(t)
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
	alice := storetest.Must(e.st.CreateUser(ctx, store.NewUser{DirectoryID: e.dir.ID, Name: "alice", Active: true}))
	_, console := storetest.Must2(e.st.CreateSession(ctx, store.NewSession{Kind: store.SessionConsole, UserID: alice.ID}))
	_, sso := storetest.Must2(e.st.CreateSession(ctx, store.NewSession{Kind: store.SessionSSO, UserID: alice.ID}))
	live := func(token string) bool {
		t.Helper()
		_, err := e.st.SessionByToken(ctx, token)
		if err != nil && !store.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	e.must(req{method: "DELETE", path: "/session/" + console}, 204)
	if !live(console) {
		t.Fatal("DELETE /session/{token} ended a console session")
	}
	e.must(req{method: "DELETE", path: "/session?username=alice"}, 204)
	if !live(console) {
		t.Error("DELETE /session?username= ended a console session")
	}
	if live(sso) {
		t.Error("DELETE /session?username= left the SSO session")
	}
}

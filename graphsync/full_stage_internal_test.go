package graphsync

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// stagedOnly is a Store holding one staged round and nothing else.
type stagedOnly struct {
	Store
	round store.SyncFullRound
}

func (s stagedOnly) SyncStagedRound(context.Context, int64) (store.SyncFullRound, bool, error) {
	return s.round, true, nil
}

// TestStagedRoundAge: a staged round is continued while younger than StageMaxAge and read with the
// same key; otherwise it is started over, saying why.
func TestStagedRoundAge(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		key     string
		started time.Time
		ok      bool
		why     string
	}{
		{"k", now.Add(-StageMaxAge + time.Second), true, ""},
		{"k", now.Add(-StageMaxAge), false, "the interrupted full round began more than 24h0m0s ago"},
		{"other", now, false, "the configuration or the tenant changed since the interrupted full round began"},
	} {
		s := &Syncer{st: stagedOnly{round: store.SyncFullRound{Key: c.key, StartedAt: c.started}}, now: func() time.Time { return now }}
		_, ok, why, err := s.stagedRound(context.Background(), "k")
		if err != nil || ok != c.ok || why != c.why {
			t.Errorf("round %q begun %s: ok %t, why %q, err %v; want %t, %q", c.key, c.started, ok, why, err, c.ok, c.why)
		}
	}
}

// TestStagedPagesRoundTrip: the staged form keeps what a full round uses, members of other kinds
// left out (a full round ignores them) and removed members kept whatever their kind.
func TestStagedPagesRoundTrip(t *testing.T) {
	on := true
	users := []User{{ID: "u1", UserPrincipalName: "a@x", Mail: "a@x", OtherMails: []string{"b@y"}, GivenName: "A", Surname: "B",
		DisplayName: "A B", MailNickname: "a", OnPremisesSamAccountName: "ab", UserType: "Guest", ExternalUserState: "Accepted",
		AccountEnabled: &on}, {ID: "u2", Removed: true, RemovedReason: ReasonChanged}}
	b, err := json.Marshal(stagedUsers(users))
	if err != nil {
		t.Fatal(err)
	}
	var gotU []User
	if err := json.Unmarshal(b, (*stagedUsers)(&gotU)); err != nil || !reflect.DeepEqual(gotU, users) {
		t.Errorf("users: %+v, %v; want %+v", gotU, err, users)
	}
	groups := []Group{{ID: "g1", DisplayName: "G", Description: "d", MailNickname: "g", SecurityEnabled: true, GroupTypes: []string{"Unified"},
		Members: []MemberChange{{ID: "u1", Kind: KindUser}, {ID: "g2", Kind: KindGroup}, {ID: "c1", Kind: "orgContact"},
			{ID: "u3", Kind: KindUser, Removed: true}}}, {ID: "g3", Removed: true, RemovedReason: ReasonDeleted}}
	if b, err = json.Marshal(stagedGroups(groups)); err != nil {
		t.Fatal(err)
	}
	var gotG []Group
	want := []Group{{ID: "g1", DisplayName: "G", Description: "d", MailNickname: "g", SecurityEnabled: true, GroupTypes: []string{"Unified"},
		Members: []MemberChange{{ID: "u1", Kind: KindUser}, {ID: "g2", Kind: KindGroup}, {ID: "u3", Removed: true}}},
		{ID: "g3", Removed: true, RemovedReason: ReasonDeleted}}
	if err := json.Unmarshal(b, (*stagedGroups)(&gotG)); err != nil || !reflect.DeepEqual(gotG, want) {
		t.Errorf("groups: %+v, %v; want %+v", gotG, err, want)
	}
}

package dataset_test

import (
	"context"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/bench/dataset"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/password"
	"github.com/crowdgate/crowdgate/store/storetest"
)

func tiny() dataset.Spec {
	return dataset.Spec{Seed: 7, Users: 300, Groups: 40, Memberships: 1200, Sessions: 200,
		PKCS5S2Share: 0.5, DistinctPasswords: 5, SessionIdle: time.Hour}
}

func TestDeterministic(t *testing.T) {
	a, b := tiny(), tiny()
	if a.Token(3) != b.Token(3) || len(a.Token(3)) != 24 || a.Token(3) == a.Token(4) {
		t.Fatalf("tokens: %q %q %q", a.Token(3), b.Token(3), a.Token(4))
	}
	b.Seed++
	if a.Token(3) == b.Token(3) {
		t.Fatal("the seed does not change the tokens")
	}
	n := len(a.PKCS5S2Users())
	if n < 100 || n > 200 {
		t.Fatalf("%d of 300 users have {PKCS5S2} at share 0.5", n)
	}
	cred, err := dataset.PKCS5S2("hunter2", []byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, rehash, err := password.Verify(cred, "hunter2"); !ok || !rehash || err != nil {
		t.Fatalf("crowdgate does not verify the generated {PKCS5S2}: %v %v %v", ok, rehash, err)
	}
	// D-100k nests four levels deep.
	l := dataset.D100k().Layout()
	if l.Teams != 1000 || l.Depts != 100 || l.Divs != 10 || l.Flat != 3887 {
		t.Fatalf("D-100k layout %+v", l)
	}
}

func TestGenerate(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, d)
			spec := tiny()
			info, err := dataset.Generate(ctx, st, spec, func(s string) { t.Log(s) })
			if err != nil {
				t.Fatal(err)
			}
			db, _ := st.DB()
			for table, want := range map[string]int{"users": 300, "groups": 40, "user_memberships": 1200, "sessions": 200} {
				var n int
				if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil || n != want {
					t.Errorf("%s: %d rows, want %d (%v)", table, n, want, err)
				}
			}
			for _, q := range []string{
				"SELECT COUNT(*) FROM user_memberships m LEFT JOIN users u ON u.id = m.user_id LEFT JOIN groups g ON g.id = m.group_id WHERE u.id IS NULL OR g.id IS NULL",
				"SELECT COUNT(*) FROM group_memberships m LEFT JOIN groups p ON p.id = m.parent_id LEFT JOIN groups c ON c.id = m.child_id WHERE p.id IS NULL OR c.id IS NULL",
				"SELECT COUNT(*) FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE u.id IS NULL",
				"SELECT COUNT(*) FROM users u LEFT JOIN directories d ON d.id = u.directory_id WHERE d.id IS NULL",
			} {
				var n int
				if err := db.QueryRow(q).Scan(&n); err != nil || n != 0 {
					t.Errorf("%d dangling references (%v): %s", n, err, q)
				}
			}
			v, err := st.View(ctx, info.Apps["jira"])
			if err != nil {
				t.Fatal(err)
			}
			sess, u, err := v.ValidateSession(ctx, spec.Token(5), store.SessionCheck{})
			if err != nil || u.Name != dataset.UserName(spec.SessionUser(5)) || sess.UserID != u.ID {
				t.Fatalf("session 5: %v %+v", err, u)
			}
			pk := spec.PKCS5S2Users()[0]
			if _, err := v.Authenticate(ctx, dataset.UserName(pk), spec.Password(pk)); err != nil {
				t.Fatalf("{PKCS5S2} user %d: %v", pk, err)
			}
			// The generated ids leave the sequences ready for ordinary inserts.
			if _, err := st.CreateUser(ctx, store.NewUser{DirectoryID: info.DirectoryID, Name: "after-bulk", Active: true}); err != nil {
				t.Fatal(err)
			}
			var ms int
			if err := v.Memberships(ctx, func(m store.Membership) error { ms += len(m.Users); return nil }); err != nil || ms != 1200 {
				t.Fatalf("memberships document: %d user memberships, want 1200 (%v)", ms, err)
			}
		})
	}
}

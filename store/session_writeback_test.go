package store_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestSessionWriteBack: one flush writes each session's own last access (to the second) and the
// expiry its own idle timeout gives, whatever their mix; it never lowers a later access another
// instance wrote; and the write-back leaves the expiry semantics as they were (purge, count).
func TestSessionWriteBack(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			ctx := context.Background()
			url := storetest.URL(t, d)
			a := openURL(t, url)
			f := setup(t, a)
			start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
			now := start
			a.SetClock(func() time.Time { return now })
			u := addUser(t, a, f.dir.ID, "alice")
			timeouts := []time.Duration{10 * time.Minute, 20 * time.Minute, 10 * time.Minute, 30 * time.Minute}
			tokens := make([]string, len(timeouts))
			for i, to := range timeouts {
				_, tokens[i] = storetest.Must2(a.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: f.app.ID, Timeout: to}))
			}
			v := view(t, a, f.app)
			// Each session validated at its own time, off the second, in different seconds.
			at := make([]time.Time, len(tokens))
			for i, tok := range tokens {
				now = start.Add(time.Duration(i+1)*7*time.Second + 250*time.Millisecond)
				at[i] = now.Truncate(time.Second)
				if _, _, err := v.ValidateSession(ctx, tok, store.SessionCheck{}); err != nil {
					t.Fatal(err)
				}
			}
			// Another instance on the same database has seen session 0 later and written it first.
			b := openURL(t, url)
			later := start.Add(2 * time.Minute)
			b.SetClock(func() time.Time { return later })
			if _, _, err := view(t, b, f.app).ValidateSession(ctx, tokens[0], store.SessionCheck{}); err != nil {
				t.Fatal(err)
			}
			if n, err := b.FlushSessionAccess(ctx); err != nil || n != 1 {
				t.Fatalf("instance b: FlushSessionAccess = %d, %v; want 1", n, err)
			}
			if n, err := a.FlushSessionAccess(ctx); err != nil || n != len(tokens) {
				t.Fatalf("FlushSessionAccess = %d, %v; want %d", n, err, len(tokens))
			}
			at[0] = later
			for i, tok := range tokens {
				got, err := a.SessionByToken(ctx, tok)
				if err != nil {
					t.Fatalf("session %d: %v", i, err)
				}
				if !got.LastAccessAt.Equal(at[i]) || !got.ExpiresAt.Equal(at[i].Add(timeouts[i])) {
					t.Errorf("session %d: last access %v, expires %v; want %v, %v", i, got.LastAccessAt, got.ExpiresAt, at[i], at[i].Add(timeouts[i]))
				}
			}
			// Purge and count follow the written expiries: at +11 min the 10-minute session 2 has
			// ended (session 0's was extended by instance b), the others live.
			now = start.Add(11 * time.Minute)
			if n, err := a.CountSessions(ctx, store.SessionSSO); err != nil || n != 3 {
				t.Errorf("CountSessions = %d, %v; want 3", n, err)
			}
			if n, err := a.ExpireSessions(ctx); err != nil || n != 1 {
				t.Errorf("ExpireSessions = %d, %v; want 1", n, err)
			}
			if _, err := a.SessionByToken(ctx, tokens[2]); err == nil {
				t.Error("session 2 outlived its timeout")
			}
			if _, err := a.SessionByToken(ctx, tokens[0]); err != nil {
				t.Errorf("session 0, kept alive by instance b: %v", err)
			}
		})
	}
}

// TestSessionWriteBackIsHOT: on PostgreSQL the write-back's UPDATE touches no indexed column, so
// every row it writes is a heap-only tuple (HOT): no index entry is written, the row stays on its page.
func TestSessionWriteBackIsHOT(t *testing.T) {
	if !slices.Contains(storetest.Dialects(t), "postgres") {
		t.Skip("PostgreSQL only (CROWDGATE_TEST_POSTGRES)")
	}
	ctx := context.Background()
	s := storetest.Open(t, "postgres")
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pageinspect"); err != nil {
		t.Skipf("pageinspect: %v", err)
	}
	f := setup(t, s)
	u := addUser(t, s, f.dir.ID, "alice")
	const n = 20
	tokens := make([]string, n)
	for i := range tokens {
		_, tokens[i] = storetest.Must2(s.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: f.app.ID}))
	}
	now := time.Now().Add(2 * time.Second)
	s.SetClock(func() time.Time { return now })
	v := view(t, s, f.app)
	for _, tok := range tokens {
		if _, _, err := v.ValidateSession(ctx, tok, store.SessionCheck{}); err != nil {
			t.Fatal(err)
		}
	}
	if w, err := s.FlushSessionAccess(ctx); err != nil || w != n {
		t.Fatalf("FlushSessionAccess = %d, %v; want %d", w, err, n)
	}
	// HEAP_ONLY_TUPLE is bit 0x8000 of t_infomask2: the row versions the write-back made.
	var hot int
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM generate_series(0, pg_relation_size('sessions') / current_setting('block_size')::int - 1) AS p, "+
		"heap_page_items(get_raw_page('sessions', p::int)) AS h WHERE h.t_infomask2 & 32768 <> 0").Scan(&hot)
	if err != nil {
		t.Fatal(err)
	}
	if hot != n {
		t.Errorf("%d heap-only tuples after writing back %d sessions; want %d (an indexed column was updated?)", hot, n, n)
	}
}

// openURL opens a second store (another instance) on a test database.
func openURL(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Config{URL: url, PasswordWorkers: 2}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

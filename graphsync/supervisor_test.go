package graphsync_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// emptyTenant is an in-memory Source of a tenant with nothing in it: one page with a delta link.
type emptyTenant struct{}

func (emptyTenant) UsersDelta(context.Context, string) (graphsync.Page[graphsync.User], error) {
	return graphsync.Page[graphsync.User]{DeltaLink: "https://graph.invalid/users/delta?$deltatoken=1"}, nil
}

func (emptyTenant) GroupsDelta(context.Context, string) (graphsync.Page[graphsync.Group], error) {
	return graphsync.Page[graphsync.Group]{DeltaLink: "https://graph.invalid/groups/delta?$deltatoken=1"}, nil
}

// TestFirstSyncNowRunsOnce: a "sync now" that reaches a syncer before its first round (the console
// starting a directory's syncer on demand) is served by that round: exactly one run, not two back
// to back. In a synctest bubble, so "no second run" is established without waiting.
func TestFirstSyncNowRunsOnce(t *testing.T) {
	url := storetest.URL(t, "sqlite")
	synctest.Test(t, func(t *testing.T) {
		st, err := store.Open(context.Background(), store.Config{URL: url, PasswordWorkers: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		dir := storetest.Must(st.CreateDirectory(context.Background(), store.Directory{Name: "Entra ID",
			Kind: store.DirectoryAzureAD, Active: true}))
		// Run's first round and a pending request race in a select: try often enough that a
		// regression fails (each try would pass by chance with probability 1/2).
		for try := range 16 {
			var runs atomic.Int32
			sy, err := graphsync.New(graphsync.Config{Interval: time.Hour, OnRun: func(graphsync.Report, error) { runs.Add(1) }},
				emptyTenant{}, st, dir.ID, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			sy.SyncNow()
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- sy.Run(ctx) }()
			synctest.Wait()
			if n := runs.Load(); n != 1 {
				t.Fatalf("try %d: runs after the first round = %d, want 1", try, n)
			}
			time.Sleep(time.Hour) // fake time: the next scheduled round
			synctest.Wait()
			if n := runs.Load(); n != 2 {
				t.Errorf("try %d: runs after one interval = %d, want 2", try, n)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	})
}

// TestSettingsAgreeWithSyncer: whatever Settings.Validate accepts, the syncer accepts; the interval
// limits are the syncer's (an interval over a day, which the syncer refuses because the daily full
// round would come first, is refused when saved).
func TestSettingsAgreeWithSyncer(t *testing.T) {
	for _, tc := range []struct {
		interval string
		ok       bool
	}{{"", true}, {"1m", true}, {"30m", true}, {"24h", true}, {"59s", false}, {"25h", false}, {"144h", false},
		{"-5m", false}, {"soon", false}} {
		s := graphsync.Settings{SyncInterval: tc.interval}
		err := s.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("interval %q: Validate = %v, want ok %t", tc.interval, err, tc.ok)
		}
		if err == nil {
			if _, err := graphsync.New(s.Config(), emptyTenant{}, &store.Store{}, 1, nil); err != nil {
				t.Errorf("interval %q: settings accepted, syncer refuses: %v", tc.interval, err)
			}
		} else if !strings.Contains(err.Error(), "the sync interval must be a duration from 1m to 24h") {
			t.Errorf("interval %q: error %q", tc.interval, err)
		}
	}
}

// TestSettingsParse: values of the wrong type are refused naming the key, unknown keys survive an
// Encode, and every field round-trips.
func TestSettingsParse(t *testing.T) {
	if _, err := graphsync.ParseSettings(`{"sync_interval": 30}`); err == nil || err.Error() != "directory setting sync_interval: want a string, not a JSON number" {
		t.Errorf("number interval: %v", err)
	}
	if _, err := graphsync.ParseSettings(`[1]`); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("array: %v", err)
	}
	in := `{"client_id":"c","exclude_guests":true,"future_key":{"a":1},"groups":["g1","G 2"],"sync_interval":"1h","tenant_id":"t","user_removal":"delete","username_source":"mail"}`
	s, err := graphsync.ParseSettings(in)
	if err != nil {
		t.Fatal(err)
	}
	if s.TenantID != "t" || !s.ExcludeGuests || s.UserRemoval != graphsync.RemovalDelete || s.UsernameSource != graphsync.UsernameMail || len(s.Groups) != 2 {
		t.Errorf("parsed %+v", s)
	}
	out, err := s.Encode()
	if err != nil || out != in {
		t.Errorf("Encode = %s, %v; want %s", out, err, in)
	}
	for _, bad := range []graphsync.Settings{{UserRemoval: "archive"}, {UsernameSource: "cn"}, {Credential: "password"},
		{TenantID: "a/b"}, {Groups: []string{" "}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
	if err := (graphsync.Settings{TenantID: "t", ClientID: "c"}).Ready(); err == nil || err.Error() != "no client secret yet" {
		t.Errorf("Ready without a secret: %v", err)
	}
	if err := (graphsync.Settings{Credential: graphsync.CredentialManagedIdentity}).Ready(); err != nil {
		t.Errorf("Ready with a managed identity: %v", err)
	}
}

// TestSupervisorReportsStopped: a directory whose settings the syncer cannot use is not synchronised,
// and Status and SyncNow say why; once fixed it runs.
func TestSupervisorReportsStopped(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, storetest.Dialect())
	tn := smallTenant(t)
	fake := fakegraph.New(tn, fakegraph.Options{})
	t.Cleanup(fake.Close)
	dir := storetest.Must(st.CreateDirectory(ctx, store.Directory{Name: "Entra ID", Kind: store.DirectoryAzureAD, Active: true,
		NestedGroups: true, Config: `{"tenant_id":"t","client_id":"c","client_secret":"s","sync_interval":"48h"}`}))
	sup := graphsync.NewSupervisor(st, func(store.Directory, graphsync.Settings) (graphsync.Source, error) {
		return fake.Client(), nil
	}, nil, testLogger(t))
	err := sup.SyncNow(ctx, dir.ID, false)
	if err == nil || !strings.Contains(err.Error(), "the sync interval must be a duration from 1m to 24h") {
		t.Fatalf("SyncNow with a 48h interval: %v", err)
	}
	if s := sup.Status(dir.ID); s.Started || s.Stopped == nil || s.Stopped.Error() != err.Error() {
		t.Errorf("Status = %+v", s)
	}
	dir.Config = `{"tenant_id":"t","client_id":"c","client_secret":"s","sync_interval":"1h"}`
	storetest.Must(st.UpdateDirectory(ctx, dir))
	defer sup.Stop()
	if err := sup.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if s := sup.Status(dir.ID); !s.Started || s.Stopped != nil || s.Interval != time.Hour {
		t.Errorf("Status after the fix = %+v", s)
	}
	if err := sup.SyncNow(ctx, dir.ID, false); err != nil && !errors.Is(err, graphsync.ErrRunning) {
		t.Errorf("SyncNow after the fix: %v", err)
	}
}

// TestSettingsSetRefusesBadValues: Set names the key and the value it cannot take.
func TestSettingsSetRefusesBadValues(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"exclude_guests", "maybe", `exclude_guests must be true or false, not "maybe"`},
		{"unified_groups", "2", `unified_groups must be true or false, not "2"`},
		{"mass_change_threshold", "-1", "mass_change_threshold must be a whole number"},
		{"bound_groups", "jira-administrators", "bound_groups takes name=objectid pairs"},
		{"colour", "blue", `unknown setting "colour"`},
	} {
		var s graphsync.Settings
		if err := s.Set(tc.key, tc.value); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%s, %s) = %v, want an error containing %q", tc.key, tc.value, err, tc.want)
		}
	}
	var s graphsync.Settings
	if err := s.Set("unified_groups", "yes"); err != nil || !s.UnifiedGroups {
		t.Errorf("Set(unified_groups, yes) = %v, UnifiedGroups %v", err, s.UnifiedGroups)
	}
}

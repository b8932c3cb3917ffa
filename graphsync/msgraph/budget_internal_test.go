package msgraph

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
)

// TestRetryBudget: throttling is retried while the waits fit in the budget (10 minutes by default),
// not a fixed number of times; on a fake clock, so the test waits for nothing.
func TestRetryBudget(t *testing.T) {
	tn, err := fakegraph.SmallTenant()
	if err != nil {
		t.Fatal(err)
	}
	fake := fakegraph.New(tn, fakegraph.Options{})
	defer fake.Close()
	src, err := New(Config{BaseURL: fake.BaseURL(), Credential: StaticToken(fake.Token())}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var slept time.Duration
	src.now = func() time.Time { return clock }
	src.sleep = func(_ context.Context, d time.Duration) error { clock = clock.Add(d); slept += d; return nil }

	fake.FailNext(20, fakegraph.Throttle("120"))
	_, err = src.UsersDelta(t.Context(), "")
	var te *graphsync.ThrottledError
	if !errors.As(err, &te) || te.Attempts != 6 || te.RetryAfter != 2*time.Minute {
		t.Fatalf("err = %v, want ThrottledError after 6 attempts (5 waits of 2 minutes fill the 10)", err)
	}
	if slept != 10*time.Minute || len(fake.Requests()) != 6 {
		t.Errorf("slept %s over %d requests, want 10m0s and 6", slept, len(fake.Requests()))
	}

	// Within the budget the page arrives, however many attempts it takes.
	fake2 := fakegraph.New(tn, fakegraph.Options{})
	defer fake2.Close()
	src2, err := New(Config{BaseURL: fake2.BaseURL(), Credential: StaticToken(fake2.Token())}, nil)
	if err != nil {
		t.Fatal(err)
	}
	src2.now, src2.sleep = src.now, src.sleep
	fake2.FailNext(12, fakegraph.Throttle("30"))
	if _, err := src2.UsersDelta(t.Context(), ""); err != nil || len(fake2.Requests()) != 13 {
		t.Errorf("12 throttled answers of 30 s: err %v after %d requests, want the page after 13", err, len(fake2.Requests()))
	}
}

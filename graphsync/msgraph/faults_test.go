package msgraph_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/graphsync/msgraph"
)

func statuses(fake *fakegraph.Server) []int {
	var out []int
	for _, r := range fake.Requests() {
		out = append(out, r.Status)
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRetriedFaults: throttling and unavailability are retried by SDKSource alone (the SDK's retry
// middleware is off: each retry shows up once at the fake) until the page arrives.
func TestRetriedFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault fakegraph.Fault
		n     int
	}{
		{"429 Retry-After 0", fakegraph.Throttle("0"), 2},
		{"503 without Retry-After", fakegraph.Unavailable(""), 1},
		{"503 HTML body from a gateway", fakegraph.Fault{Status: 503, HTMLBody: true, RetryAfter: "0"}, 1},
		{"504", fakegraph.Fault{Status: 504}, 2},
		{"500", fakegraph.InternalError(), 1},
		{"502 from a gateway", fakegraph.Fault{Status: 502, HTMLBody: true}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakegraph.New(smallTenant(t), fakegraph.Options{})
			defer fake.Close()
			src := newSource(t, fake, nil)
			fake.FailNext(tc.n, tc.fault)
			p, err := src.UsersDelta(t.Context(), "")
			if err != nil {
				t.Fatalf("UsersDelta: %v", err)
			}
			if len(p.Items) != 5 || p.DeltaLink == "" {
				t.Errorf("page: %d users, deltaLink %q; want 5 and a link", len(p.Items), p.DeltaLink)
			}
			want := make([]int, tc.n+1)
			for i := range tc.n {
				want[i] = tc.fault.Status
			}
			want[tc.n] = 200
			if got := statuses(fake); !equalInts(got, want) {
				t.Errorf("fake answered %v, want %v", got, want)
			}
		})
	}
}

// TestRetriesExhausted: after MaxAttempts throttled answers the caller gets *ThrottledError with the
// server's Retry-After, and no more requests were made.
func TestRetriesExhausted(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     fakegraph.Fault
		wantAfter time.Duration
	}{
		{"429", fakegraph.Throttle("0"), 0},
		{"504", fakegraph.Fault{Status: 504, RetryAfter: "0"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakegraph.New(smallTenant(t), fakegraph.Options{})
			defer fake.Close()
			src := newSource(t, fake, func(c *msgraph.Config) { c.MaxAttempts = 3 })
			fake.FailNext(5, tc.fault)
			_, err := src.GroupsDelta(t.Context(), "")
			var te *graphsync.ThrottledError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want *ThrottledError", err)
			}
			if te.Status != tc.fault.Status || te.Attempts != 3 || te.RetryAfter != tc.wantAfter {
				t.Errorf("ThrottledError = %+v, want status %d, 3 attempts, RetryAfter %s", te, tc.fault.Status, tc.wantAfter)
			}
			if n := len(fake.Requests()); n != 3 || fake.PendingFaults() != 2 {
				t.Errorf("fake saw %d requests with %d faults left; want 3 and 2", n, fake.PendingFaults())
			}
			if errors.Is(err, graphsync.ErrDeltaExpired) {
				t.Error("throttling must not read as an expired delta link")
			}
		})
	}
}

// TestRetryWaitEndsWithContext: a long Retry-After is honoured, but no longer than the context.
func TestRetryWaitEndsWithContext(t *testing.T) {
	fake := fakegraph.New(smallTenant(t), fakegraph.Options{})
	defer fake.Close()
	src := newSource(t, fake, nil)
	fake.FailNext(1, fakegraph.Throttle("30"))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := src.UsersDelta(ctx, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s, want soon after the deadline", d)
	}
}

// TestDeltaExpired: a stale delta link (410 with Location, or 400 syncStateNotFound) reads as
// ErrDeltaExpired, and a new full round then works.
func TestDeltaExpired(t *testing.T) {
	fake := fakegraph.New(smallTenant(t), fakegraph.Options{})
	defer fake.Close()
	src := newSource(t, fake, nil)
	_, link, _ := round(t, src.UsersDelta, "")

	fake.Tenant().ExpireDeltaTokens()
	_, err := src.UsersDelta(t.Context(), link)
	var ge *msgraph.GraphError
	if !errors.Is(err, graphsync.ErrDeltaExpired) || !errors.As(err, &ge) || ge.Status != 410 || ge.Code != "syncStateNotFound" {
		t.Fatalf("after expiry: err = %v, want ErrDeltaExpired from a 410 syncStateNotFound", err)
	}
	if _, _, pages := round(t, src.UsersDelta, ""); pages != 1 {
		t.Errorf("full round after expiry: %d pages", pages)
	}

	_, link, _ = round(t, src.GroupsDelta, "")
	fake.FailNext(1, fakegraph.SyncStateNotFound(http.StatusBadRequest))
	if _, err := src.GroupsDelta(t.Context(), link); !errors.Is(err, graphsync.ErrDeltaExpired) {
		t.Errorf("400 syncStateNotFound: err = %v, want ErrDeltaExpired", err)
	}

	// A stored link that points elsewhere would be sent without a token: refused before any request.
	fake.ResetRequests()
	if _, err := src.UsersDelta(t.Context(), "https://graph.example.net/v1.0/users/delta?$deltatoken=x"); !errors.Is(err, graphsync.ErrDeltaExpired) {
		t.Errorf("foreign link: err = %v, want ErrDeltaExpired", err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("foreign link: fake saw %d requests", n)
	}
}

// TestPermanentErrors are returned at once, with what Graph said.
func TestPermanentErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    fakegraph.Fault
		contains string
	}{
		{"400", fakegraph.Fault{Status: 400, Code: "Request_BadRequest", Message: "Invalid request."}, "HTTP 400 Request_BadRequest: Invalid request."},
		{"403", fakegraph.Fault{Status: 403, Message: "Insufficient privileges to complete the operation."},
			"HTTP 403 Authorization_RequestDenied: Insufficient privileges"},
		{"malformed page", fakegraph.MalformedPage(), "decode HTTP 200 response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakegraph.New(smallTenant(t), fakegraph.Options{})
			defer fake.Close()
			src := newSource(t, fake, nil)
			fake.FailNext(1, tc.fault)
			_, err := src.UsersDelta(t.Context(), "")
			if err == nil || !strings.Contains(err.Error(), tc.contains) || !strings.HasPrefix(err.Error(), "graphsync: users delta: ") {
				t.Fatalf("err = %v, want graphsync: users delta: …%s…", err, tc.contains)
			}
			var te *graphsync.ThrottledError
			if errors.Is(err, graphsync.ErrDeltaExpired) || errors.As(err, &te) {
				t.Errorf("err = %v must be neither expired nor throttled", err)
			}
			if n := len(fake.Requests()); n != 1 {
				t.Errorf("fake saw %d requests, want 1 (no retry)", n)
			}
		})
	}
}

// TestMissingOrWrongToken: a credential that yields no token (the request goes out without
// Authorization) or a token Graph refuses ends, after one retry with a fresh token, in Graph's 401,
// reported as a GraphError.
func TestMissingOrWrongToken(t *testing.T) {
	for _, tc := range []struct{ token, message string }{
		{"", "Access token is empty."},
		{"stolen", "Access token validation failure."},
	} {
		t.Run("token="+tc.token, func(t *testing.T) {
			fake := fakegraph.New(smallTenant(t), fakegraph.Options{})
			defer fake.Close()
			src := newSource(t, fake, func(c *msgraph.Config) { c.Credential = msgraph.StaticToken(tc.token) })
			_, err := src.UsersDelta(t.Context(), "")
			var ge *msgraph.GraphError
			if !errors.As(err, &ge) || ge.Status != 401 || ge.Code != "InvalidAuthenticationToken" || ge.Message != tc.message {
				t.Fatalf("err = %v, want GraphError 401 InvalidAuthenticationToken %q", err, tc.message)
			}
			if n := len(fake.Requests()); n != 2 {
				t.Errorf("fake saw %d requests, want 2 (a 401 is retried once, with a fresh token)", n)
			}
		})
	}
}

package msgraph

import (
	"github.com/crowdgate/crowdgate/graphsync"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func s(v string) *string { return &v }

func TestMemberChanges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ad      map[string]any
		want    []graphsync.MemberChange
		wantErr string
	}{
		{"absent", map[string]any{}, nil, ""},
		{"null", map[string]any{"members@delta": nil}, nil, ""},
		{"as kiota gives them", map[string]any{"members@delta": []any{
			map[string]any{"@odata.type": s("#microsoft.graph.user"), "id": s("u1")},
			map[string]any{"@odata.type": s("#microsoft.graph.group"), "id": s("g2")},
			map[string]any{"@odata.type": s("#microsoft.graph.user"), "id": s("u2"), "@removed": map[string]any{"reason": s("deleted")}},
			map[string]any{"@odata.type": s("#microsoft.graph.orgContact"), "id": s("c1")},
		}}, []graphsync.MemberChange{{ID: "u1", Kind: graphsync.KindUser, Removed: false}, {ID: "g2", Kind: graphsync.KindGroup, Removed: false}, {ID: "u2", Kind: graphsync.KindUser, Removed: true}, {ID: "c1", Kind: "orgContact", Removed: false}}, ""},
		{"plain strings", map[string]any{"members@delta": []any{map[string]any{"@odata.type": "#microsoft.graph.user", "id": "u1"}}},
			[]graphsync.MemberChange{{ID: "u1", Kind: graphsync.KindUser, Removed: false}}, ""},
		{"not an array", map[string]any{"members@delta": map[string]any{}}, nil, `"members@delta" is map[string]interface {}, want an array`},
		{"entry not an object", map[string]any{"members@delta": []any{s("u1")}}, nil, `"members@delta"[0] is *string`},
		{"entry without id", map[string]any{"members@delta": []any{map[string]any{"@odata.type": s("#microsoft.graph.user")}}}, nil, `"id" is missing`},
		{"id of the wrong type", map[string]any{"members@delta": []any{map[string]any{"id": 7.0}}}, nil, `"id" is float64`},
		{"@removed not an object", map[string]any{"members@delta": []any{map[string]any{"id": s("u1"), "@removed": s("yes")}}}, nil, `"@removed" is *string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := memberChanges(tc.ad)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("memberChanges (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRemoval(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ad          map[string]any
		removed     bool
		reason, err string
	}{
		{"present object", map[string]any{"x": s("y")}, false, "", ""},
		{"null", map[string]any{"@removed": nil}, false, "", ""},
		{"soft", map[string]any{"@removed": map[string]any{"reason": s("changed")}}, true, graphsync.ReasonChanged, ""},
		{"hard", map[string]any{"@removed": map[string]any{"reason": s("deleted")}}, true, graphsync.ReasonDeleted, ""},
		{"no reason", map[string]any{"@removed": map[string]any{}}, true, "", ""},
		{"reason of the wrong type", map[string]any{"@removed": map[string]any{"reason": true}}, false, "", `"reason" is bool`},
		{"not an object", map[string]any{"@removed": []any{}}, false, "", `"@removed" is []interface {}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			removed, reason, err := removal(tc.ad)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to mention %s", err, tc.err)
				}
				return
			}
			if err != nil || removed != tc.removed || reason != tc.reason {
				t.Errorf("removal = %v, %q, %v; want %v, %q", removed, reason, err, tc.removed, tc.reason)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 20, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"1", time.Second, true},
		{"0.5", time.Second, true},       // the SDK would retry at once
		{"2.128", 3 * time.Second, true}, // Graph's documented sample; the SDK would wait 2 s
		{" 7 ", 7 * time.Second, true},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"soon", 0, false},
		{"1e12", 24 * time.Hour, true},
		{"Sat, 28 Nov 2026 20:00:05 GMT", 5 * time.Second, true},
		{"Sat, 28 Nov 2026 19:59:00 GMT", 0, true},
	} {
		got, ok := retryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	src := &Source{cfg: Config{RetryBaseDelay: time.Second, MaxRetryDelay: 10 * time.Second}}
	for attempt, hi := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
		for range 50 {
			if d := src.backoff(attempt); d < hi/2 || d > hi {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, d, hi/2, hi)
			}
		}
	}
}

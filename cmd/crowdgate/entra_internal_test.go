package main

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/metrics"
	"github.com/crowdgate/crowdgate/store"
)

type noStats struct{}

func (noStats) Stats() store.Stats                                   { return store.Stats{} }
func (noStats) CountSessions(context.Context, string) (int64, error) { return 0, nil }
func (noStats) Ping(context.Context) error                           { return nil }
func (noStats) SyncHealth(context.Context) ([]store.SyncHealth, error) {
	return nil, nil
}
func (noStats) Applications(context.Context) ([]store.Application, error) { return nil, nil }
func (noStats) View(context.Context, store.Application) (*store.View, error) {
	return nil, errors.New("no views")
}

// TestObserveSyncFeedsMetrics checks the mapping of graphsync's run reports to the sync metrics,
// failures included (the end-to-end wiring is in TestEntraSecretEncryptedEndToEnd).
func TestObserveSyncFeedsMetrics(t *testing.T) {
	m := metrics.New(noStats{})
	obs := observeSync(m)
	start := time.Now()
	obs(graphsync.Report{Mode: store.SyncModeDelta, Started: start, Finished: start.Add(2 * time.Second),
		Counts: store.SyncCounts{UsersAdded: 2, GroupsRemoved: 1, MembershipsAdded: 7}}, nil)
	obs(graphsync.Report{Mode: store.SyncModeFull, Started: start, Finished: start.Add(time.Second)}, errors.New("AADSTS7000215"))
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`crowdgate_sync_runs_total{mode="delta",result="success"} 1`,
		`crowdgate_sync_runs_total{mode="full",result="failure"} 1`,
		`crowdgate_sync_changes_total{change="added",kind="user"} 2`,
		`crowdgate_sync_changes_total{change="removed",kind="group"} 1`,
		`crowdgate_sync_changes_total{change="added",kind="membership"} 7`,
		`crowdgate_sync_duration_seconds_sum{mode="delta"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

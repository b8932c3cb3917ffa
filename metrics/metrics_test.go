package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/crowdapi"
	"github.com/crowdgate/crowdgate/metrics"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d", rec.Code)
	}
	return rec.Body.String()
}

func value(t *testing.T, body, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMetricsCount scrapes before and after real traffic and checks the numbers moved.
func TestMetricsCount(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()
	dir := storetest.Must(st.EnsureInternalDirectory(ctx))
	app := storetest.Must(st.CreateApplication(ctx, store.NewApplication{Name: "jira", Password: "jira-secret", Active: true,
		Mappings: []store.Mapping{{DirectoryID: dir.ID, AllowAll: true}}}))
	u := storetest.Must(st.CreateUser(ctx, store.NewUser{DirectoryID: dir.ID, Name: "alice", Active: true}))
	_, token := storetest.Must2(st.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: app.ID}))
	m := metrics.New(st)
	h, err := crowdapi.New(crowdapi.Config{ContextPath: "/crowd", Observer: m}, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	before := scrape(t, m.Handler())
	for range 5 {
		r, _ := http.NewRequest("POST", srv.URL+"/crowd/rest/usermanagement/1/session/"+token, strings.NewReader("<validation-factors/>"))
		r.SetBasicAuth("jira", "jira-secret")
		r.Header.Set("Content-Type", "application/xml")
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("validation: %d", res.StatusCode)
		}
	}
	m.ObserveSync("full", true, 3*time.Second, map[string]map[string]int{"user": {"added": 7}})
	m.ObserveSync("delta", false, time.Second, nil)
	after := scrape(t, m.Handler())
	series := `crowdgate_http_requests_total{method="POST",route="/session/:token",status="200"}`
	if got := value(t, after, series) - value(t, before, series); got != 5 {
		t.Errorf("%s grew by %v, want 5", series, got)
	}
	if got := value(t, after, `crowdgate_http_request_duration_seconds_count{operation="session_validation"}`); got != 5 {
		t.Errorf("validation latency count %v, want 5", got)
	}
	if hits := value(t, after, "crowdgate_session_cache_hits_total"); hits < 4 {
		t.Errorf("session cache hits %v, want at least 4 of 5", hits)
	}
	if got := value(t, after, "crowdgate_active_sso_sessions"); got != 1 {
		t.Errorf("active sessions %v, want 1", got)
	}
	if got := value(t, after, `crowdgate_sync_changes_total{change="added",kind="user"}`); got != 7 {
		t.Errorf("sync changes %v, want 7", got)
	}
	// Sync runs by mode and result, and their duration: what an alert on failing syncs reads.
	for series, want := range map[string]float64{
		`crowdgate_sync_runs_total{mode="full",result="success"}`:  1,
		`crowdgate_sync_runs_total{mode="delta",result="failure"}`: 1,
		`crowdgate_sync_duration_seconds_count{mode="full"}`:       1,
		`crowdgate_sync_duration_seconds_sum{mode="full"}`:         3,
	} {
		if got := value(t, after, series) - value(t, before, series); got != want {
			t.Errorf("%s grew by %v, want %v", series, got, want)
		}
	}
	if misses := value(t, after, "crowdgate_session_cache_misses_total") - value(t, before, "crowdgate_session_cache_misses_total"); misses < 1 {
		t.Errorf("session cache misses grew by %v: the first validation of a token reads the database", misses)
	}
	if got := value(t, after, "crowdgate_db_open_connections"); got < 1 {
		t.Errorf("open database connections %v, want at least 1", got)
	}
	for _, name := range []string{"crowdgate_password_queue", "crowdgate_db_open_connections", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(after, name) {
			t.Errorf("metric %s missing", name)
		}
	}
}

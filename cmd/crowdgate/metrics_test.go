package main

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeMetrics scrapes the running server's /metrics (on the health listener) before and after
// Jira-like traffic and checks every family an operator's dashboard relies on moved: requests by
// route and status, the session validation latency histogram, session cache hits and misses (the
// hit ratio), the password-hashing queue, the database pool and live sessions. Sync runs are
// checked in package metrics (a sync needs Entra).
func TestServeMetrics(t *testing.T) {
	e := dbEnv(t, "sqlite").with("CROWDGATE_LISTEN", "127.0.0.1:0", "CROWDGATE_HEALTH_LISTEN", "127.0.0.1:0",
		"CROWDGATE_PASSWORD_WORKERS", "1")
	srv := startServer(t, e)
	appPassword := strings.TrimSpace(mustRun(t, e, "", "app", "add", "jira", "--kind", "jira").stdout)
	mustRun(t, e, "alice-password-1\n", "user", "add", "alice", "--password-stdin")
	base := "http://" + srv.addrs.Main + "/crowd/rest/usermanagement/1"
	metricsURL := "http://" + srv.addrs.Health + "/metrics"

	if code, _ := get(t, http.DefaultClient, "http://"+srv.addrs.Main+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the main listener = %d, want 404 when CROWDGATE_HEALTH_LISTEN is set", code)
	}
	crowd := func(method, path, body string) (int, string) {
		t.Helper()
		r := crowdRequest(t, base+path, "jira", appPassword, method, "application/xml", strings.NewReader(body))
		return r.Status, r.Body
	}

	before := scrapeMetrics(t, metricsURL)
	code, body := crowd("POST", "/session", `<authentication-context><username>alice</username><password>alice-password-1</password><validation-factors/></authentication-context>`)
	m := regexp.MustCompile(`<token>([^<]+)</token>`).FindStringSubmatch(body)
	if code != http.StatusCreated || m == nil {
		t.Fatalf("POST /session = %d %s", code, body)
	}
	for range 5 {
		if code, body := crowd("POST", "/session/"+m[1], "<validation-factors/>"); code != http.StatusOK {
			t.Fatalf("validation = %d %s", code, body)
		}
	}
	if code, _ := crowd("POST", "/session/no-such-token", "<validation-factors/>"); code != http.StatusNotFound {
		t.Errorf("validation of an unknown token = %d, want 404", code)
	}

	// Six password checks at once with one hashing worker: some must wait in the queue, and the
	// gauge shows it while they do.
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if code, body := crowd("POST", "/authentication?username=alice", `<password><value>alice-password-1</value></password>`); code != http.StatusOK {
				t.Errorf("authentication = %d %s", code, body)
			}
		})
	}
	sawQueue := false
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
poll:
	for {
		if metricValue(scrapeMetrics(t, metricsURL), "crowdgate_password_queue") > 0 {
			sawQueue = true
		}
		select {
		case <-done:
			break poll
		case <-time.After(2 * time.Millisecond):
		}
	}
	if !sawQueue {
		t.Error("crowdgate_password_queue never rose above 0 while six password checks shared one worker")
	}

	after := scrapeMetrics(t, metricsURL)
	grew := func(series string, want float64) {
		t.Helper()
		if got := metricValue(after, series) - metricValue(before, series); got != want {
			t.Errorf("%s grew by %v, want %v", series, got, want)
		}
	}
	grew(`crowdgate_http_requests_total{method="POST",route="/session",status="201"}`, 1)
	grew(`crowdgate_http_requests_total{method="POST",route="/session/:token",status="200"}`, 5)
	grew(`crowdgate_http_requests_total{method="POST",route="/session/:token",status="404"}`, 1)
	grew(`crowdgate_http_requests_total{method="POST",route="/authentication",status="200"}`, 6)
	grew(`crowdgate_http_request_duration_seconds_count{operation="session_validation"}`, 6)
	grew(`crowdgate_http_request_duration_seconds_count{operation="authentication"}`, 6)
	if metricValue(after, `crowdgate_http_request_duration_seconds_bucket{operation="session_validation",le="+Inf"}`) < 6 {
		t.Error("the session validation histogram has no +Inf bucket with the validations")
	}
	hits := metricValue(after, "crowdgate_session_cache_hits_total") - metricValue(before, "crowdgate_session_cache_hits_total")
	misses := metricValue(after, "crowdgate_session_cache_misses_total") - metricValue(before, "crowdgate_session_cache_misses_total")
	if hits < 1 || misses < 1 || hits+misses < 6 {
		t.Errorf("session cache: %v hits and %v misses for 6 validations (one unknown token), want both to move", hits, misses)
	}
	if got := metricValue(after, "crowdgate_password_queue"); got != 0 {
		t.Errorf("crowdgate_password_queue = %v after the checks finished, want 0", got)
	}
	if got := metricValue(after, "crowdgate_db_open_connections"); got < 1 {
		t.Errorf("crowdgate_db_open_connections = %v, want at least 1", got)
	}
	for _, name := range []string{"crowdgate_db_in_use_connections", "crowdgate_db_wait_total", "go_goroutines", "process_resident_memory_bytes"} {
		if !regexp.MustCompile(`(?m)^` + name + ` `).MatchString(after) {
			t.Errorf("metric %s missing", name)
		}
	}
	if got := metricValue(after, "crowdgate_active_sso_sessions"); got < 1 {
		t.Errorf("crowdgate_active_sso_sessions = %v, want at least the one created", got)
	}
}

func scrapeMetrics(t *testing.T, url string) string {
	t.Helper()
	code, body := get(t, http.DefaultClient, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d", url, code)
	}
	return body
}

// metricValue returns the value of one series in Prometheus' text format, 0 when absent.
func metricValue(body, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

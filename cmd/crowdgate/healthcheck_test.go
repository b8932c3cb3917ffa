package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck runs the container probe against a live server, by URL and by the listen
// address it derives from CROWDGATE_LISTEN, and against servers that are not ready.
func TestHealthcheck(t *testing.T) {
	_, srv := startSQLite(t)
	mustRun(t, env{}, "", "healthcheck", "http://"+srv.addrs.Main+"/readyz")

	// As in the container: CROWDGATE_LISTEN=0.0.0.0:PORT is probed on the loopback address.
	_, port, _ := net.SplitHostPort(srv.addrs.Main)
	mustRun(t, env{"CROWDGATE_LISTEN": "0.0.0.0:" + port}, "", "healthcheck")
	mustRun(t, env{"CROWDGATE_LISTEN": "192.0.2.1:1", "CROWDGATE_HEALTH_LISTEN": "[::]:" + port}, "", "healthcheck", "--timeout", "10s")

	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
	}))
	defer notReady.Close()
	if r := runCmd(t, env{}, "", "healthcheck", notReady.URL+"/readyz"); r.err == nil || exitCode(r.err) != 1 || !strings.Contains(r.err.Error(), "503") {
		t.Errorf("healthcheck against 503: %v", r.err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if r := runCmd(t, env{"CROWDGATE_LISTEN": closed}, "", "healthcheck"); r.err == nil || exitCode(r.err) != 1 {
		t.Errorf("healthcheck with nothing listening: %v", r.err)
	}
}

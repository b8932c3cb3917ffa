package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestAdministratorPasswordPolicy: the CLI and the Crowd API refuse a weak password for an
// administrator with a clear message, and the internal directory's minimum of 12 characters
// applies to everyone.
func TestAdministratorPasswordPolicy(t *testing.T) {
	e := dbEnv(t, storetest.Dialect()).with("CROWDGATE_ADMIN_PASSWORD", testAdminPassword, "CROWDGATE_LISTEN", "127.0.0.1:0")
	srv := startServer(t, e)
	base := "http://" + srv.addrs.Main

	// CLI: a new user straight into the admin group.
	r := runCmd(t, e, "Summer2026!!!!!!\n", "user", "add", "ops", "--group", "crowdgate-admins", "--password-stdin")
	if r.err == nil || !strings.Contains(r.err.Error(), "an administrator's password is a common password") {
		t.Errorf("user add with a common password into the admin group: %v", r.err)
	}
	r = runCmd(t, e, "fourteen-chars\n", "user", "add", "ops", "--group", "crowdgate-admins", "--password-stdin")
	if r.err == nil || !strings.Contains(r.err.Error(), "at least 16 characters") {
		t.Errorf("user add with a 14-character password into the admin group: %v", r.err)
	}
	mustRun(t, e, "amber kettle orbit 5521\n", "user", "add", "ops", "--group", "crowdgate-admins", "--password-stdin")
	r = runCmd(t, e, "eleven-char\n", "user", "add", "svc", "--password-stdin")
	if r.err == nil || !strings.Contains(r.err.Error(), "at least 12 characters") {
		t.Errorf("user add with an 11-character password: %v", r.err)
	}
	mustRun(t, e, "twelve-chars\n", "user", "add", "svc", "--password-stdin")

	// Crowd API: an application may never set an administrator's password; a user's gets the
	// internal directory's minimum.
	mustRun(t, e, "jira-app-password\n", "app", "add", "jira", "--kind", "jira", "--write", "--password-stdin")
	put := func(user, pw string) reply {
		return crowdCall(t, base, "jira", "jira-app-password", http.MethodPut, "/user/password?username="+user, map[string]string{"value": pw})
	}
	if got := put("admin", "Password12345678!"); got.Status != http.StatusForbidden || !strings.Contains(got.Body, "APPLICATION_PERMISSION_DENIED") {
		t.Errorf("PUT /user/password for the administrator: %d %s; want 403 APPLICATION_PERMISSION_DENIED", got.Status, got.Body)
	}
	if got := put("svc", "short-pass"); got.Status < 400 || !strings.Contains(got.Body, "at least 12 characters") {
		t.Errorf("PUT /user/password for a user, 10 characters: %d %s", got.Status, got.Body)
	}
}

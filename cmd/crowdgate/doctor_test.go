package main

import (
	"errors"
	"path/filepath"
	"regexp"
	"testing"
)

// TestDoctorCommand runs `crowdgate doctor` against a database with one application: it prints a
// line per check and exits 0 with warnings only, then non-zero once a check fails (identity
// provider metadata that cannot be read). The checks themselves are tested in internal/doctor.
func TestDoctorCommand(t *testing.T) {
	e := dbEnv(t, "sqlite").with("CROWDGATE_ADMIN_PASSWORD", testAdminPassword)
	mustRun(t, e, "", "migrate")
	mustRun(t, e, "jira-app-password\n", "app", "add", "jira", "--kind", "jira", "--password-stdin")
	r := mustRun(t, e, "", "doctor")
	for _, line := range []string{
		`(?m)^OK\s+database\s+reachable$`,
		`(?m)^OK\s+migrations\s+the schema is up to date$`,
		`(?m)^WARN\s+base URL\s+CROWDGATE_BASE_URL is not set`,
		`(?m)^WARN\s+application jira\s+has no URL`,
		`(?m)^WARN\s+identity provider\s+SAML sign-in is not configured`,
	} {
		if !regexp.MustCompile(line).MatchString(r.stdout) {
			t.Errorf("doctor output lacks %s:\n%s", line, r.stdout)
		}
	}
	missing := filepath.Join(t.TempDir(), "no-such-metadata.xml")
	r = runCmd(t, e.with("CROWDGATE_SAML_IDP_METADATA_FILE", missing, "CROWDGATE_BASE_URL", "https://sso.example.com"), "", "doctor")
	if !errors.Is(r.err, errDoctorFailed) {
		t.Errorf("doctor with unreadable metadata: err = %v, want errDoctorFailed", r.err)
	}
	if !regexp.MustCompile(`(?m)^FAIL\s+identity provider\s+cannot read the metadata at ` + regexp.QuoteMeta(missing)).MatchString(r.stdout) {
		t.Errorf("doctor output lacks the metadata FAIL:\n%s", r.stdout)
	}
}

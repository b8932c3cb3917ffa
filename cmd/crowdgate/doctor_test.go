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

// TestDoctorEntraAgainstFakeGraph: doctor's Entra ID check gets a token from the fake token service
// and reads users from the fake Graph with the stored credentials; a wrong secret fails the check
// with the token service's own reason and a non-zero exit.
func TestDoctorEntraAgainstFakeGraph(t *testing.T) {
	fe := newFakeEntra(t, "good-secret", 2)
	e := fe.env(dbEnv(t, "sqlite")).with("CROWDGATE_BASE_URL", "https://sso.example.com", "CROWDGATE_TRUSTED_PROXIES", "10.0.0.1")
	mustRun(t, e, "", "migrate")
	mustRun(t, e, "good-secret\n", "directory", "add", "entra", "Contoso", "--tenant", "tenant-1",
		"--client-id", "client-1", "--secret-stdin")
	r := runWithTokenClient(t, e, fe.sts.Client(), "", "doctor")
	if !regexp.MustCompile(`(?m)^OK\s+entra Contoso\s+got a token and read a page of users$`).MatchString(r.stdout) {
		t.Errorf("doctor with the right secret (err %v):\n%s", r.err, r.stdout)
	}
	mustRun(t, e, "wrong-secret\n", "directory", "set", "Contoso", "--secret-stdin")
	r = runWithTokenClient(t, e, fe.sts.Client(), "", "doctor")
	if !errors.Is(r.err, errDoctorFailed) || !regexp.MustCompile(`(?m)^FAIL\s+entra Contoso\s+.*AADSTS7000215: Invalid client secret provided.*User\.Read\.All`).MatchString(r.stdout) {
		t.Errorf("doctor with a wrong secret: err %v\n%s", r.err, r.stdout)
	}
}

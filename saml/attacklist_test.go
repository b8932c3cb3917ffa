package saml_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/saml-attacks.md from the attack suite")

const attackDoc = "../docs/saml-attacks.md"

// attackList renders the suite as the document lists it.
func attackList() string {
	var b strings.Builder
	b.WriteString(`# SAML attack suite

Every case of crowdgate's SAML attack suite (` + "`saml.TestAttacks`" + `), in the order it runs: what the
attacker does, the HTTP status crowdgate answers with, and the reason it logs (and audits) for
the refusal, which the test requires word for word as a part of the logged reason. Control
cases are genuine sign-ins that must succeed, as the user named. Each refused case also checks
that no session and no session cookie came of it.

This file is generated: ` + "`go test ./saml -run TestAttackList -update`" + `.

| # | Case | Configuration | Status | Logged reason contains |
|---|------|---------------|--------|------------------------|
`)
	refused := 0
	for i, a := range suite() {
		preset := a.preset
		if preset == "" {
			preset = "default"
		}
		status, reason := fmt.Sprint(a.status), "`"+strings.ReplaceAll(a.reason, "|", `\|`)+"`"
		if a.accept {
			who := a.user
			if who == "" {
				who = alice.UPN
			}
			status, reason = "303", "signed in as "+who
		} else {
			refused++
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", i+1, strings.ReplaceAll(a.name, "|", `\|`), preset, status, reason)
	}
	fmt.Fprintf(&b, "\n%d refusals, %d controls.\n", refused, len(suite())-refused)
	return b.String()
}

// TestAttackList: docs/saml-attacks.md lists exactly the cases of the suite.
func TestAttackList(t *testing.T) {
	want := attackList()
	if *update {
		if err := os.WriteFile(attackDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(attackDoc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s does not list the attack suite; run go test ./saml -run TestAttackList -update", attackDoc)
	}
	seen := map[string]bool{}
	for _, a := range suite() {
		if seen[a.name] {
			t.Errorf("two cases named %q", a.name)
		}
		seen[a.name] = true
	}
}

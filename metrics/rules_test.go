package metrics_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAlertRules checks deploy/prometheus/crowdgate-rules.yml with promtool and runs its unit tests
// (crowdgate-rules.test.yml: each alert fires on the series it is for, and not on healthy ones).
// promtool comes from Debian's prometheus package (.ci/deps.sh installs it); CI never skips.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed: .ci/deps.sh installs Debian's prometheus package")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	dir := filepath.Join("..", "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "crowdgate-rules.yml"},
		{"test", "rules", "crowdgate-rules.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

package crowdapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// npmClientDir holds an independent Crowd client scenario written against npm packages
// (atlassian-crowd-client 2.0.0 and atlassian-crowd-patched 0.5.1), run with node.
const npmClientDir = "testdata/npmclient"

// knownNodeClientIssues are crowdgate incompatibilities that the npm clients expose and that the
// scenario tolerates (after checking the server-side effect). Set CROWDGATE_NPMCLIENT_STRICT=1 to
// make them fail; remove an entry (and its tolerance in client.mjs) once crowdapi is fixed.
// Empty: membership-201-without-content-type was fixed (a 201 now carries the negotiated
// Content-Type, as Jersey's does; regression test TestCreatedCarriesContentType).
var knownNodeClientIssues = map[string]string{}

// nodeStep is one JSON line printed by client.mjs.
type nodeStep struct {
	Client     string          `json:"client"`
	Step       string          `json:"step"`
	OK         bool            `json:"ok"`
	Detail     json.RawMessage `json:"detail"`
	KnownIssue string          `json:"known_issue"`
	Fixed      string          `json:"not_reproduced"`
}

// TestIndependentNodeClient runs client.mjs against a live crowdgate: users, groups, memberships,
// authentication, search, SSO sessions, passwords, attributes and cookie config, all through the
// npm libraries' own APIs.
func TestIndependentNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		missingNodeClient(t, "node is not installed")
	}
	for _, pkg := range []string{"atlassian-crowd-client", "atlassian-crowd-patched"} {
		if _, err := os.Stat(filepath.Join(npmClientDir, "node_modules", pkg, "package.json")); err != nil {
			missingNodeClient(t, "npm package "+pkg+" is not installed")
		}
	}

	e := newEnv(t)
	base := e.srv.URL + "/crowd"
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("test server is not on 127.0.0.1: %s", base)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", "--base", base, "--app", "jira", "--password", "jira-secret")
	cmd.Dir = npmClientDir
	cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1", "CROWD_DEBUG_HTTP=1", "CROWD_CLIENTS=v2,patched")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	var steps []nodeStep
	failed := -1
	done := false
	for _, line := range strings.Split(stdout.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var s nodeStep
		if err := json.Unmarshal([]byte(line), &s); err != nil || s.Step == "" {
			t.Logf("node: %s", line)
			continue
		}
		steps = append(steps, s)
		t.Logf("%s: %s ok=%v %s%s", s.Client, s.Step, s.OK, s.Detail, knownSuffix(s.KnownIssue))
		switch {
		case !s.OK && failed < 0:
			failed = len(steps) - 1
		case s.OK && s.Client == "*" && s.Step == "done":
			done = true
		}
	}

	strict := os.Getenv("CROWDGATE_NPMCLIENT_STRICT") == "1"
	known := map[string][]string{}
	for _, s := range steps {
		if s.Fixed != "" {
			t.Errorf("%s: step %q no longer hits known issue %q: drop its tolerance from client.mjs and knownNodeClientIssues", s.Client, s.Step, s.Fixed)
		}
		if s.KnownIssue == "" {
			continue
		}
		if _, ok := knownNodeClientIssues[s.KnownIssue]; !ok {
			t.Errorf("%s: step %q reports unlisted known issue %q: %s", s.Client, s.Step, s.KnownIssue, s.Detail)
			continue
		}
		known[s.KnownIssue] = append(known[s.KnownIssue], s.Client+": "+s.Step)
	}
	for id, where := range known {
		msg := "known crowdgate incompatibility " + id + " (" + knownNodeClientIssues[id] + ") hit by:\n\t" + strings.Join(where, "\n\t")
		if strict {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}

	if failed >= 0 {
		f := steps[failed]
		t.Fatalf("%s: step %q failed after %d steps: %s\nstderr (HTTP trace):\n%s", f.Client, f.Step, failed, indentJSON(f.Detail), tail(stderr.String(), 40))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("client.mjs did not finish within 60s (last step %s)\nstderr:\n%s", lastStep(steps), tail(stderr.String(), 40))
	}
	if runErr != nil {
		t.Fatalf("client.mjs: %v (last step %s)\nstderr:\n%s", runErr, lastStep(steps), tail(stderr.String(), 40))
	}
	if !done {
		t.Fatalf("client.mjs exited without its final \"done\" line (last step %s)\nstderr:\n%s", lastStep(steps), tail(stderr.String(), 40))
	}
	t.Logf("node client scenario: %d steps passed", len(steps)-1)
}

// missingNodeClient fails on CI (CI=true) and skips elsewhere.
func missingNodeClient(t *testing.T, why string) {
	t.Helper()
	msg := why + ": run crowdapi/testdata/npmclient/install.sh (needs node and npm)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func knownSuffix(id string) string {
	if id == "" {
		return ""
	}
	return " [known issue " + id + "]"
}

func indentJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

func lastStep(steps []nodeStep) string {
	if len(steps) == 0 {
		return "(none)"
	}
	s := steps[len(steps)-1]
	return s.Client + ": " + s.Step
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the configuration reference in README.md")

const (
	readmePath  = "../../README.md"
	ciRunPath   = "../../.ci/run"
	beginConfig = "<!-- BEGIN CONFIGURATION REFERENCE (generated from cmd/crowdgate/config.go by `go test ./cmd/crowdgate -run TestConfigDocs -update`; do not edit by hand) -->"
	endConfig   = "<!-- END CONFIGURATION REFERENCE -->"
)

// configReference renders settings() as the README's Markdown table.
func configReference() string {
	var b strings.Builder
	b.WriteString("| Variable | Flag | Default | Read by | Meaning |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, s := range settings() {
		def := "*(empty)*"
		if s.def != "" {
			def = "`" + s.def + "`"
		}
		by := "`serve`"
		if s.scope == scopeAll {
			by = "all commands"
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s | %s |\n", s.env, s.flag, def, by, strings.ReplaceAll(s.usage, "|", `\|`))
	}
	return b.String()
}

// TestConfigDocs fails when a setting is undocumented or the README's configuration reference
// differs from settings(); -update rewrites the README section.
func TestConfigDocs(t *testing.T) {
	envs, flags := map[string]bool{}, map[string]bool{}
	for _, s := range settings() {
		if want := "CROWDGATE_" + strings.ToUpper(strings.ReplaceAll(s.flag, "-", "_")); s.env != want {
			t.Errorf("setting --%s: variable %s, want %s", s.flag, s.env, want)
		}
		if envs[s.env] || flags[s.flag] {
			t.Errorf("setting %s is in the table twice", s.env)
		}
		envs[s.env], flags[s.flag] = true, true
		if len(s.usage) < 20 || !strings.HasSuffix(s.usage, ".") {
			t.Errorf("setting %s has no documentation (a sentence or more, ending with a full stop): %q", s.env, s.usage)
		}
		if err := s.apply(&Config{}, s.def); err != nil {
			t.Errorf("setting %s: the default %q is invalid: %v", s.env, s.def, err)
		}
	}

	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, beginConfig), strings.Index(readme, endConfig)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers of the configuration reference:\n%s\n...\n%s", beginConfig, endConfig)
	}
	got := readme[i+len(beginConfig) : j]
	want := "\n\n" + configReference() + "\n"
	if got == want {
		return
	}
	if *update {
		readme = readme[:i+len(beginConfig)] + want + readme[j:]
		if err := os.WriteFile(readmePath, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("README.md: configuration reference rewritten")
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for k := range max(len(gl), len(wl)) {
		var g, w string
		if k < len(gl) {
			g = gl[k]
		}
		if k < len(wl) {
			w = wl[k]
		}
		if g != w {
			t.Errorf("README.md's configuration reference is out of date; run\n\tgo test ./cmd/crowdgate -run TestConfigDocs -update\nfirst difference, line %d:\n README: %s\n config: %s", k+1, g, w)
			break
		}
	}
}

// TestNoUndocumentedVariables fails when the command reads a CROWDGATE_* variable that is not in
// the settings table (and so not in the README).
func TestNoUndocumentedVariables(t *testing.T) {
	known := map[string]bool{}
	for _, s := range settings() {
		known[s.env] = true
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`CROWDGATE_[A-Z0-9_]+`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range re.FindAllString(string(b), -1) {
			if !known[name] {
				t.Errorf("%s mentions %s, which is not in settings() (config.go): add it there with its documentation", f, name)
			}
		}
	}
}

// TestReadmeTestCommand keeps the README's test command and the one .ci/run runs the same.
func TestReadmeTestCommand(t *testing.T) {
	ci, err := os.ReadFile(ciRunPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TEST_CMD="([^"]+)"`).FindSubmatch(ci)
	if m == nil {
		t.Fatal(`.ci/run has no TEST_CMD="..." line`)
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "`"+string(m[1])+"`") {
		t.Errorf("README.md does not show the test command .ci/run runs: `%s`", m[1])
	}
}

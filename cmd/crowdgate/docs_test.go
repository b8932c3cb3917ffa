package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/internal/config"
)

var update = flag.Bool("update", false, "rewrite the configuration reference, docs/configuration.md")

const (
	readmePath  = "../../README.md"
	configDoc   = "../../docs/configuration.md"
	ciRunPath   = "../../.ci/run"
	generatedBy = "generated from internal/config/settings.go by `go test ./cmd/crowdgate -run TestConfigDocs -update`; do not edit by hand"
)

// configReference renders config.Settings() as the Markdown table of docs/configuration.md.
func configReference() string {
	var b strings.Builder
	b.WriteString("| Variable | Flag | Default | Read by | Meaning |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, s := range config.Settings() {
		fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s | %s |\n", s.Env, s.Flag, docDefault(s), docScope(s), strings.ReplaceAll(s.Usage, "|", `\|`))
	}
	return b.String()
}

func docDefault(s config.Setting) string {
	if s.Default == "" {
		return "*(empty)*"
	}
	return "`" + s.Default + "`"
}

func docScope(s config.Setting) string {
	if s.Scope == config.ScopeAll {
		return "all commands"
	}
	return "`serve`"
}

// configurationDoc renders the whole of docs/configuration.md: how settings are read, the table,
// and one section per setting (a link target for the other guides) with an example value.
func configurationDoc() string {
	var b strings.Builder
	b.WriteString("<!-- " + generatedBy + " -->\n\n")
	b.WriteString(`# Configuration reference

Every crowdgate setting is a command-line flag and a ` + "`CROWDGATE_*`" + ` environment variable. The flag
wins over the variable, and an empty variable counts as unset. Invalid values are all reported at
once, each naming its setting, and crowdgate does not start. ` + "`crowdgate serve`" + ` reads every setting;
the other commands that open the database (` + "`migrate`, `backup`, `app`, `user`, `group`, `import`" + `)
read only those marked "all commands". ` + "`crowdgate healthcheck`" + ` reads ` + "`CROWDGATE_HEALTH_LISTEN`" + `
and ` + "`CROWDGATE_LISTEN`" + ` only to find the server to probe. ` + "`crowdgate COMMAND -h`" + ` lists the flags of a
command.

This file is generated from the settings table in ` + "`internal/config/settings.go`" + `, the one place
settings are defined; ` + "`go test ./cmd/crowdgate`" + ` fails when it is out of date. Operating crowdgate:
[operations.md](operations.md).

## All settings

`)
	b.WriteString(configReference())
	b.WriteString("\n## Each setting\n")
	for _, s := range config.Settings() {
		fmt.Fprintf(&b, "\n### %s\n\n", s.Env)
		fmt.Fprintf(&b, "Flag `--%s`. Default %s. Read by %s.\n\n", s.Flag, docDefault(s), docScope(s))
		b.WriteString(s.Usage + "\n\n")
		if secretSetting(s) {
			// The table's example is a test value; printed here it would end up in production.
			b.WriteString("Example: none shown; generate your own value.\n")
		} else {
			fmt.Fprintf(&b, "Example: `%s=%s`\n", s.Env, s.Example)
		}
	}
	return b.String()
}

// secretSetting reports whether a setting holds a secret, by its name.
func secretSetting(s config.Setting) bool {
	return strings.Contains(s.Env, "PASSWORD") || strings.Contains(s.Env, "SECRET")
}

// TestConfigDocs fails when docs/configuration.md differs from config.Settings(); -update rewrites
// it. The table itself (every setting documented, its default valid) is checked by internal/config's
// TestSettingsTable.
func TestConfigDocs(t *testing.T) {
	doc, err := os.ReadFile(configDoc)
	if err != nil && !(*update && errors.Is(err, fs.ErrNotExist)) {
		t.Fatal(err)
	}
	want := configurationDoc()
	checkGenerated(t, configDoc, string(doc), want, func() string { return want })
}

// checkGenerated compares the generated part of a file, got, with want. With -update it writes
// whole() to path instead of failing.
func checkGenerated(t *testing.T, path, got, want string, whole func() string) {
	t.Helper()
	if got == want {
		return
	}
	name := strings.TrimPrefix(path, "../../")
	if *update {
		if err := os.WriteFile(path, []byte(whole()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: configuration reference rewritten", name)
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
			t.Errorf("%s's configuration reference is out of date; run\n\tgo test ./cmd/crowdgate -run TestConfigDocs -update\nfirst difference, line %d:\n %s: %s\n config: %s", name, k+1, name, g, w)
			break
		}
	}
}

// TestNoUndocumentedVariables fails when the command, or the configuration package it reads its
// settings with, mentions a CROWDGATE_* variable that is not in the settings table (and so not in
// docs/configuration.md).
func TestNoUndocumentedVariables(t *testing.T) {
	known := map[string]bool{}
	for _, s := range config.Settings() {
		known[s.Env] = true
	}
	var files []string
	for _, pattern := range []string{"*.go", "../../internal/config/*.go"} {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		if len(matches) == 0 {
			t.Fatalf("no files match %s", pattern)
		}
		files = append(files, matches...)
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
				t.Errorf("%s mentions %s, which is not in config.Settings() (internal/config/settings.go): add it there with its documentation", f, name)
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

// TestDocsLinks fails when README.md or a file under docs/ links to a repository file that does not
// exist, so every section moved out of the README stays reachable from it.
func TestDocsLinks(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, readmePath, "../../BENCHMARKS.md")
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	linked := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(filepath.Dir(f), target)
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s links to %s, which does not exist", strings.TrimPrefix(f, "../../"), target)
			}
			if f == readmePath {
				linked[filepath.Clean(p)] = true
			}
		}
	}
	// Every user guide in docs/ is reachable from the README (directly).
	for _, f := range files {
		if f == readmePath || strings.HasSuffix(f, "BENCHMARKS.md") {
			continue
		}
		if !linked[filepath.Clean(f)] {
			t.Errorf("README.md does not link to %s", strings.TrimPrefix(f, "../../"))
		}
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/internal/config"
)

// The packaging files this test holds to what the binary does; no Docker engine is needed.
const (
	composePath    = "../../docker-compose.yml"
	dockerfilePath = "../../Dockerfile"
	caddyfilePath  = "../../deploy/Caddyfile"
)

// TestDockerCompose parses docker-compose.yml and checks what running it relies on: the services
// and their images, that every CROWDGATE_* variable is a real setting, ports against the listen
// address, the health check on /readyz, depends_on, volumes, and the optional proxy profile.
func TestDockerCompose(t *testing.T) {
	src, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseYAML(string(src))
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	root := ymap(t, doc, "the document")
	services := ymap(t, root["services"], "services")
	known := map[string]bool{}
	for _, s := range config.Settings() {
		known[s.Env] = true
	}

	for _, name := range []string{"postgres", "crowdgate", "proxy"} {
		if services[name] == nil {
			t.Fatalf("no service %q", name)
		}
	}
	pg := ymap(t, services["postgres"], "postgres")
	cg := ymap(t, services["crowdgate"], "crowdgate")
	px := ymap(t, services["proxy"], "proxy")

	// The default "docker compose up" runs PostgreSQL and crowdgate; the proxy only on request.
	for _, name := range []string{"postgres", "crowdgate"} {
		if p := ymap(t, services[name], name)["profiles"]; p != nil {
			t.Errorf("service %s has profiles %v: the default docker compose up would not start it", name, p)
		}
	}
	if !slices.Contains(ystrings(t, px["profiles"], "proxy.profiles"), "proxy") {
		t.Errorf("the proxy service is not in the proxy profile: %v", px["profiles"])
	}
	if img := ystr(t, pg["image"], "postgres.image"); !strings.HasPrefix(img, "postgres:") {
		t.Errorf("postgres image %q", img)
	}
	if img := ystr(t, px["image"], "proxy.image"); !strings.HasPrefix(img, "caddy:") {
		t.Errorf("proxy image %q, want Caddy (deploy/Caddyfile is a Caddyfile)", img)
	}
	if b := ystr(t, cg["build"], "crowdgate.build"); b != "." {
		t.Errorf("crowdgate builds from %q, want . (the Dockerfile at the root)", b)
	}
	if cg["image"] == nil {
		t.Error("crowdgate has no image name: docker compose exec and logs name it")
	}

	// Every CROWDGATE_* variable given to any service is a setting (a typo is silently ignored).
	for name, svc := range services {
		envs := ymap(t, ymap(t, svc, name)["environment"], name+".environment")
		for k := range envs {
			if strings.HasPrefix(k, "CROWDGATE_") && !known[k] {
				t.Errorf("service %s sets %s, which is not a setting (internal/config)", name, k)
			}
		}
	}
	env := ymap(t, cg["environment"], "crowdgate.environment")
	dbURL := ystr(t, env["CROWDGATE_DATABASE_URL"], "CROWDGATE_DATABASE_URL")
	if !strings.HasPrefix(dbURL, "postgres://") || !strings.Contains(dbURL, "@postgres:5432/") {
		t.Errorf("CROWDGATE_DATABASE_URL %q does not point at the postgres service", dbURL)
	}
	listen := ystr(t, env["CROWDGATE_LISTEN"], "CROWDGATE_LISTEN")
	host, port, err := net.SplitHostPort(listen)
	if err != nil || (host != "0.0.0.0" && host != "" && host != "::") {
		t.Errorf("CROWDGATE_LISTEN %q: inside a container crowdgate must listen on every interface", listen)
	}
	if !slices.Contains(strings.Split(interpolate(ystr(t, env["CROWDGATE_TRUSTED_PROXIES"], "CROWDGATE_TRUSTED_PROXIES")), ","), "proxy") {
		t.Errorf("CROWDGATE_TRUSTED_PROXIES %q does not name the proxy service by default: its X-Forwarded-For would be ignored", env["CROWDGATE_TRUSTED_PROXIES"])
	}
	dep := ymap(t, ymap(t, cg["depends_on"], "crowdgate.depends_on")["postgres"], "crowdgate.depends_on.postgres")
	if dep["condition"] != "service_healthy" {
		t.Errorf("crowdgate waits for postgres with condition %v, want service_healthy", dep["condition"])
	}
	if ymap(t, pg["healthcheck"], "postgres.healthcheck")["test"] == nil {
		t.Error("postgres has no health check, so service_healthy never holds")
	}
	pdep := ymap(t, ymap(t, px["depends_on"], "proxy.depends_on")["crowdgate"], "proxy.depends_on.crowdgate")
	if pdep["condition"] != "service_healthy" {
		t.Errorf("proxy waits for crowdgate with condition %v, want service_healthy", pdep["condition"])
	}

	// Ports: crowdgate's published container port is the one it listens on.
	ports := ystrings(t, cg["ports"], "crowdgate.ports")
	if len(ports) == 0 {
		t.Error("crowdgate publishes no port")
	}
	for _, p := range ports {
		parts := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
		if parts[len(parts)-1] != port {
			t.Errorf("crowdgate publishes container port %q, but listens on %s", p, port)
		}
	}
	if pp := ystrings(t, px["ports"], "proxy.ports"); !slices.Contains(pp, "443:443") {
		t.Errorf("the proxy does not publish 443: %v", pp)
	}

	// The health check asks the binary to probe /readyz on the listen port.
	hc := ymap(t, cg["healthcheck"], "crowdgate.healthcheck")
	test := ystrings(t, hc["test"], "crowdgate.healthcheck.test")
	if len(test) < 3 || test[0] != "CMD" || test[1] != "/usr/local/bin/crowdgate" || test[2] != "healthcheck" {
		t.Errorf("crowdgate health check %q, want [CMD /usr/local/bin/crowdgate healthcheck URL]", test)
	} else if len(test) > 3 && test[3] != "http://127.0.0.1:"+port+"/readyz" {
		t.Errorf("crowdgate health check probes %q, want http://127.0.0.1:%s/readyz", test[3], port)
	}
	if _, ok := commandNamed("healthcheck"); !ok {
		t.Error("the health check runs crowdgate healthcheck, which is not a command")
	}

	// Volumes: every named volume used is declared, every declared one used, bind mounts exist.
	declared := ymap(t, root["volumes"], "volumes")
	used := map[string]bool{}
	for name, svc := range services {
		for _, v := range ystrings(t, ymap(t, svc, name)["volumes"], name+".volumes") {
			src := strings.SplitN(v, ":", 2)[0]
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join("../..", src)); err != nil {
					t.Errorf("service %s mounts %s, which does not exist: %v", name, src, err)
				}
				continue
			}
			used[src] = true
			if _, ok := declared[src]; !ok {
				t.Errorf("service %s uses volume %s, which is not declared", name, src)
			}
		}
	}
	for v := range declared {
		if !used[v] {
			t.Errorf("volume %s is declared but not used", v)
		}
	}
	if !slices.ContainsFunc(ystrings(t, pg["volumes"], "postgres.volumes"), func(v string) bool {
		return strings.HasSuffix(v, ":/var/lib/postgresql/data")
	}) {
		t.Error("PostgreSQL's data directory is not on a volume: docker compose down would lose the directory")
	}
	if !slices.Contains(ystrings(t, px["volumes"], "proxy.volumes"), "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro") {
		t.Error("the proxy does not mount deploy/Caddyfile")
	}

	t.Run("Caddyfile", func(t *testing.T) {
		b, err := os.ReadFile(caddyfilePath)
		if err != nil {
			t.Fatal(err)
		}
		c := string(b)
		for _, want := range []string{"reverse_proxy crowdgate:" + port, "health_uri /readyz", "{$CROWDGATE_BASE_URL"} {
			if !strings.Contains(c, want) {
				t.Errorf("deploy/Caddyfile lacks %q", want)
			}
		}
		if regexp.MustCompile(`(?m)^\s*trusted_proxies`).MatchString(c) {
			t.Error("deploy/Caddyfile trusts proxies in front of it: clients could then forge X-Forwarded-For")
		}
	})

	t.Run("docker compose config", func(t *testing.T) {
		if _, err := exec.LookPath("docker"); err != nil {
			t.Skip("no docker client on PATH; the structural checks above still ran")
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "docker", "compose", "version").CombinedOutput(); err != nil {
			t.Skipf("docker has no compose plugin (%v: %s); the structural checks above still ran", err, bytes.TrimSpace(out))
		}
		for _, args := range [][]string{{"compose", "config", "-q"}, {"compose", "--profile", "proxy", "config", "-q"}} {
			cmd := exec.CommandContext(ctx, "docker", args...)
			cmd.Dir = "../.."
			cmd.Env = append(os.Environ(), "POSTGRES_PASSWORD=test-only")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})
}

// TestDockerfile checks the image runs as a non-root user, has a health check that works
// without a shell, exposes the port it listens on, and passes only real settings.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, drop comments; keep the instructions of the final stage.
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var final []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			final = nil
		}
		final = append(final, line)
	}
	instr := func(name string) []string {
		var out []string
		for _, l := range final {
			if f := strings.Fields(l); strings.EqualFold(f[0], name) {
				out = append(out, strings.TrimSpace(l[len(f[0]):]))
			}
		}
		return out
	}
	known := map[string]bool{}
	for _, s := range config.Settings() {
		known[s.Env] = true
	}

	users := instr("USER")
	if len(users) == 0 {
		t.Fatal("the final stage sets no USER: the server would run as root")
	}
	if u := strings.SplitN(users[len(users)-1], ":", 2)[0]; u == "root" || u == "0" {
		t.Errorf("USER %s: the server must not run as root", users[len(users)-1])
	}

	envs := map[string]string{}
	for _, e := range instr("ENV") {
		for _, kv := range strings.Fields(e) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Errorf("ENV %q: use the KEY=value form", e)
				continue
			}
			envs[k] = v
			if strings.HasPrefix(k, "CROWDGATE_") && !known[k] {
				t.Errorf("the image sets %s, which is not a setting (internal/config)", k)
			}
		}
	}
	_, port, err := net.SplitHostPort(envs["CROWDGATE_LISTEN"])
	if err != nil {
		t.Fatalf("the image's CROWDGATE_LISTEN %q: %v", envs["CROWDGATE_LISTEN"], err)
	}
	if exposed := instr("EXPOSE"); !slices.Contains(exposed, port) && !slices.Contains(exposed, port+"/tcp") {
		t.Errorf("EXPOSE %v does not include the listen port %s", exposed, port)
	}

	hc := instr("HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("want one HEALTHCHECK in the final stage, have %d", len(hc))
	}
	if !strings.Contains(hc[0], `CMD ["/usr/local/bin/crowdgate", "healthcheck"`) {
		t.Errorf("HEALTHCHECK %q: the distroless image has no shell, so it must exec the binary's healthcheck command", hc[0])
	}
	entry := instr("ENTRYPOINT")
	if len(entry) != 1 || entry[0] != `["/usr/local/bin/crowdgate"]` {
		t.Errorf("ENTRYPOINT %v, want [\"/usr/local/bin/crowdgate\"]", entry)
	}
	if !slices.ContainsFunc(instr("COPY"), func(c string) bool { return strings.HasSuffix(c, " /usr/local/bin/crowdgate") }) {
		t.Error("the binary is not copied to /usr/local/bin/crowdgate")
	}
	// The probe the HEALTHCHECK runs finds the server from the same variable the server reads.
	c := &cli{getenv: func(k string) string { return envs[k] }}
	if got, want := loopback(c.healthAddr()), "127.0.0.1:"+port; got != want {
		t.Errorf("the image's health check would probe %s, want %s", got, want)
	}
}

// commandNamed returns the command with that name.
func commandNamed(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// interpolate applies compose's ${VAR:-default} with no variables set: the defaults.
func interpolate(s string) string {
	return regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?]([^}]*))?\}`).ReplaceAllStringFunc(s, func(m string) string {
		if i := strings.Index(m, ":-"); i >= 0 {
			return m[i+2 : len(m)-1]
		}
		return ""
	})
}

// parseYAML reads the block-style subset of YAML a compose file uses: mappings, sequences of
// scalars, flow sequences of scalars, plain and quoted scalars, comments. Anything else (anchors,
// multi-line strings, sequences of mappings) is an error, so an edit that needs it makes this
// test fail loudly instead of being misread.
func parseYAML(src string) (any, error) {
	var lines []yamlLine
	for i, raw := range strings.Split(src, "\n") {
		if strings.ContainsRune(raw, '\t') {
			return nil, fmt.Errorf("line %d: tab character", i+1)
		}
		text := stripComment(raw)
		if strings.TrimSpace(text) == "" {
			continue
		}
		indent := len(text) - len(strings.TrimLeft(text, " "))
		lines = append(lines, yamlLine{no: i + 1, indent: indent, text: strings.TrimSpace(text)})
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("empty document")
	}
	v, next, err := parseYAMLBlock(lines, 0, lines[0].indent)
	if err != nil {
		return nil, err
	}
	if next < len(lines) {
		return nil, fmt.Errorf("line %d: unexpected indentation", lines[next].no)
	}
	return v, nil
}

type yamlLine struct {
	no, indent int
	text       string
}

// stripComment removes a # comment that is outside quotes and starts a word.
func stripComment(s string) string {
	for i, r := range unquoted(s) {
		if r == '#' && (i == 0 || s[i-1] == ' ') {
			return strings.TrimRight(s[:i], " ")
		}
	}
	return s
}

// unquoted yields the runes of s that stand outside '...' and "..." quotes, with their byte
// offsets: where the parser may find the characters that give a line its structure.
func unquoted(s string) iter.Seq2[int, rune] {
	return func(yield func(int, rune) bool) {
		var quote rune
		for i, r := range s {
			switch {
			case quote != 0:
				if r == quote {
					quote = 0
				}
			case r == '"' || r == '\'':
				quote = r
			default:
				if !yield(i, r) {
					return
				}
			}
		}
	}
}

func parseYAMLBlock(lines []yamlLine, i, indent int) (any, int, error) {
	if lines[i].text == "-" || strings.HasPrefix(lines[i].text, "- ") {
		var seq []any
		for i < len(lines) && lines[i].indent == indent && (lines[i].text == "-" || strings.HasPrefix(lines[i].text, "- ")) {
			item := strings.TrimSpace(strings.TrimPrefix(lines[i].text, "-"))
			if _, _, isMap := splitKey(item); isMap || item == "" {
				return nil, 0, fmt.Errorf("line %d: sequences of mappings are not supported here", lines[i].no)
			}
			v, err := yamlScalar(item, lines[i].no)
			if err != nil {
				return nil, 0, err
			}
			seq = append(seq, v)
			i++
		}
		return seq, i, nil
	}
	m := map[string]any{}
	for i < len(lines) && lines[i].indent == indent {
		l := lines[i]
		key, val, ok := splitKey(l.text)
		if !ok {
			return nil, 0, fmt.Errorf("line %d: %q is not key: value", l.no, l.text)
		}
		if _, dup := m[key]; dup {
			return nil, 0, fmt.Errorf("line %d: key %q repeated", l.no, key)
		}
		i++
		switch {
		case val != "":
			v, err := yamlScalar(val, l.no)
			if err != nil {
				return nil, 0, err
			}
			m[key] = v
		case i < len(lines) && (lines[i].indent > indent ||
			(lines[i].indent == indent && strings.HasPrefix(lines[i].text, "- "))):
			v, next, err := parseYAMLBlock(lines, i, lines[i].indent)
			if err != nil {
				return nil, 0, err
			}
			m[key], i = v, next
		default:
			m[key] = nil
		}
	}
	if i < len(lines) && lines[i].indent > indent {
		return nil, 0, fmt.Errorf("line %d: unexpected indentation", lines[i].no)
	}
	return m, i, nil
}

// splitKey splits "key: value" or "key:" outside quotes and brackets.
func splitKey(s string) (key, val string, ok bool) {
	depth := 0
	for i, r := range unquoted(s) {
		switch {
		case r == '[' || r == '{':
			depth++
		case r == ']' || r == '}':
			depth--
		case r == ':' && depth == 0 && (i == len(s)-1 || s[i+1] == ' '):
			k := strings.TrimSpace(s[:i])
			if uq, err := unquoteYAML(k); err == nil {
				k = uq
			}
			return k, strings.TrimSpace(s[i+1:]), k != ""
		}
	}
	return "", "", false
}

func yamlScalar(s string, line int) (any, error) {
	switch {
	case strings.HasPrefix(s, "["):
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("line %d: multi-line flow sequence", line)
		}
		var out []any
		inner := strings.TrimSpace(s[1 : len(s)-1])
		if inner == "" {
			return out, nil
		}
		for _, part := range splitFlow(inner) {
			v, err := unquoteYAML(strings.TrimSpace(part))
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", line, err)
			}
			out = append(out, v)
		}
		return out, nil
	case strings.HasPrefix(s, "{"), strings.HasPrefix(s, "&"), strings.HasPrefix(s, "*"),
		strings.HasPrefix(s, "|"), strings.HasPrefix(s, ">"), strings.HasPrefix(s, "!"):
		return nil, fmt.Errorf("line %d: %q: YAML construct not supported here", line, s)
	}
	v, err := unquoteYAML(s)
	if err != nil {
		return nil, fmt.Errorf("line %d: %v", line, err)
	}
	return v, nil
}

// splitFlow splits a flow sequence's items on commas outside quotes.
func splitFlow(s string) []string {
	var out []string
	start := 0
	for i, r := range unquoted(s) {
		if r == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unquoteYAML(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, `"`):
		return strconv.Unquote(s)
	case strings.HasPrefix(s, "'"):
		if len(s) < 2 || !strings.HasSuffix(s, "'") {
			return "", fmt.Errorf("unterminated string %s", s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	}
	return s, nil
}

// ymap, ystr and ystrings read parsed YAML, failing the test on the wrong shape. A missing
// (nil) value reads as empty.
func ymap(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	if v == nil {
		return map[string]any{}
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: want a mapping, have %T", what, v)
	}
	return m
}

func ystr(t *testing.T, v any, what string) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s: want a string, have %T (%v)", what, v, v)
	}
	return s
}

func ystrings(t *testing.T, v any, what string) []string {
	t.Helper()
	if v == nil {
		return nil
	}
	seq, ok := v.([]any)
	if !ok {
		t.Fatalf("%s: want a sequence, have %T", what, v)
	}
	out := make([]string, len(seq))
	for i, e := range seq {
		out[i] = ystr(t, e, fmt.Sprintf("%s[%d]", what, i))
	}
	return out
}

// TestParseYAML keeps the small parser honest on what compose files contain, and on refusing
// what it does not understand.
func TestParseYAML(t *testing.T) {
	doc, err := parseYAML(`# comment
a:
  b: "x: y"   # trailing comment
  c: ['p', "q # not a comment", r]
  d:
    - one
    - "two"
  e:
  - same-indent
f: ${X:-d}#kept
`)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(doc)
	want := "map[a:map[b:x: y c:[p q # not a comment r] d:[one two] e:[same-indent]] f:${X:-d}#kept]"
	if got != want {
		t.Errorf("parsed\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"a: &anchor x", "a:\n  - b: c", "a: |\n  text", "a:\n  b: 1\n    c: 2", "a: 1\na: 2", "just text"} {
		if _, err := parseYAML(bad); err == nil {
			t.Errorf("parseYAML(%q) succeeded, want an error", bad)
		}
	}
	if got := interpolate("${A:-proxy},${B},${C:?msg}"); got != "proxy,," {
		t.Errorf("interpolate: %q", got)
	}
}

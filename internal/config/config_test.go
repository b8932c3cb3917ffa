package config

import (
	"flag"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env is a test environment: CROWDGATE_* variables without the process's own.
type env map[string]string

func (e env) getenv(k string) string { return e[k] }

// loadArgs parses args as serve's flags over the environment e.
func loadArgs(t *testing.T, e env, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := AddFlags(fs, ScopeServe)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return cf.Load(e.getenv)
}

// TestSettingsTable fails when a setting is undocumented, named inconsistently, in the table twice,
// or has an invalid default.
func TestSettingsTable(t *testing.T) {
	envs, flags := map[string]bool{}, map[string]bool{}
	for _, s := range Settings() {
		if want := "CROWDGATE_" + strings.ToUpper(strings.ReplaceAll(s.Flag, "-", "_")); s.Env != want {
			t.Errorf("setting --%s: variable %s, want %s", s.Flag, s.Env, want)
		}
		if envs[s.Env] || flags[s.Flag] {
			t.Errorf("setting %s is in the table twice", s.Env)
		}
		envs[s.Env], flags[s.Flag] = true, true
		if len(s.Usage) < 20 || !strings.HasSuffix(s.Usage, ".") {
			t.Errorf("setting %s has no documentation (a sentence or more, ending with a full stop): %q", s.Env, s.Usage)
		}
		if err := s.apply(&Config{}, s.Default); err != nil {
			t.Errorf("setting %s: the default %q is invalid: %v", s.Env, s.Default, err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadArgs(t, env{})
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Listen", c.Listen, "127.0.0.1:8095"},
		{"HealthListen", c.HealthListen, ""},
		{"Store.URL", c.Store.URL, "data/crowdgate.db"},
		{"Store dialect", c.Store.Dialect(), "sqlite"},
		{"Crowd.ContextPath", c.Crowd.ContextPath, "/crowd"},
		{"Crowd prefix", c.Crowd.Prefix(), "/crowd/rest/usermanagement"},
		{"Crowd.BaseURL", c.Crowd.BaseURL, ""},
		{"Log.Format", c.Log.Format, "text"},
		{"Log.Level", c.Log.Level, slog.LevelInfo},
		{"Store.SessionTimeout", c.Store.SessionTimeout, 30 * time.Minute},
		{"Store.RequireConsistentIP", c.Store.RequireConsistentIP, false},
		{"Store.PasswordWorkers", c.Store.PasswordWorkers, 0},
		{"TrustedProxies", len(c.TrustedProxies), 0},
		{"TLS", c.TLSCert + c.TLSKey, ""},
		{"AdminPassword", c.AdminPassword, ""},
		{"ReadTimeout", c.ReadTimeout, 30 * time.Second},
		{"WriteTimeout", c.WriteTimeout, 2 * time.Minute},
		{"IdleTimeout", c.IdleTimeout, 2 * time.Minute},
		{"ShutdownTimeout", c.ShutdownTimeout, 20 * time.Second},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("default %s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestConfigFlagsOverEnvironment(t *testing.T) {
	e := env{
		"CROWDGATE_LISTEN":                "0.0.0.0:9000",
		"CROWDGATE_LOG_FORMAT":            "json",
		"CROWDGATE_SESSION_TIMEOUT":       "1h",
		"CROWDGATE_TRUSTED_PROXIES":       "10.0.0.0/8, proxy.example.com",
		"CROWDGATE_BASE_URL":              "https://sso.example.com/",
		"CROWDGATE_CONTEXT_PATH":          "",
		"CROWDGATE_REQUIRE_CONSISTENT_IP": "true",
	}
	c, err := loadArgs(t, e, "--listen", "127.0.0.1:9001", "-log-format=text", "--context-path", "/identity", "--require-consistent-ip=false")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9001" {
		t.Errorf("flag should win: Listen = %q", c.Listen)
	}
	if c.Log.Format != "text" {
		t.Errorf("flag should win: Log.Format = %q", c.Log.Format)
	}
	if c.Store.RequireConsistentIP {
		t.Error("flag --require-consistent-ip=false should win over the variable")
	}
	if c.Store.SessionTimeout != time.Hour {
		t.Errorf("variable should apply: SessionTimeout = %s", c.Store.SessionTimeout)
	}
	if want := []string{"10.0.0.0/8", "proxy.example.com"}; !reflect.DeepEqual(c.TrustedProxies, want) {
		t.Errorf("TrustedProxies = %q, want %q", c.TrustedProxies, want)
	}
	if c.Crowd.ContextPath != "/identity" {
		t.Errorf("ContextPath = %q", c.Crowd.ContextPath)
	}
	if c.BaseURL != "https://sso.example.com" || c.Crowd.BaseURL != "https://sso.example.com/identity" {
		t.Errorf("BaseURL = %q, Crowd.BaseURL = %q", c.BaseURL, c.Crowd.BaseURL)
	}

	// An empty variable counts as unset; a bare boolean flag means true.
	c, err = loadArgs(t, env{"CROWDGATE_CONTEXT_PATH": ""}, "--require-consistent-ip")
	if err != nil {
		t.Fatal(err)
	}
	if c.Crowd.ContextPath != "/crowd" || !c.Store.RequireConsistentIP {
		t.Errorf("ContextPath = %q, RequireConsistentIP = %t", c.Crowd.ContextPath, c.Store.RequireConsistentIP)
	}
	// The flag can set the empty value the variable cannot.
	if c, err = loadArgs(t, env{}, "--context-path="); err != nil || c.Crowd.Prefix() != "/rest/usermanagement" {
		t.Errorf("--context-path= gives prefix %q, %v", c.Crowd.Prefix(), err)
	}
}

func TestConfigInvalid(t *testing.T) {
	cases := []struct {
		env, value string
		want       string // in the message, besides the variable's name
	}{
		{"CROWDGATE_LISTEN", "8095", "host:port"},
		{"CROWDGATE_LISTEN", "127.0.0.1:99999", "port"},
		{"CROWDGATE_HEALTH_LISTEN", "localhost", "host:port"},
		{"CROWDGATE_CONTEXT_PATH", "crowd", "must start with /"},
		{"CROWDGATE_CONTEXT_PATH", "/crowd/", "must start with /"},
		{"CROWDGATE_BASE_URL", "sso.example.com", "absolute http(s) URL"},
		{"CROWDGATE_BASE_URL", "https://sso.example.com/?x=1", "without query"},
		{"CROWDGATE_LOG_FORMAT", "xml", "text or json"},
		{"CROWDGATE_LOG_LEVEL", "verbose", "debug, info, warn or error"},
		{"CROWDGATE_SESSION_TIMEOUT", "30", "duration"},
		{"CROWDGATE_SESSION_TIMEOUT", "10s", "shorter than 1m0s"},
		{"CROWDGATE_SESSION_CACHE_TTL", "-1s", "shorter than"},
		{"CROWDGATE_EVENT_RETENTION", "week", "duration"},
		{"CROWDGATE_READ_TIMEOUT", "0s", "shorter than"},
		{"CROWDGATE_WRITE_TIMEOUT", "forever", "duration"},
		{"CROWDGATE_IDLE_TIMEOUT", "1ms", "shorter than"},
		{"CROWDGATE_SHUTDOWN_TIMEOUT", "-5s", "shorter than"},
		{"CROWDGATE_TRUSTED_PROXIES", "10.0.0.0/33", "10.0.0.0/33"},
		{"CROWDGATE_REQUIRE_CONSISTENT_IP", "maybe", "true or false"},
		{"CROWDGATE_PASSWORD_WORKERS", "-1", "at least 0"},
		{"CROWDGATE_PASSWORD_WORKERS", "many", "whole number"},
		{"CROWDGATE_MAX_BODY_BYTES", "1k", "whole number"},
		{"CROWDGATE_ADMIN_PASSWORD", "short", "at least 16 characters"},
		{"CROWDGATE_ADMIN_PASSWORD", "Password12345678!", "common password"},
		{"CROWDGATE_TLS_CERT", "/etc/cert.pem", "CROWDGATE_TLS_KEY"},
		{"CROWDGATE_TLS_KEY", "/etc/key.pem", "CROWDGATE_TLS_CERT"},
		{"CROWDGATE_SESSION_CACHE_TTL", "2h", "longer than CROWDGATE_SESSION_TIMEOUT"},
		{"CROWDGATE_HEALTH_LISTEN", "127.0.0.1:8095", "main listener"},
		{"CROWDGATE_BREAKGLASS", "sometimes", "all or console or off"},
		{"CROWDGATE_BREAKGLASS", "off", "needs SAML sign-in"},
	}
	all := env{}
	for _, tc := range cases {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			_, err := loadArgs(t, env{tc.env: tc.value})
			if err == nil {
				t.Fatalf("%s=%q accepted", tc.env, tc.value)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.env) || !strings.Contains(msg, tc.want) {
				t.Errorf("%s=%q: error %q does not name the variable and say %q", tc.env, tc.value, msg, tc.want)
			}
			if n := strings.Count(msg, "\n  - "); n != 1 {
				t.Errorf("%s=%q: %d problems reported, want 1:\n%s", tc.env, tc.value, n, msg)
			}
		})
		if _, dup := all[tc.env]; !dup && tc.env != "CROWDGATE_TLS_KEY" { // the certificate alone is the error
			all[tc.env] = tc.value
		}
	}

	// Every invalid value is reported at once, each naming its variable.
	_, err := loadArgs(t, all)
	if err == nil {
		t.Fatal("all invalid values accepted")
	}
	for name := range all {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the combined error does not name %s:\n%v", name, err)
		}
	}

	// A flag is named too.
	_, err = loadArgs(t, env{}, "--listen", "nowhere")
	if err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("--listen nowhere: %v", err)
	}
}

// TestConfigEveryFieldHasASetting fails when a configuration field can be set by no documented
// setting: set each setting to its example value alone and record which fields change.
func TestConfigEveryFieldHasASetting(t *testing.T) {
	// Fields deliberately not configurable, with the reason.
	internal := map[string]string{
		"Store.SkipMigrations": "set by the migrate command",
		"Crowd.Version":        "crowdapi's own default",
	}
	base, err := loadArgs(t, env{})
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, s := range Settings() {
		if s.Example == "" || s.Example == s.Default {
			t.Errorf("%s: the example must be a valid value other than the default", s.Env)
			continue
		}
		c, err := loadArgs(t, env{s.Env: s.Example})
		if s.Env == "CROWDGATE_TLS_CERT" || s.Env == "CROWDGATE_TLS_KEY" { // only valid as a pair
			c, err = loadArgs(t, env{"CROWDGATE_TLS_CERT": "/c.pem", "CROWDGATE_TLS_KEY": "/k.pem", s.Env: s.Example})
		}
		if err != nil {
			t.Errorf("%s=%q (its example): %v", s.Env, s.Example, err)
			continue
		}
		changed := diffFields("", reflect.ValueOf(base), reflect.ValueOf(c))
		if len(changed) == 0 {
			t.Errorf("%s=%q changes no configuration field", s.Env, s.Example)
		}
		for _, f := range changed {
			covered[f] = true
		}
	}
	for _, f := range leafFields("", reflect.TypeOf(Config{})) {
		if !covered[f] && internal[f] == "" {
			t.Errorf("configuration field %s has no setting in Settings() (config.go): add one with its documentation, then run go test ./cmd/crowdgate -run TestConfigDocs -update", f)
		}
	}
}

// leafFields lists the exported value fields of t (strings, numbers, booleans, durations, lists of
// strings), with dotted paths. Interfaces, functions and pointers are dependencies that run wires
// in (an Observer, a clock), not settings.
func leafFields(prefix string, t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		switch k := f.Type.Kind(); {
		case k == reflect.Struct:
			out = append(out, leafFields(prefix+f.Name+".", f.Type)...)
		case k == reflect.String, k == reflect.Bool, k >= reflect.Int && k <= reflect.Float64,
			k == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			out = append(out, prefix+f.Name)
		}
	}
	return out
}

// diffFields lists the leaf fields that differ between a and b.
func diffFields(prefix string, a, b reflect.Value) []string {
	var out []string
	for i := range a.NumField() {
		f := a.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			out = append(out, diffFields(prefix+f.Name+".", a.Field(i), b.Field(i))...)
			continue
		}
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			out = append(out, prefix+f.Name)
		}
	}
	return out
}

// TestConfigScopes checks that commands other than serve ignore the server's settings, so a bad
// listener address in the environment does not stop "crowdgate user add".
func TestConfigScopes(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cf := AddFlags(fs, ScopeAll)
	if fs.Lookup("listen") != nil {
		t.Error("--listen is registered for a database command")
	}
	if fs.Lookup("database-url") == nil {
		t.Error("--database-url is missing from a database command")
	}
	c, err := cf.Load(env{"CROWDGATE_LISTEN": "nonsense", "CROWDGATE_DATABASE_URL": "x.db"}.getenv)
	if err != nil {
		t.Fatalf("serve-only variable checked by a database command: %v", err)
	}
	if c.Store.URL != "x.db" || c.Listen != "127.0.0.1:8095" {
		t.Errorf("URL %q, Listen %q", c.Store.URL, c.Listen)
	}
}

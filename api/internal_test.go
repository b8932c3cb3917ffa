package api

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/store"
)

// TestTemplatesParse parses every embedded template, so a broken one fails go test, not a request.
func TestTemplatesParse(t *testing.T) {
	pages, err := parseTemplates("/console")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(assets, "templates/*.html")
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name != "layout" && pages[name] == nil {
			t.Errorf("%s not parsed", f)
		}
	}
	// Every page a handler renders exists.
	for _, name := range []string{"error", "forbidden", "login", "reauth", "overview", "users", "user", "user_new", "groups",
		"group", "group_new", "applications", "application", "application_new", "credential", "directories", "directory",
		"sessions", "audit", "access"} {
		if pages[name] == nil {
			t.Errorf("no template for page %q", name)
		}
		for _, shared := range []string{"layout", "content", "licence", "auditTable", "sessionTable", "snippets"} {
			if pages[name] != nil && pages[name].Lookup(shared) == nil {
				t.Errorf("page %q lacks template %q", name, shared)
			}
		}
	}
	// No template may mark data as safe HTML.
	for _, f := range files {
		b, _ := fs.ReadFile(assets, f)
		for _, bad := range []string{"safeHTML", "template.HTML", "<script>", "style="} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q (inline code breaks the CSP; data must stay escaped)", f, bad)
			}
		}
	}
}

func TestLicenceLevels(t *testing.T) {
	for _, tc := range []struct {
		n     int64
		limit int
		want  licence
	}{
		{5, 0, licence{Licensed: 5, Level: "none"}},
		{89, 100, licence{Licensed: 89, Limit: 100, Percent: 89, Level: "ok"}},
		{90, 100, licence{Licensed: 90, Limit: 100, Percent: 90, Level: "warn"}},
		{100, 100, licence{Licensed: 100, Limit: 100, Percent: 100, Level: "over"}},
		{250, 100, licence{Licensed: 250, Limit: 100, Percent: 100, Level: "over"}},
	} {
		if diff := cmp.Diff(tc.want, licenceOf(tc.n, tc.limit)); diff != "" {
			t.Errorf("licenceOf(%d, %d) (-want +got):\n%s", tc.n, tc.limit, diff)
		}
	}
}

func TestEntraForm(t *testing.T) {
	old, err := graphsync.ParseSettings(`{"tenant_id":"a","client_secret":"keep","graph_base_url":"https://graph.microsoft.us/v1.0","page_size":500}`)
	if err != nil {
		t.Fatal(err)
	}
	seal := func(key, v string) (string, error) { return "sealed(" + key + ":" + v + ")", nil }
	fields := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		f    entraForm
		want graphsync.Settings
		view entraView
	}{
		{"empty secret keeps it", entraForm{Fields: fields("tenant_id", "b", "client_id", "c", "sync_interval", "15m")},
			graphsync.Settings{TenantID: "b", ClientID: "c", ClientSecret: "keep", SyncInterval: "15m"}, entraView{SecretSet: true}},
		{"new secret", entraForm{Fields: fields("tenant_id", "b"), Secret: "new"},
			graphsync.Settings{TenantID: "b", ClientSecret: "sealed(client_secret:new)"}, entraView{SecretSet: true}},
		{"clear secret, certificate", entraForm{Fields: fields("tenant_id", "a", "groups", "Jira Users, 0b5c3d2e-1111-2222-3333-444455556666",
			"credential", "certificate", "user_removal", "delete", "username_source", "mail", "exclude_guests", "true"),
			ClearSecret: true, Certificate: "PEM", CertificatePassword: "pw"},
			graphsync.Settings{TenantID: "a", Groups: []string{"Jira Users", "0b5c3d2e-1111-2222-3333-444455556666"}, Credential: "certificate",
				UserRemoval: "delete", UsernameSource: "mail", ExcludeGuests: true,
				Certificate: "sealed(certificate:PEM)", CertificatePassword: "sealed(certificate_password:pw)"},
			entraView{CertificateSet: true, CertificatePasswordSet: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.f.apply(old, seal)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := got.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(enc, `"graph_base_url":"https://graph.microsoft.us/v1.0"`) || !strings.Contains(enc, `"page_size":500`) {
				t.Errorf("unknown keys lost: %s", enc)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreUnexported(graphsync.Settings{})); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
			v := viewEntra(enc)
			if v.Err != nil || v.ClientSecret != "" || v.Certificate != "" || v.CertificatePassword != "" ||
				v.SecretSet != tc.view.SecretSet || v.CertificateSet != tc.view.CertificateSet || v.CertificatePasswordSet != tc.view.CertificatePasswordSet {
				t.Errorf("view %+v", v)
			}
		})
	}
	if v := viewEntra(`{"sync_interval":"48h"}`); v.Err == nil || !strings.Contains(v.Err.Error(), "from 1m to 24h") {
		t.Errorf("a 48h interval is viewed without error: %v", v.Err)
	}
	if v := viewEntra("not json"); v.Err == nil {
		t.Error("a corrupt config is viewed without error")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	err := Config{PathPrefix: "console/", SessionCookie: "a;b", LoginURL: "javascript:alert(1)", PublicURL: "sso.example.com",
		ReauthAge: -1}.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"path prefix", "session cookie", "login URL", "public URL", "negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("the password must have at least 12 characters: %w: %w", store.ErrPasswordPolicy, store.ErrInvalid), "The password must have at least 12 characters."},
		{fmt.Errorf("user %q: %w", "bob", store.ErrExists), `User "bob": already exists.`},
		{fmt.Errorf("group %q: %w", "x", store.ErrNotFound), `Group "x": not found.`},
	} {
		if got := message(tc.err); got != tc.want {
			t.Errorf("message(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestSafeReturn(t *testing.T) {
	s := &server{cfg: Config{}.withDefaults()}
	good := []string{"/console/", "/console/users?q=a", "/console/applications/4"}
	bad := []string{"", "/", "//evil.example/console/", "https://evil.example/console/", "/console/../admin", "/consolex", "/console\\@evil", "/console/\r\nx"}
	for _, d := range good {
		if !s.safeReturn(d) {
			t.Errorf("%q refused", d)
		}
	}
	for _, d := range bad {
		if s.safeReturn(d) {
			t.Errorf("%q accepted", d)
		}
	}
}

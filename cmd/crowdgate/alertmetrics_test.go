package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
)

// metricName finds the crowdgate metric names an alert rule or a dashboard query uses.
var metricName = regexp.MustCompile(`\bcrowdgate_[a-z0-9_]+`)

// TestAlertAndDashboardMetricsExist checks that every crowdgate metric named in the alert rules
// and the Grafana dashboard is served by a running server's /metrics, so a renamed or removed
// metric cannot silently disable an alert or empty a panel.
func TestAlertAndDashboardMetricsExist(t *testing.T) {
	want := map[string][]string{}
	for _, f := range []string{"deploy/prometheus/crowdgate-rules.yml", "deploy/grafana/crowdgate.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricName.FindAllString(string(b), -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if strings.HasSuffix(m, suffix) && m != "crowdgate_sync_changes_total" {
					m = strings.TrimSuffix(m, suffix)
				}
			}
			if !slices.Contains(want[m], f) {
				want[m] = append(want[m], f)
			}
		}
	}
	if len(want) < 15 {
		t.Fatalf("found only %d metric names in the rules and the dashboard: %v", len(want), want)
	}

	// SAML sign-in configured from a metadata file, for the certificate and metadata families.
	metadata := filepath.Join(t.TempDir(), "idp.xml")
	idpCert := samltest.NewKey(t, "Microsoft Azure Federated SSO Certificate").Cert
	if err := os.WriteFile(metadata, samltest.EntraMetadata("https://sts.windows.net/tenant/", "https://login.example/saml2",
		"https://login.example/saml2", idpCert), 0o600); err != nil {
		t.Fatal(err)
	}
	e := dbEnv(t, "sqlite").with("CROWDGATE_LISTEN", "127.0.0.1:0", "CROWDGATE_HEALTH_LISTEN", "127.0.0.1:0",
		"CROWDGATE_BASE_URL", "http://127.0.0.1:8095", "CROWDGATE_SAML_IDP_METADATA_FILE", metadata)
	// An Entra ID directory that signs in with a client certificate, for the Entra credential expiry.
	entraKey := samltest.NewKey(t, "crowdgate sync")
	certFile := filepath.Join(t.TempDir(), "entra.pem")
	if err := os.WriteFile(certFile, append(entraKey.CertPEM(), entraKey.KeyPEM()...), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, e, "", "directory", "add", "entra", "Fabrikam", "--tenant", "fabrikam.onmicrosoft.com",
		"--client-id", "11111111-2222-3333-4444-555555555555", "--certificate", certFile)
	srv := startServer(t, e)
	// An Entra ID directory, for the per-directory families, and one request, for the request families.
	st := openStore(t, e)
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
	if _, err := st.CreateDirectory(ctx, store.Directory{Name: "Contoso", Kind: store.DirectoryAzureAD, Active: true,
		Config: `{"sync_interval":"30m"}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateApplication(ctx, store.NewApplication{Name: "jira", Kind: "JIRA", Password: "jira-password-1", Active: true,
		LicenceLimit: 10, Mappings: []store.Mapping{{DirectoryID: 1, AllowAll: true}}}); err != nil {
		t.Fatal(err)
	}
	if r := crowdCall(t, "http://"+srv.addrs.Main, "nobody", "wrong", http.MethodGet, "/user?username=x", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("unauthenticated Crowd call = %d, want 401", r.Status)
	}
	body := scrapeMetrics(t, "http://"+srv.addrs.Health+"/metrics")
	for name, files := range want {
		if !regexp.MustCompile(`(?m)^` + name + `(_bucket|_sum|_count)?[{ ]`).MatchString(body) {
			t.Errorf("%s (used in %s) is not in /metrics", name, strings.Join(files, ", "))
		}
	}
	if want := `crowdgate_certificate_expiry_timestamp_seconds{role="saml_idp_signing",subject="CN=Microsoft Azure Federated SSO Certificate"}`; metricValue(body, want) != float64(idpCert.NotAfter.Unix()) {
		t.Errorf("/metrics lacks %s:\n%s", want, regexp.MustCompile(`(?m)^crowdgate_cert.*$`).FindAllString(body, -1))
	}
	if want := `crowdgate_certificate_expiry_timestamp_seconds{role="entra_client",subject="Fabrikam: CN=crowdgate sync"}`; metricValue(body, want) != float64(entraKey.Cert.NotAfter.Unix()) {
		t.Errorf("/metrics lacks %s:\n%s", want, regexp.MustCompile(`(?m)^crowdgate_cert.*$`).FindAllString(body, -1))
	}
	if !strings.Contains(body, `crowdgate_sync_interval_seconds{directory="Contoso"} 1800`) {
		t.Error("crowdgate_sync_interval_seconds does not report Contoso's 30 minutes")
	}
}

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// get fetches url and returns the status and body.
func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var passwordLine = regexp.MustCompile(`password: (\S+)`)

// TestServe starts the whole server on free ports with a new database, checks what it serves,
// and stops it by cancelling its context.
func TestServe(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := dbEnv(t, dialect).with("CROWDGATE_LISTEN", "127.0.0.1:0", "CROWDGATE_HEALTH_LISTEN", "127.0.0.1:0")
		srv := startServer(t, e)
		base := "http://" + srv.addrs.Main

		// First start: the administrator's generated password is printed once, and works.
		password, st, dir := firstStart(t, srv, e)
		ctx := t.Context()
		admin, err := st.UserByName(ctx, dir.ID, "admin")
		if err != nil {
			t.Fatalf("no admin user: %v", err)
		}
		if err := st.CheckPassword(ctx, admin, password); err != nil {
			t.Errorf("the printed password does not authenticate admin: %v", err)
		}
		if _, err := st.GroupByName(ctx, dir.ID, "crowdgate-admins"); err != nil {
			t.Errorf("no crowdgate-admins group: %v", err)
		}
		if strings.Contains(srv.stderr.String(), password) {
			t.Error("the generated password is in the log")
		}

		for _, url := range []string{base + "/healthz", base + "/readyz", "http://" + srv.addrs.Health + "/healthz", "http://" + srv.addrs.Health + "/readyz"} {
			if code, body := get(t, http.DefaultClient, url); code != http.StatusOK || body != "ok\n" {
				t.Errorf("GET %s = %d %q, want 200 ok", url, code, body)
			}
		}
		// The Crowd REST API answers under its prefix (whatever it says without credentials).
		code, _ := get(t, http.DefaultClient, base+"/crowd/rest/usermanagement/1/search?entity-type=user")
		t.Logf("Crowd REST without credentials: %d", code)
		if code == 0 {
			t.Error("no answer from the Crowd REST API")
		}
		// The health listener serves nothing else.
		if code, _ := get(t, http.DefaultClient, "http://"+srv.addrs.Health+"/crowd/rest/usermanagement/1/search"); code != http.StatusNotFound {
			t.Errorf("health listener serves the Crowd API: %d", code)
		}
		if code, _ := get(t, http.DefaultClient, base+"/nothing-here"); code != http.StatusNotFound {
			t.Errorf("unknown path: %d, want 404", code)
		}

		// The client's idle keep-alive connections do not hold shutdown up.
		if err := srv.stop(); err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
		if !strings.Contains(srv.stderr.String(), "msg=stopped") {
			t.Errorf("no final log line:\n%s", srv.stderr.String())
		}
		if c, err := net.DialTimeout("tcp", srv.addrs.Main, time.Second); err == nil {
			c.Close()
			t.Error("the main listener still accepts connections after shutdown")
		}

		// Second start on the same database: no new administrator, no password printed, and a
		// configured password is ignored (with a note).
		srv2 := startServer(t, e.with("CROWDGATE_ADMIN_PASSWORD", "another-password"))
		if strings.Contains(srv2.stdout.String(), "password") {
			t.Errorf("second start printed a password:\n%s", srv2.stdout.String())
		}
		if !strings.Contains(srv2.stderr.String(), "CROWDGATE_ADMIN_PASSWORD is ignored") {
			t.Errorf("no note that CROWDGATE_ADMIN_PASSWORD is ignored:\n%s", srv2.stderr.String())
		}
	})
}

// TestServeStopsOnSIGTERM sends the process SIGTERM, as systemd and docker do: the server shuts
// down gracefully and run returns nil (exit status 0).
func TestServeStopsOnSIGTERM(t *testing.T) {
	_, srv := startSQLite(t)
	// serve registered for SIGTERM before it reported its listeners, so the signal cannot kill the
	// test binary; and no other test runs a server at the same time (this test is not parallel).
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-srv.done:
		srv.cancel()
		srv.cancel = nil // stopped already: the cleanup must not wait for it
		if err != nil {
			t.Errorf("run after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server still running 30s after SIGTERM")
	}
	if !strings.Contains(srv.stderr.String(), "shutting down") {
		t.Errorf("no shutdown in the log:\n%s", srv.stderr.String())
	}
}

func TestServeAdminPasswordFromEnvironment(t *testing.T) {
	e := dbEnv(t, storetest.Dialect()).with("CROWDGATE_LISTEN", "127.0.0.1:0", "CROWDGATE_ADMIN_PASSWORD", "operator-chosen-1", "CROWDGATE_LOG_FORMAT", "json")
	srv := startServer(t, e)
	if out := srv.stdout.String(); out != "" {
		t.Errorf("stdout with a configured password: %q", out)
	}
	if strings.Contains(srv.stderr.String(), "operator-chosen-1") {
		t.Error("the configured password is in the log")
	}
	if !strings.Contains(srv.stderr.String(), `"msg":"listening"`) {
		t.Errorf("log is not JSON:\n%s", srv.stderr.String())
	}
	st := openStore(t, e)
	dir, _ := st.EnsureInternalDirectory(t.Context())
	admin, err := st.UserByName(t.Context(), dir.ID, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CheckPassword(t.Context(), admin, "operator-chosen-1"); err != nil {
		t.Errorf("CROWDGATE_ADMIN_PASSWORD does not authenticate admin: %v", err)
	}
}

func TestServeNoAdminWhenAppsExist(t *testing.T) {
	e := dbEnv(t, storetest.Dialect())
	mustRun(t, e, "", "app", "add", "jira")
	srv := startServer(t, e.with("CROWDGATE_LISTEN", "127.0.0.1:0"))
	if strings.Contains(srv.stdout.String(), "password") {
		t.Errorf("an administrator was created on a database with an application:\n%s", srv.stdout.String())
	}
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	e := dbEnv(t, "sqlite").with("CROWDGATE_LISTEN", "127.0.0.1:0", "CROWDGATE_TLS_CERT", certFile, "CROWDGATE_TLS_KEY", keyFile)
	srv := startServer(t, e)
	if !srv.addrs.TLS {
		t.Fatal("listener is not TLS")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	if code, _ := get(t, client, "https://"+srv.addrs.Main+"/healthz"); code != http.StatusOK {
		t.Errorf("HTTPS /healthz = %d", code)
	}
	// Go's TLS server answers plain HTTP with a 400, which is fine; a 200 would not be.
	if resp, err := http.Get("http://" + srv.addrs.Main + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the TLS listener")
		}
	}

	// Unreadable key material fails the start, naming the settings.
	bad := dbEnv(t, "sqlite").with("CROWDGATE_LISTEN", "127.0.0.1:0", "CROWDGATE_TLS_CERT", filepath.Join(dir, "missing.pem"), "CROWDGATE_TLS_KEY", keyFile)
	r := runCmd(t, bad, "", "serve")
	if r.err == nil || !strings.Contains(r.err.Error(), "CROWDGATE_TLS_CERT") {
		t.Errorf("missing certificate: %v", r.err)
	}
}

// selfSigned writes a certificate for localhost and its key, and returns a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := runCmd(t, dbEnv(t, "sqlite").with("CROWDGATE_LISTEN", ln.Addr().String()), "", "serve")
	if r.err == nil || !strings.Contains(r.err.Error(), "main listener") {
		t.Errorf("port in use: %v", r.err)
	}
}

func TestServeInvalidConfiguration(t *testing.T) {
	r := runCmd(t, env{"CROWDGATE_LISTEN": "nowhere", "CROWDGATE_LOG_LEVEL": "loud"}, "", "serve")
	if r.err == nil || !strings.Contains(r.err.Error(), "CROWDGATE_LISTEN") || !strings.Contains(r.err.Error(), "CROWDGATE_LOG_LEVEL") {
		t.Errorf("invalid configuration: %v", r.err)
	}
	if exitCode(r.err) != 1 {
		t.Errorf("exit code %d", exitCode(r.err))
	}
}

// TestGracefulShutdown checks that an in-flight request finishes during shutdown, while new
// connections are refused, and that the timeout closes a request that does not finish.
func TestGracefulShutdown(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "finished")
	})
	cfg := config.Config{Listen: "127.0.0.1:0", ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	servers, err := newServers(cfg, h, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := bind(servers)
	if err != nil {
		t.Fatal(err)
	}
	go servers[0].serve()

	type reply struct {
		body string
		err  error
	}
	replies := make(chan reply, 1)
	go func() {
		resp, err := http.Get("http://" + addrs.Main + "/slow")
		if err != nil {
			replies <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		replies <- reply{string(b), err}
	}()
	<-entered

	var wg sync.WaitGroup
	wg.Go(func() { shutdown(context.Background(), servers, 30*time.Second, log) })
	// Wait until the listener is closed: new connections are refused while the request runs.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addrs.Main, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still open 10s into shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	r := <-replies
	if r.err != nil || r.body != "finished" {
		t.Errorf("in-flight request: %q, %v; want it to finish", r.body, r.err)
	}
	wg.Wait()

	// A request that outlives the timeout is cut off, and shutdown returns.
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done()
	})
	servers, err = newServers(cfg, stuck, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if addrs, err = bind(servers); err != nil {
		t.Fatal(err)
	}
	go servers[0].serve()
	go func() {
		_, err := http.Get("http://" + addrs.Main + "/stuck")
		replies <- reply{err: err}
	}()
	<-entered
	start := time.Now()
	shutdown(context.Background(), servers, 200*time.Millisecond, log)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %s with a 200ms timeout", d)
	}
	if r := <-replies; r.err == nil {
		t.Error("a request past the shutdown timeout completed")
	}
}

func TestServerTimeouts(t *testing.T) {
	cf := config.AddFlags(flag.NewFlagSet("test", flag.ContinueOnError), config.ScopeServe)
	cfg, err := cf.Load(env{"CROWDGATE_HEALTH_LISTEN": "127.0.0.1:0"}.getenv)
	if err != nil {
		t.Fatal(err)
	}
	servers, err := newServers(cfg, http.NotFoundHandler(), http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 {
		t.Fatalf("%d servers, want main and health", len(servers))
	}
	for _, s := range servers {
		if s.srv.ReadHeaderTimeout <= 0 || s.srv.ReadTimeout <= 0 || s.srv.WriteTimeout <= 0 || s.srv.IdleTimeout <= 0 {
			t.Errorf("%s listener lacks a timeout: header %s, read %s, write %s, idle %s", s.name,
				s.srv.ReadHeaderTimeout, s.srv.ReadTimeout, s.srv.WriteTimeout, s.srv.IdleTimeout)
		}
	}
}

func TestReadyzDatabaseDown(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	h := healthRoutes(config.Config{}, st, nil, slog.New(slog.DiscardHandler))
	srv := &http.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	if code, _ := get(t, http.DefaultClient, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d before the database closed", code)
	}
	st.Close()
	if code, body := get(t, http.DefaultClient, base+"/readyz"); code != http.StatusServiceUnavailable || strings.Contains(body, "sql") {
		t.Errorf("/readyz with the database closed = %d %q, want 503 without details", code, body)
	}
	if code, _ := get(t, http.DefaultClient, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with the database closed = %d, want 200 (the process is up)", code)
	}
	resp, err := http.Post(base+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
	}
}

func TestRedactDatabaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://crowdgate:s3cret@db:5432/crowdgate?sslmode=disable&password=x": "postgres://crowdgate@db:5432/crowdgate",
		"data/crowdgate.db": "data/crowdgate.db",
	} {
		if got := redactDatabaseURL(in); got != want {
			t.Errorf("redactDatabaseURL(%q) = %q, want %q", in, got, want)
		}
	}
}

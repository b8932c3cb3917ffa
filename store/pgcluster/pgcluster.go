// Package pgcluster starts a private, throw-away PostgreSQL server for fault tests: one that a
// test may stop and restart without disturbing the shared server other tests use.
package pgcluster

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a PostgreSQL server in a temporary directory.
type Cluster struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	as   string // run the binaries as this user (root may not run PostgreSQL)
}

// Start initialises and starts a cluster, or skips the test when PostgreSQL's binaries are not
// installed (CI installs them; then a failure to start fails the test).
func Start(t testing.TB) *Cluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Skip("pgcluster: PostgreSQL server binaries not installed")
	}
	c := &Cluster{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		c.as = "postgres"
	}
	dir, err := os.MkdirTemp("", "crowdgate-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "stop")
		os.RemoveAll(dir)
	})
	if c.as != "" {
		if out, err := exec.Command("chown", "-R", c.as, dir).CombinedOutput(); err != nil {
			t.Fatalf("pgcluster: chown: %v %s", err, out)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	if out, err := c.run("initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		t.Fatalf("pgcluster: initdb: %v\n%s", err, out)
	}
	c.Start()
	return c
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) run(name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if c.as != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.as, "--", filepath.Join(c.bin, name)}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// URL is the DSN of the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start (re)starts the server and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	opts := strings.Join([]string{"-p", strconv.Itoa(c.port), "-k", c.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"}, " ")
	if out, err := c.run("pg_ctl", "-D", c.data(), "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		c.t.Fatalf("pgcluster: start: %v\n%s\n%s", err, out, log)
	}
	for i := 0; i < 100; i++ {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.port), 100*time.Millisecond); err == nil {
			conn.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatal("pgcluster: server did not start")
}

// Stop stops the server at once, dropping every connection (a crash as clients see it).
func (c *Cluster) Stop() {
	c.t.Helper()
	if out, err := c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop"); err != nil {
		c.t.Fatalf("pgcluster: stop: %v\n%s", err, out)
	}
}

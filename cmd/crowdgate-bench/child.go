package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// child is the server under test, running as a child process.
type child struct {
	cmd          *exec.Cmd
	stdin        io.WriteCloser
	ready        childReady
	spawnToReady time.Duration // exec to the first 200 from /readyz, seen from here
	started      time.Time
	http         *http.Client
	done         chan error
}

func startChild(ctx context.Context, dbURL string, o options) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{childArg, "-db", dbURL}
	if o.pprof {
		args = append(args, "-pprof")
	}
	args = append(args, "-access-flush", o.accessFlush.String())
	if o.cacheTTL > 0 {
		args = append(args, "-session-cache-ttl", o.cacheTTL.String())
	}
	if o.pwWorkers > 0 {
		args = append(args, "-password-workers", fmt.Sprint(o.pwWorkers))
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = os.Environ()
	if o.serverProcs > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", o.serverProcs))
	}
	if o.serverGOGC != "" {
		cmd.Env = append(cmd.Env, "GOGC="+o.serverGOGC)
	}
	if o.serverMemLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+o.serverMemLimit)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, started: t0, http: &http.Client{Timeout: 5 * time.Minute}, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	go func() { c.done <- cmd.Wait() }()
	select {
	case line, ok := <-lines:
		if !ok {
			c.stop()
			return nil, fmt.Errorf("bench server exited before it was ready")
		}
		if err := json.Unmarshal([]byte(line), &c.ready); err != nil {
			c.stop()
			return nil, fmt.Errorf("bench server: %q: %w", line, err)
		}
	case <-time.After(2 * time.Minute):
		c.stop()
		return nil, fmt.Errorf("bench server not ready after 2 minutes")
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
	for {
		res, err := c.http.Get(c.url("/readyz"))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Since(t0) > time.Minute {
			c.stop()
			return nil, fmt.Errorf("bench server: /readyz not 200 after a minute: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.spawnToReady = time.Since(t0)
	return c, nil
}

func (c *child) pid() int            { return c.ready.PID }
func (c *child) url(p string) string { return "http://" + c.ready.Addr + p }

func (c *child) stats() (serverStats, error) {
	var s serverStats
	res, err := c.http.Get(c.url("/bench/stats"))
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	return s, json.NewDecoder(res.Body).Decode(&s)
}

func (c *child) closeIdle() error {
	res, err := c.http.Post(c.url("/bench/close-idle"), "text/plain", nil)
	if err != nil {
		return err
	}
	res.Body.Close()
	return nil
}

// profile fetches a profile into path: "profile?seconds=N" (CPU) or "allocs".
func (c *child) profile(kind, path string) error {
	res, err := c.http.Get(c.url("/debug/pprof/" + kind))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("pprof %s: %s %s", kind, res.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stop ends the child gracefully (stdin closed), then by force.
func (c *child) stop() error {
	c.stdin.Close()
	select {
	case err := <-c.done:
		return err
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		return <-c.done
	}
}

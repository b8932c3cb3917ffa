package instances_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Deadlines: generous, because the machine is small and shared. Everything polls.
const (
	startTimeout = 60 * time.Second // process start to /readyz (a race-enabled binary starts slowly under load)
	exitTimeout  = 30 * time.Second
	pollEvery    = 5 * time.Millisecond
)

// proc is one crowdgate process.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  *lineLog // standard error: the slog text log
	out  *lineLog // standard output

	done    chan struct{} // closed once the process has exited
	state   *os.ProcessState
	started time.Time
	exited  time.Time
}

// procEnv is the environment of a child: the test's own, minus every CROWDGATE_ variable (a
// developer's settings must not leak in), plus vars.
func procEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CROWDGATE_") {
			env = append(env, kv)
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// launch starts "crowdgate serve" with vars on a free port of 127.0.0.1 and returns at once; use
// ready to wait for it. The process is killed, if still running, when the test ends, and its log
// is shown if the test failed.
func launch(t *testing.T, name string, vars map[string]string) *proc {
	t.Helper()
	v := map[string]string{"CROWDGATE_LISTEN": "127.0.0.1:0", "CROWDGATE_PASSWORD_WORKERS": "1"}
	for k, x := range vars {
		v[k] = x
	}
	p := &proc{t: t, name: name, log: newLineLog(), out: newLineLog(), done: make(chan struct{})}
	p.cmd = exec.Command(binary, "serve")
	p.cmd.Env = procEnv(v)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.log
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: start crowdgate: %v", name, err)
	}
	go func() {
		p.cmd.Wait() // the exit status is in ProcessState
		p.state, p.exited = p.cmd.ProcessState, time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.running() {
			p.cmd.Process.Kill()
			<-p.done
		}
		if strings.Contains(p.log.String(), "WARNING: DATA RACE") {
			t.Errorf("%s: the race detector reported a data race:\n%s", name, p.log.String())
		} else if t.Failed() {
			t.Logf("%s (pid %d) log:\n%s", name, p.cmd.Process.Pid, p.log.String())
		}
	})
	return p
}

// start launches a process and waits until it is ready.
func start(t *testing.T, name string, vars map[string]string) *proc {
	t.Helper()
	p := launch(t, name, vars)
	p.ready()
	return p
}

// ready waits for the listening address in the log, then for /readyz to answer 200.
func (p *proc) ready() {
	p.t.Helper()
	deadline := time.Now().Add(startTimeout)
	addr := p.addr(deadline)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.t.Logf("%s (pid %d) ready on %s after %s", p.name, p.pid(), addr, time.Since(p.started).Round(time.Millisecond))
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: /readyz not 200 within %s: %v", p.name, startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var listeningLine = regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)

// addr is the main listener's address, read from the "listening" log line.
func (p *proc) addr(deadline time.Time) string {
	p.t.Helper()
	for {
		if m := listeningLine.FindStringSubmatch(p.log.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			p.t.Fatalf("%s exited before listening (%s):\n%s", p.name, p.state, p.log.String())
		case <-p.log.changed():
		case <-time.After(time.Until(deadline)):
			p.t.Fatalf("%s: no listening address in the log within %s", p.name, startTimeout)
		}
	}
}

// base is the process's root URL.
func (p *proc) base() string { return "http://" + p.addr(time.Now().Add(startTimeout)) }

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig; it does not wait.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("%s: %s: %v", p.name, sig, err)
	}
}

// wait waits for the process to exit and returns its state.
func (p *proc) wait(timeout time.Duration) *os.ProcessState {
	p.t.Helper()
	select {
	case <-p.done:
		return p.state
	case <-time.After(timeout):
		p.t.Fatalf("%s still running %s after it was told to stop", p.name, timeout)
		return nil
	}
}

// kill ends the process with SIGKILL and waits until it is gone.
func (p *proc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	p.wait(exitTimeout)
}

// closed reports whether the main listener refuses new connections.
func (p *proc) closed() bool {
	c, err := net.DialTimeout("tcp", p.addr(time.Now()), 200*time.Millisecond)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// cli runs a crowdgate command against the database and returns its standard output.
func cli(t *testing.T, dbURL, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = procEnv(map[string]string{"CROWDGATE_DATABASE_URL": dbURL, "CROWDGATE_PASSWORD_WORKERS": "1"})
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("crowdgate %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// lineLog collects a process's output and wakes waiters when it grows.
type lineLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
}

func newLineLog() *lineLog { return &lineLog{notify: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.notify)
	l.notify = make(chan struct{})
	return len(p), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// changed is closed at the next write.
func (l *lineLog) changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.notify
}

// count is how many lines contain s.
func (l *lineLog) count(s string) int {
	n := 0
	for line := range strings.Lines(l.String()) {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds or timeout passes, and returns how long it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(pollEvery)
	}
	return time.Since(start)
}

// exitStatus describes how a process ended, for messages.
func exitStatus(st *os.ProcessState) string {
	if st == nil {
		return "still running"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("killed by %s", ws.Signal())
	}
	return fmt.Sprintf("exit status %d", st.ExitCode())
}

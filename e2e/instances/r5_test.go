package instances_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
)

const shutdownTimeout = 15 * time.Second

// TestSIGTERMGracefulShutdown is R5 with a real process: SIGTERM arrives while a large membership
// list is being read slowly, a session validation's body is still arriving and a delta sync is
// half-way through its reading. The requests finish, the validation's last-access time reaches the
// database, the sync stops with its run closed as failed and the replica untouched (a delta round is
// read whole before it writes), and the process exits 0 in time.
func TestSIGTERMGracefulShutdown(t *testing.T) {
	t.Parallel()
	dbURL := needPostgres(t)
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, 0x5235))
	tenant := fakegraph.Generate(int64(s%1000), 2000, 50, 20000, 2)
	ent := newEntra(t, tenant, 0)
	const dirName = "Contoso Entra ID"
	dir := createEntraDirectory(t, dbURL, dirName)
	cli(t, dbURL, userPassword+"\n", "user", "add", "alice", "--password-stdin")
	cli(t, dbURL, appPassword+"\n", "app", "add", "jira", "--kind", "jira", "--directory", "Internal", "--directory", dirName, "--password-stdin")
	vars := map[string]string{"CROWDGATE_DATABASE_URL": dbURL, "CROWDGATE_SHUTDOWN_TIMEOUT": shutdownTimeout.String()}
	maps.Copy(vars, ent.env())
	d := openDB(t, dbURL)

	// A first process replicates the tenant, and stops on SIGTERM while idle.
	p := start(t, "initial", vars)
	d.waitRun(dir, 0, 120*time.Second)
	p.signal(syscall.SIGTERM)
	if st := p.wait(exitTimeout); st.ExitCode() != 0 {
		t.Fatalf("idle process after SIGTERM: %s", exitStatus(st))
	}

	// The tenant changes; the next process starts a delta round at once, which reads its first
	// page and then waits for the second one, which Graph does not answer: SIGTERM lands in it.
	before := d.replica(dir)
	changes := mutate(t, tenant, rng, 1)
	states := deltaStates(before, changes, truth(tenant))
	ent.reset(nil)
	ent.hold.Store(2)
	last := d.lastRun(dir).ID
	p = start(t, "serving", vars)
	c := newCrowd(t, p, "jira", appPassword)
	token := c.createSession("alice", userPassword)
	var created time.Time
	if err := d.conn.QueryRow(t.Context(), "SELECT last_access_at FROM sessions WHERE token_hash = $1", store.HashToken(token)).Scan(&created); err != nil {
		t.Fatal(err)
	}
	// Access times are written truncated to the second: validate in a later one.
	time.Sleep(time.Until(created.Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))

	// The users pages of the delta round change no membership: the list has them all.
	want := d.int("SELECT count(*) FROM user_memberships") + d.int("SELECT count(*) FROM group_memberships")
	members := openSlowRead(t, p, "/crowd/rest/usermanagement/1/group/membership")
	validation := openSlowBody(t, p, "/crowd/rest/usermanagement/1/session/"+token, prolog+factors)
	eventually(t, 60*time.Second, "the delta round reads its first page and asks for the next", func() bool {
		return ent.served.Load() >= 2 && d.lastRun(dir).Status == store.SyncRunning
	})

	sent := time.Now()
	p.signal(syscall.SIGTERM)
	eventually(t, 10*time.Second, "the listener closes after SIGTERM", p.closed)
	t.Logf("SIGTERM: listener closed after %s", time.Since(sent).Round(time.Millisecond))

	// The validation whose body was still arriving completes after the listener closed.
	validatedAt := time.Now()
	if code, body := validation.finish(); code != http.StatusOK {
		t.Errorf("in-flight validation answered %d after SIGTERM, want 200\n%s", code, body)
	}
	// The membership list being read arrives whole. The process waits for it while it is still
	// writing; once the rest fits in the kernel's socket buffers (how much does depends on the
	// kernel's buffer tuning), the handler is done and the process may exit before the client
	// has read it all: both are a finished request.
	t.Logf("after SIGTERM, with the list partly read, the process is running: %v", p.running())
	n, size := members.finish()
	t.Logf("membership list: %d bytes, %d read before SIGTERM; %d memberships", size, len(members.head), n)
	if int64(n) != want {
		t.Errorf("the in-flight membership list holds %d memberships, want %d", n, want)
	}

	st := p.wait(shutdownTimeout + 5*time.Second)
	took := p.exited.Sub(sent)
	t.Logf("exit after SIGTERM: %s in %s (shutdown timeout %s)", exitStatus(st), took.Round(time.Millisecond), shutdownTimeout)
	if st.ExitCode() != 0 || took > shutdownTimeout {
		t.Errorf("after SIGTERM: %s in %s, want exit status 0 within %s", exitStatus(st), took, shutdownTimeout)
	}

	// The last access of the validation that ran during shutdown was written by the final flush.
	m := regexp.MustCompile(`msg=stopped flushed_sessions=(\d+)`).FindStringSubmatch(p.log.String())
	if m == nil || m[1] == "0" {
		t.Errorf("no final flush of session access times in the log (%q)", m)
	}
	var access time.Time
	if err := d.conn.QueryRow(t.Context(), "SELECT last_access_at FROM sessions WHERE token_hash = $1", store.HashToken(token)).Scan(&access); err != nil {
		t.Fatal(err)
	}
	t.Logf("session last access: created %s, validated during shutdown %s, stored %s", created.Format(time.StampMilli),
		validatedAt.Format(time.StampMilli), access.Format(time.StampMilli))
	if !access.After(created) || access.Before(validatedAt.Truncate(time.Second)) {
		t.Errorf("session last access %s after a validation at %s: the final flush did not write it", access, validatedAt)
	}

	// The sync stopped at a safe point: its run is closed, the replica as it was before the round.
	run := d.runs(dir)
	r := run[len(run)-1]
	if r.ID <= last || r.Status != store.SyncFailed || r.Finished == nil {
		t.Errorf("the interrupted run is recorded as %+v, want it closed as %s", r, store.SyncFailed)
	}
	d.checkIntegrity(dir)
	got := d.replica(dir)
	j := slices.IndexFunc(states, func(s replica) bool { return diff(got, s) == "" })
	t.Logf("sync stopped by SIGTERM: run %d %s (%.80s); replica is the state after %d of %d pages", r.ID, r.Status, r.Errors, j, len(states)-1)
	if j != 0 {
		t.Errorf("after SIGTERM while reading page 2 the replica is not the state before the round; against it:\n%s", diff(got, states[0]))
	}

	// The next process completes the round.
	ent.hold.Store(0)
	p = start(t, "after", vars)
	// It reads the same delta round again, from the links the interrupted one left unmoved.
	if run := d.waitRun(dir, r.ID, 120*time.Second); run.Mode != store.SyncModeDelta {
		t.Errorf("run after the interrupted delta round: %s, want %s", run.Mode, store.SyncModeDelta)
	}
	if df := diff(d.replica(dir), truth(tenant)); df != "" {
		t.Errorf("replica after the next run differs from the tenant:\n%s", df)
	}
	p.signal(syscall.SIGTERM)
	if st := p.wait(exitTimeout); st.ExitCode() != 0 {
		t.Errorf("last process after SIGTERM: %s", exitStatus(st))
	}
}

// basicAuth is the Authorization header of the test application.
func basicAuth() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("jira:"+appPassword))
}

// slowRead is a GET whose response is read slowly: a small receive buffer, a first part read at
// once, the rest only when finish is called.
type slowRead struct {
	t    *testing.T
	conn net.Conn
	body io.Reader
	head []byte // read before finish
}

func openSlowRead(t *testing.T, p *proc, path string) *slowRead {
	t.Helper()
	dialer := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			// A small window: the server's writes block long before the list is sent.
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := dialer.DialContext(context.Background(), "tcp", p.addr(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nAccept: application/xml\r\nConnection: close\r\n\r\n",
		path, p.addr(time.Now()), basicAuth())
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 1024), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", path, resp.StatusCode)
	}
	s := &slowRead{t: t, conn: conn, body: resp.Body, head: make([]byte, 8192)}
	if _, err := io.ReadFull(resp.Body, s.head); err != nil {
		t.Fatalf("GET %s: first bytes: %v", path, err)
	}
	return s
}

// finish reads the rest and returns the number of memberships (user and group members) in the
// whole list, and its size; a cut-off or malformed list fails the test.
func (s *slowRead) finish() (members, size int) {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	rest, err := io.ReadAll(s.body)
	if err != nil {
		s.t.Fatalf("reading the rest of the membership list: %v", err)
	}
	all := append(s.head, rest...)
	var doc struct {
		Memberships []struct {
			Users  []struct{} `xml:"users>user"`
			Groups []struct{} `xml:"groups>group"`
		} `xml:"membership"`
	}
	if err := xml.Unmarshal(all, &doc); err != nil {
		s.t.Fatalf("the membership list (%d bytes) is not a whole document: %v; it ends %q", len(all), err, all[max(0, len(all)-80):])
	}
	for _, m := range doc.Memberships {
		members += len(m.Users) + len(m.Groups)
	}
	return members, len(all)
}

// slowBody is a POST whose body arrives in two parts.
type slowBody struct {
	t    *testing.T
	conn net.Conn
	rest string
}

func openSlowBody(t *testing.T, p *proc, path, body string) *slowBody {
	t.Helper()
	conn, err := net.DialTimeout("tcp", p.addr(time.Now()), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	half := len(body) / 2
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nAccept: application/xml\r\n"+
		"Content-Type: application/xml; charset=UTF-8\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s",
		path, p.addr(time.Now()), basicAuth(), strconv.Itoa(len(body)), body[:half])
	return &slowBody{t: t, conn: conn, rest: body[half:]}
}

// finish sends the rest of the body and returns the answer.
func (s *slowBody) finish() (int, string) {
	s.t.Helper()
	s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(s.conn, s.rest); err != nil {
		s.t.Fatalf("sending the rest of the body: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(s.conn), nil)
	if err != nil {
		s.t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

package fakegraph

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	Token       string // bearer token every request must carry; default "test-token"
	PageSize    int    // objects per delta page unless the request says "Prefer: odata.maxpagesize=N"; default 100
	MemberChunk int    // members@delta entries per group object on one page; default 100

	// Switchable behaviours of the real service (all off by default):
	RepeatObjects       bool   // every page after the first starts with the previous page's last object again
	SpreadChunks        bool   // a big group's member chunks after the first come at the end of the round
	RemovedInFullRounds bool   // a round without a token also reports deleted objects, with "@removed"
	LinkHostname        string // next and delta links name this host (same port), e.g. "localhost"
}

// Request is one request as the server saw it.
type Request struct {
	Method        string
	Path          string // as sent, e.g. /v1.0/users/delta()
	Query         string // raw query
	Authorization string
	Prefer        string
	Status        int  // status answered
	Reset         bool // the connection was cut in the middle of the body
}

// Server is a fake Microsoft Graph v1.0 on 127.0.0.1 serving users and groups delta queries from a
// Tenant: /v1.0/users/delta, /users/delta() and /users/microsoft.graph.delta() (and the same for
// groups), paged with absolute @odata.nextLink / @odata.deltaLink URLs that point back to it.
// Every request must carry the bearer token (401 InvalidAuthenticationToken otherwise); faults can
// be queued with FailNext; every request is recorded.
type Server struct {
	srv    *httptest.Server
	tenant *Tenant
	opts   Options

	mu       sync.Mutex
	token    string          // the bearer token accepted now (SetToken)
	expired  map[string]bool // tokens accepted before: answered as expired
	faults   []Fault
	eachOnce *Fault          // see ThrottleEachOnce
	seenURLs map[string]bool // URLs already answered with eachOnce
	every    int             // see ThrottleEvery
	everyF   Fault
	served   int // requests with a valid token, for ThrottleEvery
	reqs     []Request
}

// New starts a Server for tenant (nil: a new empty one). Close it when done.
func New(tenant *Tenant, opts Options) *Server {
	if tenant == nil {
		tenant = NewTenant()
	}
	if opts.Token == "" {
		opts.Token = "test-token"
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	if opts.MemberChunk <= 0 {
		opts.MemberChunk = 100
	}
	s := &Server{tenant: tenant, opts: opts, token: opts.Token, expired: map[string]bool{}}
	s.srv = httptest.NewServer(s)
	return s
}

// BaseURL is the service root to configure a client with, e.g. http://127.0.0.1:41234/v1.0.
func (s *Server) BaseURL() string { return s.srv.URL + "/v1.0" }

// Token is the bearer token the server expects now.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// SetToken makes the server expect a new bearer token, as when an access token expires in the
// middle of a run: the old one is answered 401 InvalidAuthenticationToken "Lifetime validation
// failed, the token is expired." until the client fetches a new one.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token != s.token {
		s.expired[s.token], s.token = true, token
	}
}

// Tenant is the directory the server serves; mutate it between (or during) rounds.
func (s *Server) Tenant() *Tenant { return s.tenant }

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Requests returns the requests seen so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
	reset  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// ServeHTTP answers one Graph request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Authorization: r.Header.Get("Authorization"), Prefer: r.Header.Get("Prefer")}
	defer func() { // also when a fault cuts the connection (a panic with http.ErrAbortHandler)
		s.mu.Lock()
		defer s.mu.Unlock()
		rec.Status, rec.Reset = sw.status, sw.reset
		s.reqs = append(s.reqs, rec)
	}()
	s.serve(sw, r)
}

func (s *Server) serve(w *statusWriter, r *http.Request) {
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	token, expired := s.token, s.expired[auth]
	s.mu.Unlock()
	switch {
	case !ok || auth == "":
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	case auth != token && expired:
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
		return
	case auth != token:
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure.")
		return
	}
	if f, ok := s.takeFault(r.URL.Path, r.URL.RawQuery); ok && !s.applyFault(w, r, f) {
		return
	}
	s.route(w, r)
}

// route answers a request that carries a valid token and no fault.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1.0"), "()")
	var kind byte
	switch p {
	case "/users/delta", "/users/microsoft.graph.delta":
		kind = 'u'
	case "/groups/delta", "/groups/microsoft.graph.delta":
		kind = 'g'
	default:
		writeError(w, http.StatusNotFound, "Request_ResourceNotFound",
			"Resource not found for the segment '"+r.URL.Path+"' (fakegraph serves users and groups delta only).")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
		return
	}
	s.delta(w, r, kind)
}

// pageSize honours "Prefer: odata.maxpagesize=N" (1–999), else the configured page size.
func (s *Server) pageSize(r *http.Request) (int, bool) {
	for _, pref := range strings.Split(r.Header.Get("Prefer"), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pref), "=")
		if ok && strings.EqualFold(k, "odata.maxpagesize") {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 1 && n <= 999 {
				return n, true
			}
		}
	}
	return s.opts.PageSize, false
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes Graph's error envelope.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	b := append([]byte(`{"error":{"code":`), appendString(nil, code)...)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"innerError":{"date":`...)
	b = appendString(b, time.Now().UTC().Format("2006-01-02T15:04:05"))
	b = append(b, `,"request-id":"00000000-0000-4000-8000-000000000000","client-request-id":"00000000-0000-4000-8000-000000000000"}}}`...)
	writeJSON(w, status, b)
}

package fakegraph

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// Fault is a canned failure for the next matching request (see Server.FailNext). Faults are
// checked after the bearer token, as Graph throttles authenticated callers.
type Fault struct {
	Status     int    // HTTP status; ignored when Malformed
	Code       string // error.code; default by status (TooManyRequests, serviceNotAvailable, ...)
	Message    string
	RetryAfter string // Retry-After header value, e.g. "0", "2.128"; "" sends none
	Malformed  bool   // answer 200 with a truncated JSON page
	HTMLBody   bool   // answer Status with an HTML body instead of Graph's envelope (a gateway)
	Path       string // only requests whose path contains this, e.g. "/users/"; "" matches any
	// Delay holds the answer back this long (or until the client gives up): a slow page. With
	// Status 0 the page itself follows.
	Delay time.Duration
	// ResetMidBody sends the status line, the headers and half of the real page, then cuts the
	// connection: the client sees an unexpected EOF while reading the body.
	ResetMidBody bool
}

// Throttle is a 429 TooManyRequests with the given Retry-After ("" for none).
func Throttle(retryAfter string) Fault {
	return Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}
}

// Unavailable is a 503 with the given Retry-After ("" for none).
func Unavailable(retryAfter string) Fault {
	return Fault{Status: http.StatusServiceUnavailable, RetryAfter: retryAfter}
}

// InternalError is a 500 generalException, which is not retried.
func InternalError() Fault { return Fault{Status: http.StatusInternalServerError} }

// SyncStateNotFound is an expired delta token: status 410 (with a Location header) or 400.
func SyncStateNotFound(status int) Fault { return Fault{Status: status, Code: "syncStateNotFound"} }

// MalformedPage is a 200 answer whose JSON is cut off.
func MalformedPage() Fault { return Fault{Malformed: true} }

// SlowPage answers with the real page after d.
func SlowPage(d time.Duration) Fault { return Fault{Delay: d} }

// ResetMidBody answers 200 with half of the real page and cuts the connection.
func ResetMidBody() Fault { return Fault{ResetMidBody: true} }

// FailNext makes the next n requests that match f.Path fail with f.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// ThrottleEachOnce makes the server answer the first request for every distinct URL (path and
// query) with f, typically Throttle("0"), and serve the retry of the same URL normally: every
// first page, next link and delta link is throttled exactly once, as a busy tenant does.
func (s *Server) ThrottleEachOnce(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eachOnce, s.seenURLs = &f, map[string]bool{}
}

// ThrottleEvery answers every n-th request that carries a valid token with f, until called with
// n 0: sustained throttling over a long round, such as Graph applies to a busy tenant. Faults
// queued with FailNext and ThrottleEachOnce come first.
func (s *Server) ThrottleEvery(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.every, s.everyF, s.served = n, f, 0
}

// ClearFaults drops queued faults and ends ThrottleEachOnce and ThrottleEvery.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.eachOnce, s.seenURLs, s.every = nil, nil, nil, 0
}

// PendingFaults is the number of queued faults not yet served.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

func (s *Server) takeFault(path, rawQuery string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eachOnce != nil && !s.seenURLs[path+"?"+rawQuery] {
		s.seenURLs[path+"?"+rawQuery] = true
		return *s.eachOnce, true
	}
	for i, f := range s.faults {
		if strings.Contains(path, f.Path) {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return f, true
		}
	}
	if s.every > 0 {
		s.served++
		if s.served%s.every == 0 && strings.Contains(path, s.everyF.Path) {
			return s.everyF, true
		}
	}
	return Fault{}, false
}

var defaultCodes = map[int]string{
	http.StatusBadRequest:          "BadRequest",
	http.StatusUnauthorized:        "InvalidAuthenticationToken",
	http.StatusForbidden:           "Authorization_RequestDenied",
	http.StatusNotFound:            "Request_ResourceNotFound",
	http.StatusGone:                "syncStateNotFound",
	http.StatusTooManyRequests:     "TooManyRequests",
	http.StatusInternalServerError: "generalException",
	http.StatusServiceUnavailable:  "serviceNotAvailable",
	http.StatusGatewayTimeout:      "UnknownError",
}

// applyFault answers r with f; it returns true when the real answer is still to be written (a
// slow page).
func (s *Server) applyFault(w *statusWriter, r *http.Request, f Fault) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		}
	}
	switch {
	case f.ResetMidBody:
		s.resetMidBody(w, r)
		return false
	case f.Malformed:
		writeJSON(w, http.StatusOK, []byte(`{"@odata.context":"x","value":[{"id":"8f1c","displayName":"cut off`))
		return false
	case f.Status == 0:
		return true
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.HTMLBody {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte("<html><body><h1>" + http.StatusText(f.Status) + "</h1></body></html>"))
		return false
	}
	code, msg := f.Code, f.Message
	if code == "" {
		code = defaultCodes[f.Status]
	}
	if msg == "" {
		msg = "fakegraph: injected " + http.StatusText(f.Status)
		if code == "syncStateNotFound" {
			msg = "The sync state generation is not found. The delta token is expired and data must be synchronized again."
		}
	}
	if f.Status == http.StatusGone {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		name := "users"
		if strings.Contains(r.URL.Path, "/groups") {
			name = "groups"
		}
		w.Header().Set("Location", scheme+"://"+r.Host+"/v1.0/"+name+"/delta?$deltatoken=")
	}
	writeError(w, f.Status, code, msg)
	return false
}

// resetMidBody writes the status, headers and first half of the real answer, then aborts the
// connection.
func (s *Server) resetMidBody(w *statusWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	s.route(rec, r)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body[:len(body)/2])
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	w.reset = true
	panic(http.ErrAbortHandler) // net/http closes the connection without logging
}

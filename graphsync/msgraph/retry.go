package msgraph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/crowdgate/crowdgate/graphsync"
)

// GraphError is an error answer from Graph (any non-2xx status), with the fields of its error
// envelope when the body had one. It unwraps to the SDK's error.
type GraphError struct {
	Status    int    // HTTP status
	Code      string // error.code, e.g. "Authorization_RequestDenied"; "" when the body had none
	Message   string // error.message
	RequestID string // error.innerError.request-id, for Microsoft support
	Err       error
}

// Error reads like "HTTP 403 Authorization_RequestDenied: Insufficient privileges ... (request-id …)".
func (e *GraphError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Code == "" && e.Message == "" && e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id " + e.RequestID + ")")
	}
	return b.String()
}

// Unwrap returns the SDK's error.
func (e *GraphError) Unwrap() error { return e.Err }

// probe is where probeTransport leaves the status and headers of the last response of one call.
// Kiota's own errors do not always carry them: an error body that is not JSON (a gateway's HTML
// 503) fails to parse and loses the status, and a malformed 200 body only yields a parse error.
type probe struct {
	status int
	header http.Header
}

type probeKey struct{}

// probeTransport is the outermost RoundTripper of the Graph client; see probe.
type probeTransport struct{ next http.RoundTripper }

func (t probeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if p, ok := r.Context().Value(probeKey{}).(*probe); ok && resp != nil {
		p.status, p.header = resp.StatusCode, resp.Header.Clone()
	}
	return resp, err
}

// fetch runs call (one page request) until it succeeds, fails for good, or its transient failures
// have used up RetryBudget. It is the only retry layer. Transient: no answer at all (timeout,
// connection reset, TLS, a token service that does not answer), a body the connection cut short,
// and 429, 500, 502, 503, 504; it waits Retry-After (fractional seconds rounded up, or an HTTP
// date), or an exponential backoff with jitter when Graph gave none, and calls call again, which
// must build its request afresh (see UsersDelta); repeating a next or delta link is safe. A 401 gets one fresh token and one retry.
// The wait ends early when ctx is done.
func (s *Source) fetch(ctx context.Context, op string, call func(context.Context) error) error {
	start := s.now()
	renewed := false
	for attempt := 1; ; attempt++ {
		p := &probe{}
		err := call(context.WithValue(ctx, probeKey{}, p))
		if err == nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("graphsync: %s: %w", op, ctxErr)
		}
		var wait time.Duration
		var giveUp error // what the caller gets when no retry is left
		switch {
		case p.status == 0 && refusedToken(err):
			return fmt.Errorf("graphsync: %s: %w", op, err)
		case p.status == 0: // no answer: connection refused or reset, timeout, TLS, token service down
			wait, giveUp = s.backoff(attempt), fmt.Errorf("graphsync: %s: no answer: %w", op, err)
		case p.status < 300 && cutShort(err):
			// The connection broke in the middle of the body: as transient as no answer at all.
			wait, giveUp = s.backoff(attempt), fmt.Errorf("graphsync: %s: HTTP %d response cut short: %w", op, p.status, err)
		case p.status < 300:
			return fmt.Errorf("graphsync: %s: decode HTTP %d response: %w", op, p.status, err)
		default:
			gerr := graphError(p.status, p.header, err)
			switch {
			case p.status == http.StatusUnauthorized && !renewed:
				// The token may have been revoked or expired early: one fresh token, one retry.
				renewed = true
				s.log.Warn("graph refused the token, retrying with a fresh one", "op", op, "code", gerr.Code)
				if rerr := s.renew(); rerr != nil {
					return fmt.Errorf("graphsync: %s: %w (and a fresh credential: %w)", op, gerr, rerr)
				}
				continue
			case transient(p.status):
				var ok bool
				if wait, ok = retryAfter(p.header.Get("Retry-After"), s.now()); !ok {
					wait = s.backoff(attempt)
				}
				giveUp = fmt.Errorf("graphsync: %s: %w", op, gerr)
				if p.status == http.StatusTooManyRequests || p.status == http.StatusServiceUnavailable ||
					p.status == http.StatusGatewayTimeout {
					giveUp = &graphsync.ThrottledError{Op: op, Status: p.status, RetryAfter: wait, Attempts: attempt, Err: gerr}
				}
			case expired(gerr):
				s.log.Info("graph delta link expired", "op", op, "status", p.status, "code", gerr.Code,
					"location", p.header.Get("Location"))
				return fmt.Errorf("graphsync: %s: %w: %w", op, graphsync.ErrDeltaExpired, gerr)
			default:
				return fmt.Errorf("graphsync: %s: %w", op, gerr)
			}
		}
		if (s.cfg.MaxAttempts > 0 && attempt >= s.cfg.MaxAttempts) || s.now().Sub(start)+wait > s.cfg.RetryBudget {
			return giveUp
		}
		s.log.Warn("graph request failed, retrying", "op", op, "status", p.status, "attempt", attempt, "wait", wait, "err", err)
		if err := s.sleep(ctx, wait); err != nil {
			return fmt.Errorf("graphsync: %s: waiting to retry: %w", op, err)
		}
	}
}

// cutShort reports whether reading a response's body failed because the connection ended or broke
// before the body did, rather than because the body was not what Graph sends.
func cutShort(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// transient statuses are retried: throttling, and a service or gateway failing for now.
func transient(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// refusedToken: the token service answered and refused the credential (a wrong secret, an unknown
// client), which no retry mends; a token service that did not answer, or answered 429 or 5xx, is
// transient.
func refusedToken(err error) bool {
	var af *azidentity.AuthenticationFailedError
	if !errors.As(err, &af) || af.RawResponse == nil {
		return false
	}
	st := af.RawResponse.StatusCode
	return st >= 400 && st < 500 && st != http.StatusTooManyRequests
}

// graphError describes an error answer, from the SDK's ODataError when the body was Graph's envelope.
func graphError(status int, header http.Header, err error) *GraphError {
	ge := &GraphError{Status: status, Err: err}
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		if me := oe.GetErrorEscaped(); me != nil {
			ge.Code, ge.Message = deref(me.GetCode()), deref(me.GetMessage())
			if ie := me.GetInnerError(); ie != nil {
				ge.RequestID = deref(ie.GetRequestId())
			}
		}
		return ge
	}
	var ae *abstractions.ApiError
	if errors.As(err, &ae) && ae.Message != "" {
		ge.Message = ae.Message
	} else if ct := header.Get("Content-Type"); ct != "" {
		ge.Message = "answer is not Graph's error envelope (Content-Type " + ct + ")"
	}
	return ge
}

// expired: 410 Gone (synchronization reset) or a token Graph no longer knows (any status).
func expired(e *GraphError) bool {
	return e.Status == http.StatusGone || strings.EqualFold(e.Code, "syncStateNotFound") ||
		strings.EqualFold(e.Code, "resyncRequired")
}

// maxRetryAfter caps absurd Retry-After values so the arithmetic cannot overflow.
const maxRetryAfter = 24 * time.Hour

// retryAfter parses a Retry-After value: seconds, possibly fractional ("2.128", rounded up to 3 s),
// or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || math.IsNaN(f) {
			return 0, false
		}
		if f > maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		return time.Duration(math.Ceil(f)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := max(t.Sub(now), 0)
		return min((d + time.Second - 1).Truncate(time.Second), maxRetryAfter), true
	}
	return 0, false
}

// backoff is RetryBaseDelay doubled per attempt, capped at MaxRetryDelay, with the upper half jittered.
func (s *Source) backoff(attempt int) time.Duration {
	d := s.cfg.RetryBaseDelay
	for i := 1; i < attempt && d < s.cfg.MaxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxRetryDelay)
	if half := int64(d / 2); half > 0 {
		d = time.Duration(half + rand.Int64N(half+1))
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

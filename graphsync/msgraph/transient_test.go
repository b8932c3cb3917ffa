package msgraph_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/graphsync/msgraph"
)

// failingTransport fails the first len(errs) requests with those errors, without an answer (as a
// reset connection or a failed TLS handshake does), then sends requests on.
type failingTransport struct {
	errs []error
	n    atomic.Int32
}

func (f *failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if i := int(f.n.Add(1)) - 1; i < len(f.errs) {
		return nil, f.errs[i]
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestNoAnswerRetried: a request that gets no answer (connection reset, TLS failure, timeout) is
// retried like a 503.
func TestNoAnswerRetried(t *testing.T) {
	fake := fakegraph.New(smallTenant(t), fakegraph.Options{})
	defer fake.Close()
	tr := &failingTransport{errs: []error{
		&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET},
		errors.New("tls: handshake failure"),
		&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")},
	}}
	src := newSource(t, fake, func(c *msgraph.Config) { c.HTTPClient = &http.Client{Transport: tr} })
	p, err := src.UsersDelta(t.Context(), "")
	if err != nil || len(p.Items) != 5 {
		t.Fatalf("UsersDelta = %d users, %v; want 5 after three failed attempts", len(p.Items), err)
	}
	if n := len(fake.Requests()); n != 1 || tr.n.Load() != 4 {
		t.Errorf("fake saw %d requests of %d sent, want 1 of 4", n, tr.n.Load())
	}
}

// flakyToken is a credential whose token service does not answer the first time.
type flakyToken struct {
	token string
	calls atomic.Int32
}

func (f *flakyToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if f.calls.Add(1) == 1 {
		return azcore.AccessToken{}, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return azcore.AccessToken{Token: f.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestTokenServiceDownRetried: a token service that does not answer is a transient failure; one
// that refuses the credential is not (TestClientSecretCredential's wrong secret).
func TestTokenServiceDownRetried(t *testing.T) {
	fake := fakegraph.New(smallTenant(t), fakegraph.Options{})
	defer fake.Close()
	cred := &flakyToken{token: fake.Token()}
	src := newSource(t, fake, func(c *msgraph.Config) { c.Credential = cred })
	if _, err := src.UsersDelta(t.Context(), ""); err != nil {
		t.Fatalf("UsersDelta: %v", err)
	}
	if cred.calls.Load() != 2 || len(fake.Requests()) != 1 {
		t.Errorf("token asked %d times, Graph saw %d requests; want 2 and 1", cred.calls.Load(), len(fake.Requests()))
	}
}

// TestUnauthorizedGetsFreshToken: a 401 in the middle of a run (a token revoked or expired early)
// gets a token the credential fetches afresh from the token service, and one retry.
func TestUnauthorizedGetsFreshToken(t *testing.T) {
	sts := fakegraph.NewSTS(fakegraph.STSOptions{})
	defer sts.Close()
	fake := fakegraph.New(smallTenant(t), fakegraph.Options{PageSize: 2})
	defer fake.Close()
	src := newSource(t, fake, func(c *msgraph.Config) {
		c.Credential = nil
		c.TenantID, c.ClientID, c.ClientSecret = "tenant-1", "client-1", "s3cret"
		c.AuthorityHost, c.TokenHTTPClient = sts.AuthorityHost(), sts.Client()
	})
	p, err := src.UsersDelta(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	fake.FailNext(1, fakegraph.Fault{Status: http.StatusUnauthorized, Code: "InvalidAuthenticationToken", Message: "Lifetime validation failed, the token is expired."})
	if _, err := src.UsersDelta(t.Context(), p.NextLink); err != nil {
		t.Fatalf("page after the 401: %v", err)
	}
	if got := statuses(fake); !equalInts(got, []int{200, 401, 200}) {
		t.Errorf("fake answered %v", got)
	}
	if n := len(sts.TokenRequests()); n != 2 {
		t.Errorf("STS saw %d token requests, want 2 (the first, and a fresh one after the 401)", n)
	}
}

// TestLinksOnAllowedHosts: a next link on another host is followed, with the token, only when that
// host is allowed; otherwise it is refused before anything is sent.
func TestLinksOnAllowedHosts(t *testing.T) {
	tn := smallTenant(t)
	fake := fakegraph.New(tn, fakegraph.Options{PageSize: 2})
	defer fake.Close()
	other := fakegraph.New(tn, fakegraph.Options{PageSize: 2}) // the same tenant behind another host
	defer other.Close()
	first, err := newSource(t, fake, nil).UsersDelta(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	next, _ := url.Parse(first.NextLink)
	otherURL, _ := url.Parse(other.BaseURL())
	next.Host = otherURL.Host
	if _, err := newSource(t, fake, nil).UsersDelta(t.Context(), next.String()); !errors.Is(err, graphsync.ErrDeltaExpired) ||
		!strings.Contains(err.Error(), "nor an allowed host") || len(other.Requests()) != 0 {
		t.Fatalf("link to a host not allowed: err = %v, %d requests sent there", err, len(other.Requests()))
	}
	src := newSource(t, fake, func(c *msgraph.Config) { c.AllowedHosts = []string{otherURL.Host} })
	p, err := src.UsersDelta(t.Context(), next.String())
	if err != nil || len(p.Items) != 2 {
		t.Fatalf("link to an allowed host: %d users, %v", len(p.Items), err)
	}
	if r := other.Requests(); len(r) != 1 || r[0].Authorization != "Bearer "+fake.Token() {
		t.Errorf("the allowed host saw %+v", r)
	}
}

// TestScopeFollowsBaseURL: the token scope is the Graph host's, unless set.
func TestScopeFollowsBaseURL(t *testing.T) {
	for _, tc := range []struct{ base, scope, want string }{
		{"", "", "https://graph.microsoft.com/.default"},
		{"https://graph.microsoft.us/v1.0", "", "https://graph.microsoft.us/.default"},
		{"https://microsoftgraph.chinacloudapi.cn/v1.0", "", "https://microsoftgraph.chinacloudapi.cn/.default"},
		{"https://graph-gw.example.com/v1.0", "https://graph.microsoft.com/.default", "https://graph.microsoft.com/.default"},
	} {
		if got := msgraph.ScopeFor(msgraph.Config{BaseURL: tc.base, Scope: tc.scope}); got != tc.want {
			t.Errorf("base %q scope %q: %q, want %q", tc.base, tc.scope, got, tc.want)
		}
	}
}

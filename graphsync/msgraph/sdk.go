package msgraph

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	msauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/crowdgate/crowdgate/graphsync"
)

// Source is the graphsync.Source backed by msgraph-sdk-go. It is safe for concurrent use.
type Source struct {
	base  *url.URL
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	mu      sync.Mutex
	adapter *msgraphcore.GraphRequestAdapterBase // replaced by renew
}

var _ graphsync.Source = (*Source)(nil)

// New validates cfg, builds the credential it names and returns a graphsync.Source that talks to
// cfg.BaseURL. log may be nil (no logging).
func New(cfg Config, log *slog.Logger) (*Source, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("graphsync: base URL: %w", err)
	}
	s := &Source{base: base, cfg: cfg, log: log, now: time.Now, sleep: sleep}
	if err := s.renew(); err != nil {
		return nil, err
	}
	return s, nil
}

// renew builds the request adapter with a new credential, whose first request fetches a fresh
// token (a credential caches its tokens, so asking the old one again would hand back the token
// Graph just refused).
//
// The request adapter is given its JSON parse and serialization factories directly, so nothing is
// registered in kiota's process-wide default registries (which the SDK's root package would do).
func (s *Source) renew() error {
	cred, err := s.cfg.credential()
	if err != nil {
		return err
	}
	// The valid hosts must be passed explicitly: for any host outside its list the provider sends
	// no Authorization header at all, without an error.
	hosts := []string{strings.ToLower(s.base.Hostname())}
	for _, h := range s.cfg.AllowedHosts {
		hosts = append(hosts, strings.ToLower(hostname(h)))
	}
	auth, err := msauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{s.cfg.Scope}, hosts)
	if err != nil {
		return fmt.Errorf("graphsync: authentication provider: %w", err)
	}
	opts := msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "crowdgate"}
	adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, opts, jsonser.NewJsonParseNodeFactory(), jsonser.NewJsonSerializationWriterFactory(),
		graphHTTPClient(s.cfg.HTTPClient, &opts))
	if err != nil {
		return fmt.Errorf("graphsync: request adapter: %w", err)
	}
	adapter.SetBaseUrl(s.cfg.BaseURL)
	s.mu.Lock()
	s.adapter = adapter
	s.mu.Unlock()
	return nil
}

func (s *Source) currentAdapter() *msgraphcore.GraphRequestAdapterBase {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adapter
}

// hostname is the host part of "host" or "host:port".
func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// graphHTTPClient returns the client for Graph calls: the SDK's default one, or a copy of c with the
// SDK's middleware around c's transport. Either way the outermost layer records each response's
// status and headers for the retry loop (see probeTransport).
func graphHTTPClient(c *http.Client, opts *msgraphcore.GraphClientOptions) *http.Client {
	var out *http.Client
	if c == nil {
		out = msgraphcore.GetDefaultClient(opts)
	} else {
		cp := *c
		parent := cp.Transport
		if parent == nil {
			parent = http.DefaultTransport.(*http.Transport).Clone()
		}
		cp.Transport = khttp.NewCustomTransportWithParentTransport(parent, msgraphcore.GetDefaultMiddlewaresWithOptions(opts)...)
		out = &cp
	}
	out.Transport = probeTransport{next: out.Transport}
	return out
}

// requestOptions switches the SDK's retry middleware off for our requests: fetch is the only retry
// layer, so Retry-After is honoured precisely (the middleware truncates fractional seconds) and the
// attempts are bounded in one place (MaxRetries 0 would mean "3", not "off").
func (s *Source) requestOptions() []abstractions.RequestOption {
	return []abstractions.RequestOption{&khttp.RetryHandlerOptions{
		ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool { return false },
	}}
}

// requestHeaders are sent on every page: Graph does not carry custom headers into next links.
func (s *Source) requestHeaders() *abstractions.RequestHeaders {
	h := abstractions.NewRequestHeaders()
	if s.cfg.PageSize > 0 {
		h.Add("Prefer", "odata.maxpagesize="+strconv.Itoa(s.cfg.PageSize))
	}
	return h
}

// checkLink refuses a link that does not point at the configured Graph host or one of the allowed
// hosts: the token would go elsewhere (or, for a host the provider does not know, no token at all).
// A stored link from another configuration is as unusable as an expired one.
func (s *Source) checkLink(op, link string) error {
	u, err := url.Parse(link)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("graphsync: %s: link %q is not an absolute URL: %w", op, link, graphsync.ErrDeltaExpired)
	}
	if strings.EqualFold(u.Scheme, s.base.Scheme) && strings.EqualFold(u.Host, s.base.Host) {
		return nil
	}
	for _, h := range s.cfg.AllowedHosts {
		if strings.EqualFold(u.Host, h) && (u.Scheme == "https" || u.Scheme == s.base.Scheme) {
			return nil
		}
	}
	return fmt.Errorf("graphsync: %s: link host %s://%s is neither the configured Graph %s://%s nor an allowed host: %w",
		op, u.Scheme, u.Host, s.base.Scheme, s.base.Host, graphsync.ErrDeltaExpired)
}

// UsersDelta reads one page of a users delta round; see Source.
func (s *Source) UsersDelta(ctx context.Context, link string) (graphsync.Page[graphsync.User], error) {
	const op = "users delta"
	if link != "" {
		if err := s.checkLink(op, link); err != nil {
			return graphsync.Page[graphsync.User]{}, err
		}
	}
	var resp users.DeltaGetResponseable
	err := s.fetch(ctx, op, func(ctx context.Context) (err error) {
		// A builder per attempt: kiota's first send consumes a builder's raw-URL parameter, so
		// reusing one would retry a next or delta link as a bare /users/delta() without $select.
		adapter := s.currentAdapter()
		rc := &users.DeltaRequestBuilderGetRequestConfiguration{Headers: s.requestHeaders(), Options: s.requestOptions()}
		var b *users.DeltaRequestBuilder
		if link == "" {
			b = users.NewDeltaRequestBuilderInternal(map[string]string{}, adapter)
			rc.QueryParameters = &users.DeltaRequestBuilderGetQueryParameters{Select: graphsync.UserProperties}
		} else {
			b = users.NewDeltaRequestBuilder(link, adapter)
		}
		resp, err = b.GetAsDeltaGetResponse(ctx, rc)
		return err
	})
	if err != nil {
		return graphsync.Page[graphsync.User]{}, err
	}
	if resp == nil {
		return graphsync.Page[graphsync.User]{}, fmt.Errorf("graphsync: %s: empty response", op)
	}
	page := graphsync.Page[graphsync.User]{NextLink: deref(resp.GetOdataNextLink()), DeltaLink: deref(resp.GetOdataDeltaLink())}
	values := resp.GetValue()
	page.Items = make([]graphsync.User, 0, len(values))
	for i, m := range values {
		u, err := userFromModel(m)
		if err != nil {
			return graphsync.Page[graphsync.User]{}, fmt.Errorf("graphsync: %s: value[%d]: %w", op, i, err)
		}
		page.Items = append(page.Items, u)
	}
	if err := s.checkPage(op, page.NextLink, page.DeltaLink, len(page.Items)); err != nil {
		return graphsync.Page[graphsync.User]{}, err
	}
	return page, nil
}

// GroupsDelta reads one page of a groups delta round, with members@delta; see Source.
func (s *Source) GroupsDelta(ctx context.Context, link string) (graphsync.Page[graphsync.Group], error) {
	const op = "groups delta"
	if link != "" {
		if err := s.checkLink(op, link); err != nil {
			return graphsync.Page[graphsync.Group]{}, err
		}
	}
	var resp groups.DeltaGetResponseable
	err := s.fetch(ctx, op, func(ctx context.Context) (err error) {
		// A builder per attempt: kiota's first send consumes a builder's raw-URL parameter, so
		// reusing one would retry a next or delta link as a bare /groups/delta() without $select.
		adapter := s.currentAdapter()
		rc := &groups.DeltaRequestBuilderGetRequestConfiguration{Headers: s.requestHeaders(), Options: s.requestOptions()}
		var b *groups.DeltaRequestBuilder
		if link == "" {
			b = groups.NewDeltaRequestBuilderInternal(map[string]string{}, adapter)
			rc.QueryParameters = &groups.DeltaRequestBuilderGetQueryParameters{Select: graphsync.GroupProperties}
		} else {
			b = groups.NewDeltaRequestBuilder(link, adapter)
		}
		resp, err = b.GetAsDeltaGetResponse(ctx, rc)
		return err
	})
	if err != nil {
		return graphsync.Page[graphsync.Group]{}, err
	}
	if resp == nil {
		return graphsync.Page[graphsync.Group]{}, fmt.Errorf("graphsync: %s: empty response", op)
	}
	page := graphsync.Page[graphsync.Group]{NextLink: deref(resp.GetOdataNextLink()), DeltaLink: deref(resp.GetOdataDeltaLink())}
	values := resp.GetValue()
	page.Items = make([]graphsync.Group, 0, len(values))
	for i, m := range values {
		g, err := groupFromModel(m)
		if err != nil {
			return graphsync.Page[graphsync.Group]{}, fmt.Errorf("graphsync: %s: value[%d]: %w", op, i, err)
		}
		page.Items = append(page.Items, g)
	}
	if err := s.checkPage(op, page.NextLink, page.DeltaLink, len(page.Items)); err != nil {
		return graphsync.Page[graphsync.Group]{}, err
	}
	return page, nil
}

// checkPage insists on exactly one of the two links: without either the round cannot go on, and
// with both it is ambiguous which one to persist.
func (s *Source) checkPage(op, next, delta string, n int) error {
	s.log.Debug("graph delta page", "op", op, "items", n, "next", next != "", "delta", delta != "")
	switch {
	case next == "" && delta == "":
		return fmt.Errorf("graphsync: %s: page has neither @odata.nextLink nor @odata.deltaLink", op)
	case next != "" && delta != "":
		return fmt.Errorf("graphsync: %s: page has both @odata.nextLink and @odata.deltaLink", op)
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

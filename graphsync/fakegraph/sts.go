package fakegraph

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// STSOptions configure a fake token service. Zero values take the defaults.
type STSOptions struct {
	TenantID     string // default "tenant-1"
	ClientID     string // default "client-1"
	ClientSecret string // default "s3cret"
	// AcceptClientAssertion accepts any client_assertion (certificate credential) for ClientID; the
	// JWT's signature is not checked.
	AcceptClientAssertion bool
	AccessToken           string // token handed out; default "test-token", what Server expects
	ExpiresIn             int    // seconds; default 3599
}

// STS is just enough of login.microsoftonline.com for azidentity's client-credentials flow, over
// TLS as MSAL requires: GET /{tenant}/v2.0/.well-known/openid-configuration (read first) and
// POST /{tenant}/oauth2/v2.0/token. Credentials using it need DisableInstanceDiscovery and its
// Client() as transport; graphsync does both when AuthorityHost and TokenHTTPClient point here.
type STS struct {
	srv  *httptest.Server
	opts STSOptions

	mu    sync.Mutex
	forms []url.Values
}

// NewSTS starts a fake token service on 127.0.0.1. Close it when done.
func NewSTS(opts STSOptions) *STS {
	if opts.TenantID == "" {
		opts.TenantID = "tenant-1"
	}
	if opts.ClientID == "" {
		opts.ClientID = "client-1"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "s3cret"
	}
	if opts.AccessToken == "" {
		opts.AccessToken = "test-token"
	}
	if opts.ExpiresIn <= 0 {
		opts.ExpiresIn = 3599
	}
	s := &STS{opts: opts}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// AuthorityHost is the value for azidentity's authority host (msgraph.Config.AuthorityHost).
func (s *STS) AuthorityHost() string { return s.srv.URL + "/" }

// Client trusts the STS's certificate; use it as the credential's transport.
func (s *STS) Client() *http.Client { return s.srv.Client() }

// TokenRequests returns the forms of the token requests received, oldest first.
func (s *STS) TokenRequests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.forms...)
}

// Close shuts the STS down.
func (s *STS) Close() { s.srv.Close() }

func (s *STS) serve(w http.ResponseWriter, r *http.Request) {
	tenant, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if tenant != s.opts.TenantID {
		stsError(w, http.StatusBadRequest, "invalid_request", 90002,
			"AADSTS90002: Tenant '"+tenant+"' not found.")
		return
	}
	base := s.srv.URL + "/" + tenant
	switch {
	case r.Method == http.MethodGet && rest == "v2.0/.well-known/openid-configuration":
		writeJSONValue(w, http.StatusOK, map[string]any{
			"token_endpoint":                        base + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
			"issuer":                                base + "/v2.0",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		})
	case r.Method == http.MethodPost && rest == "oauth2/v2.0/token":
		s.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *STS) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		stsError(w, http.StatusBadRequest, "invalid_request", 900144, "AADSTS900144: malformed request body.")
		return
	}
	form := r.PostForm
	s.mu.Lock()
	s.forms = append(s.forms, form)
	s.mu.Unlock()

	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if id, pw, ok := r.BasicAuth(); ok {
		clientID, secret = id, pw
	}
	switch {
	case form.Get("grant_type") != "client_credentials":
		stsError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "AADSTS70003: unsupported grant type.")
	case clientID != s.opts.ClientID:
		stsError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			"AADSTS700016: Application with identifier '"+clientID+"' was not found in the directory.")
	case !strings.Contains(form.Get("scope"), "/.default"):
		stsError(w, http.StatusBadRequest, "invalid_scope", 70011,
			"AADSTS70011: The provided value for the input parameter 'scope' is not valid.")
	case form.Get("client_assertion") != "" && s.opts.AcceptClientAssertion:
		s.issue(w)
	case secret == s.opts.ClientSecret:
		s.issue(w)
	default:
		stsError(w, http.StatusUnauthorized, "invalid_client", 7000215, "AADSTS7000215: Invalid client secret provided.")
	}
}

func (s *STS) issue(w http.ResponseWriter) {
	s.mu.Lock()
	tok := s.opts.AccessToken
	s.mu.Unlock()
	writeJSONValue(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": s.opts.ExpiresIn,
		"ext_expires_in": s.opts.ExpiresIn, "access_token": tok})
}

// SetAccessToken changes the token handed out from now on; with Server.SetToken it models a token
// that expires in the middle of a run.
func (s *STS) SetAccessToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.AccessToken = token
}

func stsError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	writeJSONValue(w, status, map[string]any{"error": code, "error_description": desc, "error_codes": []int{aadsts},
		"trace_id": "00000000-0000-4000-8000-000000000000", "correlation_id": "00000000-0000-4000-8000-000000000000"})
}

func writeJSONValue(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

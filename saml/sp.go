package saml

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	saml2 "github.com/russellhaering/gosaml2"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/crowdgate/crowdgate/internal/clientaddr"
	"github.com/crowdgate/crowdgate/store"
)

// Store is what the SP needs of the directory; *store.Store satisfies it.
type Store interface {
	Applications(ctx context.Context) ([]store.Application, error)
	View(ctx context.Context, app store.Application) (*store.View, error)
	Directories(ctx context.Context) ([]store.Directory, error)
	User(ctx context.Context, id int64) (store.User, error)
	UserByName(ctx context.Context, directoryID int64, name string) (store.User, error)
	UsersForAssertion(ctx context.Context, by, value string, includeInternal bool) ([]store.User, error)
	UserInGroup(ctx context.Context, u store.User, group string) (bool, error)
	AuthenticateLocal(ctx context.Context, dirs []int64, name, pw string) (store.User, error)
	CreateSession(ctx context.Context, ns store.NewSession) (store.Session, string, error)
	SessionByToken(ctx context.Context, token string) (store.Session, error)
	DeleteSession(ctx context.Context, token string) error
	DeleteUserSessions(ctx context.Context, userID int64, exclude string) error
	CookieConfig(ctx context.Context) (store.CookieConfig, error)
	Audit(ctx context.Context, outcome, action, objectKind, object string, details any) error
	FailedSignIn(ctx context.Context, action, objectKind, name, reason string)
	SignInThrottled()
	TOTPEnrolled(ctx context.Context, u store.User) (bool, error)
	VerifySecondFactor(ctx context.Context, u store.User, code string) error
	RememberAssertion(ctx context.Context, id string, notOnOrAfter time.Time) error
	PruneAssertions(ctx context.Context) (int64, error)
	SAMLStateKey(ctx context.Context) ([]byte, error)
	Setting(ctx context.Context, name string) (string, error)
	SetSetting(ctx context.Context, name, value string) error
}

var _ Store = (*store.Store)(nil)

// SP is crowdgate's SAML service provider. It is safe for concurrent use; all its state that
// must survive a restart or be shared by instances lives in the store.
type SP struct {
	cfg    Config
	st     Store
	log    *slog.Logger
	public *url.URL
	acsURL string
	sloURL string
	spKey  *tls.Certificate
	idp    idpSource

	keyMu    sync.Mutex
	stateKey []byte

	handler http.Handler
}

// New validates cfg and returns the SP. IdP metadata given as a file or XML must parse; a
// metadata URL that cannot be fetched now is only logged (sign-in then says the IdP is
// unavailable, break-glass still works) and tried again by the next login and by Run.
func New(cfg Config, st Store, log *slog.Logger) (*SP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	public, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("saml: public URL: %w", err)
	}
	key, err := cfg.spKeyPair()
	if err != nil {
		return nil, fmt.Errorf("saml: %w", err)
	}
	sp := &SP{
		cfg:      cfg,
		st:       st,
		log:      log,
		public:   public,
		acsURL:   cfg.PublicURL + "/saml/acs",
		sloURL:   cfg.PublicURL + "/saml/logout",
		spKey:    key,
		stateKey: cfg.StateKey,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := sp.restoreTrust(ctx); err != nil {
		return nil, err
	}
	if err := sp.loadMetadata(ctx); err != nil {
		if cfg.IdPMetadataURL == "" {
			return nil, err
		}
		log.Warn("saml: IdP metadata not loaded; will retry", "url", cfg.IdPMetadataURL, "err", err)
	}
	sp.handler = sp.routes()
	return sp, nil
}

// Handler serves /saml/metadata, /saml/login, /saml/acs, /saml/logout, /sso/login, /sso/logout
// and /sso/breakglass. Paths are relative to the public URL's path: a reverse proxy that
// publishes crowdgate under a prefix strips it.
func (sp *SP) Handler() http.Handler { return sp.handler }

func (sp *SP) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /saml/metadata", sp.handleMetadata)
	mux.HandleFunc("GET /saml/login", sp.handleLogin)
	mux.HandleFunc("GET /sso/login", sp.handleLogin)
	mux.HandleFunc("POST /saml/acs", sp.handleACS)
	mux.HandleFunc("GET /saml/logout", sp.handleLogout)
	mux.HandleFunc("POST /saml/logout", sp.handleLogout)
	mux.HandleFunc("GET /sso/logout", sp.handleLogout)
	mux.HandleFunc("POST /sso/logout", sp.handleLogout)
	mux.Handle("GET /sso/breakglass", sp.formToApps(sp.handleBreakGlass))
	mux.Handle("POST /sso/breakglass", sp.formToApps(sp.handleBreakGlass))
	return securityHeaders(mux)
}

// Run refreshes the IdP metadata (from a URL or file) and prunes the replay cache until ctx
// ends; it returns nil then.
func (sp *SP) Run(ctx context.Context) error {
	refresh := time.NewTimer(sp.cfg.MetadataRefresh)
	if sp.idp.current() == nil {
		refresh.Reset(0)
	}
	defer refresh.Stop()
	prune := time.NewTicker(10 * time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C:
			if d := sp.refreshMetadata(ctx); d > 0 {
				refresh.Reset(d)
			}
		case <-prune.C:
			if n, err := sp.st.PruneAssertions(ctx); err != nil {
				sp.log.Warn("saml: prune replay cache", "err", err)
			} else if n > 0 {
				sp.log.Debug("saml: pruned replay cache", "entries", n)
			}
		}
	}
}

func (sp *SP) now() time.Time { return sp.cfg.Now() }

// provider returns a gosaml2 service provider for one operation. It is built afresh each time
// because the IdP can change under a metadata refresh and each validation uses its own clock.
func (sp *SP) provider(idp *idpInfo, clock *dsig.Clock) *saml2.SAMLServiceProvider {
	p := &saml2.SAMLServiceProvider{
		IdentityProviderSSOURL:      idp.SSOURL,
		IdentityProviderSLOURL:      idp.SLOURL,
		IdentityProviderIssuer:      idp.EntityID,
		AssertionConsumerServiceURL: sp.acsURL,
		ServiceProviderSLOURL:       sp.sloURL,
		ServiceProviderIssuer:       sp.cfg.EntityID,
		AudienceURI:                 sp.cfg.EntityID,
		IDPCertificateStore:         &dsig.MemoryX509CertificateStore{Roots: idp.Certs},
		NameIdFormat:                sp.cfg.NameIDFormat,
		Clock:                       clock,
		MaximumDecompressedBodySize: int64(sp.cfg.MaxResponseSize),
	}
	if sp.spKey != nil {
		// Decryption reads only this (deprecated) field: a key given through SetSPKeyStore cannot
		// decrypt (docs/saml-setup.md, Library notes).
		p.SPKeyStore = dsig.TLSCertKeyStore(*sp.spKey)
		p.SignAuthnRequests = sp.cfg.SignRequests
		p.SignAuthnRequestsAlgorithm = dsig.RSASHA256SignatureMethod
	}
	return p
}

// clientAddress is the browser's effective address under the store's trusted-proxy rule.
func (sp *SP) clientAddress(r *http.Request) string {
	return clientaddr.Of(r, sp.cfg.TrustedProxies).String()
}

// secure reports whether crowdgate is served over https (cookies get Secure).
func (sp *SP) secure() bool { return sp.public.Scheme == "https" }

// consolePath is the path of the console below the public URL.
func (sp *SP) consolePath() string { return strings.TrimRight(sp.public.Path, "/") + "/console" }

// formToApps refuses a POST from another site, and widens the page's CSP form-action to the applications' origins. A successful
// break-glass sign-in answers the form's POST with a redirect to the application, and Chromium
// holds every redirect after a form submission to the submitting page's form-action: with
// 'self' alone the browser stops at crowdgate. Only configured applications are listed, which
// are the only places the sign-in sends a browser to anyway.
func (sp *SP) formToApps(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sources := []string{"'self'"}
		if apps, err := sp.st.Applications(r.Context()); err == nil {
			seen := map[string]bool{}
			for _, a := range apps {
				for _, b := range a.BaseURLs {
					u, err := url.Parse(b)
					if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(u.Host, " ;,'") {
						continue
					}
					if o := u.Scheme + "://" + u.Host; !seen[o] {
						seen[o] = true
						sources = append(sources, o)
					}
				}
			}
		}
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action "+strings.Join(sources, " ")+"; frame-ancestors 'none'")
		if r.Method == http.MethodPost && sp.foreignPost(r) {
			sp.refuse(w, r, &refusal{status: http.StatusForbidden, reason: fmt.Sprintf("cross-site form post refused (Origin %q, Sec-Fetch-Site %q)",
				r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")), public: "The form was sent from another site. Please try again."})
			return
		}
		next(w, r)
	})
}

// foreignPost reports a form post that a browser says came from another origin. The form is
// crowdgate's own page, so nothing but same-origin is genuine; a client that sends neither
// Fetch Metadata nor Origin is no browser, and the form's CSRF token still applies to it.
func (sp *SP) foreignPost(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site != "same-origin"
	}
	o := r.Header.Get("Origin")
	return o != "" && o != sp.public.Scheme+"://"+sp.public.Host
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		// The sign-in URLs carry return URLs and SAML messages: send no Referer anywhere.
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

package api

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/internal/throttle"
	"github.com/crowdgate/crowdgate/store"
)

//go:embed templates static
var assets embed.FS

type server struct {
	cfg      Config
	st       Store
	log      *slog.Logger
	pages    map[string]*template.Template
	static   http.Handler
	throttle *throttle.Throttle
	doctor   doctorRun

	keyMu sync.Mutex
	key   []byte // see csrfKey
}

// New returns the console handler for paths under cfg.PathPrefix.
func New(cfg Config, st Store, log *slog.Logger) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pages, err := parseTemplates(cfg.PathPrefix)
	if err != nil {
		return nil, err
	}
	staticFS, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	s := &server{
		cfg: cfg, st: st, log: log, pages: pages,
		static:   http.StripPrefix(cfg.PathPrefix+"/static/", http.FileServerFS(staticFS)),
		throttle: throttle.New(cfg.LoginFailures, cfg.LoginWindow),
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.headers, s.recover, s.limitBody)
	s.routes(e)
	return e, nil
}

// routes lists every method and path the console serves.
func (s *server) routes(e *echo.Echo) {
	p := s.cfg.PathPrefix
	e.GET(p, func(c echo.Context) error { return c.Redirect(http.StatusFound, p+"/") })
	open := e.Group(p, s.csrf)
	open.GET("/static/*", s.serveStatic)
	open.GET("/login", s.loginPage)
	open.POST("/login", s.login)
	open.POST("/logout", s.logout)

	// Routes with s.recent change who can sign in or what they may do: they need a recent sign-in.
	g := e.Group(p, s.csrf, s.authenticate)
	g.GET("/reauth", s.reauthPage)
	g.POST("/reauth", s.reauth)

	g.GET("/", s.overview)
	g.GET("/doctor", s.doctorPage)

	g.GET("/users", s.users)
	g.GET("/users/new", s.newUserPage)
	g.POST("/users", s.createUser)
	g.GET("/users/:id", s.user)
	g.POST("/users/:id", s.updateUser)
	g.POST("/users/:id/password", s.resetPassword, s.recent)
	g.POST("/users/:id/active", s.setUserActive, s.recent)
	g.POST("/users/:id/groups", s.addUserGroup, s.recent)
	g.POST("/users/:id/groups/remove", s.removeUserGroup, s.recent)
	g.POST("/users/:id/sessions/revoke", s.revokeUserSessions)

	g.GET("/groups", s.groups)
	g.GET("/groups/new", s.newGroupPage)
	g.POST("/groups", s.createGroup)
	g.GET("/groups/:id", s.group)
	g.POST("/groups/:id", s.updateGroup, s.recent)
	g.POST("/groups/:id/members", s.addGroupMember, s.recent)
	g.POST("/groups/:id/members/remove", s.removeGroupMember, s.recent)

	g.GET("/applications", s.applications)
	g.GET("/applications/new", s.newApplicationPage)
	g.POST("/applications", s.createApplication)
	g.POST("/applications/cookie", s.setCookieConfig)
	g.GET("/applications/:id", s.application)
	g.GET("/applications/:id/seats", s.seats)
	g.GET("/applications/:id/seats.csv", s.seatsCSV)
	g.POST("/applications/:id", s.updateApplication, s.recent)
	g.POST("/applications/:id/mappings", s.updateMappings, s.recent)
	g.POST("/applications/:id/rotate", s.rotateCredential, s.recent)

	g.GET("/directories", s.directories)
	g.POST("/directories", s.createDirectory)
	g.POST("/directories/admin-groups", s.setAdminEntraGroups, s.recent)
	g.GET("/directories/:id", s.directory)
	g.POST("/directories/:id", s.updateDirectory, s.recent)
	g.POST("/directories/:id/entra", s.updateEntra, s.recent)
	g.POST("/directories/:id/test", s.testConnection)
	g.POST("/directories/:id/sync", s.syncNow)
	g.POST("/directories/:id/apply-held", s.applyHeld)
	g.GET("/directories/:id/progress", s.syncProgress)

	g.GET("/sessions", s.sessions)
	g.POST("/sessions/:id/revoke", s.revokeSession)

	g.GET("/audit", s.audit)
	g.GET("/audit.csv", s.auditCSV)

	g.GET("/access", s.access)
	g.GET("/access.csv", s.accessCSV)
	s.secondFactorRoutes(g)
}

// headers sets the security headers on every response, errors and static files included.
func (s *server) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if s.cfg.Secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !strings.HasPrefix(c.Request().URL.Path, s.cfg.PathPrefix+"/static/") {
			h.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

// recover turns a panic into a 500, logged once with its stack.
func (s *server) recover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("console: panic", "path", c.Request().URL.Path, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = echo.NewHTTPError(http.StatusInternalServerError)
			}
		}()
		return next(c)
	}
}

// limitBody bounds request bodies: the console's forms are small.
func (s *server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		r.Body = http.MaxBytesReader(c.Response(), r.Body, 1<<20)
		return next(c)
	}
}

func (s *server) serveStatic(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	s.static.ServeHTTP(c.Response(), c.Request())
	return nil
}

// handleError renders errors: an HTML page for browsers, JSON for the JSON routes. Details of
// unexpected errors go to the log once; the page shows a generic message.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "Something went wrong. The details are in crowdgate's log."
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status = he.Code
		if m, ok := he.Message.(string); ok && status < 500 {
			msg = m
		} else if status < 500 {
			msg = http.StatusText(status)
		}
		if he.Internal != nil || status >= 500 {
			s.log.Error("console: request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "status", status, "err", err)
		}
	case errors.Is(err, store.ErrNotFound):
		status, msg = http.StatusNotFound, "Not found."
	default:
		s.log.Error("console: request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if wantsJSON(c) {
		_ = c.JSON(status, map[string]string{"error": msg})
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	p := s.newPage(c, "Error", "")
	p.Data = map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg}
	if err := s.render(c, status, "error", p); err != nil {
		s.log.Error("console: render error page", "err", err)
		_ = c.String(status, msg)
	}
}

func wantsJSON(c echo.Context) bool {
	return strings.HasSuffix(c.Request().URL.Path, "/progress") || strings.Contains(c.Request().Header.Get("Accept"), "application/json")
}

// page is what every template receives.
type page struct {
	Title  string
	Nav    string // the left navigation entry to highlight
	Prefix string
	Admin  *admin // nil before sign-in
	CSRF   string
	Flash  []flash
	Data   any
	// NoSecondFactor lists the local administrators without the second factor that is required.
	NoSecondFactor []string
}

func (s *server) newPage(c echo.Context, title, nav string) page {
	p := page{Title: title, Nav: nav, Prefix: s.cfg.PathPrefix, CSRF: csrfToken(c)}
	if a, ok := c.Get(adminKey).(*admin); ok {
		p.Admin = a
		p.NoSecondFactor = s.mfaBanner(c)
	}
	p.Flash = s.takeFlash(c)
	return p
}

// render executes a page template into a buffer first, so a template error never sends half a page.
func (s *server) render(c echo.Context, status int, name string, p page) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("console: no page template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("console: render %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

package crowdapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/internal/clientaddr"
	"github.com/crowdgate/crowdgate/internal/throttle"
	"github.com/crowdgate/crowdgate/store"
)

// DefaultVersion is the Crowd version crowdgate announces; the Java client only checks the header
// is present, 5.1.6 is the client generation crowdgate is verified against.
const DefaultVersion = "5.1.6"

// Store is the part of the directory the Crowd REST API uses.
type Store interface {
	AuthenticateApplicationWith(ctx context.Context, name, password string, gate store.AppAuthGate) (store.Application, error)
	FailedSignIn(ctx context.Context, action, objectKind, name, reason string)
	SignInThrottled()
	View(ctx context.Context, app store.Application) (*store.View, error)

	CreateUser(ctx context.Context, nu store.NewUser) (store.User, error)
	UpdateUser(ctx context.Context, id int64, ch store.UserChange) (store.User, error)
	RenameUser(ctx context.Context, id int64, newName string) (store.User, error)
	DeleteUser(ctx context.Context, id int64) error
	UserAttributes(ctx context.Context, userID int64) (map[string][]string, error)
	StoreUserAttributes(ctx context.Context, userID int64, attrs map[string][]string) error
	DeleteUserAttribute(ctx context.Context, userID int64, name string) error
	SetPassword(ctx context.Context, userID int64, pw string) error
	ClearPassword(ctx context.Context, userID int64) error
	ExpireAllPasswords(ctx context.Context, dirIDs []int64, except ...int64) error
	User(ctx context.Context, id int64) (store.User, error)
	Group(ctx context.Context, id int64) (store.Group, error)

	CreateGroup(ctx context.Context, ng store.NewGroup) (store.Group, error)
	UpdateGroup(ctx context.Context, id int64, ch store.GroupChange) (store.Group, error)
	DeleteGroup(ctx context.Context, id int64) error
	GroupAttributes(ctx context.Context, groupID int64) (map[string][]string, error)
	StoreGroupAttributes(ctx context.Context, groupID int64, attrs map[string][]string) error
	DeleteGroupAttribute(ctx context.Context, groupID int64, name string) error
	GroupByName(ctx context.Context, directoryID int64, name string) (store.Group, error)
	UserByName(ctx context.Context, directoryID int64, name string) (store.User, error)

	AddUserToGroup(ctx context.Context, userID, groupID int64) error
	RemoveUserFromGroup(ctx context.Context, userID, groupID int64) error
	AddGroupToGroup(ctx context.Context, childID, parentID int64) error
	RemoveGroupFromGroup(ctx context.Context, childID, parentID int64) error

	CreateSession(ctx context.Context, ns store.NewSession) (store.Session, string, error)
	SessionByToken(ctx context.Context, token string) (store.Session, error)
	DeleteSSOSession(ctx context.Context, token string) error
	DeleteUserSSOSessions(ctx context.Context, userID int64, exclude string) error
	CookieConfig(ctx context.Context) (store.CookieConfig, error)

	CurrentEventToken(ctx context.Context, configVersion int64) (store.EventToken, error)
	EventsSince(ctx context.Context, token store.EventToken, configVersion int64, dirIDs []int64) ([]store.Event, store.EventToken, error)

	Audit(ctx context.Context, outcome, action, objectKind, object string, details any) error
	ProtectedObjects(ctx context.Context) (store.Protected, error)

	RegisterWebhook(ctx context.Context, appID int64, endpoint, token string) (store.Webhook, error)
	Webhook(ctx context.Context, appID, id int64) (store.Webhook, error)
	DeleteWebhook(ctx context.Context, appID, id int64) error

	CrowdAttributes(ctx context.Context, userID int64) (map[string][]string, error)
}

type server struct {
	cfg           Config
	st            Store
	log           *slog.Logger
	version       string
	versionHeader []string  // []string{version}
	answers       sync.Pool // *[]byte: buffers of hand-written answers (session validations)

	byAddress, byName *throttle.Throttle // failed application authentications
}

// New returns the Crowd REST handler for paths under cfg.Prefix() (versions "1" and "latest").
func New(cfg Config, st Store, log *slog.Logger) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	v := cfg.Version
	if v == "" {
		v = DefaultVersion
	}
	s := &server{cfg: cfg, st: st, log: log, version: "Crowd/" + v}
	s.versionHeader = []string{s.version}
	s.byAddress, s.byName = newAuthThrottles(cfg)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.headers, s.recover, s.logRequests, s.limits, s.authenticate)
	for _, ver := range []string{"1", "latest"} {
		s.routes(e.Group(cfg.Prefix() + "/" + ver))
	}
	return handler{Echo: e, prefix: cfg.Prefix()}, nil
}

// Routes lists every method and path the API serves, for the route-pinning test.
func (s *server) routes(g *echo.Group) {
	g.GET("/user", s.getUser)
	g.POST("/user", s.createUser)
	g.PUT("/user", s.updateUser)
	g.DELETE("/user", s.deleteUser)
	g.GET("/user/attribute", s.getUserAttributes)
	g.POST("/user/attribute", s.storeUserAttributes)
	g.DELETE("/user/attribute", s.deleteUserAttribute)
	g.PUT("/user/password", s.setPassword)
	g.DELETE("/user/password", s.clearPassword)
	g.POST("/user/rename", s.renameUser)
	g.POST("/user/mail/password", s.mailPassword)
	g.POST("/user/mail/usernames", s.mailUsernames)
	g.POST("/user/expire-all-passwords", s.expireAllPasswords)
	g.GET("/user/group/direct", s.userGroups(false))
	g.GET("/user/group/nested", s.userGroups(true))
	g.POST("/user/group/direct", s.addUserToGroupByUser)
	g.DELETE("/user/group/direct", s.removeUserFromGroup)

	g.GET("/group", s.getGroup)
	g.POST("/group", s.createGroup)
	g.PUT("/group", s.updateGroup)
	g.DELETE("/group", s.deleteGroup)
	g.GET("/group/attribute", s.getGroupAttributes)
	g.POST("/group/attribute", s.storeGroupAttributes)
	g.DELETE("/group/attribute", s.deleteGroupAttribute)
	g.GET("/group/user/direct", s.groupUsers(false))
	g.GET("/group/user/nested", s.groupUsers(true))
	g.POST("/group/user/direct", s.addUserToGroupByGroup)
	g.DELETE("/group/user/direct", s.removeUserFromGroup)
	g.GET("/group/child-group/direct", s.childGroups(false))
	g.GET("/group/child-group/nested", s.childGroups(true))
	g.POST("/group/child-group/direct", s.addChildGroup)
	g.DELETE("/group/child-group/direct", s.removeChildGroup)
	g.GET("/group/parent-group/direct", s.parentGroups(false))
	g.GET("/group/parent-group/nested", s.parentGroups(true))
	g.POST("/group/parent-group/direct", s.addParentGroup)
	g.GET("/group/membership", s.memberships)

	g.POST("/authentication", s.authenticateUser)
	g.POST("/authentication/notify", s.notifyAuthenticated)

	g.POST("/session", s.createSession)
	g.DELETE("/session", s.deleteUserSessions)
	g.GET("/session/:token", s.getSession)
	g.POST("/session/:token", s.validateSession)
	g.DELETE("/session/:token", s.deleteSession)

	g.GET("/search", s.searchGET)
	g.POST("/search", s.searchPOST)

	g.GET("/event", s.currentEvent)
	g.GET("/event/:token", s.eventsSince)

	g.GET("/config/cookie", s.cookieConfig)

	g.POST("/webhook", s.registerWebhook)
	g.GET("/webhook/:id", s.getWebhook)
	g.DELETE("/webhook/:id", s.deleteWebhook)
}

var (
	userManagementVersion = []string{"1.4"}
	noCache               = []string{"no-cache, no-store"}
	noSniff               = []string{"nosniff"}
)

// headers sets what every response under the API carries, errors and 401s included.
func (s *server) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// Shared, never modified value slices: Header.Set would allocate one per header and request.
		h := c.Response().Header()
		h["X-Embedded-Crowd-Version"] = s.versionHeader
		h["X-Crowd-User-Management-Version"] = userManagementVersion
		h["Cache-Control"] = noCache
		h["X-Content-Type-Options"] = noSniff
		return next(c)
	}
}

func (s *server) recover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

func (s *server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		route := routeOf(c.Path())
		if s.cfg.Observer != nil {
			s.cfg.Observer.ObserveRequest(route, c.Request().Method, c.Response().Status, d)
		}
		if s.log.Enabled(c.Request().Context(), slog.LevelDebug) {
			app := ""
			if v, ok := c.Get(viewKey).(*store.View); ok {
				app = v.App.Name
			}
			s.log.LogAttrs(c.Request().Context(), slog.LevelDebug, "crowd request",
				slog.String("method", c.Request().Method), slog.String("route", route),
				slog.Int("status", c.Response().Status), slog.Duration("duration", d), slog.String("app", app))
		}
		return nil
	}
}

func (s *server) limits(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		r.Body = http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBodyBytes)
		if !acceptable(r) {
			return newError(http.StatusNotAcceptable, IllegalArgument, "only application/xml and application/json can be produced", nil)
		}
		return next(c)
	}
}

const (
	viewKey = "crowdgate.view"
	baseKey = "crowdgate.base"
)

// basicAuth parses "Basic base64(name:password)", splitting at the first colon; the credentials are
// UTF-8, or ISO-8859-1 when not valid UTF-8.
func basicAuth(h string) (name, pw string, ok bool) {
	scheme, enc, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", "", false
	}
	cred := string(raw)
	if !utf8.ValidString(cred) {
		rs := make([]rune, len(raw))
		for i, b := range raw {
			rs[i] = rune(b)
		}
		cred = string(rs)
	}
	name, pw, found = strings.Cut(cred, ":")
	if !found || name == "" {
		return "", "", false
	}
	return name, pw, true
}

func (s *server) unauthorized(c echo.Context) error {
	c.Response().Header().Set("WWW-Authenticate", `BASIC realm="Crowd REST Service"`)
	return c.Blob(http.StatusUnauthorized, "text/plain;charset=UTF-8", []byte("Application failed to authenticate"))
}

func (s *server) forbidden(c echo.Context, msg string) error {
	return c.Blob(http.StatusForbidden, "text/plain;charset=UTF-8", []byte(msg))
}

// clientAddress is the caller's address by the trusted-proxy rule.
func (s *server) clientAddress(r *http.Request) netip.Addr {
	return clientaddr.Of(r, s.cfg.TrustedProxies)
}

// baseURL is the externally visible URL of the context path followed by suffix, for links (one
// concatenation: it is built on every request).
func (s *server) baseURL(r *http.Request, suffix string) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimSuffix(s.cfg.BaseURL, "/") + suffix
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return scheme + r.Host + s.cfg.ContextPath + suffix
}

// handleError renders every failure as Crowd does.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		s.log.Warn("error after the response started", "path", c.Request().URL.Path, "err", err)
		return
	}
	var ce *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ce):
		if ce.Status >= 500 {
			s.log.Error("crowd request failed", "path", c.Request().URL.Path, "err", err)
		}
	case errors.As(err, &he):
		msg := fmt.Sprint(he.Message)
		reason := IllegalArgument
		if he.Code == http.StatusNotFound {
			msg = "no resource at " + c.Request().URL.Path
		}
		ce = newError(he.Code, reason, msg, err)
	case errors.Is(err, context.Canceled):
		return
	default:
		s.log.Error("crowd request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		ce = newError(http.StatusInternalServerError, OperationFailed, "the operation failed; see crowdgate's log", err)
	}
	if err := respond(c, ce.Status, errorEntity{Reason: ce.Reason, Message: stripInvalidXML(ce.Message)}); err != nil {
		s.log.Error("writing error response", "err", err)
	}
}

// stripInvalidXML removes characters XML 1.0 cannot carry, as Crowd does with messages.
func stripInvalidXML(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF) {
			return r
		}
		return -1
	}, s)
}

// routeOf turns echo's route template into the route relative to the API version, the same for
// "1" and "latest"; unmatched paths are "other" so that scanners cannot blow up metric labels.
func routeOf(path string) string {
	for _, v := range []string{"/rest/usermanagement/1/", "/rest/usermanagement/latest/"} {
		if i := strings.Index(path, v); i >= 0 {
			return path[i+len(v)-1:]
		}
	}
	return "other"
}

func viewOf(c echo.Context) *store.View { return c.Get(viewKey).(*store.View) }
func baseOf(c echo.Context) string      { return c.Get(baseKey).(string) }

package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/internal/clientaddr"
	"github.com/crowdgate/crowdgate/store"
)

// admin is the signed-in administrator of a request.
type admin struct {
	User      store.User
	Directory store.Directory
	Session   store.Session
	Address   string
	token     string // the console session's token, as its cookie holds it
}

// Internal reports whether the administrator is a local (break-glass) account, who re-enters a
// password to re-authenticate; others sign in again at the identity provider.
func (a *admin) Internal() bool { return a.Directory.Kind == store.DirectoryInternal }

func adminOf(c echo.Context) *admin {
	a, _ := c.Get(adminKey).(*admin)
	return a
}

// clientAddress is the request's effective client address under the store's trusted-proxy rule.
func (s *server) clientAddress(r *http.Request) string {
	return clientaddr.Of(r, s.cfg.TrustedProxies).String()
}

// authenticate lets a request through only with a live console session of an active member of the
// admin group; the administrator becomes the store actor of everything the request changes.
func (s *server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		ctx := r.Context()
		ck, err := r.Cookie(s.cfg.SessionCookie)
		if err != nil || ck.Value == "" {
			return s.unauthenticated(c)
		}
		sess, err := s.st.SessionByToken(ctx, ck.Value)
		if store.IsNotFound(err) || err == nil && sess.Kind != store.SessionConsole {
			return s.unauthenticated(c)
		}
		if err != nil {
			return err // fail closed: the database cannot say who this is
		}
		if s.cfg.Now().Sub(sess.CreatedAt) >= s.cfg.SessionMaxAge {
			// Past its absolute lifetime, however active: sign in again.
			if err := s.st.DeleteSessionByID(ctx, sess.ID); err != nil && !store.IsNotFound(err) {
				return err
			}
			return s.unauthenticated(c)
		}
		if sess, err = s.st.TouchConsoleSession(ctx, sess); store.IsNotFound(err) {
			return s.unauthenticated(c)
		} else if err != nil {
			return err
		}
		u, err := s.st.User(ctx, sess.UserID)
		if store.IsNotFound(err) || err == nil && !u.Active {
			return s.unauthenticated(c)
		}
		if err != nil {
			return err
		}
		d, err := s.st.Directory(ctx, u.DirectoryID)
		if err != nil {
			return err
		}
		a := &admin{User: u, Directory: d, Session: sess, Address: s.clientAddress(r), token: ck.Value}
		c.Set(adminKey, a)
		_, ok, err := s.st.Administrator(ctx, u)
		if err != nil {
			return err
		}
		if !ok {
			c.Set(adminKey, nil)
			s.log.Warn("console: not an administrator", "user", u.Name, "client", a.Address)
			return s.forbidden(c, a)
		}
		c.SetRequest(r.WithContext(store.WithActor(ctx, store.Actor{Kind: store.ActorAdmin, Name: u.Name, Address: a.Address})))
		if stop, err := s.enrolmentOnly(c, a); stop || err != nil {
			return err
		}
		return next(c)
	}
}

// unauthenticated sends browsers to sign in and answers 401 to everything else.
func (s *server) unauthenticated(c echo.Context) error {
	r := c.Request()
	if r.Method != http.MethodGet || wantsJSON(c) {
		return echo.NewHTTPError(http.StatusUnauthorized, "Your console session has ended. Sign in again.")
	}
	return c.Redirect(http.StatusFound, s.loginURL(r.URL.RequestURI()))
}

// forbidden is the page for signed-in users who are not administrators.
func (s *server) forbidden(c echo.Context, a *admin) error {
	p := s.newPage(c, "Not an administrator", "")
	p.Data = map[string]any{"User": a.User.Name, "Group": s.cfg.AdminGroup}
	return s.render(c, http.StatusForbidden, "forbidden", p)
}

// loginURL is where to sign in to come back to dest (a console path).
func (s *server) loginURL(dest string) string {
	if !s.safeReturn(dest) {
		dest = s.cfg.PathPrefix + "/"
	}
	if s.cfg.LoginURL == "" {
		return s.cfg.PathPrefix + "/login?next=" + url.QueryEscape(dest)
	}
	u, err := url.Parse(s.cfg.LoginURL)
	if err != nil {
		return s.cfg.LoginURL
	}
	q := u.Query()
	q.Set("dest", dest)
	u.RawQuery = q.Encode()
	return u.String()
}

// reauthURL is loginURL asking the SAML sign-in to re-authenticate (reauth=1: the IdP gets
// ForceAuthn and must not sign the administrator back in from its own session).
func (s *server) reauthURL(dest string) string {
	u := s.loginURL(dest)
	if s.cfg.LoginURL == "" {
		return u
	}
	return u + "&reauth=1"
}

// safeReturn accepts only console paths as places to go back to.
func (s *server) safeReturn(dest string) bool {
	return strings.HasPrefix(dest, s.cfg.PathPrefix+"/") && !strings.HasPrefix(dest, "//") &&
		!strings.ContainsAny(dest, "\\\r\n") && !strings.Contains(dest, "/../")
}

func (s *server) sessionCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: s.cfg.SessionCookie, Value: value, Path: s.cfg.PathPrefix, MaxAge: maxAge,
		Secure: s.cfg.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

type loginData struct {
	Next      string
	Username  string
	SSO       string // the identity provider sign-in, if configured
	SignedOut bool
	Error     string
	Local     bool // the password form is offered
}

func (s *server) loginPage(c echo.Context) error {
	next := c.QueryParam("next")
	if !s.safeReturn(next) {
		next = s.cfg.PathPrefix + "/"
	}
	p := s.newPage(c, "Sign in", "")
	d := loginData{Next: next, SignedOut: c.QueryParam("signed_out") != "", Local: !s.cfg.NoLocalSignIn}
	if s.cfg.LoginURL != "" {
		d.SSO = s.loginURL(next)
	}
	p.Data = d
	return s.render(c, http.StatusOK, "login", p)
}

// login is the break-glass sign-in: a password of an internal-directory administrator; failures
// slow down and then block the source address (never the account), every attempt audited.
func (s *server) login(c echo.Context) error {
	r := c.Request()
	addr := s.clientAddress(r)
	name, pw, next := strings.TrimSpace(c.FormValue("username")), c.FormValue("password"), c.FormValue("next")
	if !s.safeReturn(next) {
		next = s.cfg.PathPrefix + "/"
	}
	ctx := store.WithActor(r.Context(), store.Actor{Kind: store.ActorAdmin, Name: name, Address: addr})
	fail := func(status int, reason, public string) error {
		// Aggregated per address and minute, throttled attempts only counted: a flood of
		// unauthenticated posts cannot fill the audit log.
		if status == http.StatusTooManyRequests {
			s.st.SignInThrottled()
		} else {
			s.log.Warn("console: sign-in refused", "user", store.CapName(name), "client", addr, "reason", store.CapName(reason))
			s.st.FailedSignIn(ctx, "CONSOLE_LOGIN", "USER", name, reason)
		}
		p := s.newPage(c, "Sign in", "")
		d := loginData{Next: next, Username: name, Error: public, Local: !s.cfg.NoLocalSignIn}
		if s.cfg.LoginURL != "" {
			d.SSO = s.loginURL(next)
		}
		p.Data = d
		return s.render(c, status, "login", p)
	}
	if s.cfg.NoLocalSignIn {
		return fail(http.StatusForbidden, "local sign-in is off (CROWDGATE_BREAKGLASS=off)", "Local sign-in is switched off here. Sign in with single sign-on.")
	}
	u, method, err := s.localAdmin2FA(ctx, name, pw, c.FormValue("code"))
	switch {
	case errors.Is(err, store.ErrThrottled):
		return fail(http.StatusTooManyRequests, err.Error(), "Too many failed attempts from your address. Wait a few minutes and try again.")
	case isRefusal(err):
		// The same answer whichever factor was wrong.
		return fail(http.StatusUnauthorized, err.Error(), "Sign-in failed. Check the user name, password and code.")
	case err != nil:
		return err
	}
	if err := s.startSession(ctx, c, u, addr, method); err != nil {
		return err
	}
	if method == methodEnrolPending {
		return c.Redirect(http.StatusSeeOther, s.cfg.PathPrefix+enrolPath)
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// methodEnrolPending is the sign-in method (audited) of a local administrator who must set up a
// second factor: the session is limited to enrolment.
const methodEnrolPending = "password, second factor to set up"

// localAdmin2FA is localAdmin followed by the second factor: code must be a valid authenticator
// or recovery code when the administrator has one. Without one, a required factor leaves a
// session limited to enrolment (enrolmentOnly). method names the factors, for the audit.
func (s *server) localAdmin2FA(ctx context.Context, name, pw, code string) (store.User, string, error) {
	u, err := s.localAdmin(ctx, name, pw)
	if err != nil {
		return u, "", err
	}
	enrolled, err := s.st.TOTPEnrolled(ctx, u)
	switch {
	case err != nil:
		return store.User{}, "", err
	case enrolled:
		if err := s.st.VerifySecondFactor(ctx, u, code); err != nil {
			return store.User{}, "", err
		}
		return u, "password and second factor", nil
	case s.cfg.RequireSecondFactor:
		return u, methodEnrolPending, nil
	}
	return u, "password", nil
}

// errNotAdmin: the password is right but the user is not a member of a group bound as an
// administrator group (store.Administrator).
var errNotAdmin = errors.New("not a member of a bound administrator group")

// isRefusal tells a refused sign-in (wrong name, password or group, throttled, inactive, expired)
// from a failure of the server.
func isRefusal(err error) bool {
	for _, e := range []error{store.ErrBadCredential, store.ErrNotFound, store.ErrInactive, store.ErrExpiredCredential, errNotAdmin} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// localAdmin checks a user name and password against the active internal directories (the first
// that has the name decides) and the admin group. The store counts failures against the sending
// address, audits them, and spends the same hashing on unknown names.
func (s *server) localAdmin(ctx context.Context, name, pw string) (store.User, error) {
	if name == "" || pw == "" {
		return store.User{}, fmt.Errorf("user name or password missing: %w", store.ErrBadCredential)
	}
	dirs, err := s.st.Directories(ctx)
	if err != nil {
		return store.User{}, err
	}
	var ids []int64
	for _, d := range dirs {
		if d.Kind == store.DirectoryInternal && d.Active {
			ids = append(ids, d.ID)
		}
	}
	u, err := s.st.AuthenticateLocal(ctx, ids, name, pw)
	if err != nil {
		return store.User{}, err
	}
	_, ok, err := s.st.Administrator(ctx, u)
	if err != nil {
		return store.User{}, err
	}
	if !ok {
		return store.User{}, errNotAdmin
	}
	return u, nil
}

// checkLocalAdmin is localAdmin with a refusal as a reason instead of an error.
func (s *server) checkLocalAdmin(ctx context.Context, name, pw string) (store.User, string, error) {
	u, err := s.localAdmin(ctx, name, pw)
	if isRefusal(err) {
		return store.User{}, err.Error(), nil
	}
	return u, "", err
}

// startSession creates a console session for u and sets its cookie.
func (s *server) startSession(ctx context.Context, c echo.Context, u store.User, addr, method string) error {
	_, token, err := s.st.CreateSession(ctx, store.NewSession{Kind: store.SessionConsole, UserID: u.ID, RemoteAddress: addr})
	if err != nil {
		return err
	}
	http.SetCookie(c.Response(), s.sessionCookie(token, 0))
	if err := s.st.Audit(ctx, "SUCCESS", "LOGIN", "USER", u.Name, map[string]string{"method": method, "target": "console"}); err != nil {
		s.log.Error("console: audit sign-in", "err", err)
	}
	s.log.Info("console: signed in", "user", u.Name, "method", method, "client", addr)
	return nil
}

// logout ends the request's console session, administrator or not, and clears its cookie.
func (s *server) logout(c echo.Context) error {
	r := c.Request()
	if ck, err := r.Cookie(s.cfg.SessionCookie); err == nil && ck.Value != "" {
		sess, err := s.st.SessionByToken(r.Context(), ck.Value)
		if err == nil && sess.Kind == store.SessionConsole {
			name := ""
			if u, err := s.st.User(r.Context(), sess.UserID); err == nil {
				name = u.Name
			}
			ctx := store.WithActor(r.Context(), store.Actor{Kind: store.ActorAdmin, Name: name, Address: s.clientAddress(r)})
			if err := s.st.DeleteSessionByID(ctx, sess.ID); err != nil && !store.IsNotFound(err) {
				return err
			}
			if err := s.st.Audit(ctx, "SUCCESS", "LOGOUT", "USER", name, "console"); err != nil {
				s.log.Error("console: audit sign-out", "err", err)
			}
		} else if err != nil && !store.IsNotFound(err) {
			return err
		}
	}
	http.SetCookie(c.Response(), s.sessionCookie("", -1))
	return c.Redirect(http.StatusSeeOther, s.cfg.PathPrefix+"/login?signed_out=1")
}

// fresh reports whether the administrator signed in recently enough for a sensitive action.
func (s *server) fresh(a *admin) bool {
	return s.cfg.Now().Sub(a.Session.CreatedAt) < s.cfg.ReauthAge
}

// requireFresh lets a sensitive action go on when the sign-in is recent, or when the form carries
// the (break-glass) administrator's password, which then renews the session. Otherwise it
// answers with a redirect (to the re-authentication page, or back for a wrong password) and
// returns false: the handler must stop.
func (s *server) requireFresh(c echo.Context, back string) (bool, error) {
	a := adminOf(c)
	if s.fresh(a) {
		return true, nil
	}
	if pw := c.FormValue("reauth_password"); pw != "" && a.Internal() {
		ok, err := s.reauthenticate(c, a, pw)
		if err != nil || ok {
			return ok, err
		}
		s.setFlash(c, "error", "The password was not accepted; nothing was changed.")
		return false, c.Redirect(http.StatusSeeOther, back)
	}
	s.setFlash(c, "error", "This change needs a recent sign-in. Confirm who you are, then repeat it.")
	return false, c.Redirect(http.StatusSeeOther, s.cfg.PathPrefix+"/reauth?next="+url.QueryEscape(back))
}

// recent guards a sensitive route (passwords, administrators and memberships, mappings, allowed
// groups and addresses, activation, sign-in policy) with requireFresh; a refusal returns to the
// page of the object the route changes.
func (s *server) recent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		back := s.cfg.PathPrefix + "/"
		parts := strings.Split(strings.TrimPrefix(c.Request().URL.Path, s.cfg.PathPrefix+"/"), "/")
		if id := c.Param("id"); len(parts) > 1 && parts[1] == id {
			back += parts[0] + "/" + id
		} else {
			back += parts[0]
		}
		if ok, err := s.requireFresh(c, back); !ok {
			return err
		}
		return next(c)
	}
}

// reauthenticate checks a break-glass administrator's password again and replaces the session with
// a fresh one. ok is false for a wrong password (throttled like sign-ins).
func (s *server) reauthenticate(c echo.Context, a *admin, pw string) (bool, error) {
	ctx := c.Request().Context()
	ok, forgive := s.throttle.Attempt(a.Address, s.cfg.Now())
	if !ok {
		return false, nil
	}
	u, reason, err := s.checkLocalAdmin(ctx, a.User.Name, pw)
	if err != nil {
		forgive()
		return false, err
	}
	if reason != "" || u.ID != a.User.ID {
		if err := s.st.Audit(ctx, "FAILURE", "CONSOLE_REAUTH", "USER", a.User.Name, reason); err != nil {
			s.log.Error("console: audit re-authentication", "err", err)
		}
		return false, nil
	}
	forgive()
	sess, token, err := s.st.CreateSession(ctx, store.NewSession{Kind: store.SessionConsole, UserID: u.ID, RemoteAddress: a.Address})
	if err != nil {
		return false, err
	}
	if err := s.st.DeleteSessionByID(ctx, a.Session.ID); err != nil && !store.IsNotFound(err) {
		return false, err
	}
	a.Session, a.token = sess, token
	http.SetCookie(c.Response(), s.sessionCookie(token, 0))
	if err := s.st.Audit(ctx, "SUCCESS", "CONSOLE_REAUTH", "USER", u.Name, nil); err != nil {
		s.log.Error("console: audit re-authentication", "err", err)
	}
	return true, nil
}

type reauthData struct {
	Next     string
	Internal bool
	SSO      string
	Error    string
	Fresh    bool
}

func (s *server) reauthPage(c echo.Context) error {
	a := adminOf(c)
	next := c.QueryParam("next")
	if !s.safeReturn(next) {
		next = s.cfg.PathPrefix + "/"
	}
	p := s.newPage(c, "Confirm it is you", "")
	p.Data = reauthData{Next: next, Internal: a.Internal(), SSO: s.reauthURL(next), Fresh: s.fresh(a)}
	return s.render(c, http.StatusOK, "reauth", p)
}

func (s *server) reauth(c echo.Context) error {
	a := adminOf(c)
	next := c.FormValue("next")
	if !s.safeReturn(next) {
		next = s.cfg.PathPrefix + "/"
	}
	if !a.Internal() {
		return c.Redirect(http.StatusSeeOther, s.reauthURL(next))
	}
	ok, err := s.reauthenticate(c, a, c.FormValue("password"))
	if err != nil {
		return err
	}
	if !ok {
		p := s.newPage(c, "Confirm it is you", "")
		p.Data = reauthData{Next: next, Internal: true, Error: "The password was not accepted."}
		return s.render(c, http.StatusUnauthorized, "reauth", p)
	}
	s.setFlash(c, "ok", "Thank you. You can now make the change.")
	return c.Redirect(http.StatusSeeOther, next)
}

package crowdapi

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/internal/clientaddr"
	"github.com/crowdgate/crowdgate/store"
)

// authError maps a failed password check to Crowd's answer for /authentication (always 400: a 403
// would make the client report a directory error instead of a failed login).
func authError(name string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return userNotFound(http.StatusBadRequest, name, err)
	case errors.Is(err, store.ErrInactive):
		return newError(http.StatusBadRequest, InactiveAccount, "Account with name <"+name+"> is inactive", err)
	case errors.Is(err, store.ErrExpiredCredential):
		return newError(http.StatusBadRequest, ExpiredCredential, "The password of <"+name+"> has expired and must be changed", err)
	case errors.Is(err, store.ErrNotAllowed):
		return newError(http.StatusBadRequest, InvalidUserAuthentication, "User is not allowed to authenticate with the application", err)
	case errors.Is(err, store.ErrBadCredential):
		return newError(http.StatusBadRequest, InvalidUserAuthentication, "Failed to authenticate principal, password was invalid", err)
	}
	return err
}

func (s *server) authenticateUser(c echo.Context) error {
	name, err := required(c, "username")
	if err != nil {
		return err
	}
	var in passwordEntity
	if err := bind(c, &in, false); err != nil {
		return err
	}
	if in.Value == nil {
		return illegalArgument("the password needs a value")
	}
	u, err := viewOf(c).Authenticate(s.userLoginContext(c, name, netip.Addr{}), name, *in.Value)
	if err != nil {
		return authError(name, err)
	}
	return s.respondUser(c, u, false)
}

// notifyAuthenticated: the application signed the user in by other means (SSO); answer with the
// fresh user, refusing inactive accounts.
func (s *server) notifyAuthenticated(c echo.Context) error {
	u, err := s.lookupUser(c, "username", http.StatusNotFound)
	if err != nil {
		return err
	}
	if !u.Active {
		return newError(http.StatusBadRequest, InactiveAccount, "Account with name <"+u.Name+"> is inactive", nil)
	}
	// Crowd records the sign-in (lastAuthenticated); one the application may not make is not
	// recorded, and the answer stays as it was.
	if err := viewOf(c).RecordSignIn(c.Request().Context(), u); err != nil && !errors.Is(err, store.ErrNotAllowed) {
		return err
	}
	return s.respondUser(c, u, false)
}

// userLoginContext names what a user's wrong passwords count against (store/loginguard.go): the end
// user's address from the validation factors when the application's own address is a trusted
// proxy; otherwise the application's address together with the user name, so that wrong passwords
// typed into an application's login form slow down that name there, not every user of the
// application, and never the user's sign-in elsewhere.
func (s *server) userLoginContext(c echo.Context, name string, user netip.Addr) context.Context {
	r := c.Request()
	app := s.clientAddress(r)
	if user.IsValid() && s.cfg.TrustedProxies.Contains(r.Context(), app) {
		return store.WithLoginAddress(r.Context(), user.String())
	}
	if rs := []rune(store.Lower(name)); len(rs) > maxGuardName {
		name = string(rs[:maxGuardName])
	}
	return store.WithLoginAddress(r.Context(), app.String()+" "+store.Lower(name))
}

// maxGuardName bounds the user-name part of a throttling key, whatever length of name is sent.
const maxGuardName = 255

// factorsIn converts validation factors and resolves the browser's effective address from them.
func (s *server) factorsIn(c echo.Context, in *validationFactorsEntity) ([]store.Factor, netip.Addr) {
	if in == nil {
		return nil, netip.Addr{}
	}
	out := make([]store.Factor, 0, len(in.Factors))
	var remote, xff string
	for _, f := range in.Factors {
		out = append(out, store.Factor{Name: f.Name, Value: f.Value})
		switch f.Name {
		case "remote_address":
			remote = f.Value
		case "X-Forwarded-For":
			xff = f.Value
		}
	}
	addr, err := netip.ParseAddr(remote)
	if err != nil {
		return out, netip.Addr{}
	}
	var hops []string
	if xff != "" {
		hops = []string{xff}
	}
	return out, clientaddr.Resolve(c.Request().Context(), addr, hops, s.cfg.TrustedProxies)
}

// respondSession answers 200 with the session (see sessionOut).
func (s *server) respondSession(c echo.Context, token string, sess store.Session, u store.User, full bool) error {
	out, err := s.sessionOut(c, token, sess, u, full)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, out)
}

// sessionOut renders a session; its user is full when full or expand=user, else minimal.
func (s *server) sessionOut(c echo.Context, token string, sess store.Session, u store.User, full bool) (sessionEntity, error) {
	base, n := baseOf(c), namerOf(c)
	var user userEntity
	if full || expandOf(c).user {
		var err error
		if user, err = s.userOut(c, u, false); err != nil {
			return sessionEntity{}, err
		}
	} else {
		user = minimalUser(base, n, u.Name)
	}
	return sessionEntity{
		Expand: "user", Token: token, User: &user,
		Link:        &link{Rel: "self", Href: base + "/session/" + token},
		CreatedDate: newTime(sess.CreatedAt), ExpiryDate: newTime(sess.ExpiresAt),
	}, nil
}

func (s *server) createSession(c echo.Context) error {
	ctx := c.Request().Context()
	validate := true
	if v := c.QueryParam("validate-password"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return illegalArgument("validate-password must be true or false, not %q", v)
		}
		validate = b
	}
	var timeout time.Duration
	if v := c.QueryParam("duration"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return illegalArgument("duration must be a positive number of seconds, not %q", v)
		}
		timeout = time.Duration(n) * time.Second
	}
	var in authContextEntity
	if err := bind(c, &in, false); err != nil {
		return err
	}
	name := in.Username
	if name == "" {
		name = in.UserName
	}
	if name == "" {
		return illegalArgument("the authentication context needs a username")
	}
	v := viewOf(c)
	factors, addr := s.factorsIn(c, in.Factors)
	var u store.User
	var err error
	if validate {
		pw := ""
		if in.Password != nil {
			pw = *in.Password
		}
		u, err = v.Authenticate(s.userLoginContext(c, name, addr), name, pw)
	} else {
		u, err = v.User(ctx, name)
		if err == nil && !u.Active {
			err = store.ErrInactive
		}
		if err == nil {
			err = v.MayAuthenticate(ctx, u)
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotAllowed):
		return newError(http.StatusForbidden, ApplicationAccessDenied, "User <"+name+"> is not allowed to authenticate with the application", err)
	case errors.Is(err, store.ErrNotFound):
		// Crowd does not reveal whether the user exists here.
		return newError(http.StatusBadRequest, InvalidUserAuthentication, "Account with name <"+name+"> failed to authenticate", err)
	default:
		return authError(name, err)
	}
	ip := ""
	if addr.IsValid() {
		ip = addr.String()
	}
	sess, token, err := s.st.CreateSession(ctx, store.NewSession{Kind: store.SessionSSO, UserID: u.ID,
		ApplicationID: v.App.ID, Factors: factors, RemoteAddress: ip, Timeout: timeout})
	if err != nil {
		return err
	}
	out, err := s.sessionOut(c, token, sess, u, false)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", out.Link.Href)
	return respond(c, http.StatusCreated, out)
}

func tokenError(err error) error {
	switch {
	case store.IsNotFound(err):
		return newError(http.StatusNotFound, InvalidSSOToken, "Token does not exist or has expired", err)
	case errors.Is(err, store.ErrInvalid):
		return newError(http.StatusBadRequest, InvalidSSOToken, "The validation factors do not match the session", err)
	case errors.Is(err, store.ErrNotAllowed), errors.Is(err, store.ErrInactive):
		return newError(http.StatusForbidden, ApplicationAccessDenied, "The user may no longer authenticate with the application", err)
	}
	return err
}

// validateSession is POST /session/{token}: the request Seraph makes on page views.
func (s *server) validateSession(c echo.Context) error {
	token := c.Param("token")
	var in validationFactorsEntity
	if err := bind(c, &in, true); err != nil {
		return err
	}
	factors, addr := s.factorsIn(c, &in)
	sess, u, err := viewOf(c).ValidateSession(c.Request().Context(), token, store.SessionCheck{Factors: factors, ClientAddress: addr})
	if err != nil {
		return tokenError(err)
	}
	expand := expandOf(c).user
	if !wantsJSON(c.Request()) && !expand {
		buf, _ := s.answers.Get().(*[]byte)
		if buf == nil {
			buf = new([]byte)
		}
		*buf = appendSessionXML((*buf)[:0], baseOf(c), token, namerOf(c).name(u.Name), sess.CreatedAt, sess.ExpiresAt)
		err := c.Blob(http.StatusOK, "application/xml", *buf)
		s.answers.Put(buf) // the response has copied it
		return err
	}
	if expand {
		// The validation carries the user's name only; the full user comes from the directory.
		if u, err = s.st.User(c.Request().Context(), u.ID); err != nil {
			return tokenError(err)
		}
	}
	return s.respondSession(c, token, sess, u, false)
}

// getSession is GET /session/{token}: no factors, no extension, but the same access rule as a
// validation, so a token cannot be turned into a user's details by an application that user may
// not use. The user is always the full one, with or without expand=user, as Crowd 2.x answered
// (docs/crowd-wire-fidelity.md, Session lookup).
func (s *server) getSession(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	sess, err := s.st.SessionByToken(ctx, token)
	if err != nil || sess.Kind != store.SessionSSO {
		return tokenError(store.ErrNotFound)
	}
	u, err := s.st.User(ctx, sess.UserID)
	if err != nil {
		return tokenError(err)
	}
	if !u.Active {
		return tokenError(store.ErrInactive)
	}
	if err := viewOf(c).MayAuthenticate(ctx, u); err != nil {
		return tokenError(err)
	}
	return s.respondSession(c, token, sess, u, true)
}

func (s *server) deleteSession(c echo.Context) error {
	// SSO sessions only: a console session's token is not an application's to end.
	if err := s.st.DeleteSSOSession(c.Request().Context(), c.Param("token")); err != nil {
		return err
	}
	return noContent(c)
}

func (s *server) deleteUserSessions(c echo.Context) error {
	u, err := s.lookupUser(c, "username", http.StatusNotFound)
	if err != nil {
		return err
	}
	if err := s.protectUsers(c, "end all sessions", u); err != nil {
		return err
	}
	if err := s.st.DeleteUserSSOSessions(c.Request().Context(), u.ID, c.QueryParam("exclude")); err != nil {
		return err
	}
	return noContent(c)
}

func (s *server) cookieConfig(c echo.Context) error {
	cc, err := s.st.CookieConfig(c.Request().Context())
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, cookieConfigEntity{Domain: cc.Domain, Secure: cc.Secure, Name: cc.Name})
}

package crowdapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/internal/throttle"
	"github.com/crowdgate/crowdgate/store"
)

// authWindow is the window of the application authentication throttles.
const authWindow = time.Minute

func newAuthThrottles(cfg Config) (byAddress, byName *throttle.Throttle) {
	n := cfg.AuthFailures
	if n == 0 {
		n = DefaultAuthFailures
	}
	return throttle.New(n, authWindow), throttle.New(3*n, authWindow)
}

// errThrottled and addressRefused end an authentication before the password is checked.
var errThrottled = errors.New("too many failed authentications")

type addressRefused struct{ app string }

func (e addressRefused) Error() string { return "address not allowed for application " + e.app }

// authenticate checks the application's Basic credentials and remote address.
// In this order, so that no answer tells more than it must: a disallowed address is refused (403)
// before the password is looked at; a password that needs hashing (not verified recently) is
// throttled per source address and per application name first (429, no hash); an unknown name
// costs the same hash as a known one; unknown names and wrong passwords are 401 in plain text, an
// inactive application 403. Failures are audited aggregated per address and minute, throttled
// attempts only counted.
func (s *server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		name, pw, ok := basicAuth(r.Header.Get("Authorization"))
		if !ok {
			return s.unauthorized(c)
		}
		ctx := r.Context()
		client := s.clientAddress(r)
		logName := store.CapName(name)
		var forgive []func()
		gate := store.AppAuthGate{
			Allow: func(app store.Application) error {
				if len(app.RemoteAddresses) == 0 {
					return nil
				}
				list, err := store.ParseAddressList(app.RemoteAddresses)
				if err != nil || !list.Contains(ctx, client) {
					return addressRefused{app: app.Name}
				}
				return nil
			},
			Hash: func() error {
				now := time.Now()
				okAddr, fa := s.byAddress.Attempt(client.String(), now)
				if !okAddr {
					return errThrottled
				}
				okName, fn := s.byName.Attempt(strings.ToLower(logName), now)
				if !okName {
					fa()
					return errThrottled
				}
				forgive = append(forgive, fa, fn)
				return nil
			},
		}
		app, err := s.st.AuthenticateApplicationWith(ctx, name, pw, gate)
		// The failures' audit context, built only for them: a success (every validation) skips it.
		actx := func() context.Context {
			return store.WithActor(context.WithoutCancel(ctx), store.Actor{Kind: store.ActorApplication, Name: logName, Address: client.String()})
		}
		var refused addressRefused
		switch {
		case err == nil:
			for _, f := range forgive {
				f()
			}
		case errors.Is(err, errThrottled):
			s.st.SignInThrottled()
			s.log.Debug("application authentication throttled", "app", logName, "client", client.String())
			c.Response().Header().Set("Retry-After", "60")
			return c.Blob(http.StatusTooManyRequests, "text/plain;charset=UTF-8", []byte("Too many failed authentication attempts; try again later"))
		case errors.As(err, &refused):
			s.st.FailedSignIn(actx(), "APPLICATION_LOGIN_FAILED", "APPLICATION", logName, "address not allowed")
			return s.forbidden(c, fmt.Sprintf("Client with address %q is forbidden from making requests to the application, %s.", client, refused.app))
		case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadCredential):
			s.log.Info("application failed to authenticate", "app", logName, "client", client.String())
			// A login failure of an application; requests without credentials, the usual first
			// challenge, are not failures.
			s.st.FailedSignIn(actx(), "APPLICATION_LOGIN_FAILED", "APPLICATION", logName, "wrong application name or password")
			return s.unauthorized(c)
		default:
			return fmt.Errorf("authenticate application %q: %w", logName, err)
		}
		if !app.Active {
			return s.forbidden(c, fmt.Sprintf("Application %q is inactive", app.Name))
		}
		v, err := s.st.View(ctx, app)
		if err != nil {
			return err
		}
		c.Set(viewKey, v)
		api := "/rest/usermanagement/1"
		if strings.Contains(r.URL.Path, "/rest/usermanagement/latest/") {
			api = "/rest/usermanagement/latest" // links follow the version the client used, as Crowd's do
		}
		c.Set(baseKey, s.baseURL(r, api))
		actor := store.Actor{Kind: store.ActorApplication, Name: app.Name, Address: client.String()}
		c.SetRequest(r.WithContext(store.WithActor(ctx, actor)))
		return next(c)
	}
}

package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/crowdgate/crowdgate/internal/totp"
	"github.com/crowdgate/crowdgate/store"
)

// The second factor of local administrators (TOTP, docs/break-glass.md): enrolment of one's own
// factor, its reset by another administrator, and the limit on the sessions of administrators
// who must have one and have none yet.

const enrolPath = "/second-factor"

// secondFactorRoutes registers the enrolment pages; g is the signed-in group.
func (s *server) secondFactorRoutes(g *echo.Group) {
	g.GET(enrolPath, s.enrolPage, s.recent)
	g.POST(enrolPath+"/start", s.startEnrolment, s.recent)
	g.GET(enrolPath+"/qr.png", s.enrolQR, s.recent)
	g.POST(enrolPath+"/confirm", s.confirmEnrolment, s.recent)
	g.POST("/users/:id/second-factor/reset", s.resetSecondFactor, s.recent)
}

// mustEnrol reports whether a must have a second factor before anything else: a local
// administrator, when it is required, without a confirmed one.
func (s *server) mustEnrol(c echo.Context, a *admin) (bool, error) {
	if !s.cfg.RequireSecondFactor || !a.Internal() {
		return false, nil
	}
	ok, err := s.st.TOTPEnrolled(c.Request().Context(), a.User)
	return !ok, err
}

// enrolmentOnly lets a session that must enrol reach the enrolment pages (and the
// re-authentication they may ask for) only: its password was proven, its second factor not.
func (s *server) enrolmentOnly(c echo.Context, a *admin) (bool, error) {
	must, err := s.mustEnrol(c, a)
	if err != nil || !must {
		return false, err
	}
	p := strings.TrimPrefix(c.Path(), s.cfg.PathPrefix)
	if strings.HasPrefix(p, enrolPath) || p == "/reauth" {
		return false, nil
	}
	if c.Request().Method == http.MethodGet && !wantsJSON(c) {
		return true, c.Redirect(http.StatusFound, s.cfg.PathPrefix+enrolPath)
	}
	return true, echo.NewHTTPError(http.StatusForbidden, "Set up your second factor first.")
}

type enrolData struct {
	Applicable bool     // the administrator is a local one
	Required   bool     // a second factor is required
	Enrolled   bool     // confirmed
	URI        string   // the pending secret's otpauth URI
	Secret     string   // the pending secret, to type in
	Recovery   []string // shown once, right after confirmation
	Error      string
}

func (s *server) enrolData(c echo.Context) (enrolData, error) {
	a := adminOf(c)
	d := enrolData{Applicable: a.Internal(), Required: s.cfg.RequireSecondFactor}
	if !d.Applicable {
		return d, nil
	}
	secret, confirmed, err := s.st.TOTPSecret(c.Request().Context(), a.User)
	switch {
	case store.IsNotFound(err):
	case err != nil:
		return d, err
	case confirmed:
		d.Enrolled = true
	default:
		d.Secret, d.URI = secret, totp.URI("crowdgate", a.User.Name, secret)
	}
	return d, nil
}

func (s *server) renderEnrol(c echo.Context, status int, d enrolData) error {
	c.Response().Header().Set("Cache-Control", "no-store") // secrets and recovery codes
	p := s.newPage(c, "Second factor", "")
	p.Data = d
	return s.render(c, status, "secondfactor", p)
}

func (s *server) enrolPage(c echo.Context) error {
	d, err := s.enrolData(c)
	if err != nil {
		return err
	}
	return s.renderEnrol(c, http.StatusOK, d)
}

func (s *server) startEnrolment(c echo.Context) error {
	a := adminOf(c)
	if !a.Internal() {
		return echo.NewHTTPError(http.StatusBadRequest, "Administrators who sign in with single sign-on have their second factor at the identity provider.")
	}
	_, err := s.st.StartTOTP(c.Request().Context(), a.User)
	return s.done(c, err, s.cfg.PathPrefix+enrolPath, "")
}

// enrolQR is the pending secret's otpauth URI as a QR code, from this origin (the CSP allows
// images from 'self' only).
func (s *server) enrolQR(c echo.Context) error {
	d, err := s.enrolData(c)
	if err != nil {
		return err
	}
	if d.URI == "" {
		return echo.NewHTTPError(http.StatusNotFound, "No enrolment is under way.")
	}
	png, err := qrcode.Encode(d.URI, qrcode.Medium, 256)
	if err != nil {
		return fmt.Errorf("QR code: %w", err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "image/png", png)
}

func (s *server) confirmEnrolment(c echo.Context) error {
	a := adminOf(c)
	if !a.Internal() {
		return echo.NewHTTPError(http.StatusBadRequest, "Only local administrators enrol here.")
	}
	codes, err := s.st.ConfirmTOTPCode(c.Request().Context(), a.User, c.FormValue("code"))
	if errors.Is(err, store.ErrBadCredential) {
		d, derr := s.enrolData(c)
		if derr != nil {
			return derr
		}
		d.Error = "The code was not accepted. Check the authenticator app's clock and try the next code."
		return s.renderEnrol(c, http.StatusUnprocessableEntity, d)
	}
	if err != nil {
		return s.done(c, err, s.cfg.PathPrefix+enrolPath, "")
	}
	s.log.Info("console: second factor enrolled", "user", a.User.Name, "client", a.Address)
	return s.renderEnrol(c, http.StatusOK, enrolData{Applicable: true, Required: s.cfg.RequireSecondFactor, Enrolled: true, Recovery: codes})
}

// resetSecondFactor removes another administrator's (or user's) second factor, for a lost
// device; the store audits it. One's own cannot be reset: a stolen session must not shed it.
func (s *server) resetSecondFactor(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	back := fmt.Sprintf("%s/users/%d", s.cfg.PathPrefix, id)
	if id == adminOf(c).User.ID {
		s.setFlash(c, "error", "Another administrator must reset your second factor.")
		return c.Redirect(http.StatusSeeOther, back)
	}
	ctx := c.Request().Context()
	u, err := s.st.User(ctx, id)
	if err != nil {
		return err
	}
	return s.done(c, s.st.ResetTOTP(ctx, u), back, "Second factor reset: "+u.Name+" sets up a new one at the next sign-in.")
}

// mfaBanner returns the local administrators still without a second factor while one is
// required, for the banner on every page.
func (s *server) mfaBanner(c echo.Context) []string {
	if !s.cfg.RequireSecondFactor {
		return nil
	}
	names, err := s.st.LocalAdministratorsWithoutTOTP(c.Request().Context())
	if err != nil {
		s.log.Error("console: administrators without a second factor", "err", err)
	}
	return names
}

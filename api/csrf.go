package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

const (
	csrfKey   = "csrf"  // echo context key of the request's CSRF token
	csrfField = "_csrf" // form field
	csrfLen   = 32      // random bytes
	adminKey  = "admin" // echo context key of the signed-in *admin
	flashKey  = "flash" // echo context key of flashes set during this request
	csrfHdr   = "X-CSRF-Token"
)

func (s *server) csrfCookie() string  { return s.cfg.SessionCookie + "_csrf" }
func (s *server) flashCookie() string { return s.cfg.SessionCookie + "_flash" }

// csrf is a double-submit check: a random token lives in an HttpOnly, SameSite=Strict cookie and
// every unsafe request must send it back in the _csrf form field (or the X-CSRF-Token header). On
// top, browsers' Sec-Fetch-Site and Origin must not name another site.
func (s *server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		token := ""
		if ck, err := r.Cookie(s.csrfCookie()); err == nil && validCSRF(ck.Value) {
			token = ck.Value
		}
		fresh := token == ""
		if fresh {
			b := make([]byte, csrfLen)
			rand.Read(b)
			token = base64.RawURLEncoding.EncodeToString(b)
			http.SetCookie(c.Response(), &http.Cookie{Name: s.csrfCookie(), Value: token, Path: s.cfg.PathPrefix,
				HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode})
		}
		c.Set(csrfKey, token)
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			return echo.NewHTTPError(http.StatusForbidden, "Cross-site request refused.")
		}
		if o := r.Header.Get("Origin"); o != "" && !s.sameOrigin(r, o) {
			return echo.NewHTTPError(http.StatusForbidden, "Cross-site request refused.")
		}
		sent := r.Header.Get(csrfHdr)
		if sent == "" {
			sent = c.FormValue(csrfField)
		}
		if fresh || subtle.ConstantTimeCompare([]byte(sent), []byte(token)) != 1 {
			return echo.NewHTTPError(http.StatusForbidden, "The form has expired or did not come from this console. Go back, reload the page and try again.")
		}
		return next(c)
	}
}

func validCSRF(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == csrfLen
}

// sameOrigin reports whether an Origin header names this server: the request's own host or the
// configured public URL's.
func (s *server) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if s.cfg.PublicURL != "" {
		if p, err := url.Parse(s.cfg.PublicURL); err == nil && strings.EqualFold(p.Host, u.Host) {
			return true
		}
	}
	return false
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get(csrfKey).(string)
	return t
}

// flash is a one-time message shown on the next page.
type flash struct {
	Kind string `json:"k"` // "ok" or "error"
	Text string `json:"t"`
}

// setFlash queues a message for the next page this browser gets (after a redirect).
func (s *server) setFlash(c echo.Context, kind, text string) {
	fl, _ := c.Get(flashKey).([]flash)
	fl = append(fl, flash{Kind: kind, Text: text})
	c.Set(flashKey, fl)
	b, _ := json.Marshal(fl)
	http.SetCookie(c.Response(), &http.Cookie{Name: s.flashCookie(), Value: base64.RawURLEncoding.EncodeToString(b),
		Path: s.cfg.PathPrefix, HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode})
}

// takeFlash returns and clears the pending messages.
func (s *server) takeFlash(c echo.Context) []flash {
	ck, err := c.Request().Cookie(s.flashCookie())
	if err != nil || ck.Value == "" {
		return nil
	}
	http.SetCookie(c.Response(), &http.Cookie{Name: s.flashCookie(), Path: s.cfg.PathPrefix, MaxAge: -1,
		HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode})
	var fl []flash
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || json.Unmarshal(b, &fl) != nil || len(fl) > 5 {
		return nil
	}
	for i := range fl {
		if fl[i].Kind != "ok" {
			fl[i].Kind = "error"
		}
		if len(fl[i].Text) > 500 {
			fl[i].Text = fl[i].Text[:500]
		}
	}
	return fl
}

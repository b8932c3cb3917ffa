package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// csrfCookie names the cookie that binds a signed-out browser's forms (the sign-in form). Over
// HTTPS it has the __Host- prefix: a browser then accepts it only Secure, for Path=/, from this
// host itself, so a neighbouring subdomain cannot plant one.
func (s *server) csrfCookie() string {
	if s.cfg.Secure {
		return "__Host-" + s.cfg.SessionCookie + "_csrf"
	}
	return s.cfg.SessionCookie + "_csrf"
}

func (s *server) csrfCookiePath() string {
	if s.cfg.Secure {
		return "/"
	}
	return s.cfg.PathPrefix
}

func (s *server) flashCookie() string { return s.cfg.SessionCookie + "_flash" }

// csrf checks every unsafe request's token (the _csrf form field or the X-CSRF-Token header)
// against an HMAC, under an instance-wide key, of the console session token, or before sign-in of a
// random value in an HttpOnly, SameSite=Strict cookie. A token is thus good for one session only:
// it changes at sign-in, and a cookie value an attacker planted proves nothing without the key. On
// top, browsers' Sec-Fetch-Site and Origin must not name another site.
func (s *server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		key, err := s.csrfKey(r.Context())
		if err != nil {
			return err
		}
		binding, fresh := "", false
		if ck, err := r.Cookie(s.cfg.SessionCookie); err == nil && ck.Value != "" {
			binding = "session\x00" + ck.Value
		} else {
			nonce := ""
			if ck, err := r.Cookie(s.csrfCookie()); err == nil && validCSRF(ck.Value) {
				nonce = ck.Value
			}
			if fresh = nonce == ""; fresh {
				b := make([]byte, csrfLen)
				rand.Read(b)
				nonce = base64.RawURLEncoding.EncodeToString(b)
				http.SetCookie(c.Response(), &http.Cookie{Name: s.csrfCookie(), Value: nonce, Path: s.csrfCookiePath(),
					HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode})
			}
			binding = "visitor\x00" + nonce
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(binding))
		token := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
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

// csrfKey is the instance-wide CSRF key, read from the store once.
func (s *server) csrfKey(ctx context.Context) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key == nil {
		k, err := s.st.ConsoleCSRFKey(ctx)
		if err != nil {
			return nil, fmt.Errorf("console: csrf key: %w", err)
		}
		s.key = k
	}
	return s.key, nil
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

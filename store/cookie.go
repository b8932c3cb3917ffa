package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// DefaultCookieName is Crowd's SSO cookie name.
const DefaultCookieName = "crowd.token_key"

// CookieConfig is the SSO cookie every application and crowdgate's own sign-in share
// (/config/cookie): its name, the domain it is set on (empty: host-only), and whether it is Secure.
type CookieConfig struct {
	Name   string `json:"name"`
	Domain string `json:"domain"`
	Secure bool   `json:"secure"`
}

// CookieConfig returns the SSO cookie configuration (defaults when never set).
func (s *Store) CookieConfig(ctx context.Context) (CookieConfig, error) {
	c := CookieConfig{Name: DefaultCookieName}
	v, err := s.Setting(ctx, "cookie")
	if IsNotFound(err) {
		return c, nil
	}
	if err != nil {
		return CookieConfig{}, err
	}
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return CookieConfig{}, fmt.Errorf("cookie setting: %w", err)
	}
	return c, nil
}

// SetCookieConfig validates and stores the SSO cookie configuration.
func (s *Store) SetCookieConfig(ctx context.Context, c CookieConfig) error {
	if c.Name == "" {
		c.Name = DefaultCookieName
	}
	if strings.ContainsAny(c.Name, " \t\r\n;,=\"") || strings.ContainsAny(c.Domain, " \t\r\n;,=\"/") {
		return fmt.Errorf("cookie name %q or domain %q contains characters a cookie cannot hold: %w", c.Name, c.Domain, ErrInvalid)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("cookie setting: %w", err)
	}
	return s.SetSetting(ctx, "cookie", string(b))
}

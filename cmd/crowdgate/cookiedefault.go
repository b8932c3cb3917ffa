package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// secureCookieDefault makes the Crowd SSO cookie Secure by default when crowdgate is served over
// https (CROWDGATE_BASE_URL), by storing that default while no cookie setting was ever saved: the
// applications read it from /config/cookie and crowdgate's sign-in sets the same cookie. A
// setting saved in the console is left alone. Over plain http it warns: the token then travels
// in clear text, and a real IdP on another site cannot complete a sign-in at all (the sign-in
// state cookie must be SameSite=None, which browsers accept only with Secure).
func secureCookieDefault(ctx context.Context, st *store.Store, baseURL string, samlOn bool, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !strings.HasPrefix(baseURL, "https://") {
		if samlOn || baseURL != "" {
			log.Warn("crowdgate is not served over https (CROWDGATE_BASE_URL): the Crowd SSO and console cookies are not Secure, and an IdP on another site cannot complete a SAML sign-in (the state cookie needs SameSite=None, which needs Secure)",
				"base_url", baseURL)
		}
		return nil
	}
	_, err := st.Setting(ctx, "cookie")
	switch {
	case store.IsNotFound(err):
		cc, err := st.CookieConfig(ctx)
		if err != nil {
			return fmt.Errorf("SSO cookie: %w", err)
		}
		cc.Secure = true
		if err := st.SetCookieConfig(store.WithActor(ctx, store.Actor{Kind: store.ActorSystem, Name: "crowdgate"}), cc); err != nil {
			return fmt.Errorf("SSO cookie: %w", err)
		}
		log.Info("the Crowd SSO cookie is Secure (crowdgate is served over https); change it in the console if an application is not")
		return nil
	case err != nil:
		return fmt.Errorf("SSO cookie: %w", err)
	}
	if cc, err := st.CookieConfig(ctx); err == nil && !cc.Secure {
		log.Warn("the Crowd SSO cookie is not Secure although crowdgate is served over https (set in the console)")
	}
	return nil
}

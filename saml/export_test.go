package saml

import (
	"net/http"
	"net/url"

	"github.com/crowdgate/crowdgate/store"
)

// The stand-in console of the tests: what a console built on the SP would need. The real console
// (package api) keeps its own sessions through the store.

// ConsoleUser returns the user of the request's console session, if it carries a live one of an
// active user: the tests' stand-in console checks its sessions with it.
func (sp *SP) ConsoleUser(r *http.Request) (store.User, bool) {
	c, err := r.Cookie(sp.cfg.ConsoleCookie)
	if err != nil || c.Value == "" {
		return store.User{}, false
	}
	sess, err := sp.st.SessionByToken(r.Context(), c.Value)
	if err != nil || sess.Kind != store.SessionConsole {
		return store.User{}, false
	}
	u, err := sp.st.User(r.Context(), sess.UserID)
	if err != nil || !u.Active {
		return store.User{}, false
	}
	return u, true
}

// ConsoleLoginURL returns the sign-in URL that brings the browser back to returnTo (a console
// URL under the public URL) with a console session.
func (sp *SP) ConsoleLoginURL(returnTo string) string {
	return sp.cfg.PublicURL + "/sso/login?dest=" + url.QueryEscape(returnTo)
}

// ConsoleLogout ends the request's console session and clears its cookie (the stand-in
// console's logout).
func (sp *SP) ConsoleLogout(w http.ResponseWriter, r *http.Request) {
	sp.endSessions(w, r, false)
}

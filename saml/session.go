package saml

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate/store"
)

// startSession ends a successful sign-in: it creates the session for the target, sets its
// cookie on this response and sends the browser (303) to the return URL.
func (sp *SP) startSession(w http.ResponseWriter, r *http.Request, u store.User, tgt target, method string) {
	addr := sp.clientAddress(r)
	ctx := store.WithActor(r.Context(), store.Actor{Kind: store.ActorSAML, Name: u.Name, Address: addr})
	ns := store.NewSession{UserID: u.ID, RemoteAddress: addr, Timeout: sp.cfg.SessionTimeout}
	var cookie *http.Cookie
	object := "console"
	if tgt.Kind == targetApp {
		// Read the cookie settings first: a failure must leave no session behind.
		cc, err := sp.st.CookieConfig(ctx)
		if err != nil {
			sp.refuse(w, r, &refusal{status: http.StatusServiceUnavailable, user: u.Name, reason: "cookie configuration: " + err.Error()})
			return
		}
		ns.Kind, ns.ApplicationID = store.SessionSSO, tgt.App.ID
		ns.Factors = []store.Factor{{Name: "remote_address", Value: addr}}
		cookie = sp.crowdCookie(cc, "")
		object = tgt.App.Name
	} else {
		ns.Kind = store.SessionConsole
		cookie = sp.consoleCookie("")
	}
	_, token, err := sp.st.CreateSession(ctx, ns)
	if err != nil {
		sp.refuse(w, r, &refusal{status: http.StatusServiceUnavailable, user: u.Name, reason: "create session: " + err.Error()})
		return
	}
	cookie.Value = token
	http.SetCookie(w, cookie)
	if err := sp.st.Audit(ctx, "SUCCESS", "LOGIN", "USER", u.Name, map[string]string{"method": method, "target": object}); err != nil {
		sp.log.Error("saml: audit login", "err", err)
	}
	sp.log.Info("saml: signed in", "user", u.Name, "target", object, "method", method, "client", addr)
	http.Redirect(w, r, tgt.Return, http.StatusSeeOther)
}

// crowdCookie is the Crowd SSO cookie as the Crowd client writes it (docs/saml-setup.md, HTTPS and cookies):
// name, domain and Secure from the shared cookie configuration, Path=/, HttpOnly, no Max-Age;
// SameSite=Lax, the browsers' default, stated explicitly. An empty value with maxAge<0 clears it.
func (sp *SP) crowdCookie(cc store.CookieConfig, value string) *http.Cookie {
	domain := strings.TrimPrefix(cc.Domain, ".")
	if strings.EqualFold(domain, "localhost") {
		domain = "" // browsers refuse Domain=localhost; the Crowd client leaves it out as well
	}
	return &http.Cookie{Name: cc.Name, Value: value, Domain: domain, Path: "/", Secure: cc.Secure,
		HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// consoleCookie is the console's own session cookie, never the Crowd one: an SSO token must
// not open the console, nor a console token an application.
func (sp *SP) consoleCookie(value string) *http.Cookie {
	return &http.Cookie{Name: sp.cfg.ConsoleCookie, Value: value, Path: sp.consolePath(), Secure: sp.secure(),
		HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// endSessions deletes the sessions named by the request's Crowd and console cookies and clears
// both cookies. It returns the user of the first session found.
func (sp *SP) endSessions(w http.ResponseWriter, r *http.Request, crowd bool) (store.User, bool) {
	ctx := r.Context()
	addr := sp.clientAddress(r)
	var who store.User
	found := false
	end := func(token string) {
		sess, err := sp.st.SessionByToken(ctx, token)
		if err != nil {
			return
		}
		u, err := sp.st.User(ctx, sess.UserID)
		if err != nil {
			return
		}
		actx := store.WithActor(ctx, store.Actor{Kind: store.ActorSAML, Name: u.Name, Address: addr})
		if sp.cfg.LogoutAllSessions {
			err = sp.st.DeleteUserSessions(actx, u.ID, "")
		} else {
			err = sp.st.DeleteSession(actx, token)
		}
		if err != nil {
			sp.log.Error("saml: logout", "user", u.Name, "err", err)
			return
		}
		if err := sp.st.Audit(actx, "SUCCESS", "LOGOUT", "USER", u.Name, sess.Kind); err != nil {
			sp.log.Error("saml: audit logout", "err", err)
		}
		if !found {
			who, found = u, true
		}
	}
	if crowd {
		if cc, err := sp.st.CookieConfig(ctx); err == nil {
			if c, err := r.Cookie(cc.Name); err == nil && validToken(c.Value) {
				end(c.Value)
			}
			clear := sp.crowdCookie(cc, "")
			clear.MaxAge = -1
			http.SetCookie(w, clear)
		} else {
			sp.log.Error("saml: logout: cookie configuration", "err", err)
		}
	}
	if c, err := r.Cookie(sp.cfg.ConsoleCookie); err == nil && validToken(c.Value) {
		end(c.Value)
	}
	clear := sp.consoleCookie("")
	clear.MaxAge = -1
	http.SetCookie(w, clear)
	return who, found
}

// validToken keeps junk cookie values away from the store.
func validToken(v string) bool { return v != "" && len(v) <= 128 && utf8.ValidString(v) }

// refuse answers a refused sign-in: logged with its reason, audited as a failure by actor kind
// SAML, and a page that says no more than the public message.
func (sp *SP) refuse(w http.ResponseWriter, r *http.Request, f *refusal) {
	addr := sp.clientAddress(r)
	reason := f.reason
	if len(reason) > 1000 {
		reason = reason[:1000] + "…"
	}
	action := f.action
	if action == "" {
		action = "LOGIN_FAILED"
	}
	sp.log.Warn("saml: sign-in refused", "reason", reason, "user", store.CapName(f.user), "client", addr, "path", r.URL.Path)
	ctx := store.WithActor(r.Context(), store.Actor{Kind: store.ActorSAML, Name: f.user, Address: addr})
	kind := "SAML"
	if f.user != "" {
		kind = "USER"
	}
	// Aggregated per address and minute: unauthenticated posts cannot flood the audit log.
	sp.st.FailedSignIn(ctx, action, kind, f.user, reason)
	msg := f.public
	if msg == "" {
		msg = "The sign-in could not be completed. Please start again from the application; if this keeps happening, contact your administrator."
	}
	d := pageData{Title: "Sign-in failed", Message: msg}
	if f.status == http.StatusServiceUnavailable && sp.cfg.BreakGlass {
		d.Link, d.LinkText = strings.TrimRight(sp.public.Path, "/")+"/sso/breakglass", "Administrators: emergency sign-in"
	}
	render(w, f.status, "message", d)
}

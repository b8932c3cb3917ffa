package saml

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// handleLogin starts a sign-in: /sso/login?app=jira&dest=<url> (Seraph's login.url, with
// os_destination and returnTo accepted too); reauth=1 on a console sign-in asks the IdP to
// authenticate again (ForceAuthn). It validates the return URL, remembers the
// request in a signed cookie and redirects to the IdP at once (HTTP-Redirect binding), without
// a page to click through.
func (sp *SP) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	appName := q.Get("app")
	if appName == "" {
		appName = q.Get("application")
	}
	dest := ""
	for _, p := range returnParams {
		if v := q.Get(p); v != "" {
			dest = v
			break
		}
	}
	tgt, err := sp.resolveTarget(ctx, appName, dest)
	if err != nil {
		status := http.StatusBadRequest
		if !errors.Is(err, errBadReturn) {
			status = http.StatusServiceUnavailable
		}
		sp.refuse(w, r, &refusal{status: status, reason: err.Error(),
			public: "The sign-in link is not valid: it does not lead back to a known application."})
		return
	}
	idp, err := sp.ensureIdP(ctx)
	if err != nil {
		sp.refuse(w, r, &refusal{status: http.StatusServiceUnavailable, reason: err.Error(),
			public: "The identity provider is not available at the moment. Please try again later."})
		return
	}
	p := sp.provider(idp, nil)
	// reauth=1 is the console's re-authentication for a sensitive action: without ForceAuthn the
	// IdP would sign the administrator back in from its own session, proving nothing.
	force := tgt.Kind == targetConsole && (sp.cfg.ConsoleForceAuthn || q.Get("reauth") == "1")
	p.ForceAuthn = force
	doc, err := p.BuildAuthRequestDocumentNoSig()
	if err != nil {
		sp.refuse(w, r, &refusal{status: http.StatusInternalServerError, reason: "build AuthnRequest: " + err.Error()})
		return
	}
	relay := newRelay()
	st := pending{ID: doc.Root().SelectAttrValue("ID", ""), Target: tgt.Kind, Return: tgt.Return,
		Created: sp.now().Unix(), Force: force}
	if tgt.Kind == targetApp {
		st.App = tgt.App.Name
	}
	cookie, err := sp.stateCookie(ctx, relay, st)
	if err != nil {
		sp.refuse(w, r, &refusal{status: http.StatusServiceUnavailable, reason: err.Error()})
		return
	}
	// With SignRequests this adds the query-string signature Entra's "verification
	// certificates" expect (RSA-SHA256).
	u, err := p.BuildAuthURLRedirect(relay, doc)
	if err != nil {
		sp.refuse(w, r, &refusal{status: http.StatusInternalServerError, reason: "build redirect: " + err.Error()})
		return
	}
	sp.pruneStates(w, r)
	http.SetCookie(w, cookie)
	http.Redirect(w, r, u, http.StatusFound)
}

// loginURL is the path of a sign-in for tgt on this server.
func (sp *SP) loginURL(tgt target) string {
	v := url.Values{}
	if tgt.Kind == targetApp {
		v.Set("app", tgt.App.Name)
	}
	v.Set("dest", tgt.Return)
	return strings.TrimRight(sp.public.Path, "/") + "/sso/login?" + v.Encode()
}

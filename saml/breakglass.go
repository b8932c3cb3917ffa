package saml

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/crowdgate/crowdgate/store"
)

// handleBreakGlass is the emergency sign-in with a local password, for members of the
// break-glass group of an INTERNAL directory, when the IdP is down or misconfigured. It is a
// plain form with a double-submit CSRF token; failures slow down and then block the source address
// (never the account: store/loginguard.go), and every attempt is audited.
func (sp *SP) handleBreakGlass(w http.ResponseWriter, r *http.Request) {
	if !sp.cfg.BreakGlass {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		sp.breakGlassForm(w, q.Get("app"), returnParam(q), "", http.StatusOK)
		return
	}
	ctx := r.Context()
	addr := sp.clientAddress(r)
	fail := func(status int, reason, public string) {
		// Aggregated per address and minute, throttled attempts only counted: a flood of
		// unauthenticated posts cannot fill the audit log.
		if status == http.StatusTooManyRequests {
			sp.st.SignInThrottled()
		} else {
			sp.log.Warn("saml: break-glass sign-in refused", "reason", store.CapName(reason), "client", addr)
			name := r.PostForm.Get("username")
			sp.st.FailedSignIn(store.WithActor(ctx, store.Actor{Kind: store.ActorSAML, Name: name, Address: addr}), "BREAKGLASS_LOGIN", "USER", name, reason)
		}
		sp.breakGlassForm(w, r.PostForm.Get("app"), r.PostForm.Get("dest"), public, status)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "form: "+err.Error(), "The form could not be read.")
		return
	}
	if reason := sp.checkCSRF(r); reason != "" {
		fail(http.StatusForbidden, reason, "The form expired. Please try again.")
		return
	}
	tgt, err := sp.resolveTarget(ctx, r.PostForm.Get("app"), r.PostForm.Get("dest"))
	if err != nil {
		fail(http.StatusBadRequest, err.Error(), "The return address is not valid.")
		return
	}
	if tgt.Kind == targetApp && sp.cfg.BreakGlassConsoleOnly {
		fail(http.StatusForbidden, "break-glass sign-in to applications is off (CROWDGATE_BREAKGLASS=console)",
			"Emergency sign-in here is for the crowdgate console only.")
		return
	}
	name, pw := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password")
	actx := store.WithActor(ctx, store.Actor{Kind: store.ActorSAML, Name: name, Address: addr})
	u, reason, throttled := sp.checkBreakGlass(actx, name, pw)
	if reason == "" {
		reason, throttled = sp.checkSecondFactor(actx, u, r.PostForm.Get("code"), tgt.Kind == targetApp)
	}
	switch {
	case throttled:
		fail(http.StatusTooManyRequests, reason, "Too many failed attempts from your address. Try again later.")
		return
	case reason != "":
		// The same answer whichever factor was wrong.
		fail(http.StatusUnauthorized, reason, "Sign-in failed.")
		return
	}
	if tgt.Kind == targetApp {
		if reason := sp.breakGlassIntoApp(ctx, u, tgt.App); reason != "" {
			fail(http.StatusForbidden, reason, notAllowed(u.Name, tgt.App.Name))
			return
		}
	}
	actx = store.WithActor(ctx, store.Actor{Kind: store.ActorSAML, Name: u.Name, Address: addr})
	if err := sp.st.Audit(actx, "SUCCESS", "BREAKGLASS_LOGIN", "USER", u.Name, nil); err != nil {
		sp.log.Error("saml: audit break-glass", "err", err)
	}
	sp.log.Warn("saml: break-glass sign-in", "user", u.Name, "client", addr)
	sp.startSession(w, r, u, tgt, "breakglass")
}

// breakGlassIntoApp returns why u may not enter app, or "": the rules of a SAML sign-in, the
// shadowing rule included (a same-named user of an earlier directory of the application is
// somebody else to it: a session would sign the browser in as that other user).
func (sp *SP) breakGlassIntoApp(ctx context.Context, u store.User, app store.Application) string {
	v, err := sp.st.View(ctx, app)
	if err != nil {
		return "application view: " + err.Error()
	}
	if err := v.MayAuthenticate(ctx, u); err != nil {
		return err.Error()
	}
	if c, err := v.User(ctx, u.Name); err != nil || c.ID != u.ID {
		return fmt.Sprintf("user %q is shadowed in application %q by a user of an earlier directory", u.Name, app.Name)
	}
	return ""
}

// checkBreakGlass returns the user whose password and group membership check out, or why not.
// The store counts failures against the sending address (throttled: it must wait), spends the
// same hashing on unknown names, and audits wrong passwords itself.
func (sp *SP) checkBreakGlass(ctx context.Context, name, pw string) (u store.User, reason string, throttled bool) {
	if name == "" || pw == "" {
		return store.User{}, "user name or password missing", false
	}
	dirs, err := sp.st.Directories(ctx)
	if err != nil {
		return store.User{}, "directories: " + err.Error(), false
	}
	var dir *store.Directory
	for i, d := range dirs {
		if d.Kind != store.DirectoryInternal || !d.Active {
			continue
		}
		if sp.cfg.BreakGlassDirectory == "" || store.Lower(d.Name) == store.Lower(sp.cfg.BreakGlassDirectory) {
			dir = &dirs[i]
			break
		}
	}
	if dir == nil {
		return store.User{}, "no active internal break-glass directory", false
	}
	u, err = sp.st.AuthenticateLocal(ctx, []int64{dir.ID}, name, pw)
	if err != nil {
		return store.User{}, "password check: " + err.Error(), errors.Is(err, store.ErrThrottled)
	}
	ok, err := sp.st.UserInGroup(ctx, u, sp.cfg.BreakGlassGroup)
	if err != nil {
		return store.User{}, "group check: " + err.Error(), false
	}
	if !ok {
		return store.User{}, fmt.Sprintf("user %q is not in the break-glass group %q", u.Name, sp.cfg.BreakGlassGroup), false
	}
	return u, "", false
}

// checkSecondFactor returns why u, whose password checked out, may not go on, or "": an enrolled
// administrator needs a valid code (a wrong one counts against the address, like a wrong
// password); one without a required factor may enter the console only, which sends them to
// enrolment.
func (sp *SP) checkSecondFactor(ctx context.Context, u store.User, code string, intoApp bool) (reason string, throttled bool) {
	enrolled, err := sp.st.TOTPEnrolled(ctx, u)
	switch {
	case err != nil:
		return "second factor: " + err.Error(), false
	case enrolled:
		if err := sp.st.VerifySecondFactor(ctx, u, code); err != nil {
			return "second factor: " + err.Error(), errors.Is(err, store.ErrThrottled)
		}
	case sp.cfg.RequireSecondFactor && intoApp:
		return fmt.Sprintf("user %q has no second factor, which is required: set one up in the console first", u.Name), false
	}
	return "", false
}

func (sp *SP) csrfCookieName() string {
	if sp.secure() {
		return "__Host-crowdgate_breakglass"
	}
	return "crowdgate_breakglass"
}

// breakGlassForm renders the form with a fresh CSRF token, also set as a cookie.
func (sp *SP) breakGlassForm(w http.ResponseWriter, app, dest, msg string, status int) {
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: sp.csrfCookieName(), Value: token, Path: "/", MaxAge: 1800,
		HttpOnly: true, Secure: sp.secure(), SameSite: http.SameSiteStrictMode})
	if len(dest) > maxReturnURL {
		dest = ""
	}
	render(w, status, "breakglass", pageData{Title: "Emergency sign-in", Message: msg, CSRF: token, App: app, Dest: dest,
		Action: strings.TrimRight(sp.public.Path, "/") + "/sso/breakglass"})
}

// checkCSRF returns why the POST is not from our own form, or "".
func (sp *SP) checkCSRF(r *http.Request) string {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return "cross-site form post (Sec-Fetch-Site " + s + ")"
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && !strings.EqualFold(o, sp.public.Scheme+"://"+sp.public.Host) {
		return "form posted from another origin " + o
	}
	c, err := r.Cookie(sp.csrfCookieName())
	form := r.PostForm.Get("csrf")
	if err != nil || c.Value == "" || !hmac.Equal([]byte(c.Value), []byte(form)) {
		return "CSRF token missing or wrong"
	}
	return ""
}

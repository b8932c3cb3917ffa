package saml

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// handleACS consumes the IdP's response (HTTP-POST binding). The order matters: the message is
// verified before anything is recorded, bound to the browser that started the sign-in, made
// single-use across instances, and only then mapped to a user and turned into a session.
func (sp *SP) handleACS(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// URL-encoding can triple base64 ('+', '/', '=' become %XX); 4 KiB covers RelayState and
	// the field names. The decoded response is then held to MaxResponseSize.
	r.Body = http.MaxBytesReader(w, r.Body, 3*int64(sp.cfg.MaxResponseSize)+4096)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		sp.refuse(w, r, &refusal{status: status, reason: "ACS form: " + err.Error()})
		return
	}
	encoded, relay := r.PostForm.Get("SAMLResponse"), r.PostForm.Get("RelayState")
	if encoded == "" {
		sp.refuse(w, r, &refusal{status: http.StatusBadRequest, reason: "no SAMLResponse in the request"})
		return
	}
	if len(encoded) > sp.cfg.MaxResponseSize {
		sp.refuse(w, r, &refusal{status: http.StatusRequestEntityTooLarge,
			reason: fmt.Sprintf("SAMLResponse has %d characters, more than the %d allowed", len(encoded), sp.cfg.MaxResponseSize)})
		return
	}
	idp, err := sp.ensureIdP(ctx)
	if err != nil {
		sp.refuse(w, r, &refusal{status: http.StatusServiceUnavailable, reason: err.Error()})
		return
	}
	a, err := sp.verify(idp, encoded)
	if err != nil {
		sp.refuse(w, r, &refusal{status: http.StatusBadRequest, reason: "invalid SAML response: " + err.Error()})
		return
	}
	if a.InResponseTo == "" {
		sp.unsolicited(w, r, a, relay)
		return
	}
	st, err := sp.readState(ctx, r, relay)
	if err != nil {
		reason := err.Error()
		if errors.Is(err, errNoState) && !sp.secure() {
			reason += "; crowdgate is served over http, so the state cookie is SameSite=Lax and a browser drops it when an IdP on another site posts the response: serve crowdgate over https"
		}
		sp.refuse(w, r, &refusal{status: http.StatusBadRequest, user: a.NameID, reason: reason})
		return
	}
	if st.ID != a.InResponseTo {
		sp.refuse(w, r, &refusal{status: http.StatusBadRequest, user: a.NameID,
			reason: fmt.Sprintf("response answers request %q, but this browser started %q", a.InResponseTo, st.ID)})
		return
	}
	if a.ResponseInResponseTo != "" && a.ResponseInResponseTo != a.InResponseTo {
		sp.refuse(w, r, &refusal{status: http.StatusBadRequest, user: a.NameID,
			reason: fmt.Sprintf("Response InResponseTo %q differs from the assertion's %q", a.ResponseInResponseTo, a.InResponseTo)})
		return
	}
	created := time.Unix(st.Created, 0)
	if st.Force && a.AuthnInstant.Before(created.Add(-sp.cfg.ClockSkew)) {
		sp.refuse(w, r, &refusal{status: http.StatusForbidden, user: a.NameID,
			reason: fmt.Sprintf("re-authentication was requested, but the IdP authenticated the user at %s, before the request", a.AuthnInstant.Format(time.RFC3339))})
		return
	}
	if f := sp.consume(ctx, "request:"+st.ID, created.Add(sp.cfg.LoginTimeout+sp.cfg.ClockSkew), a); f != nil {
		sp.refuse(w, r, f)
		return
	}
	if f := sp.consume(ctx, "assertion:"+a.ID, a.NotOnOrAfter.Add(sp.cfg.ClockSkew), a); f != nil {
		sp.refuse(w, r, f)
		return
	}
	sp.clearState(w, relay)
	tgt, err := sp.resolveTarget(ctx, st.App, st.Return)
	if err != nil || tgt.Kind != st.Target {
		sp.refuse(w, r, &refusal{status: http.StatusBadRequest, user: a.NameID, reason: fmt.Sprintf("return URL no longer valid: %v", err)})
		return
	}
	u, f := sp.findUser(ctx, a, tgt)
	if f != nil {
		sp.refuse(w, r, f)
		return
	}
	sp.startSession(w, r, u, tgt, "saml")
}

// consume records id in the shared replay cache; a second use anywhere is refused.
func (sp *SP) consume(ctx context.Context, id string, until time.Time, a *assertion) *refusal {
	err := sp.st.RememberAssertion(ctx, id, until)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrExists):
		return &refusal{status: http.StatusBadRequest, user: a.NameID, reason: "replayed: " + err.Error()}
	default:
		// Fail closed: without the replay cache a response could be used twice.
		return &refusal{status: http.StatusServiceUnavailable, user: a.NameID, reason: "replay cache: " + err.Error()}
	}
}

// unsolicited handles a response that answers no request (IdP-initiated, Entra "My Apps").
// When allowed, a valid one only triggers an SP-initiated sign-in to its RelayState, which the
// IdP completes silently for a signed-in user: a session is only ever created for a request
// this browser started, so an attacker cannot sign a victim in with the attacker's response.
func (sp *SP) unsolicited(w http.ResponseWriter, r *http.Request, a *assertion, relay string) {
	ctx := r.Context()
	if !sp.cfg.IdPInitiated {
		sp.refuse(w, r, &refusal{status: http.StatusBadRequest, user: a.NameID,
			reason: "unsolicited response (no InResponseTo), and IdP-initiated sign-in is disabled",
			public: "Please start the sign-in from the application."})
		return
	}
	if a.ResponseInResponseTo != "" {
		sp.refuse(w, r, &refusal{status: http.StatusBadRequest, user: a.NameID,
			reason: fmt.Sprintf("Response InResponseTo %q, but the assertion answers no request", a.ResponseInResponseTo)})
		return
	}
	if f := sp.consume(ctx, "assertion:"+a.ID, a.NotOnOrAfter.Add(sp.cfg.ClockSkew), a); f != nil {
		sp.refuse(w, r, f)
		return
	}
	tgt, err := sp.resolveTarget(ctx, "", relay)
	if err != nil {
		sp.refuse(w, r, &refusal{status: http.StatusBadRequest, user: a.NameID, reason: "IdP-initiated RelayState: " + err.Error()})
		return
	}
	sp.log.Info("saml: IdP-initiated response; starting an SP-initiated sign-in", "user", a.NameID, "return", tgt.Return)
	http.Redirect(w, r, sp.loginURL(tgt), http.StatusSeeOther)
}

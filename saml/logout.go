package saml

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/beevik/etree"
	saml2 "github.com/russellhaering/gosaml2"
)

const (
	// maxRedirectParam bounds a SAMLRequest/SAMLResponse in a URL (browsers cap URLs near 8 KiB
	// anyway), maxInflated what it may decompress to: no decompression bombs.
	maxRedirectParam = 16 << 10
	maxInflated      = 64 << 10
	logoutCookie     = "crowdgate_logout"
)

// handleLogout serves /sso/logout and /saml/logout. Without a SAML message it ends this
// browser's sessions (Seraph's logout.url lands here), clears the Crowd and console cookies and
// optionally continues to the IdP's logout. With a LogoutRequest from the IdP (front-channel
// single logout) it does the same and answers with a LogoutResponse; with the IdP's
// LogoutResponse it finishes an SP-initiated logout.
func (sp *SP) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRedirectParam*2)
	if err := r.ParseForm(); err != nil {
		sp.refuse(w, r, &refusal{status: http.StatusBadRequest, action: "LOGOUT_FAILED", reason: "logout form: " + err.Error()})
		return
	}
	var msgID string
	if m, param := r.Form.Get("SAMLRequest"), r.Form.Get("SAMLResponse"); m != "" || param != "" {
		kind, root := "SAMLRequest", "LogoutRequest"
		if m == "" {
			m, kind, root = param, "SAMLResponse", "LogoutResponse"
		}
		id, err := decodeLogoutMessage(m, root)
		if err != nil {
			sp.refuse(w, r, &refusal{status: http.StatusBadRequest, action: "LOGOUT_FAILED", reason: kind + ": " + err.Error()})
			return
		}
		if kind == "SAMLResponse" {
			// The end of our own SP-initiated logout: the sessions ended before we left.
			sp.finishLogout(w, r)
			return
		}
		msgID = id
	}
	who, _ := sp.endSessions(w, r, true)
	idp := sp.idp.current()
	if idp != nil && idp.SLOURL != "" && (msgID != "" || sp.cfg.SingleLogout) {
		p := sp.provider(idp, nil)
		var doc *etree.Document
		var err error
		param := "SAMLRequest"
		if msgID != "" {
			doc, err = p.BuildLogoutResponseDocumentNoSig(saml2.StatusCodeSuccess, msgID)
			param = "SAMLResponse"
		} else {
			// Entra ignores the NameID (it asks which account when several are signed in).
			doc, err = p.BuildLogoutRequestDocumentNoSig(who.Name, "")
		}
		if err == nil {
			var u string
			if u, err = sp.redirectURL(p, idp.SLOURL, param, doc, r.Form.Get("RelayState")); err == nil {
				if msgID == "" {
					sp.rememberLogoutReturn(w, r)
				}
				http.Redirect(w, r, u, http.StatusFound)
				return
			}
		}
		sp.log.Error("saml: single logout", "err", err)
	}
	sp.logoutDone(w, r, r.Form.Get("app"), returnParam(r.Form))
}

// finishLogout ends an SP-initiated logout when the IdP sends the browser back.
func (sp *SP) finishLogout(w http.ResponseWriter, r *http.Request) {
	dest := ""
	if c, err := r.Cookie(logoutCookie); err == nil {
		dest, _ = url.QueryUnescape(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: logoutCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: sp.secure(), SameSite: http.SameSiteLaxMode})
	sp.logoutDone(w, r, "", dest)
}

// rememberLogoutReturn keeps where to go after the IdP's logout; it is validated again then.
func (sp *SP) rememberLogoutReturn(w http.ResponseWriter, r *http.Request) {
	tgt, err := sp.resolveTarget(r.Context(), r.Form.Get("app"), returnParam(r.Form))
	if err != nil || (r.Form.Get("app") == "" && returnParam(r.Form) == "") {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: logoutCookie, Value: url.QueryEscape(tgt.Return), Path: "/", MaxAge: 600,
		HttpOnly: true, Secure: sp.secure(), SameSite: http.SameSiteLaxMode})
}

// logoutDone sends the browser to an explicit, valid return URL, or shows the signed-out page
// (with a link to the application when one is named). Going back to the application by itself
// would sign the user in again at once through the IdP's session.
func (sp *SP) logoutDone(w http.ResponseWriter, r *http.Request, app, dest string) {
	d := pageData{Title: "Signed out", Message: "You are signed out."}
	if app != "" || dest != "" {
		tgt, err := sp.resolveTarget(r.Context(), app, dest)
		switch {
		case err != nil:
			sp.log.Warn("saml: logout return URL refused", "err", err)
		case dest != "":
			http.Redirect(w, r, tgt.Return, http.StatusSeeOther)
			return
		case tgt.Kind == targetApp:
			d.Link, d.LinkText = tgt.Return, "Back to "+tgt.App.Name
		}
	}
	render(w, http.StatusOK, "message", d)
}

func returnParam(v url.Values) string {
	for _, p := range returnParams {
		if s := v.Get(p); s != "" {
			return s
		}
	}
	return ""
}

// decodeLogoutMessage decodes an HTTP-Redirect SAML message (base64 of raw DEFLATE) within
// bounds and returns its ID. Its signature is not checked: it only ever ends this browser's
// own sessions, which any page can do by linking to /sso/logout.
func decodeLogoutMessage(m, root string) (string, error) {
	if len(m) > maxRedirectParam {
		return "", fmt.Errorf("message has %d characters, more than the %d allowed", len(m), maxRedirectParam)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(m), ""))
	if err != nil {
		return "", fmt.Errorf("not base64: %w", err)
	}
	xmlb, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), maxInflated+1))
	if err != nil {
		return "", fmt.Errorf("not DEFLATE: %w", err)
	}
	if len(xmlb) > maxInflated {
		return "", fmt.Errorf("decompresses to more than %d bytes (decompression bomb?)", maxInflated)
	}
	if _, err := scanXML(xmlb, scanRules{root: xml.Name{Space: nsProtocol, Local: root}, maxElements: 200}); err != nil {
		return "", err
	}
	var msg struct {
		ID string `xml:"ID,attr"`
	}
	if err := xml.Unmarshal(xmlb, &msg); err != nil || msg.ID == "" || len(msg.ID) > 256 {
		return "", fmt.Errorf("no usable ID (%v)", err)
	}
	return msg.ID, nil
}

// redirectURL encodes doc for the HTTP-Redirect binding to base, signing the query (RSA-SHA256)
// when the SP signs requests.
func (sp *SP) redirectURL(p *saml2.SAMLServiceProvider, base, param string, doc *etree.Document, relay string) (string, error) {
	x, err := doc.WriteToBytes()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	fw.Write(x)
	if err := fw.Close(); err != nil {
		return "", err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	// The signature covers the parameters in this order, URL-encoded (saml-bindings §3.4.4.1).
	q := url.QueryEscape(param) + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relay != "" && len(relay) <= 80 {
		q += "&RelayState=" + url.QueryEscape(relay)
	}
	if sp.spKey != nil && sp.cfg.SignRequests {
		ctx := p.SigningContext()
		q += "&SigAlg=" + url.QueryEscape(ctx.GetSignatureMethodIdentifier())
		sig, err := ctx.SignString(q)
		if err != nil {
			return "", err
		}
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	return u.String(), nil
}

package saml

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rsa"
	_ "crypto/sha512" // RSA-SHA512 redirect signatures
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/beevik/etree"
	saml2 "github.com/russellhaering/gosaml2"
	dsig "github.com/russellhaering/goxmldsig"
)

// The confirmation page joins the package's pages.
func init() {
	template.Must(pages.Parse(`{{define "confirmlogout"}}{{template "head" .}}<h1>{{.Title}}</h1><p>{{.Message}}</p>
<form method="post" action="{{.Action}}">{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}
<button type="submit">Sign out</button></form>{{template "foot" .}}{{end}}`))
}

type hiddenField struct{ Name, Value string }

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
//
// Sessions end only on a request crowdgate can trust to come from the user: a LogoutRequest
// whose redirect-binding signature verifies against the IdP's certificates, or a request from
// crowdgate's own site (Fetch Metadata, or Origin). Anything else (a link or an unsigned
// LogoutRequest on another site) gets a confirmation page first, so a foreign page cannot sign
// users out at will. Only a verified LogoutRequest gets a signed LogoutResponse: crowdgate's
// signature must not vouch for a message an attacker wrote.
func (sp *SP) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRedirectParam*2)
	if err := r.ParseForm(); err != nil {
		sp.refuse(w, r, &refusal{status: http.StatusBadRequest, action: "LOGOUT_FAILED", reason: "logout form: " + err.Error()})
		return
	}
	var msgID string
	verified := false
	if m, param := r.Form.Get("SAMLRequest"), r.Form.Get("SAMLResponse"); m != "" || param != "" {
		kind, root := "SAMLRequest", "LogoutRequest"
		if m == "" {
			m, kind, root = param, "SAMLResponse", "LogoutResponse"
		}
		msg, err := decodeLogoutMessage(m, root)
		if err != nil {
			sp.refuse(w, r, &refusal{status: http.StatusBadRequest, action: "LOGOUT_FAILED", reason: kind + ": " + err.Error()})
			return
		}
		if kind == "SAMLResponse" {
			// The end of our own SP-initiated logout: the sessions ended before we left.
			sp.finishLogout(w, r)
			return
		}
		msgID = msg.ID
		if idp := sp.idp.current(); idp != nil {
			err := sp.verifyRedirect(r, idp, "SAMLRequest")
			if err == nil && !sameIssuer(msg.Issuer, idp.EntityID) {
				err = fmt.Errorf("issuer %q is not the IdP %q", msg.Issuer, idp.EntityID)
			}
			if verified = err == nil; !verified {
				sp.log.Info("saml: LogoutRequest not verified; asking the user to confirm", "err", err)
			}
		}
	}
	if !verified && !sp.sameSite(r) {
		sp.confirmLogout(w, r)
		return
	}
	who, _ := sp.endSessions(w, r, true)
	idp := sp.idp.current()
	if idp != nil && idp.SLOURL != "" && (msgID != "" || sp.cfg.SingleLogout) {
		p := sp.provider(idp, nil)
		var doc *etree.Document
		var err error
		param, sign := "SAMLRequest", true
		if msgID != "" {
			doc, err = p.BuildLogoutResponseDocumentNoSig(saml2.StatusCodeSuccess, msgID)
			param, sign = "SAMLResponse", verified
		} else {
			// Entra ignores the NameID (it asks which account when several are signed in).
			doc, err = p.BuildLogoutRequestDocumentNoSig(who.Name, "")
		}
		if err == nil {
			var u string
			if u, err = sp.redirectURL(p, idp.SLOURL, param, doc, r.Form.Get("RelayState"), sign); err == nil {
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

// sameIssuer compares a logout message's Issuer with the IdP's entity id. Entra signs its logout
// messages as https://login.microsoftonline.com/{tenant}/, its assertions as
// https://sts.windows.net/{tenant}/: the same tenant either way.
func sameIssuer(issuer, entityID string) bool {
	if issuer == entityID {
		return true
	}
	tenant, ok := strings.CutPrefix(entityID, "https://sts.windows.net/")
	return ok && tenant != "" && issuer == "https://login.microsoftonline.com/"+tenant
}

// sameSite reports whether the request comes from crowdgate's own site: by Fetch Metadata
// (a navigation the user typed or bookmarked counts), or else by an Origin of our own.
func (sp *SP) sameSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "same-site":
		return true
	case "none":
		return r.Method == http.MethodGet
	case "cross-site":
		return false
	}
	o := r.Header.Get("Origin")
	return o != "" && o == sp.public.Scheme+"://"+sp.public.Host
}

// confirmLogout shows a page whose button posts the same logout from crowdgate's own site.
func (sp *SP) confirmLogout(w http.ResponseWriter, r *http.Request) {
	var fields []hiddenField
	for _, k := range []string{"SAMLRequest", "RelayState", "app", "dest", "os_destination", "returnTo"} {
		if v := r.Form.Get(k); v != "" {
			fields = append(fields, hiddenField{Name: k, Value: v})
		}
	}
	sp.log.Info("saml: logout from another site; asking the user to confirm", "client", sp.clientAddress(r), "path", r.URL.Path)
	render(w, http.StatusOK, "confirmlogout", pageData{Title: "Sign out?", Action: r.URL.Path, Fields: fields,
		Message: "Another site asked to sign you out of Jira, Confluence and the other applications that use this sign-in."})
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
			sp.log.Warn("saml: logout return URL refused", "reason", err.Error(), "client", sp.clientAddress(r))
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

// logoutMessage is what crowdgate reads of a logout message before trusting it.
type logoutMessage struct {
	ID     string `xml:"ID,attr"`
	Issuer string `xml:"urn:oasis:names:tc:SAML:2.0:assertion Issuer"`
}

// decodeLogoutMessage decodes an HTTP-Redirect SAML message (base64 of raw DEFLATE) within
// bounds and returns its ID and Issuer. It proves nothing about the sender: verifyRedirect does.
func decodeLogoutMessage(m, root string) (logoutMessage, error) {
	var msg logoutMessage
	if len(m) > maxRedirectParam {
		return msg, fmt.Errorf("message has %d characters, more than the %d allowed", len(m), maxRedirectParam)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(m), ""))
	if err != nil {
		return msg, fmt.Errorf("not base64: %w", err)
	}
	xmlb, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), maxInflated+1))
	if err != nil {
		return msg, fmt.Errorf("not DEFLATE: %w", err)
	}
	if len(xmlb) > maxInflated {
		return msg, fmt.Errorf("decompresses to more than %d bytes (decompression bomb?)", maxInflated)
	}
	if _, err := scanXML(xmlb, scanRules{root: xml.Name{Space: nsProtocol, Local: root}, maxElements: 200}); err != nil {
		return msg, err
	}
	if err := xml.Unmarshal(xmlb, &msg); err != nil || msg.ID == "" || len(msg.ID) > 256 {
		return msg, fmt.Errorf("no usable ID (%v)", err)
	}
	msg.Issuer = strings.TrimSpace(msg.Issuer)
	return msg, nil
}

// verifyRedirect checks the HTTP-Redirect binding signature of the message in param: the
// signed octets are the parameters exactly as sent, in the order param, RelayState, SigAlg;
// the key is one of the IdP's certificates, valid now.
func (sp *SP) verifyRedirect(r *http.Request, idp *idpInfo, param string) error {
	raw := map[string]string{}
	for _, kv := range strings.Split(r.URL.RawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := raw[k]; dup {
			return fmt.Errorf("parameter %s appears twice", k)
		}
		raw[k] = v
	}
	if raw[param] == "" || raw["Signature"] == "" {
		return errors.New("not signed")
	}
	alg, err := url.QueryUnescape(raw["SigAlg"])
	if err != nil {
		return fmt.Errorf("SigAlg: %w", err)
	}
	var h crypto.Hash
	switch alg {
	case dsig.RSASHA256SignatureMethod:
		h = crypto.SHA256
	case dsig.RSASHA512SignatureMethod:
		h = crypto.SHA512
	default:
		return fmt.Errorf("signature algorithm %q is not allowed", alg)
	}
	signed := param + "=" + raw[param]
	if v, ok := raw["RelayState"]; ok {
		signed += "&RelayState=" + v
	}
	signed += "&SigAlg=" + raw["SigAlg"]
	b64, err := url.QueryUnescape(raw["Signature"])
	if err != nil {
		return fmt.Errorf("signature parameter: %w", err)
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("signature parameter: %w", err)
	}
	hh := h.New()
	hh.Write([]byte(signed))
	digest := hh.Sum(nil)
	now := sp.now()
	for _, c := range idp.Certs {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok || now.Before(c.NotBefore.Add(-CertNotBeforeAllowance)) || now.After(c.NotAfter) {
			continue
		}
		if rsa.VerifyPKCS1v15(pub, h, digest, sig) == nil {
			return nil
		}
	}
	return errors.New("the signature does not verify with any IdP certificate valid now")
}

// redirectURL encodes doc for the HTTP-Redirect binding to base, signing the query (RSA-SHA256)
// when sign is set and the SP signs requests.
func (sp *SP) redirectURL(p *saml2.SAMLServiceProvider, base, param string, doc *etree.Document, relay string, sign bool) (string, error) {
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
	if sign && sp.spKey != nil && sp.cfg.SignRequests {
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

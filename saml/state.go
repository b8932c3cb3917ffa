package saml

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sign-in targets.
const (
	targetApp     = "app"     // a Crowd application: SSO session + Crowd cookie
	targetConsole = "console" // crowdgate's console: console session + console cookie
)

// pending is a started sign-in, kept in a cookie signed with the state key: the AuthnRequest id
// the response must answer, and where the browser goes afterwards. Any instance that shares the
// key can finish the sign-in.
type pending struct {
	ID      string `json:"i"`
	Target  string `json:"t"`
	App     string `json:"a,omitempty"`
	Return  string `json:"u"`
	Created int64  `json:"c"` // unix seconds
	Force   bool   `json:"f,omitempty"`
}

const (
	relayLen   = 22 // base64url of 16 random bytes
	maxStateOK = 3000
)

// newRelay returns a fresh RelayState: opaque, short (SAML asks for at most 80 bytes) and the
// name of the state cookie, so several sign-ins in one browser (tabs) do not overwrite each
// other.
func newRelay() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func validRelay(relay string) bool {
	if len(relay) != relayLen {
		return false
	}
	for _, r := range relay {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// stateCookieName: on https a __Host- cookie with SameSite=None, because Entra posts the
// response from another site and a Lax cookie would not come with it (docs/saml.md,
// "SameSite and the state cookie"); browsers accept SameSite=None only with Secure, so plain-http setups (tests, local
// trials) use Lax, which works when the IdP is same-site.
func (sp *SP) stateCookieName(relay string) string {
	if sp.secure() {
		return "__Host-crowdgate_saml_" + relay
	}
	return "crowdgate_saml_" + relay
}

func (sp *SP) key(ctx context.Context) ([]byte, error) {
	sp.keyMu.Lock()
	defer sp.keyMu.Unlock()
	if sp.stateKey != nil {
		return sp.stateKey, nil
	}
	k, err := sp.st.SAMLStateKey(ctx)
	if err != nil {
		return nil, err
	}
	sp.stateKey = k
	return k, nil
}

func stateMAC(key []byte, relay, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("crowdgate saml state v1\n" + relay + "\n" + payload))
	return m.Sum(nil)
}

// stateCookie returns the cookie holding p for relay.
func (sp *SP) stateCookie(ctx context.Context, relay string, p pending) (*http.Cookie, error) {
	key, err := sp.key(ctx)
	if err != nil {
		return nil, fmt.Errorf("saml: state key: %w", err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("saml: state: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	value := payload + "." + base64.RawURLEncoding.EncodeToString(stateMAC(key, relay, payload))
	if len(value) > maxStateOK {
		return nil, errors.New("saml: state cookie would be too large (return URL too long)")
	}
	c := &http.Cookie{
		Name: sp.stateCookieName(relay), Value: value, Path: "/", HttpOnly: true,
		MaxAge: int(sp.cfg.LoginTimeout / time.Second), SameSite: http.SameSiteLaxMode,
	}
	if sp.secure() {
		c.Secure, c.SameSite = true, http.SameSiteNoneMode
	}
	return c, nil
}

// errNoState means the browser has no valid state cookie for the RelayState: the response
// answers a login this browser did not start (login CSRF), or the state expired.
var errNoState = errors.New("no sign-in was started by this browser for this response (state cookie missing, expired or invalid)")

// readState returns the pending sign-in for relay from r's cookies.
func (sp *SP) readState(ctx context.Context, r *http.Request, relay string) (pending, error) {
	if !validRelay(relay) {
		return pending{}, errNoState
	}
	c, err := r.Cookie(sp.stateCookieName(relay))
	if err != nil {
		return pending{}, errNoState
	}
	key, err := sp.key(ctx)
	if err != nil {
		return pending{}, fmt.Errorf("saml: state key: %w", err)
	}
	p, ok := decodeState(key, relay, c.Value)
	if !ok {
		return pending{}, errNoState
	}
	age := sp.now().Sub(time.Unix(p.Created, 0))
	if age > sp.cfg.LoginTimeout || age < -sp.cfg.ClockSkew {
		return pending{}, fmt.Errorf("the sign-in started %v ago, longer than the %v allowed", age.Round(time.Second), sp.cfg.LoginTimeout)
	}
	return p, nil
}

func decodeState(key []byte, relay, value string) (pending, bool) {
	payload, mac, ok := strings.Cut(value, ".")
	if !ok || len(value) > maxStateOK {
		return pending{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || !hmac.Equal(got, stateMAC(key, relay, payload)) {
		return pending{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return pending{}, false
	}
	var p pending
	if err := json.Unmarshal(b, &p); err != nil || p.ID == "" || (p.Target != targetApp && p.Target != targetConsole) {
		return pending{}, false
	}
	return p, true
}

// clearState removes the state cookie of relay.
func (sp *SP) clearState(w http.ResponseWriter, relay string) {
	c := &http.Cookie{Name: sp.stateCookieName(relay), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if sp.secure() {
		c.Secure, c.SameSite = true, http.SameSiteNoneMode
	}
	http.SetCookie(w, c)
}

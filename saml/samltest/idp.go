package samltest

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlidp"
	dsig "github.com/russellhaering/goxmldsig"
	"golang.org/x/crypto/bcrypt"
)

// DefaultTenant is the tenant id of IdPs made without one.
const DefaultTenant = "8f5c5b0e-1d2a-4c3b-9e4f-5a6b7c8d9e0f"

// IdPOptions shape the test IdP.
type IdPOptions struct {
	TenantID     string // default DefaultTenant
	Key          *Key   // signing key; default a new one
	SignResponse bool   // sign the Response too (Entra's "Sign SAML response and assertion")
	SHA1         bool   // sign with rsa-sha1 (Entra's legacy option)
	// ExtraCertificates are announced in the metadata but never sign (rollover tests).
	ExtraCertificates []*x509.Certificate
	// Clock is the IdP's clock; nil is the real one.
	Clock *dsig.Clock
}

// IdP is crewjam/saml's samlidp bent into Entra's shape (docs/saml.md, "Test IdP"): issuer and
// entity id https://sts.windows.net/{tenant}/, NameID = UPN in emailAddress format, Entra's
// claim URIs, and by default only the assertion signed. It listens on 127.0.0.1; its metadata
// is at MetadataURL. Users sign in at its login form with their UPN and password.
type IdP struct {
	TenantID string
	Key      *Key
	Server   *samlidp.Server
	HTTP     *httptest.Server

	mu    sync.Mutex
	users map[string]EntraUser
}

// NewIdP starts an IdP, stopped when the test ends.
func NewIdP(t testing.TB, o IdPOptions) *IdP {
	t.Helper()
	if o.TenantID == "" {
		o.TenantID = DefaultTenant
	}
	if o.Key == nil {
		o.Key = NewKey(t, "Microsoft Azure Federated SSO Certificate")
	}
	ts := httptest.NewUnstartedServer(nil)
	base, err := url.Parse("http://" + ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := samlidp.New(samlidp.Options{
		URL: *base, Key: o.Key.Private, Certificate: o.Key.Cert, Store: &samlidp.MemoryStore{},
		Logger: log.New(io.Discard, "", 0), ExtraCertificates: o.ExtraCertificates, Clock: o.Clock,
	})
	if err != nil {
		t.Fatalf("samltest: samlidp: %v", err)
	}
	i := &IdP{TenantID: o.TenantID, Key: o.Key, Server: srv, HTTP: ts, users: map[string]EntraUser{}}
	// The entity id is also the Issuer crewjam writes into responses and assertions.
	entity, _ := url.Parse(i.EntityID())
	srv.IDP.MetadataURL = *entity
	srv.IDP.AssertionMaker = entraAssertions{i}
	srv.IDP.ResponseWriter = entraWriter{signResponse: o.SignResponse}
	if o.SHA1 {
		srv.IDP.SignatureMethod = dsig.RSASHA1SignatureMethod
	}
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(ts.Close)
	return i
}

// EntityID is the IdP's entity id and Issuer, as Entra's: https://sts.windows.net/{tenant}/.
func (i *IdP) EntityID() string { return "https://sts.windows.net/" + i.TenantID + "/" }

// MetadataURL is where the IdP serves its metadata.
func (i *IdP) MetadataURL() string { return i.HTTP.URL + "/metadata" }

// AddUser creates an account that signs in with u.UPN and password.
func (i *IdP) AddUser(t testing.TB, u EntraUser, password string) {
	t.Helper()
	i.mu.Lock()
	i.users[strings.ToLower(u.UPN)] = u
	i.mu.Unlock()
	// A hash at bcrypt's minimum cost: samlidp's default cost makes every test (and -race
	// runs especially) slow for nothing.
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"name": u.UPN, "hashed_password": hash, "email": u.UPN,
		"given_name": u.GivenName, "surname": u.Surname, "common_name": u.DisplayName, "groups": u.Groups})
	i.admin(t, http.MethodPut, "/users/"+url.PathEscape(u.UPN), body)
}

// RegisterSP registers a service provider from its metadata (what /saml/metadata serves).
// crewjam encrypts assertions whenever the metadata has an encryption key, as Entra does once
// an encryption certificate is uploaded.
func (i *IdP) RegisterSP(t testing.TB, id string, metadata []byte) {
	t.Helper()
	i.admin(t, http.MethodPut, "/services/"+url.PathEscape(id), metadata)
}

// AddShortcut creates an IdP-initiated sign-in (Entra "My Apps" tile) to the SP with a fixed
// RelayState, and returns its URL. The browser must be signed in at the IdP (LoginURL).
func (i *IdP) AddShortcut(t testing.TB, name, spEntityID, relayState string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "service_provider": spEntityID, "relay_state": relayState})
	i.admin(t, http.MethodPut, "/shortcuts/"+url.PathEscape(name), body)
	return i.HTTP.URL + "/login/" + url.PathEscape(name)
}

// LoginURL is where a browser posts user and password to open an IdP session.
func (i *IdP) LoginURL() string { return i.HTTP.URL + "/login" }

func (i *IdP) admin(t testing.TB, method, path string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(method, i.HTTP.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := i.HTTP.Client().Do(req)
	if err != nil {
		t.Fatalf("samltest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("samltest: %s %s: %s: %s", method, path, resp.Status, b)
	}
}

func (i *IdP) user(name string) (EntraUser, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	u, ok := i.users[strings.ToLower(name)]
	return u, ok
}

// entraAssertions replaces crewjam's attributes with Entra's claims and the NameID with the UPN.
type entraAssertions struct{ idp *IdP }

func (m entraAssertions) MakeAssertion(req *saml.IdpAuthnRequest, session *saml.Session) error {
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		return err
	}
	u, ok := m.idp.user(session.UserName)
	if !ok {
		return fmt.Errorf("samltest: unknown user %q", session.UserName)
	}
	r := EntraResponse(m.idp.TenantID, "", "", "", u, req.Now)
	var attrs []saml.Attribute
	for _, a := range r.Attributes {
		at := saml.Attribute{Name: a.Name}
		for _, v := range a.Values {
			at.Values = append(at.Values, saml.AttributeValue{Type: "xs:string", Value: v})
		}
		attrs = append(attrs, at)
	}
	req.Assertion.AttributeStatements = []saml.AttributeStatement{{Attributes: attrs}}
	if req.Assertion.Subject != nil {
		req.Assertion.Subject.NameID = &saml.NameID{Format: NameIDEmail, Value: u.UPN}
	}
	return nil
}

// entraWriter drops the Response signature unless asked to keep it: Entra signs only the
// assertion by default, and an SP must cope.
type entraWriter struct{ signResponse bool }

func (e entraWriter) WriteResponse(w http.ResponseWriter, req *saml.IdpAuthnRequest) error {
	if req.ResponseEl == nil {
		if err := req.MakeResponse(); err != nil {
			return err
		}
	}
	if !e.signResponse && req.Assertion != nil {
		for _, c := range req.ResponseEl.ChildElements() {
			if c.Tag == "Signature" {
				req.ResponseEl.RemoveChild(c)
			}
		}
	}
	return req.WriteResponse(w)
}

package saml

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/russellhaering/gosaml2/types"

	"github.com/crowdgate/crowdgate/store"
)

const (
	bindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	bindingPOST     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
	maxMetadataSize = 1 << 20
	// metadataRetry is how soon a failed or missing metadata load is tried again.
	metadataRetry = time.Minute
)

// errNoIdP means the IdP metadata has not been loaded yet (the IdP or its metadata URL is down).
var errNoIdP = errors.New("the IdP metadata is not loaded")

// idpInfo is what the SP knows of the IdP; a refresh replaces it as a whole.
type idpInfo struct {
	EntityID string
	SSOURL   string // HTTP-Redirect SingleSignOnService
	SLOURL   string // HTTP-Redirect SingleLogoutService; empty when none
	Certs    []*x509.Certificate
	Loaded   time.Time
}

// metadata is the useful part of an IdP metadata document.
type metadata struct {
	EntityID string
	SSOURL   string
	SLOURL   string
	Certs    []*x509.Certificate
}

// idpSource loads and refreshes the IdP metadata and keeps the certificates trusted across a
// rollover: every certificate the metadata lists (Entra lists active and inactive ones), plus
// those it listed within the retention period. The entity id is pinned: a refresh that names
// another IdP is refused. Both survive a restart (persistTrust).
type idpSource struct {
	mu       sync.Mutex
	cur      *idpInfo
	seen     map[string]seenCert // by SHA-256 of the DER
	entityID string              // pinned by the first metadata ever loaded from this source
	lastTry  time.Time
	rejected atomic.Uint64 // metadata refused because its entityID changed
}

// seenCert is a certificate the metadata listed; gone is when it was first found missing (zero
// while listed). Retention counts from then.
type seenCert struct {
	cert *x509.Certificate
	gone time.Time
}

func (s *idpSource) current() *idpInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// ensure returns the IdP, loading the metadata first when it never loaded (at most once per
// metadataRetry), so that an IdP that was down at start-up is picked up by the next login.
func (sp *SP) ensureIdP(ctx context.Context) (*idpInfo, error) {
	if cur := sp.idp.current(); cur != nil {
		return cur, nil
	}
	sp.idp.mu.Lock()
	due := sp.now().Sub(sp.idp.lastTry) >= metadataRetry/6
	sp.idp.mu.Unlock()
	if due {
		if err := sp.loadMetadata(ctx); err != nil {
			sp.log.Warn("saml: IdP metadata load failed", "err", err)
		}
	}
	if cur := sp.idp.current(); cur != nil {
		return cur, nil
	}
	return nil, errNoIdP
}

// loadMetadata reads, parses and installs the IdP metadata.
func (sp *SP) loadMetadata(ctx context.Context) error {
	sp.idp.mu.Lock()
	sp.idp.lastTry = sp.now()
	sp.idp.mu.Unlock()
	raw, err := sp.readMetadata(ctx)
	if err != nil {
		return err
	}
	m, err := parseMetadata(raw)
	if err != nil {
		return err
	}
	return sp.installMetadata(ctx, m)
}

// errEntityChanged refuses metadata that names another IdP than the one first trusted.
var errEntityChanged = errors.New("saml: IdP metadata refused: its entityID changed")

func (sp *SP) readMetadata(ctx context.Context) ([]byte, error) {
	switch {
	case len(sp.cfg.IdPMetadataXML) > 0:
		return sp.cfg.IdPMetadataXML, nil
	case sp.cfg.IdPMetadataFile != "":
		b, err := os.ReadFile(sp.cfg.IdPMetadataFile)
		if err != nil {
			return nil, fmt.Errorf("saml: IdP metadata: %w", err)
		}
		return b, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sp.cfg.IdPMetadataURL, nil)
	if err != nil {
		return nil, fmt.Errorf("saml: IdP metadata: %w", err)
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := sp.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("saml: fetch IdP metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("saml: fetch IdP metadata: HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("saml: fetch IdP metadata: %w", err)
	}
	return b, nil
}

// parseMetadata reads an EntityDescriptor with an IDPSSODescriptor. Entra's metadata starts with
// a byte-order mark and carries WS-Fed RoleDescriptors, which are ignored.
func parseMetadata(raw []byte) (metadata, error) {
	if len(raw) > maxMetadataSize {
		return metadata{}, fmt.Errorf("saml: IdP metadata is larger than %d bytes", maxMetadataSize)
	}
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	if _, err := scanXML(raw, scanRules{root: xml.Name{Space: nsMetadata, Local: "EntityDescriptor"}, allowComments: true, maxElements: 20000}); err != nil {
		return metadata{}, fmt.Errorf("saml: IdP metadata: %w", err)
	}
	var ed types.EntityDescriptor
	if err := xml.Unmarshal(raw, &ed); err != nil {
		return metadata{}, fmt.Errorf("saml: IdP metadata: %w", err)
	}
	m := metadata{EntityID: strings.TrimSpace(ed.EntityID)}
	if m.EntityID == "" {
		return metadata{}, errors.New("saml: IdP metadata has no entityID")
	}
	d := ed.IDPSSODescriptor
	if d == nil {
		return metadata{}, errors.New("saml: IdP metadata has no IDPSSODescriptor")
	}
	for _, s := range d.SingleSignOnServices {
		if s.Binding == bindingRedirect && m.SSOURL == "" {
			m.SSOURL = strings.TrimSpace(s.Location)
		}
	}
	if m.SSOURL == "" {
		return metadata{}, errors.New("saml: IdP metadata has no HTTP-Redirect SingleSignOnService")
	}
	for _, s := range d.SingleLogoutServices {
		if s.Binding == bindingRedirect && m.SLOURL == "" {
			m.SLOURL = strings.TrimSpace(s.Location)
		}
	}
	seen := map[string]bool{}
	for _, kd := range d.KeyDescriptors {
		if kd.Use != "" && kd.Use != "signing" {
			continue
		}
		for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Data), ""))
			if err != nil {
				return metadata{}, fmt.Errorf("saml: IdP metadata certificate: %w", err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return metadata{}, fmt.Errorf("saml: IdP metadata certificate: %w", err)
			}
			if fp := fingerprint(c); !seen[fp] {
				seen[fp] = true
				m.Certs = append(m.Certs, c)
			}
		}
	}
	if len(m.Certs) == 0 {
		return metadata{}, errors.New("saml: IdP metadata has no signing certificate")
	}
	return m, nil
}

// installMetadata makes m current, keeping recently seen certificates trusted. Metadata for
// another entityID than the pinned one is refused and alerted: a metadata URL that now serves
// another IdP (a hijacked DNS name, a mistyped tenant) must not silently change who may sign
// users in.
func (sp *SP) installMetadata(ctx context.Context, m metadata) error {
	now := sp.now()
	s := &sp.idp
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entityID != "" && m.EntityID != s.entityID {
		s.rejected.Add(1)
		sp.log.Error("saml: ALERT: IdP metadata refused, its entityID changed; keeping the trusted IdP",
			"trusted", s.entityID, "offered", m.EntityID, "source", sp.metadataSource())
		return fmt.Errorf("%w from %q to %q", errEntityChanged, s.entityID, m.EntityID)
	}
	first := s.cur == nil
	changed := s.entityID == ""
	s.entityID = m.EntityID
	if s.seen == nil {
		s.seen = map[string]seenCert{}
	}
	current := map[string]bool{}
	for _, c := range m.Certs {
		fp := fingerprint(c)
		current[fp] = true
		if sc, ok := s.seen[fp]; !ok || !sc.gone.IsZero() {
			changed = true
			if !first {
				sp.log.Info("saml: new IdP signing certificate", "subject", c.Subject.String(), "sha256", fp, "not_after", c.NotAfter)
			}
		}
		s.seen[fp] = seenCert{cert: c}
		if left := c.NotAfter.Sub(now); left < 30*24*time.Hour {
			sp.log.Warn("saml: IdP signing certificate expires soon", "subject", c.Subject.String(), "sha256", fp, "not_after", c.NotAfter)
		}
	}
	certs := append([]*x509.Certificate(nil), m.Certs...)
	for fp, sc := range s.seen {
		if current[fp] {
			continue
		}
		if sc.gone.IsZero() {
			sc.gone, changed = now, true
			s.seen[fp] = sc
		}
		if now.Sub(sc.gone) > sp.cfg.CertRetention {
			sp.log.Info("saml: IdP signing certificate no longer trusted", "subject", sc.cert.Subject.String(), "sha256", fp)
			delete(s.seen, fp)
			changed = true
			continue
		}
		certs = append(certs, sc.cert)
	}
	info := &idpInfo{EntityID: m.EntityID, SSOURL: m.SSOURL, SLOURL: m.SLOURL, Certs: certs, Loaded: now}
	if sp.cfg.IdPIssuer != "" {
		info.EntityID = sp.cfg.IdPIssuer
	}
	if first {
		sp.log.Info("saml: IdP metadata loaded", "entity_id", info.EntityID, "sso_url", info.SSOURL, "certificates", len(certs))
	}
	s.cur = info
	if changed {
		sp.persistTrust(ctx)
	}
	return nil
}

// MetadataRejections counts IdP metadata refused because its entityID changed (a metric).
func (sp *SP) MetadataRejections() uint64 { return sp.idp.rejected.Load() }

// trustRecord is the trust that survives a restart, kept in the store's settings: the pinned
// entityID and the certificates with when they left the metadata. It belongs to one metadata
// source: pointing crowdgate at another URL or file starts afresh.
type trustRecord struct {
	Source   string        `json:"source"`
	EntityID string        `json:"entity_id"`
	Certs    []trustedCert `json:"certs"`
}

type trustedCert struct {
	DER  []byte    `json:"der"`
	Gone time.Time `json:"gone,omitzero"`
}

const trustSetting = "saml_idp_trust"

func (sp *SP) metadataSource() string {
	switch {
	case sp.cfg.IdPMetadataURL != "":
		return "url:" + sp.cfg.IdPMetadataURL
	case sp.cfg.IdPMetadataFile != "":
		return "file:" + sp.cfg.IdPMetadataFile
	}
	h := sha256.Sum256(sp.cfg.IdPMetadataXML)
	return "xml:" + hex.EncodeToString(h[:8])
}

// persistTrust saves the trust; s.mu is held. A failure is logged: the trust in memory stands,
// and a restart would only forget the rollover certificates and the pin.
func (sp *SP) persistTrust(ctx context.Context) {
	if sp.st == nil {
		return
	}
	rec := trustRecord{Source: sp.metadataSource(), EntityID: sp.idp.entityID}
	for _, sc := range sp.idp.seen {
		rec.Certs = append(rec.Certs, trustedCert{DER: sc.cert.Raw, Gone: sc.gone})
	}
	slices.SortFunc(rec.Certs, func(a, b trustedCert) int { return bytes.Compare(a.DER, b.DER) })
	b, err := json.Marshal(rec)
	if err == nil {
		ctx = store.WithActor(context.WithoutCancel(ctx), store.Actor{Kind: store.ActorSystem, Name: "saml"})
		err = sp.st.SetSetting(ctx, trustSetting, string(b))
	}
	if err != nil {
		sp.log.Error("saml: save the IdP trust (rollover certificates, entityID)", "err", err)
	}
}

// restoreTrust loads the trust saved by an earlier run from the same metadata source.
func (sp *SP) restoreTrust(ctx context.Context) error {
	if sp.st == nil {
		return nil
	}
	v, err := sp.st.Setting(ctx, trustSetting)
	if store.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("saml: IdP trust: %w", err)
	}
	var rec trustRecord
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		return fmt.Errorf("saml: IdP trust: %w", err)
	}
	if rec.Source != sp.metadataSource() {
		sp.log.Info("saml: the IdP metadata source changed; the trust of the previous one is dropped", "previous", rec.Source)
		return nil
	}
	s := &sp.idp
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entityID = rec.EntityID
	s.seen = map[string]seenCert{}
	for _, tc := range rec.Certs {
		c, err := x509.ParseCertificate(tc.DER)
		if err != nil {
			return fmt.Errorf("saml: IdP trust: %w", err)
		}
		s.seen[fingerprint(c)] = seenCert{cert: c, gone: tc.Gone}
	}
	return nil
}

func fingerprint(c *x509.Certificate) string {
	h := sha256.Sum256(c.Raw)
	return hex.EncodeToString(h[:])
}

// refreshMetadata is the metadata part of Run: it reloads the metadata from its URL or file and
// returns how long to wait before the next refresh (0: the metadata was given inline, never refresh).
func (sp *SP) refreshMetadata(ctx context.Context) time.Duration {
	if sp.cfg.IdPMetadataURL == "" && sp.cfg.IdPMetadataFile == "" {
		return 0
	}
	if err := sp.loadMetadata(ctx); err != nil {
		sp.log.Warn("saml: IdP metadata refresh failed; keeping the previous metadata", "err", err)
		return metadataRetry
	}
	return sp.cfg.MetadataRefresh
}

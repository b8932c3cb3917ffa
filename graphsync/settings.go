package graphsync

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Credential kinds of Settings.Credential.
const (
	CredentialSecret           = "secret"            // client secret (the default)
	CredentialCertificate      = "certificate"       // client certificate, PEM or PFX
	CredentialManagedIdentity  = "managed_identity"  // Azure managed identity of the host
	CredentialWorkloadIdentity = "workload_identity" // Kubernetes workload identity federation
)

// Keys of the secret values in an AZURE_AD directory's Config JSON; they are stored sealed.
const (
	KeyClientSecret        = "client_secret"
	KeyCertificate         = "certificate"
	KeyCertificatePassword = "certificate_password"
)

// MaxGroupFilter bounds the group filter's length.
const MaxGroupFilter = 500

// Settings are an Entra ID (AZURE_AD) directory's settings, stored as JSON in the directory's
// Config. This is the one place they are parsed and checked: the console, the CLI and the
// supervisor all go through ParseSettings and Validate, so a setting one accepts the syncer cannot
// refuse. Keys this version does not know are kept as they are.
type Settings struct {
	TenantID string `json:"tenant_id,omitempty"` // directory (tenant) id or domain
	ClientID string `json:"client_id,omitempty"` // application (client) id; for managed identity, a user-assigned identity
	// Credential is one of the Credential* kinds; "" means CredentialSecret.
	Credential string `json:"credential,omitempty"`
	// ClientSecret, Certificate (PEM text, or a PFX file in base64) and CertificatePassword are
	// stored sealed by the caller (cmd/crowdgate); Settings carries them as stored.
	ClientSecret        string `json:"client_secret,omitempty"`
	Certificate         string `json:"certificate,omitempty"`
	CertificatePassword string `json:"certificate_password,omitempty"`

	SyncInterval   string   `json:"sync_interval,omitempty"` // a Go duration; "" is DefaultInterval
	Groups         []string `json:"groups,omitempty"`        // Config.Groups
	UsernameSource string   `json:"username_source,omitempty"`
	ExcludeGuests  bool     `json:"exclude_guests,omitempty"`
	UserRemoval    string   `json:"user_removal,omitempty"`
	// Names (docs/sync-names.md): Microsoft 365 groups too; protected names (nil: the defaults);
	// protected names bound to Entra group object ids.
	UnifiedGroups   bool              `json:"unified_groups,omitempty"`
	ProtectedGroups []string          `json:"protected_groups,omitempty"`
	BoundGroups     map[string]string `json:"bound_groups,omitempty"`
	// MassChangeThreshold: nil for the default, 0 turns the guard off (docs/sync-guard.md).
	MassChangeThreshold *int `json:"mass_change_threshold,omitempty"`

	extra map[string]json.RawMessage // keys not known here, kept on Encode
}

// settingsKeys are the JSON keys of Settings' fields.
var settingsKeys = []string{"tenant_id", "client_id", "credential", KeyClientSecret, KeyCertificate, KeyCertificatePassword,
	"sync_interval", "groups", "username_source", "exclude_guests", "user_removal",
	"unified_groups", "protected_groups", "bound_groups", "mass_change_threshold"}

// ParseSettings reads a directory's Config JSON ("" is no settings). A value of the wrong type is
// an error naming the key; Validate checks the values.
func ParseSettings(config string) (Settings, error) {
	var s Settings
	if strings.TrimSpace(config) == "" {
		return s, nil
	}
	if err := json.Unmarshal([]byte(config), &s.extra); err != nil {
		return Settings{}, fmt.Errorf("directory settings are not a JSON object: %w", err)
	}
	if err := json.Unmarshal([]byte(config), &s); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Settings{}, fmt.Errorf("directory setting %s: want a %s, not a JSON %s", te.Field, te.Type, te.Value)
		}
		return Settings{}, fmt.Errorf("directory settings: %w", err)
	}
	for _, k := range settingsKeys {
		delete(s.extra, k)
	}
	return s, nil
}

// Encode returns the Config JSON for s, with the keys ParseSettings did not know.
func (s Settings) Encode() (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	if len(s.extra) == 0 {
		return string(b), nil
	}
	m := map[string]json.RawMessage{}
	for k, v := range s.extra {
		m[k] = v
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	if b, err = json.Marshal(m); err != nil {
		return "", err
	}
	return string(b), nil
}

// CredentialKind is Credential with its default.
func (s Settings) CredentialKind() string {
	if s.Credential == "" {
		return CredentialSecret
	}
	return s.Credential
}

// Interval is the sync interval, DefaultInterval when unset; 0 when it does not parse (Validate
// says why).
func (s Settings) Interval() time.Duration {
	if s.SyncInterval == "" {
		return DefaultInterval
	}
	d, err := time.ParseDuration(s.SyncInterval)
	if err != nil {
		return 0
	}
	return d
}

// MaxSyncInterval is the longest sync interval the settings accept: a delta round must come
// before the periodic full round is due.
func MaxSyncInterval() time.Duration { return min(MaxInterval, DefaultFullInterval) }

// Config is the syncer configuration the settings ask for.
func (s Settings) Config() Config {
	c := Config{Interval: s.Interval(), Groups: s.Groups, UsernameSource: s.UsernameSource,
		ExcludeGuests: s.ExcludeGuests, UserRemoval: s.UserRemoval,
		UnifiedGroups: s.UnifiedGroups, ProtectedNames: s.ProtectedGroups, BoundGroups: s.BoundGroups,
		SourceKey: strings.ToLower(strings.TrimSpace(s.TenantID) + "/" + strings.TrimSpace(s.ClientID))}
	if t := s.MassChangeThreshold; t != nil {
		c.MassChangeThreshold = *t
		if *t == 0 {
			c.MassChangeThreshold = MassChangeOff
		}
	}
	return c
}

// Validate reports every problem, phrased for an administrator, in one error ("; "-separated).
// Settings that pass always make a Config that the syncer accepts.
func (s Settings) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if strings.ContainsAny(s.TenantID, "/?#% \t\r\n") {
		add("the tenant must be a tenant id or domain")
	}
	if strings.ContainsAny(s.ClientID, "/?#% \t\r\n") {
		add("the client id must be an application (client) id")
	}
	switch s.CredentialKind() {
	case CredentialSecret, CredentialCertificate, CredentialManagedIdentity, CredentialWorkloadIdentity:
	default:
		add("the credential must be %s, %s, %s or %s", CredentialSecret, CredentialCertificate,
			CredentialManagedIdentity, CredentialWorkloadIdentity)
	}
	if s.SyncInterval != "" {
		d, err := time.ParseDuration(s.SyncInterval)
		if err != nil || d < MinInterval || d > MaxSyncInterval() {
			add("the sync interval must be a duration from %s to %s, such as 30m or 1h",
				shortDuration(MinInterval), shortDuration(MaxSyncInterval()))
		}
	}
	if len(s.Groups) > MaxGroupFilter {
		add("the group filter names more than %d groups", MaxGroupFilter)
	}
	for _, g := range s.Groups {
		if strings.TrimSpace(g) == "" || len(g) > 256 || strings.ContainsAny(g, "\x00\r\n") {
			add("the group filter holds an invalid group name")
			break
		}
	}
	switch s.UsernameSource {
	case "", UsernameUPN, UsernameMail, UsernameSAM, UsernameMailNickname:
	default:
		add("the user name source must be %s, %s, %s or %s", UsernameUPN, UsernameMail, UsernameSAM, UsernameMailNickname)
	}
	switch s.UserRemoval {
	case "", RemovalDeactivate, RemovalDelete:
	default:
		add("the user removal mode must be %s or %s", RemovalDeactivate, RemovalDelete)
	}
	if len(problems) == 0 {
		// The syncer's own check: anything it would refuse is refused here too.
		if err := s.Config().Validate(); err != nil {
			add("%v", err)
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// Ready reports what is missing before the directory can be synchronised: the tenant and client id
// with a secret or certificate; nothing for a managed identity; the tenant and client id for a
// workload identity.
func (s Settings) Ready() error {
	var missing []string
	kind := s.CredentialKind()
	if s.TenantID == "" && kind != CredentialManagedIdentity {
		missing = append(missing, "tenant")
	}
	if s.ClientID == "" && kind != CredentialManagedIdentity {
		missing = append(missing, "client id")
	}
	switch {
	case kind == CredentialSecret && s.ClientSecret == "":
		missing = append(missing, "client secret")
	case kind == CredentialCertificate && s.Certificate == "":
		missing = append(missing, "certificate")
	}
	if len(missing) > 0 {
		return fmt.Errorf("no %s yet", strings.Join(missing, ", "))
	}
	return nil
}

// shortDuration prints 24h0m0s as 24h and 1m0s as 1m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Set sets one setting that is not a secret from its text form (the CLI's key=value, a console
// field); "" clears it. groups is a comma- or newline-separated list; exclude_guests is a boolean.
// Validate checks the values.
func (s *Settings) Set(key, value string) error {
	value = strings.TrimSpace(value)
	switch key {
	case "tenant_id":
		s.TenantID = value
	case "client_id":
		s.ClientID = value
	case "credential":
		s.Credential = value
	case "sync_interval":
		s.SyncInterval = value
	case "groups":
		s.Groups = nil
		for _, g := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == '\n' }) {
			if g = strings.TrimSpace(g); g != "" {
				s.Groups = append(s.Groups, g)
			}
		}
	case "username_source":
		s.UsernameSource = value
	case "exclude_guests":
		return setBool(&s.ExcludeGuests, key, value)
	case "user_removal":
		s.UserRemoval = value
	case "unified_groups":
		return setBool(&s.UnifiedGroups, key, value)
	case "protected_groups":
		s.ProtectedGroups = nil
		for _, g := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == '\n' }) {
			if g = strings.TrimSpace(g); g != "" {
				s.ProtectedGroups = append(s.ProtectedGroups, g)
			}
		}
	case "bound_groups": // name=objectid,name=objectid
		s.BoundGroups = nil
		for _, pair := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == '\n' }) {
			name, id, ok := strings.Cut(pair, "=")
			if !ok || strings.TrimSpace(name) == "" || strings.TrimSpace(id) == "" {
				return fmt.Errorf("bound_groups takes name=objectid pairs separated by commas, not %q", pair)
			}
			if s.BoundGroups == nil {
				s.BoundGroups = map[string]string{}
			}
			s.BoundGroups[strings.TrimSpace(name)] = strings.ToLower(strings.TrimSpace(id))
		}
	case "mass_change_threshold":
		if value == "" {
			s.MassChangeThreshold = nil
			break
		}
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return fmt.Errorf("mass_change_threshold must be a whole number of objects (0 turns the guard off), not %q", value)
		}
		s.MassChangeThreshold = &n
	case KeyClientSecret, KeyCertificate, KeyCertificatePassword:
		return fmt.Errorf("%s is a secret: it is not set as text (the CLI reads it from standard input or a file)", key)
	default:
		return fmt.Errorf("unknown setting %q: want one of %s", key, strings.Join(SettableKeys(), ", "))
	}
	return nil
}

// setBool sets *b from a yes/no value of key.
func setBool(b *bool, key, value string) error {
	switch strings.ToLower(value) {
	case "", "false", "no", "off":
		*b = false
	case "true", "yes", "on":
		*b = true
	default:
		return fmt.Errorf("%s must be true or false, not %q", key, value)
	}
	return nil
}

// SettableKeys are the keys Set accepts.
func SettableKeys() []string {
	return []string{"tenant_id", "client_id", "credential", "sync_interval", "groups", "username_source", "exclude_guests", "user_removal",
		"unified_groups", "protected_groups", "bound_groups", "mass_change_threshold"}
}

// Changed lists the keys whose values differ between s and t (known and unknown keys), sorted: what
// an audit record names, never the values.
func (s Settings) Changed(t Settings) []string {
	decode := func(x Settings) map[string]json.RawMessage {
		m := map[string]json.RawMessage{}
		if enc, err := x.Encode(); err == nil {
			_ = json.Unmarshal([]byte(enc), &m) // Encode's output is a JSON object
		}
		return m
	}
	a, b := decode(s), decode(t)
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || string(w) != string(v) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// CertificateText is how a certificate file is stored in Settings.Certificate (before sealing): PEM
// as text, anything else (a PFX file) in base64.
func CertificateText(file []byte) string {
	if bytes.Contains(file, []byte("-----BEGIN")) {
		return string(file)
	}
	return base64.StdEncoding.EncodeToString(file)
}

// CertificateFile is the inverse of CertificateText: the certificate file's bytes.
func CertificateFile(stored string) ([]byte, error) {
	if strings.Contains(stored, "-----BEGIN") {
		return []byte(stored), nil
	}
	b, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return nil, errors.New("the stored certificate is neither PEM nor a base64 PFX file: upload it again")
	}
	return b, nil
}

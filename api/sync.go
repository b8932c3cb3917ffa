package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrSyncRunning is what a SyncController's SyncNow returns (wrapped) when the directory is
// already synchronising; the console then just shows the run in progress.
var ErrSyncRunning = errors.New("a sync of this directory is already running")

// SyncController is the console's handle on Entra ID synchronisation; cmd/crowdgate wires it to
// graphsync. Implementations must be safe for concurrent use.
type SyncController interface {
	// SyncNow starts a sync run of the directory in the background and returns at once, with
	// ErrSyncRunning (wrapped) when one is already in progress. ctx carries the administrator as
	// store actor; the run itself must not depend on ctx, which ends with the request.
	SyncNow(ctx context.Context, dirID int64) error
	// Progress reports the directory's current (or last) run as far as this instance knows it.
	Progress(dirID int64) SyncProgress
	// TestConnection checks that the directory's stored settings get a token and can read Graph
	// (a small request); the error's message is shown to the administrator.
	TestConnection(ctx context.Context, dirID int64) error
}

// SyncProgress is the live state of a directory's sync as the console polls it.
type SyncProgress struct {
	Running    bool      `json:"running"`
	Phase      string    `json:"phase,omitempty"` // e.g. "users", "groups", "memberships"
	Done       int       `json:"done"`            // objects processed so far
	Total      int       `json:"total"`           // 0 when not known
	Message    string    `json:"message,omitempty"`
	Error      string    `json:"error,omitempty"` // the last run's failure
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	NextRunAt  time.Time `json:"next_run_at,omitzero"` // when the periodic sync runs next, if known
}

// Percent is Done/Total in percent, 0 when the total is unknown.
func (p SyncProgress) Percent() int {
	if p.Total <= 0 {
		return 0
	}
	n := p.Done * 100 / p.Total
	return min(max(n, 0), 100)
}

// The keys of an AZURE_AD directory's Config JSON that the console reads and writes. Other keys
// are kept as they are.
const (
	keyTenantID     = "tenant_id"
	keyClientID     = "client_id"
	keyClientSecret = "client_secret"
	keySyncInterval = "sync_interval" // a Go duration string, e.g. "30m": graphsync.Config.Interval
	keyGroups       = "groups"        // JSON array of group object ids or names: graphsync.Config.Groups
)

// entraSettings is the console's view of an AZURE_AD directory's Config: the secret never leaves
// the server, only whether one is set.
type entraSettings struct {
	TenantID     string
	ClientID     string
	SecretSet    bool
	SyncInterval string
	Groups       []string
}

// GroupFilter is the group filter as the form shows it.
func (e entraSettings) GroupFilter() string { return strings.Join(e.Groups, ", ") }

// Interval parses SyncInterval; 0 when unset or unparsable.
func (e entraSettings) Interval() time.Duration {
	d, err := time.ParseDuration(e.SyncInterval)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

func parseEntra(config string) entraSettings {
	var m map[string]any
	_ = json.Unmarshal([]byte(config), &m)
	str := func(k string) string {
		switch v := m[k].(type) {
		case string:
			return v
		case float64:
			return fmt.Sprint(v)
		}
		return ""
	}
	e := entraSettings{TenantID: str(keyTenantID), ClientID: str(keyClientID), SecretSet: str(keyClientSecret) != "",
		SyncInterval: str(keySyncInterval)}
	if list, ok := m[keyGroups].([]any); ok {
		for _, v := range list {
			if g, ok := v.(string); ok {
				e.Groups = append(e.Groups, g)
			}
		}
	}
	return e
}

// entraChange is a submitted settings form: an empty Secret keeps the stored one unless ClearSecret.
type entraChange struct {
	TenantID, ClientID, Secret, SyncInterval string
	Groups                                   []string
	ClearSecret                              bool
}

func (ch entraChange) validate() error {
	var problems []string
	if strings.ContainsAny(ch.TenantID, "/?#% \t\r\n") {
		problems = append(problems, "the tenant must be a tenant id or domain")
	}
	if strings.ContainsAny(ch.ClientID, "/?#% \t\r\n") {
		problems = append(problems, "the client id must be an application (client) id")
	}
	if ch.SyncInterval != "" {
		if d, err := time.ParseDuration(ch.SyncInterval); err != nil || d < time.Minute {
			problems = append(problems, "the sync interval must be a duration of at least 1m, such as 30m or 1h")
		}
	}
	if len(ch.Groups) > 500 {
		problems = append(problems, "the group filter names more than 500 groups")
	}
	for _, g := range ch.Groups {
		if len(g) > 256 || strings.ContainsAny(g, "\x00\r\n") {
			problems = append(problems, "the group filter holds an invalid group name")
			break
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// apply returns config with the change applied, keeping keys the console does not know.
func (ch entraChange) apply(config string) (string, error) {
	m := map[string]any{}
	if config != "" {
		if err := json.Unmarshal([]byte(config), &m); err != nil {
			return "", fmt.Errorf("the stored directory configuration is not JSON: %w", err)
		}
	}
	set := func(k, v string) {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	set(keyTenantID, ch.TenantID)
	set(keyClientID, ch.ClientID)
	set(keySyncInterval, ch.SyncInterval)
	if len(ch.Groups) == 0 {
		delete(m, keyGroups)
	} else {
		m[keyGroups] = ch.Groups
	}
	switch {
	case ch.ClearSecret:
		delete(m, keyClientSecret)
	case ch.Secret != "":
		m[keyClientSecret] = ch.Secret
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

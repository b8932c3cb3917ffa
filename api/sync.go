package api

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/graphsync"
)

// ErrSyncRunning is what a SyncController's SyncNow returns (wrapped) when the directory is
// already synchronising; the console then just shows the run in progress.
var ErrSyncRunning = errors.New("a sync of this directory is already running")

// SyncController is the console's handle on Entra ID synchronisation; cmd/crowdgate wires it to
// graphsync. Implementations must be safe for concurrent use.
type SyncController interface {
	// SyncNow starts a sync run of the directory in the background (a full round when full is set)
	// and returns at once, with ErrSyncRunning (wrapped) when one is already in progress. ctx
	// carries the administrator as store actor; the run itself must not depend on ctx, which ends
	// with the request.
	SyncNow(ctx context.Context, dirID int64, full bool) error
	// Progress reports the directory's current (or last) run as far as this instance knows it.
	Progress(dirID int64) SyncProgress
	// TestConnection checks that the directory's stored settings get a token and can read Graph
	// (a small request); the error's message is shown to the administrator.
	TestConnection(ctx context.Context, dirID int64) error
}

// HeldApplier is implemented by a SyncController whose synchroniser can hold a run that would remove
// too much (the mass-change guard): ApplyHeld applies the directory's held run, as an administrator
// decided. The console offers it while SyncProgress.Held is set.
type HeldApplier interface {
	ApplyHeld(ctx context.Context, dirID int64) error
}

// SyncProgress is the live state of a directory's sync as the console polls it.
type SyncProgress struct {
	Running    bool      `json:"running"`
	Stopped    bool      `json:"stopped,omitempty"` // the directory is not being synchronised: Error says why
	Held       string    `json:"held,omitempty"`    // a run held by the mass-change guard: what it would do; "" when none
	Phase      string    `json:"phase,omitempty"`   // e.g. "users", "groups", "memberships"
	Done       int       `json:"done"`              // objects processed so far
	Total      int       `json:"total"`             // 0 when not known
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

// entraView is the console's view of an AZURE_AD directory's settings: the secrets never leave the
// server, only whether one is set. Err is why the stored settings cannot be read or used.
type entraView struct {
	graphsync.Settings
	SecretSet, CertificateSet, CertificatePasswordSet bool
	Err                                               error
}

// GroupFilter is the group filter as the form shows it.
func (e entraView) GroupFilter() string { return strings.Join(e.Groups, ", ") }

// DefaultInterval is what an empty interval means.
func (e entraView) DefaultInterval() time.Duration { return graphsync.DefaultInterval }

func viewEntra(config string) entraView {
	s, err := graphsync.ParseSettings(config)
	if err == nil {
		err = s.Validate()
	}
	v := entraView{Settings: s, SecretSet: s.ClientSecret != "", CertificateSet: s.Certificate != "",
		CertificatePasswordSet: s.CertificatePassword != "", Err: err}
	v.ClientSecret, v.Certificate, v.CertificatePassword = "", "", ""
	return v
}

// entraForm is a submitted settings form. An empty secret keeps the stored one unless its "clear"
// box is ticked; so does an empty certificate upload.
type entraForm struct {
	Fields                                      map[string]string // graphsync.SettableKeys
	Secret, Certificate, CertificatePassword    string
	ClearSecret, ClearCertificate, ClearCertPwd bool
}

// secretChange is one secret value of the form: the new value, or cleared.
type secretChange struct {
	key   string
	value string
	clear bool
	dst   *string
}

// apply returns s with the form applied; sealed seals each new secret. Validate has not run yet.
func (f entraForm) apply(s graphsync.Settings, seal func(key, value string) (string, error)) (graphsync.Settings, error) {
	for _, k := range graphsync.SettableKeys() {
		v, ok := f.Fields[k]
		if !ok {
			continue
		}
		if err := s.Set(k, v); err != nil {
			return s, err
		}
	}
	for _, c := range []secretChange{{graphsync.KeyClientSecret, f.Secret, f.ClearSecret, &s.ClientSecret},
		{graphsync.KeyCertificate, f.Certificate, f.ClearCertificate, &s.Certificate},
		{graphsync.KeyCertificatePassword, f.CertificatePassword, f.ClearCertPwd, &s.CertificatePassword}} {
		switch {
		case c.clear:
			*c.dst = ""
		case c.value != "":
			sealed, err := seal(c.key, c.value)
			if err != nil {
				return s, err
			}
			*c.dst = sealed
		}
	}
	return s, nil
}

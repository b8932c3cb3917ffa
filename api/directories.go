package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/store"
)

// dirRow is a directory with its counts and synchronisation health.
type dirRow struct {
	Dir           store.Directory
	Stats         store.DirectoryStats
	Entra         bool
	Settings      entraView
	State         *store.SyncState
	LastRun       *store.SyncRun
	NextRun       time.Time
	NextEstimated bool
	Progress      *SyncProgress
	Health        string // "local", "ok", "running", "warn", "error"
	HealthText    string
}

func (s *server) dirRows(ctx context.Context) ([]dirRow, error) {
	dirs, err := s.st.Directories(ctx)
	if err != nil {
		return nil, err
	}
	stats, err := s.st.DirectoryStats(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]dirRow, 0, len(dirs))
	for _, d := range dirs {
		r, err := s.dirRow(ctx, d, stats[d.ID])
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func (s *server) dirRow(ctx context.Context, d store.Directory, st store.DirectoryStats) (dirRow, error) {
	r := dirRow{Dir: d, Stats: st, Entra: d.Kind == store.DirectoryAzureAD}
	if !r.Entra {
		r.Health, r.HealthText = "local", "Local accounts"
		if !d.Active {
			r.Health, r.HealthText = "warn", "Inactive"
		}
		return r, nil
	}
	r.Settings = viewEntra(d.Config)
	state, err := s.st.SyncState(ctx, d.ID)
	if err == nil {
		r.State = &state
	} else if !store.IsNotFound(err) {
		return dirRow{}, err
	}
	runs, err := s.st.SyncRuns(ctx, d.ID, 1)
	if err != nil {
		return dirRow{}, err
	}
	if len(runs) > 0 {
		r.LastRun = &runs[0]
	}
	if s.cfg.SyncController != nil {
		p := s.cfg.SyncController.Progress(d.ID)
		r.Progress = &p
		r.NextRun = p.NextRunAt
	}
	interval := r.Settings.Interval()
	if r.NextRun.IsZero() && interval > 0 && r.LastRun != nil && r.Settings.Err == nil {
		r.NextRun, r.NextEstimated = r.LastRun.StartedAt.Add(interval), true
	}
	now := s.cfg.Now()
	switch {
	case !d.Active:
		r.Health, r.HealthText = "warn", "Inactive"
	case r.Progress != nil && r.Progress.Running:
		r.Health, r.HealthText = "running", "Synchronising"
	case r.Settings.Err != nil:
		// Whatever the last run did, no syncer runs with these settings.
		r.Health, r.HealthText = "error", "Not synchronising: invalid settings"
	case r.Progress != nil && r.Progress.Stopped:
		r.Health, r.HealthText = "error", "Not synchronising"
	case r.Progress != nil && r.Progress.Held != "":
		r.Health, r.HealthText = "warn", "Run held: review it"
	case r.LastRun != nil && (r.LastRun.Status == store.SyncFailed || r.LastRun.Status == store.SyncAborted):
		r.Health, r.HealthText = "error", "Last run "+strings.ToLower(r.LastRun.Status)
	case r.State != nil && r.State.LastError != "":
		r.Health, r.HealthText = "error", "Last run failed"
	case r.State == nil || r.State.LastSuccessAt == nil:
		r.Health, r.HealthText = "warn", "Never synchronised"
	case interval > 0 && now.Sub(*r.State.LastSuccessAt) > 3*interval:
		r.Health, r.HealthText = "warn", "Stale: last success "+ago(*r.State.LastSuccessAt)
	default:
		r.Health, r.HealthText = "ok", "Healthy"
	}
	return r, nil
}

type directoriesData struct {
	Rows []dirRow
	// Entra object ids bound as administrator groups: by the configuration, and in the console.
	AdminConfigured, AdminBound []string
}

func (s *server) directories(c echo.Context) error {
	rows, err := s.dirRows(c.Request().Context())
	if err != nil {
		return err
	}
	configured, bound, err := s.st.AdminEntraGroups(c.Request().Context())
	if err != nil {
		return err
	}
	p := s.newPage(c, "Directories", "directories")
	p.Data = directoriesData{Rows: rows, AdminConfigured: configured, AdminBound: bound}
	return s.render(c, http.StatusOK, "directories", p)
}

func (s *server) dirURL(id int64) string {
	return fmt.Sprintf("%s/directories/%d", s.cfg.PathPrefix, id)
}

type directoryData struct {
	Row      dirRow
	Runs     []store.SyncRun
	CanSync  bool
	Fresh    bool
	Internal bool // the administrator re-authenticates with a password
	Own      bool // the administrator's own directory
}

// directoryParam is the directory of the :id parameter.
func (s *server) directoryParam(c echo.Context) (store.Directory, error) {
	return paramRecord(c, s.st.Directory)
}

func (s *server) directory(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.directoryParam(c)
	if err != nil {
		return err
	}
	stats, err := s.st.DirectoryStats(ctx)
	if err != nil {
		return err
	}
	row, err := s.dirRow(ctx, d, stats[d.ID])
	if err != nil {
		return err
	}
	a := adminOf(c)
	data := directoryData{Row: row, CanSync: s.cfg.SyncController != nil, Fresh: s.fresh(a), Internal: a.Internal(), Own: a.Directory.ID == d.ID}
	if row.Entra {
		if data.Runs, err = s.st.SyncRuns(ctx, d.ID, 20); err != nil {
			return err
		}
	}
	p := s.newPage(c, d.Name, "directories")
	p.Data = data
	return s.render(c, http.StatusOK, "directory", p)
}

func (s *server) createDirectory(c echo.Context) error {
	ctx := c.Request().Context()
	back := s.cfg.PathPrefix + "/directories"
	kind := c.FormValue("kind")
	d := store.Directory{Name: strings.TrimSpace(c.FormValue("name")), Kind: kind, Description: strings.TrimSpace(c.FormValue("description")),
		Active: true, NestedGroups: true}
	switch kind {
	case store.DirectoryInternal:
		d.LockoutThreshold, d.LockoutSeconds, d.MinPasswordLen = 5, 300, 12
	case store.DirectoryAzureAD:
		// A new identity source: the same re-authentication as its settings.
		if ok, err := s.requireFresh(c, back); !ok {
			return err
		}
	default:
		return s.done(c, fmt.Errorf("choose a directory type: %w", errForm), back, "")
	}
	created, err := s.st.CreateDirectory(ctx, d)
	if err != nil {
		return s.done(c, err, back, "")
	}
	return s.done(c, nil, s.dirURL(created.ID), "Directory "+created.Name+" created.")
}

// updateDirectory saves the general settings and, for internal directories, the password and
// lock-out policy. The Entra ID settings have their own form.
func (s *server) updateDirectory(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.directoryParam(c)
	if err != nil {
		return err
	}
	back := s.dirURL(d.ID)
	d.Name = strings.TrimSpace(c.FormValue("name"))
	d.Description = strings.TrimSpace(c.FormValue("description"))
	d.NestedGroups = checked(c, "nested")
	active := checked(c, "active")
	if !active && d.Active && adminOf(c).Directory.ID == d.ID {
		return s.done(c, fmt.Errorf("you cannot deactivate the directory of your own account: %w", errForm), back, "")
	}
	d.Active = active
	if d.Kind == store.DirectoryInternal {
		for _, f := range []struct {
			name string
			dst  *int
			max  int
		}{{"min_password_len", &d.MinPasswordLen, store.MaxPasswordLen}, {"lockout_threshold", &d.LockoutThreshold, 1000},
			{"lockout_seconds", &d.LockoutSeconds, 30 * 24 * 3600}} {
			v := strings.TrimSpace(c.FormValue(f.name))
			if v == "" {
				*f.dst = 0
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > f.max {
				return s.done(c, fmt.Errorf("%s must be a whole number from 0 to %d: %w", strings.ReplaceAll(f.name, "_", " "), f.max, errForm), back, "")
			}
			*f.dst = n
		}
	}
	_, err = s.st.UpdateDirectory(ctx, d)
	return s.done(c, err, back, "Directory settings saved.")
}

// updateEntra saves the Entra ID connection settings into the directory's Config; the client
// secret is write-only. The route needs a recent sign-in.
func (s *server) updateEntra(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.directoryParam(c)
	if err != nil {
		return err
	}
	back := s.dirURL(d.ID)
	if d.Kind != store.DirectoryAzureAD {
		return s.done(c, fmt.Errorf("only Entra ID directories have connection settings: %w", errForm), back, "")
	}
	if ok, err := s.requireFresh(c, back); !ok {
		return err
	}
	f, err := readEntraForm(c)
	if err != nil {
		return s.done(c, fmt.Errorf("nothing was saved: %w: %w", err, errForm), back, "")
	}
	old, err := graphsync.ParseSettings(d.Config)
	if err != nil {
		return s.done(c, fmt.Errorf("nothing was saved: the stored settings cannot be read (%w); fix them with crowdgate directory set: %w", err, errForm), back, "")
	}
	// Checked before anything is sealed, then sealed before anything is saved: without a key the
	// whole form is refused.
	check, err := f.apply(old, func(_, v string) (string, error) { return v, nil })
	if err == nil {
		err = check.Validate()
	}
	if err != nil {
		return s.done(c, fmt.Errorf("%w: %w", err, errForm), back, "")
	}
	set, err := f.apply(old, func(key, v string) (string, error) {
		if s.cfg.Secrets == nil {
			return v, nil
		}
		return s.cfg.Secrets.SealSecret(ctx, d.ID, key, v)
	})
	if err != nil {
		return s.done(c, fmt.Errorf("nothing was saved: a secret cannot be encrypted: %w: %w", err, errForm), back, "")
	}
	if d.Config, err = set.Encode(); err != nil {
		return err
	}
	if _, err := s.st.UpdateDirectory(ctx, d); err != nil {
		return s.done(c, err, back, "")
	}
	if err := s.st.Audit(ctx, "SUCCESS", "DIRECTORY_IDP_SETTINGS_CHANGED", "DIRECTORY", d.Name, map[string]any{"changed": old.Changed(set)}); err != nil {
		return err
	}
	return s.done(c, nil, back, "Entra ID settings saved.")
}

// SecretSealer encrypts a directory's client secret for storage; cmd/crowdgate wires it to the
// configured key. The error's message is shown to the administrator, so it must say what to set.
type SecretSealer interface {
	// SealSecret seals the value of the settings key (graphsync.KeyClientSecret, ...).
	SealSecret(ctx context.Context, dirID int64, key, secret string) (string, error)
}

// maxCertificate bounds an uploaded certificate file (a PEM chain with its key, or a PFX).
const maxCertificate = 64 << 10

// readEntraForm reads the connection form; the certificate is an uploaded file, kept as PEM text or,
// for a PFX file, in base64.
func readEntraForm(c echo.Context) (entraForm, error) {
	f := entraForm{Fields: map[string]string{}, Secret: c.FormValue("client_secret"), CertificatePassword: c.FormValue("certificate_password"),
		ClearSecret: checked(c, "clear_secret"), ClearCertificate: checked(c, "clear_certificate"), ClearCertPwd: checked(c, "clear_certificate_password")}
	for _, k := range graphsync.SettableKeys() {
		f.Fields[k] = c.FormValue(k)
	}
	f.Fields["exclude_guests"] = strconv.FormatBool(checked(c, "exclude_guests"))
	fh, err := c.FormFile("certificate")
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) || (err == nil && fh.Size == 0) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("the certificate upload: %w", err)
	}
	if fh.Size > maxCertificate {
		return f, fmt.Errorf("the certificate file is larger than %d KiB", maxCertificate>>10)
	}
	file, err := fh.Open()
	if err != nil {
		return f, err
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, maxCertificate+1))
	if err != nil {
		return f, err
	}
	f.Certificate = graphsync.CertificateText(b)
	return f, nil
}

var errNoSync = errors.New("synchronisation is not available in this deployment")

func (s *server) testConnection(c echo.Context) error {
	d, err := s.directoryParam(c)
	if err != nil {
		return err
	}
	back := s.dirURL(d.ID)
	if s.cfg.SyncController == nil {
		return s.done(c, fmt.Errorf("%w: %w", errNoSync, errForm), back, "")
	}
	terr := s.cfg.SyncController.TestConnection(c.Request().Context(), d.ID)
	return s.attempted(c, d, "DIRECTORY_CONNECTION_TESTED", terr, back,
		"Connection test failed: ", "Connection test succeeded: crowdgate can read Entra ID with these settings.")
}

func (s *server) syncNow(c echo.Context) error {
	d, err := s.directoryParam(c)
	if err != nil {
		return err
	}
	back := s.dirURL(d.ID) + "#sync"
	if s.cfg.SyncController == nil {
		return s.done(c, fmt.Errorf("%w: %w", errNoSync, errForm), back, "")
	}
	if d.Kind != store.DirectoryAzureAD {
		return s.done(c, fmt.Errorf("only Entra ID directories synchronise: %w", errForm), back, "")
	}
	full := c.FormValue("full") == "1"
	if full {
		// A full round re-reads the whole tenant and may remove what it no longer sees.
		if ok, err := s.requireFresh(c, back); !ok {
			return err
		}
	}
	serr := s.cfg.SyncController.SyncNow(c.Request().Context(), d.ID, full)
	if errors.Is(serr, ErrSyncRunning) {
		return s.done(c, nil, back, "A sync is already running.")
	}
	if full {
		return s.attempted(c, d, "FULL_SYNC_REQUESTED", serr, back, "The full sync could not start: ", "Full sync started.")
	}
	return s.attempted(c, d, "SYNC_REQUESTED", serr, back, "The sync could not start: ", "Sync started.")
}

// applyHeld applies the run the mass-change guard held: it removes what the guard stopped, so it
// needs a recent sign-in and is audited.
func (s *server) applyHeld(c echo.Context) error {
	d, err := s.directoryParam(c)
	if err != nil {
		return err
	}
	back := s.dirURL(d.ID) + "#sync"
	ha, ok := s.cfg.SyncController.(HeldApplier)
	if !ok || d.Kind != store.DirectoryAzureAD {
		return s.done(c, fmt.Errorf("this directory has no held run to apply: %w", errForm), back, "")
	}
	if ok, err := s.requireFresh(c, back); !ok {
		return err
	}
	aerr := ha.ApplyHeld(c.Request().Context(), d.ID)
	return s.attempted(c, d, "SYNC_HELD_APPLIED", aerr, back, "The held run could not be applied: ", "The held run is being applied.")
}

// attempted audits what the administrator asked of directory d and goes back to the page with
// failed followed by the failure, or with ok. A failure is flashed as it is: it comes from Entra
// ID or the synchroniser, not from a form the console could phrase.
func (s *server) attempted(c echo.Context, d store.Directory, action string, attempt error, back, failed, ok string) error {
	outcome, details := "SUCCESS", ""
	if attempt != nil {
		outcome, details = "FAILURE", attempt.Error()
	}
	if err := s.st.Audit(c.Request().Context(), outcome, action, "DIRECTORY", d.Name, details); err != nil {
		return err
	}
	if attempt != nil {
		s.setFlash(c, "error", failed+attempt.Error())
		return c.Redirect(http.StatusSeeOther, back)
	}
	return s.done(c, nil, back, ok)
}

// progressJSON is what the directory page polls while a sync runs.
type progressJSON struct {
	SyncProgress
	Percent int `json:"percent"`
}

func (s *server) syncProgress(c echo.Context) error {
	d, err := s.directoryParam(c)
	if err != nil {
		return err
	}
	if s.cfg.SyncController == nil {
		return c.JSON(http.StatusOK, progressJSON{})
	}
	p := s.cfg.SyncController.Progress(d.ID)
	return c.JSON(http.StatusOK, progressJSON{SyncProgress: p, Percent: p.Percent()})
}

package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/internal/doctor"
	"github.com/crowdgate/crowdgate/store"
)

type overviewData struct {
	Dirs            []dirRow
	Apps            []appRow
	SSOSessions     int64
	ConsoleSessions int64
	Audit           []store.AuditEntry
	CanSync         bool
	TotalUsers      int64
	ActiveUsers     int64
	Seats           []seatSummary
	// The last run of the setup checks (zero when none ran since the start), and whether they can run.
	Doctor    doctorData
	CanDoctor bool
}

// overview is the console's home: directory health, sessions, licence use and recent changes.
func (s *server) overview(c echo.Context) error {
	ctx := c.Request().Context()
	var d overviewData
	var err error
	if d.Dirs, err = s.dirRows(ctx); err != nil {
		return err
	}
	for _, r := range d.Dirs {
		d.TotalUsers += r.Stats.Users
		d.ActiveUsers += r.Stats.ActiveUsers
	}
	if d.Apps, err = s.appRows(ctx); err != nil {
		return err
	}
	apps := make([]store.Application, len(d.Apps))
	for i, r := range d.Apps {
		apps[i] = r.App
	}
	if d.Seats, err = s.seatSummaries(ctx, apps); err != nil {
		return err
	}
	if d.SSOSessions, err = s.st.CountSessions(ctx, store.SessionSSO); err != nil {
		return err
	}
	if d.ConsoleSessions, err = s.st.CountSessions(ctx, store.SessionConsole); err != nil {
		return err
	}
	if d.Audit, err = s.st.ListAudit(ctx, store.AuditFilter{Limit: 12}); err != nil {
		return err
	}
	d.CanSync = s.cfg.SyncController != nil
	d.CanDoctor = s.cfg.Doctor != nil
	d.Doctor.At, d.Doctor.Results = s.doctor.last()
	d.Doctor.Failed = doctor.Failed(d.Doctor.Results)
	p := s.newPage(c, "Overview", "overview")
	p.Data = d
	return s.render(c, http.StatusOK, "overview", p)
}

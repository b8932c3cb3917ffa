package api

import (
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/internal/doctor"
)

// doctorRun is the last run of the setup checks, shown on the overview: the checks contact the
// identity provider and Microsoft Graph, so they run when an administrator asks, not on every page.
type doctorRun struct {
	mu      sync.Mutex
	at      time.Time
	results []doctor.Result
}

func (d *doctorRun) last() (time.Time, []doctor.Result) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at, d.results
}

type doctorData struct {
	At      time.Time
	Results []doctor.Result
	Failed  bool
}

// doctorPage runs the setup checks (what `crowdgate doctor` prints) and shows them.
func (s *server) doctorPage(c echo.Context) error {
	if s.cfg.Doctor == nil {
		return echo.NewHTTPError(http.StatusNotFound, "The setup checks are not available here.")
	}
	rs := s.cfg.Doctor(c.Request().Context())
	now := s.cfg.Now()
	s.doctor.mu.Lock()
	s.doctor.at, s.doctor.results = now, rs
	s.doctor.mu.Unlock()
	p := s.newPage(c, "Setup checks", "overview")
	p.Data = doctorData{At: now, Results: rs, Failed: doctor.Failed(rs)}
	return s.render(c, http.StatusOK, "doctor", p)
}

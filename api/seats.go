package api

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// seatsLimit bounds the rows the seats page shows; the CSV has them all.
const seatsLimit = 1000

type seatsData struct {
	Report   store.SeatReport
	Licence  licence
	Rows     []store.Seat
	Inactive bool // only inactive seats listed
	Export   string
	Limit    int
}

// inactiveDays reads the inactive query parameter (days; default store.DefaultInactiveDays).
func inactiveDays(c echo.Context) (int, error) {
	v := strings.TrimSpace(strings.TrimSuffix(c.QueryParam("inactive"), "d"))
	if v == "" {
		return store.DefaultInactiveDays, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 36500 {
		return 0, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("inactive must be a number of days from 1 to 36500, not %q", c.QueryParam("inactive")))
	}
	return n, nil
}

func (s *server) seatReport(c echo.Context) (store.SeatReport, error) {
	ctx := c.Request().Context()
	id, err := idParam(c)
	if err != nil {
		return store.SeatReport{}, err
	}
	days, err := inactiveDays(c)
	if err != nil {
		return store.SeatReport{}, err
	}
	app, err := s.st.Application(ctx, id)
	if err != nil {
		return store.SeatReport{}, err
	}
	return s.st.Seats(ctx, app, days)
}

// seats is an application's licence page: who holds a seat, through which group, and who has not
// signed in for the span. Freeing a seat stays a deliberate act elsewhere (the group, or the user).
func (s *server) seats(c echo.Context) error {
	rep, err := s.seatReport(c)
	if err != nil {
		return err
	}
	d := seatsData{Report: rep, Licence: licenceOf(int64(len(rep.Seats)), rep.Application.LicenceLimit),
		Inactive: c.QueryParam("only") == "inactive", Limit: seatsLimit}
	for _, st := range rep.Seats {
		if (!d.Inactive || st.Inactive) && len(d.Rows) < seatsLimit {
			d.Rows = append(d.Rows, st)
		}
	}
	q := c.Request().URL.Query()
	q.Set("inactive", strconv.Itoa(rep.InactiveDays))
	d.Export = q.Encode()
	p := s.newPage(c, "Seats of "+rep.Application.Name, "applications")
	p.Data = d
	return s.render(c, http.StatusOK, "seats", p)
}

func (s *server) seatsCSV(c echo.Context) error {
	rep, err := s.seatReport(c)
	if err != nil {
		return err
	}
	only := c.QueryParam("only") == "inactive"
	w := startCSV(c, "crowdgate-seats-"+strconv.FormatInt(rep.Application.ID, 10)+"-"+time.Now().UTC().Format("20060102-150405")+".csv")
	if err := writeSeats(w, rep, only); err != nil {
		s.log.Error("console: seats export", "err", err)
	}
	return nil // the response has started
}

// WriteSeatsCSV writes an application's seats as CSV (what the console exports and `crowdgate
// report seats` prints): every seat, or only the inactive ones. Names come from Entra ID and
// clients, so cells are formula-neutralised.
func WriteSeatsCSV(out io.Writer, rep store.SeatReport, onlyInactive bool) error {
	return writeSeats(csv.NewWriter(out), rep, onlyInactive)
}

func writeSeats(w *csv.Writer, rep store.SeatReport, onlyInactive bool) error {
	_ = w.Write([]string{"application", "user", "display_name", "email", "directory", "held_through", "allowed_group", "via",
		"last_sign_in", "inactive"})
	for _, st := range rep.Seats {
		if onlyInactive && !st.Inactive {
			continue
		}
		last := ""
		if st.LastSignIn != nil {
			last = st.LastSignIn.UTC().Format(time.RFC3339)
		}
		held := st.HeldThrough()
		if st.Reason == store.AccessAllUsers {
			held = "(every user of the directory)"
		}
		_ = w.Write([]string{csvSafe(st.Application), csvSafe(st.User), csvSafe(st.DisplayName), csvSafe(st.Email), csvSafe(st.Directory),
			csvSafe(held), csvSafe(st.Group), csvSafe(strings.Join(st.Via, " > ")), last, strconv.FormatBool(st.Inactive)})
	}
	w.Flush()
	return w.Error()
}

// seatSummary is an application's seats in use against its limit, for the overview.
type seatSummary struct {
	App      store.Application
	Licence  licence
	Inactive int
	Days     int
}

func (s *server) seatSummaries(ctx context.Context, apps []store.Application) ([]seatSummary, error) {
	var out []seatSummary
	for _, app := range apps {
		if !app.Active {
			continue
		}
		rep, err := s.st.Seats(ctx, app, store.DefaultInactiveDays)
		if err != nil {
			return nil, err
		}
		out = append(out, seatSummary{App: app, Licence: licenceOf(int64(len(rep.Seats)), app.LicenceLimit),
			Inactive: rep.Inactive, Days: rep.InactiveDays})
	}
	return out, nil
}

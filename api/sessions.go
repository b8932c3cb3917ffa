package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// sessionRow is a session with the names it refers to.
type sessionRow struct {
	Session     store.Session
	User        string
	UserID      int64
	Application string
	Current     bool // the administrator's own console session
}

// sessionRows lists live sessions with user and application names.
func (s *server) sessionRows(ctx context.Context, f store.SessionFilter) ([]sessionRow, error) {
	list, err := s.st.ListSessions(ctx, f)
	if err != nil {
		return nil, err
	}
	appNames, err := namesByID(ctx, s.st.Applications, func(a store.Application) (int64, string) { return a.ID, a.Name })
	if err != nil {
		return nil, err
	}
	users := map[int64]string{}
	out := make([]sessionRow, 0, len(list))
	for _, sess := range list {
		name, ok := users[sess.UserID]
		if !ok {
			if u, err := s.st.User(ctx, sess.UserID); err == nil {
				name = u.Name
			} else if !store.IsNotFound(err) {
				return nil, err
			}
			users[sess.UserID] = name
		}
		r := sessionRow{Session: sess, User: name, UserID: sess.UserID, Application: "console"}
		if sess.ApplicationID != nil {
			r.Application = appNames[*sess.ApplicationID]
		}
		out = append(out, r)
	}
	return out, nil
}

type sessionsData struct {
	User     string
	Kind     string
	Rows     []sessionRow
	Matches  []store.User // users named by the filter
	NotFound bool
	Limit    int
}

func (s *server) sessions(c echo.Context) error {
	ctx := c.Request().Context()
	d := sessionsData{User: strings.TrimSpace(c.QueryParam("user")), Kind: c.QueryParam("kind"), Limit: 200}
	if d.Kind != store.SessionSSO && d.Kind != store.SessionConsole {
		d.Kind = ""
	}
	var filters []store.SessionFilter
	if d.User != "" {
		dirs, err := s.st.Directories(ctx)
		if err != nil {
			return err
		}
		for _, dir := range dirs {
			u, err := s.st.UserByName(ctx, dir.ID, d.User)
			if store.IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			d.Matches = append(d.Matches, u)
			filters = append(filters, store.SessionFilter{UserID: u.ID, Kind: d.Kind, Limit: d.Limit})
		}
		d.NotFound = len(d.Matches) == 0
	} else {
		filters = []store.SessionFilter{{Kind: d.Kind, Limit: d.Limit}}
	}
	current := adminOf(c).Session.ID
	for _, f := range filters {
		rows, err := s.sessionRows(ctx, f)
		if err != nil {
			return err
		}
		for i := range rows {
			rows[i].Current = rows[i].Session.ID == current
		}
		d.Rows = append(d.Rows, rows...)
	}
	p := s.newPage(c, "Sessions", "sessions")
	p.Data = d
	return s.render(c, http.StatusOK, "sessions", p)
}

func (s *server) revokeSession(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	back := c.FormValue("back")
	if !s.safeReturn(back) {
		back = s.cfg.PathPrefix + "/sessions"
	}
	if id == adminOf(c).Session.ID {
		return s.logout(c)
	}
	err = s.st.DeleteSessionByID(c.Request().Context(), id)
	return s.done(c, err, back, "Session revoked.")
}

package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// accessLimit bounds the rows the access report page shows; the CSV has them all.
const accessLimit = 1000

type accessData struct {
	Apps   []store.Application
	App    int64
	Query  string
	Rows   []store.Access
	Total  int
	Limit  int
	Export string
}

func (s *server) access(c echo.Context) error {
	ctx := c.Request().Context()
	apps, err := s.st.Applications(ctx)
	if err != nil {
		return err
	}
	d := accessData{Apps: apps, Query: strings.TrimSpace(c.QueryParam("q")), Limit: accessLimit}
	d.App, _ = strconv.ParseInt(c.QueryParam("app"), 10, 64)
	err = s.st.AccessReport(ctx, func(a store.Access) error {
		if !accessMatch(a, d.App, d.Query) {
			return nil
		}
		d.Total++
		if len(d.Rows) < accessLimit {
			d.Rows = append(d.Rows, a)
		}
		return nil
	})
	if err != nil {
		return err
	}
	q := c.Request().URL.Query()
	q.Del("_csrf")
	d.Export = q.Encode()
	p := s.newPage(c, "Access report", "access")
	p.Data = d
	return s.render(c, http.StatusOK, "access", p)
}

func accessMatch(a store.Access, app int64, q string) bool {
	if app != 0 && a.ApplicationID != app {
		return false
	}
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	return strings.Contains(strings.ToLower(a.User), q) || strings.Contains(strings.ToLower(a.DisplayName), q) ||
		strings.Contains(strings.ToLower(a.Email), q)
}

// reasonText says why in words, for the page and the CSV.
func reasonText(a store.Access) string {
	switch a.Reason {
	case store.AccessAllUsers:
		return "every user of directory " + a.Directory
	case store.AccessGroup:
		if len(a.Via) == 0 {
			return "member of " + a.Group
		}
		return "member of " + a.Group + " through " + strings.Join(a.Via, " → ")
	}
	return a.Denied
}

// accessCSV exports every user × application pair with access, and why.
func (s *server) accessCSV(c echo.Context) error {
	ctx := c.Request().Context()
	app, _ := strconv.ParseInt(c.QueryParam("app"), 10, 64)
	q := strings.TrimSpace(c.QueryParam("q"))
	w := startCSV(c, "crowdgate-access-"+time.Now().UTC().Format("20060102-150405")+".csv")
	_ = w.Write([]string{"application", "user", "display_name", "email", "directory", "reason", "group", "via", "explanation"})
	err := s.st.AccessReport(ctx, func(a store.Access) error {
		if !accessMatch(a, app, q) {
			return nil
		}
		return w.Write([]string{csvSafe(a.Application), csvSafe(a.User), csvSafe(a.DisplayName), csvSafe(a.Email), csvSafe(a.Directory),
			a.Reason, csvSafe(a.Group), csvSafe(strings.Join(a.Via, " > ")), csvSafe(reasonText(a))})
	})
	if err != nil {
		s.log.Error("console: access export", "err", err)
		return nil // the response has started
	}
	w.Flush()
	return w.Error()
}

package api

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// auditPage is how many entries the audit page shows at a time.
const auditPage = 100

// maxExportRows bounds a CSV export of the audit log.
const maxExportRows = 1_000_000

type auditData struct {
	Actor, Action, Kind, Object, Since, Until string
	Entries                                   []store.AuditEntry
	Older                                     string // query of the next (older) page, if any
	Export                                    string // query of the CSV export
	Error                                     string
}

// parseWhen reads a date ("2006-01-02") or a datetime-local value ("2006-01-02T15:04"), in UTC.
func parseWhen(v string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2006-01-02) or date and time (2006-01-02T15:04)", v)
}

func (s *server) auditFilter(c echo.Context) (store.AuditFilter, auditData, error) {
	d := auditData{Actor: strings.TrimSpace(c.QueryParam("actor")), Action: strings.TrimSpace(c.QueryParam("action")),
		Kind: strings.TrimSpace(c.QueryParam("kind")), Object: strings.TrimSpace(c.QueryParam("object")),
		Since: strings.TrimSpace(c.QueryParam("since")), Until: strings.TrimSpace(c.QueryParam("until"))}
	f := store.AuditFilter{Actor: d.Actor, Action: strings.ToUpper(d.Action), ObjectKind: strings.ToUpper(d.Kind), Object: d.Object}
	var err error
	if d.Since != "" {
		if f.Since, err = parseWhen(d.Since); err != nil {
			return f, d, err
		}
	}
	if d.Until != "" {
		if f.Until, err = parseWhen(d.Until); err != nil {
			return f, d, err
		}
		if len(d.Until) == len("2006-01-02") {
			f.Until = f.Until.Add(24 * time.Hour) // the whole day
		}
	}
	return f, d, nil
}

func (d auditData) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"actor": d.Actor, "action": d.Action, "kind": d.Kind, "object": d.Object, "since": d.Since, "until": d.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func (s *server) audit(c echo.Context) error {
	ctx := c.Request().Context()
	f, d, err := s.auditFilter(c)
	status := http.StatusOK
	if err != nil {
		d.Error, status = err.Error(), http.StatusBadRequest
	} else {
		if before, err := strconv.ParseInt(c.QueryParam("before"), 10, 64); err == nil && before > 0 {
			f.BeforeID = before
		}
		f.Limit = auditPage + 1
		if d.Entries, err = s.st.ListAudit(ctx, f); err != nil {
			return err
		}
		if len(d.Entries) > auditPage {
			d.Entries = d.Entries[:auditPage]
			q := d.query()
			q.Set("before", strconv.FormatInt(d.Entries[auditPage-1].ID, 10))
			d.Older = q.Encode()
		}
	}
	d.Export = d.query().Encode()
	p := s.newPage(c, "Audit log", "audit")
	p.Data = d
	return s.render(c, status, "audit", p)
}

// csvSafe keeps a spreadsheet from reading a cell as a formula: names come from Entra ID and
// applications, so a leading =, +, -, @, tab or carriage return gets a quote in front.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func startCSV(c echo.Context, name string) *csv.Writer {
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Response().WriteHeader(http.StatusOK)
	return csv.NewWriter(c.Response())
}

// auditCSV exports every entry matching the filter, newest first, page by page.
func (s *server) auditCSV(c echo.Context) error {
	ctx := c.Request().Context()
	f, _, err := s.auditFilter(c)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	f.Limit = 1000
	first, err := s.st.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	w := startCSV(c, "crowdgate-audit-"+time.Now().UTC().Format("20060102-150405")+".csv")
	_ = w.Write([]string{"id", "time", "actor_kind", "actor", "source", "action", "object_kind", "object", "outcome", "details"})
	n := 0
	for page := first; len(page) > 0 && n < maxExportRows; {
		for _, e := range page {
			_ = w.Write([]string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339), e.ActorKind, csvSafe(e.Actor),
				e.Source, e.Action, e.ObjectKind, csvSafe(e.Object), e.Outcome, csvSafe(e.Details)})
			n++
		}
		w.Flush()
		if len(page) < f.Limit {
			break
		}
		f.BeforeID = page[len(page)-1].ID
		if page, err = s.st.ListAudit(ctx, f); err != nil {
			s.log.Error("console: audit export", "err", err)
			return nil // the response has started; the truncated file is all we can do
		}
	}
	w.Flush()
	return w.Error()
}

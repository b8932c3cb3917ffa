package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// licence is an application's licensed-user count against its limit.
type licence struct {
	Licensed int64
	Limit    int
	Percent  int    // of the limit, capped at 100 for the meter
	Level    string // "none" (no limit), "ok", "warn" (90 % or more), "over" (at or above the limit)
}

func licenceOf(n int64, limit int) licence {
	l := licence{Licensed: n, Limit: limit, Level: "none"}
	if limit <= 0 {
		return l
	}
	pct := n * 100 / int64(limit)
	l.Percent = int(min(pct, 100))
	switch {
	case n >= int64(limit):
		l.Level = "over"
	case pct >= 90:
		l.Level = "warn"
	default:
		l.Level = "ok"
	}
	return l
}

func (s *server) licenceOf(ctx context.Context, app store.Application) (licence, error) {
	v, err := s.st.View(ctx, app)
	if err != nil {
		return licence{}, err
	}
	n, err := v.CountLicensed(ctx)
	if err != nil {
		return licence{}, err
	}
	return licenceOf(n, app.LicenceLimit), nil
}

type appRow struct {
	App     store.Application
	Licence licence
	Dirs    []string
}

type applicationsData struct {
	Rows   []appRow
	Cookie store.CookieConfig
}

func (s *server) appRows(ctx context.Context) ([]appRow, error) {
	apps, err := s.st.Applications(ctx)
	if err != nil {
		return nil, err
	}
	dirs, err := s.dirNames(ctx)
	if err != nil {
		return nil, err
	}
	var rows []appRow
	for _, a := range apps {
		l, err := s.licenceOf(ctx, a)
		if err != nil {
			return nil, err
		}
		r := appRow{App: a, Licence: l}
		for _, m := range a.Mappings {
			r.Dirs = append(r.Dirs, dirs[m.DirectoryID])
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func (s *server) dirNames(ctx context.Context) (map[int64]string, error) {
	return namesByID(ctx, s.st.Directories, func(d store.Directory) (int64, string) { return d.ID, d.Name })
}

// namesByID reads a list (directories, applications) and maps each id to its name, for tables
// whose rows hold ids.
func namesByID[T any](ctx context.Context, list func(context.Context) ([]T, error), idName func(T) (int64, string)) (map[int64]string, error) {
	xs, err := list(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]string, len(xs))
	for _, x := range xs {
		id, name := idName(x)
		out[id] = name
	}
	return out, nil
}

func (s *server) applications(c echo.Context) error {
	ctx := c.Request().Context()
	rows, err := s.appRows(ctx)
	if err != nil {
		return err
	}
	cc, err := s.st.CookieConfig(ctx)
	if err != nil {
		return err
	}
	p := s.newPage(c, "Applications", "applications")
	p.Data = applicationsData{Rows: rows, Cookie: cc}
	return s.render(c, http.StatusOK, "applications", p)
}

func (s *server) appURL(id int64) string {
	return fmt.Sprintf("%s/applications/%d", s.cfg.PathPrefix, id)
}

type newAppData struct {
	Dirs []store.Directory
	Form map[string]string
}

func (s *server) newApplicationPage(c echo.Context) error {
	dirs, err := s.st.Directories(c.Request().Context())
	if err != nil {
		return err
	}
	p := s.newPage(c, "Add application", "applications")
	p.Data = newAppData{Dirs: dirs, Form: map[string]string{"kind": store.AppJira}}
	return s.render(c, http.StatusOK, "application_new", p)
}

// newCredential is a random application password: 32 characters, about 190 bits.
func newCredential() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *server) createApplication(c echo.Context) error {
	ctx := c.Request().Context()
	dirs, err := s.st.Directories(ctx)
	if err != nil {
		return err
	}
	form := map[string]string{}
	for _, k := range []string{"name", "kind", "description", "addresses", "base_url", "groups"} {
		form[k] = c.FormValue(k)
	}
	// Every chosen directory is mapped in list order; the allowed groups apply to each of them
	// where a group of that name exists (refine per directory on the application's page).
	var ms []store.Mapping
	groups := lines(form["groups"])
	for _, d := range dirs {
		if !checked(c, fmt.Sprintf("dir_%d", d.ID)) {
			continue
		}
		form[fmt.Sprintf("dir_%d", d.ID)] = "on"
		ms = append(ms, store.Mapping{DirectoryID: d.ID, Groups: groups})
	}
	na := store.NewApplication{Name: strings.TrimSpace(form["name"]), Kind: form["kind"], Description: strings.TrimSpace(form["description"]),
		Active: true, RemoteAddresses: lines(form["addresses"]), BaseURLs: lines(form["base_url"]), Mappings: ms, Password: newCredential()}
	app, err := s.st.CreateApplication(ctx, na)
	if err != nil {
		if !isUserFacing(err) {
			return err
		}
		return s.formAgain(c, "Add application", "applications", "application_new", newAppData{Dirs: dirs, Form: form}, message(err))
	}
	return s.showCredential(c, app, na.Password, true)
}

type credentialData struct {
	App        store.Application
	Credential string
	Created    bool
	Snippets   snippets
}

// showCredential renders the one page that ever shows an application's password.
func (s *server) showCredential(c echo.Context, app store.Application, credential string, created bool) error {
	ctx := c.Request().Context()
	cc, err := s.st.CookieConfig(ctx)
	if err != nil {
		return err
	}
	p := s.newPage(c, app.Name+": credential", "applications")
	p.Data = credentialData{App: app, Credential: credential, Created: created, Snippets: s.snippets(c, app, credential, cc)}
	return s.render(c, http.StatusOK, "credential", p)
}

type mappingRow struct {
	Dir      store.Directory
	Mapped   bool
	Position int
	AllowAll bool
	Groups   string
	Write    bool
	Missing  []string // allowed groups the directory does not have
}

type applicationData struct {
	App      store.Application
	Licence  licence
	Mappings []mappingRow
	Snippets snippets
	Fresh    bool
	Internal bool
}

func (s *server) application(c echo.Context) error {
	ctx := c.Request().Context()
	app, err := paramRecord(c, s.st.Application)
	if err != nil {
		return err
	}
	l, err := s.licenceOf(ctx, app)
	if err != nil {
		return err
	}
	dirs, err := s.st.Directories(ctx)
	if err != nil {
		return err
	}
	byID := map[int64]store.Directory{}
	for _, d := range dirs {
		byID[d.ID] = d
	}
	var rows []mappingRow
	mapped := map[int64]bool{}
	for i, m := range app.Mappings {
		mapped[m.DirectoryID] = true
		r := mappingRow{Dir: byID[m.DirectoryID], Mapped: true, Position: i + 1, AllowAll: m.AllowAll,
			Groups: strings.Join(m.Groups, "\n"), Write: len(m.Operations) > 0}
		for _, g := range m.Groups {
			if _, err := s.st.GroupByName(ctx, m.DirectoryID, g); store.IsNotFound(err) {
				r.Missing = append(r.Missing, g)
			} else if err != nil {
				return err
			}
		}
		rows = append(rows, r)
	}
	for _, d := range dirs {
		if !mapped[d.ID] {
			rows = append(rows, mappingRow{Dir: d, Position: len(rows) + 1})
		}
	}
	cc, err := s.st.CookieConfig(ctx)
	if err != nil {
		return err
	}
	a := adminOf(c)
	p := s.newPage(c, app.Name, "applications")
	p.Data = applicationData{App: app, Licence: l, Mappings: rows, Snippets: s.snippets(c, app, "", cc),
		Fresh: s.fresh(a), Internal: a.Internal()}
	return s.render(c, http.StatusOK, "application", p)
}

func (s *server) updateApplication(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := idParam(c)
	if err != nil {
		return err
	}
	desc, kind := strings.TrimSpace(c.FormValue("description")), c.FormValue("kind")
	active, filter, lower := checked(c, "active"), checked(c, "filter_by_access"), checked(c, "lower_case_output")
	limit := 0
	if v := strings.TrimSpace(c.FormValue("licence_limit")); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			return s.done(c, fmt.Errorf("the licence limit must be a whole number, 0 for none: %w", errForm), s.appURL(id), "")
		}
	}
	addrs, urls := lines(c.FormValue("addresses")), lines(c.FormValue("base_urls"))
	_, err = s.st.UpdateApplication(ctx, id, store.ApplicationChange{Description: &desc, Kind: &kind, Active: &active,
		FilterByAccess: &filter, LowerCaseOutput: &lower, LicenceLimit: &limit, RemoteAddresses: &addrs, BaseURLs: &urls})
	return s.done(c, err, s.appURL(id), "Settings saved.")
}

// updateMappings saves the directory mappings: which directories, in which order, and who of each
// may authenticate (everyone, or the nested members of the allowed groups: the licence groups).
func (s *server) updateMappings(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := idParam(c)
	if err != nil {
		return err
	}
	dirs, err := s.st.Directories(ctx)
	if err != nil {
		return err
	}
	type ordered struct {
		pos int
		m   store.Mapping
	}
	var list []ordered
	for i, d := range dirs {
		if !checked(c, fmt.Sprintf("map_%d", d.ID)) {
			continue
		}
		pos, err := strconv.Atoi(strings.TrimSpace(c.FormValue(fmt.Sprintf("pos_%d", d.ID))))
		if err != nil {
			pos = 1000 + i
		}
		m := store.Mapping{DirectoryID: d.ID, AllowAll: checked(c, fmt.Sprintf("all_%d", d.ID)),
			Groups: lines(c.FormValue(fmt.Sprintf("groups_%d", d.ID)))}
		if checked(c, fmt.Sprintf("write_%d", d.ID)) {
			m.Operations = store.AllOperations
		}
		list = append(list, ordered{pos, m})
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].pos < list[j].pos })
	ms := make([]store.Mapping, len(list))
	for i, o := range list {
		ms[i] = o.m
	}
	_, err = s.st.UpdateApplication(ctx, id, store.ApplicationChange{Mappings: &ms})
	return s.done(c, err, s.appURL(id), "Directories and allowed groups saved.")
}

// rotateCredential replaces an application's password (a route that needs a recent sign-in).
func (s *server) rotateCredential(c echo.Context) error {
	ctx := c.Request().Context()
	app, err := paramRecord(c, s.st.Application)
	if err != nil {
		return err
	}
	pw := newCredential()
	if err := s.st.SetApplicationPassword(ctx, app.ID, pw); err != nil {
		return s.done(c, err, s.appURL(app.ID), "")
	}
	return s.showCredential(c, app, pw, false)
}

func (s *server) setCookieConfig(c echo.Context) error {
	cc := store.CookieConfig{Name: strings.TrimSpace(c.FormValue("name")), Domain: strings.TrimSpace(c.FormValue("domain")),
		Secure: checked(c, "secure")}
	err := s.st.SetCookieConfig(c.Request().Context(), cc)
	return s.done(c, err, s.cfg.PathPrefix+"/applications", "SSO cookie settings saved. Jira and Confluence read them on their next start.")
}

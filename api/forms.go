package api

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// idParam reads the :id path parameter; anything but a positive integer is not found.
func idParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "Not found.")
	}
	return id, nil
}

// paramRecord is the record the :id parameter names, read with get (s.st.User, s.st.Group, …).
func paramRecord[T any](c echo.Context, get func(context.Context, int64) (T, error)) (T, error) {
	id, err := idParam(c)
	if err != nil {
		var zero T
		return zero, err
	}
	return get(c.Request().Context(), id)
}

// formAgain shows a form's page (tmpl, with data) again, with msg saying what was wrong.
func (s *server) formAgain(c echo.Context, title, menu, tmpl string, data any, msg string) error {
	p := s.newPage(c, title, menu)
	p.Flash = append(p.Flash, flash{Kind: "error", Text: msg})
	p.Data = data
	return s.render(c, http.StatusUnprocessableEntity, tmpl, p)
}

// formID reads a positive integer form field.
func formID(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.FormValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusBadRequest, "The form is incomplete.")
	}
	return id, nil
}

// userFacing are the store outcomes whose messages an administrator may read as they are.
var userFacing = []error{store.ErrInvalid, store.ErrExists, store.ErrNotFound, store.ErrReadOnly, store.ErrPermission,
	store.ErrPasswordPolicy, store.ErrNestingDisabled, store.ErrInactive, errReadOnlyDirectory, errForm, ErrSyncRunning}

var (
	// errReadOnlyDirectory refuses console changes to Entra ID replicas.
	errReadOnlyDirectory = errors.New("objects of an Entra ID directory are read-only here: change them in Entra ID")
	// errForm marks a form the console itself refuses.
	errForm = errors.New("invalid form")
)

func isUserFacing(err error) bool {
	for _, e := range userFacing {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// message is err's text as a sentence, without the suffixes that only classify it (": invalid").
func message(err error) string {
	m := err.Error()
	for changed := true; changed; {
		changed = false
		for _, e := range []error{store.ErrInvalid, store.ErrPasswordPolicy, store.ErrNestingDisabled, errForm} {
			if strings.HasSuffix(m, ": "+e.Error()) {
				m, changed = strings.TrimSuffix(m, ": "+e.Error()), true
			}
		}
	}
	if m == "" {
		return m
	}
	return strings.ToUpper(m[:1]) + m[1:] + "."
}

// done ends a form post: on success a message, on an expected failure the failure, then back to
// the page; unexpected errors go to the error handler.
func (s *server) done(c echo.Context, err error, back, ok string) error {
	if err != nil {
		if !isUserFacing(err) {
			return err
		}
		s.setFlash(c, "error", message(err))
	} else if ok != "" {
		s.setFlash(c, "ok", ok)
	}
	return c.Redirect(http.StatusSeeOther, back)
}

// lines splits a textarea into trimmed, non-empty lines (commas separate too).
func lines(v string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func checked(c echo.Context, name string) bool {
	v := c.FormValue(name)
	return v == "on" || v == "true" || v == "1"
}

// attr is one attribute with its values, for templates.
type attr struct {
	Name   string
	Values []string
}

func sortedAttrs(m map[string][]string) []attr {
	out := make([]attr, 0, len(m))
	for k, v := range m {
		out = append(out, attr{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// contains is a name search restriction: name, e-mail or display name (users), name or
// description (groups) containing q; everything when q is empty.
func contains(q string, props ...string) store.Restriction {
	if q == "" {
		return store.Restriction{}
	}
	r := store.Restriction{Logic: store.Or}
	for _, p := range props {
		r.Children = append(r.Children, store.Restriction{Property: p, Mode: store.Contains, Value: q})
	}
	return r
}

package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// listLimit bounds the rows a list or search shows per directory.
const listLimit = 50

type userRow struct {
	User store.User
	Dir  store.Directory
}

// listData is a users or groups page: the matches of Query, at most Limited of each directory.
type listData[R any] struct {
	Query   string
	Rows    []R
	More    bool // a directory had more matches than are shown
	CanAdd  bool // there is an internal directory to add to
	Limited int
}

// searchPage renders the users or groups page (name): the matches of the q parameter in any of
// fields, by search in every directory, keeping the first listLimit of each (row makes a match a
// row of the page).
func searchPage[T, R any](s *server, c echo.Context, title, name string,
	search func(v *store.View, ctx context.Context, r store.Restriction, p store.Page, fn func(T) error) error,
	row func(T, store.Directory) R, fields ...string) error {
	q := strings.TrimSpace(c.QueryParam("q"))
	d, err := searchDirectories(c.Request().Context(), s.st, q, contains(q, fields...), search, row)
	if err != nil {
		return err
	}
	p := s.newPage(c, title, name)
	p.Data = d
	return s.render(c, http.StatusOK, name, p)
}

// searchDirectories is searchPage's search of every directory.
func searchDirectories[T, R any](ctx context.Context, st Store, q string, r store.Restriction,
	search func(v *store.View, ctx context.Context, r store.Restriction, p store.Page, fn func(T) error) error,
	row func(T, store.Directory) R) (listData[R], error) {
	dirs, err := st.Directories(ctx)
	if err != nil {
		return listData[R]{}, err
	}
	d := listData[R]{Query: q, Limited: listLimit}
	for _, dir := range dirs {
		d.CanAdd = d.CanAdd || dir.Kind == store.DirectoryInternal
		v, err := st.DirectoryView(ctx, dir.ID)
		if err != nil {
			return listData[R]{}, err
		}
		n := 0
		err = search(v, ctx, r, store.Page{Max: listLimit + 1}, func(x T) error {
			if n++; n > listLimit {
				d.More = true
				return nil
			}
			d.Rows = append(d.Rows, row(x, dir))
			return nil
		})
		if err != nil {
			return listData[R]{}, err
		}
	}
	return d, nil
}

func (s *server) users(c echo.Context) error {
	return searchPage(s, c, "Users", "users", (*store.View).SearchUsers,
		func(u store.User, dir store.Directory) userRow { return userRow{u, dir} }, "name", "email", "displayName")
}

type userData struct {
	User      store.User
	Dir       store.Directory
	Editable  bool
	Attrs     []attr
	Direct    []store.Group
	Inherited []store.Group
	Access    []store.Access
	Sessions  []sessionRow
	Self      bool
	// Admin is set when the user administers crowdgate: the bound group that makes it one.
	Admin *store.AdminBinding
	// SecondFactor: the (internal) user has a confirmed second factor.
	SecondFactor bool
	// LastSignIn is the last sign-in to anything, SignIns the last to each application (this
	// instance's unflushed ones included).
	LastSignIn *time.Time
	SignIns    []store.AppSignIn
}

func (s *server) user(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := paramRecord(c, s.st.User)
	if err != nil {
		return err
	}
	dir, err := s.st.Directory(ctx, u.DirectoryID)
	if err != nil {
		return err
	}
	d := userData{User: u, Dir: dir, Editable: dir.Kind == store.DirectoryInternal, Self: adminOf(c).User.ID == u.ID}
	attrs, err := s.st.UserAttributes(ctx, u.ID)
	if err != nil {
		return err
	}
	d.Attrs = sortedAttrs(attrs)
	if d.Editable {
		if d.SecondFactor, err = s.st.TOTPEnrolled(ctx, u); err != nil {
			return err
		}
	}
	if b, ok, err := s.st.Administrator(ctx, u); err != nil {
		return err
	} else if ok {
		d.Admin = &b
	}
	v, err := s.st.DirectoryView(ctx, dir.ID)
	if err != nil {
		return err
	}
	if d.Direct, d.Inherited, err = directAndInherited(func(nested bool, fn func(store.Group) error) error {
		return v.UserGroups(ctx, u, nested, store.All, fn)
	}, func(g store.Group) int64 { return g.ID }); err != nil {
		return err
	}
	apps, err := s.st.Applications(ctx)
	if err != nil {
		return err
	}
	for _, app := range apps {
		av, err := s.st.View(ctx, app)
		if err != nil {
			return err
		}
		a, err := av.Explain(ctx, u)
		if err != nil {
			return err
		}
		d.Access = append(d.Access, a)
	}
	if d.Sessions, err = s.sessionRows(ctx, store.SessionFilter{UserID: u.ID}); err != nil {
		return err
	}
	if d.LastSignIn, d.SignIns, err = s.st.SignIns(ctx, u.ID); err != nil {
		return err
	}
	p := s.newPage(c, u.Name, "users")
	p.Data = d
	return s.render(c, http.StatusOK, "user", p)
}

// editableUser returns the user of the :id parameter when it lives in an internal directory.
func (s *server) editableUser(c echo.Context) (store.User, error) {
	return editable(c, s.st, s.st.User, func(u store.User) int64 { return u.DirectoryID }, "user")
}

// editable returns what get finds for the :id parameter when it lives in an internal directory (dir
// says which); on an Entra ID replica it returns it with errReadOnlyDirectory, so that the caller
// can still go back to its page.
func editable[T any](c echo.Context, st Store, get func(context.Context, int64) (T, error), dir func(T) int64, kind string) (T, error) {
	var zero T
	x, err := paramRecord(c, get)
	if store.IsNotFound(err) {
		return zero, echo.NewHTTPError(http.StatusNotFound, "No such "+kind+".")
	}
	if err != nil {
		return zero, err
	}
	d, err := st.Directory(c.Request().Context(), dir(x))
	if err != nil {
		return zero, err
	}
	if d.Kind != store.DirectoryInternal {
		return x, errReadOnlyDirectory
	}
	return x, nil
}

func (s *server) userURL(id int64) string { return fmt.Sprintf("%s/users/%d", s.cfg.PathPrefix, id) }

type newUserData struct {
	Dirs []store.Directory
	Form map[string]string
}

// directAndInherited lists what list finds directly (nested false) and, apart, what it finds only
// through nesting (compared by id): a user's groups, a group's members or parents.
func directAndInherited[T any](list func(nested bool, fn func(T) error) error, id func(T) int64) (direct, inherited []T, err error) {
	collect := func(nested bool) ([]T, error) {
		var out []T
		err := list(nested, func(x T) error { out = append(out, x); return nil })
		return out, err
	}
	if direct, err = collect(false); err != nil {
		return nil, nil, err
	}
	all, err := collect(true)
	if err != nil {
		return nil, nil, err
	}
	isDirect := map[int64]bool{}
	for _, x := range direct {
		isDirect[id(x)] = true
	}
	for _, x := range all {
		if !isDirect[id(x)] {
			inherited = append(inherited, x)
		}
	}
	return direct, inherited, nil
}

func (s *server) internalDirectories(ctx context.Context) ([]store.Directory, error) {
	all, err := s.st.Directories(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Directory
	for _, d := range all {
		if d.Kind == store.DirectoryInternal {
			out = append(out, d)
		}
	}
	return out, nil
}

func (s *server) newUserPage(c echo.Context) error {
	dirs, err := s.internalDirectories(c.Request().Context())
	if err != nil {
		return err
	}
	p := s.newPage(c, "New user", "users")
	p.Data = newUserData{Dirs: dirs, Form: map[string]string{"active": "on"}}
	return s.render(c, http.StatusOK, "user_new", p)
}

func (s *server) createUser(c echo.Context) error {
	ctx := c.Request().Context()
	dirs, err := s.internalDirectories(ctx)
	if err != nil {
		return err
	}
	form := map[string]string{}
	for _, k := range []string{"directory", "name", "first", "last", "display", "email", "active"} {
		form[k] = c.FormValue(k)
	}
	again := func(msg string) error {
		return s.formAgain(c, "New user", "users", "user_new", newUserData{Dirs: dirs, Form: form}, msg)
	}
	dirID, _ := formID(c, "directory")
	internal := false
	for _, d := range dirs {
		internal = internal || d.ID == dirID
	}
	if !internal {
		return again("Choose an internal directory.")
	}
	pw := c.FormValue("password")
	if pw != c.FormValue("password2") {
		return again("The two passwords differ.")
	}
	u, err := s.st.CreateUser(ctx, store.NewUser{DirectoryID: dirID, Name: strings.TrimSpace(form["name"]),
		FirstName: strings.TrimSpace(form["first"]), LastName: strings.TrimSpace(form["last"]),
		DisplayName: strings.TrimSpace(form["display"]), Email: strings.TrimSpace(form["email"]),
		Active: checked(c, "active"), Password: pw})
	if err != nil {
		if isUserFacing(err) {
			return again(message(err))
		}
		return err
	}
	s.setFlash(c, "ok", "User "+u.Name+" created.")
	return c.Redirect(http.StatusSeeOther, s.userURL(u.ID))
}

func (s *server) updateUser(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.editableUser(c)
	if err != nil {
		return s.done(c, err, s.userURL(u.ID), "")
	}
	first, last := strings.TrimSpace(c.FormValue("first")), strings.TrimSpace(c.FormValue("last"))
	display, email := strings.TrimSpace(c.FormValue("display")), strings.TrimSpace(c.FormValue("email"))
	ch := store.UserChange{FirstName: &first, LastName: &last, DisplayName: &display, Email: &email}
	if name := strings.TrimSpace(c.FormValue("name")); name != "" && name != u.Name {
		ch.Name = &name // renamed in the same transaction: a refused field keeps the old name too
	}
	_, err = s.st.UpdateUser(ctx, u.ID, ch)
	return s.done(c, err, s.userURL(u.ID), "Saved.")
}

func (s *server) resetPassword(c echo.Context) error {
	u, err := s.editableUser(c)
	if err != nil {
		return s.done(c, err, s.userURL(u.ID), "")
	}
	pw := c.FormValue("password")
	if pw != c.FormValue("password2") {
		return s.done(c, fmt.Errorf("the two passwords differ: %w", errForm), s.userURL(u.ID), "")
	}
	// Every other session of the user ends; an administrator setting their own keeps this one.
	ctx := store.KeepingSession(c.Request().Context(), s.ownSession(c, u))
	err = s.st.SetPassword(ctx, u.ID, pw)
	return s.done(c, err, s.userURL(u.ID), "Password set. Tell the user through a channel you trust.")
}

func (s *server) setUserActive(c echo.Context) error {
	u, err := s.editableUser(c)
	if err != nil {
		return s.done(c, err, s.userURL(u.ID), "")
	}
	active := c.FormValue("active") == "true"
	if !active && u.ID == adminOf(c).User.ID {
		return s.done(c, fmt.Errorf("you cannot deactivate your own account: %w", errForm), s.userURL(u.ID), "")
	}
	_, err = s.st.UpdateUser(c.Request().Context(), u.ID, store.UserChange{Active: &active})
	msg := "User activated."
	if !active {
		msg = "User deactivated; their sessions have ended."
	}
	return s.done(c, err, s.userURL(u.ID), msg)
}

func (s *server) addUserGroup(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.editableUser(c)
	if err != nil {
		return s.done(c, err, s.userURL(u.ID), "")
	}
	name := strings.TrimSpace(c.FormValue("group"))
	g, err := s.st.GroupByName(ctx, u.DirectoryID, name)
	if err == nil {
		err = s.st.AddUserToGroup(ctx, u.ID, g.ID)
	}
	return s.done(c, err, s.userURL(u.ID), "Added to "+name+".")
}

func (s *server) removeUserGroup(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.editableUser(c)
	if err != nil {
		return s.done(c, err, s.userURL(u.ID), "")
	}
	gid, err := formID(c, "group")
	if err != nil {
		return err
	}
	err = s.st.RemoveUserFromGroup(ctx, u.ID, gid)
	return s.done(c, err, s.userURL(u.ID), "Removed from the group.")
}

// revokeUserSessions ends every session of a user (except the administrator's own console session).
func (s *server) revokeUserSessions(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := paramRecord(c, s.st.User)
	if err != nil {
		return err
	}
	err = s.st.DeleteUserSessions(ctx, u.ID, s.ownSession(c, u))
	back := c.FormValue("back")
	if !s.safeReturn(back) {
		back = s.userURL(u.ID)
	}
	return s.done(c, err, back, "Every session of "+u.Name+" has ended.")
}

// ownSession is the token of the request's console session when u is the signed-in administrator,
// else "".
func (s *server) ownSession(c echo.Context, u store.User) string {
	if a := adminOf(c); u.ID == a.User.ID {
		return a.token
	}
	return ""
}

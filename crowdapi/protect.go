package crowdapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// Console administrators, their groups and their memberships are out of every application's reach,
// whatever the application's permissions: an application credential must never be a way to become,
// or to lock out, an administrator. Refusals look like Crowd's missing-permission answer and are
// audited.

// protectUsers refuses a change to any of users when one is a console administrator.
func (s *server) protectUsers(c echo.Context, action string, users ...store.User) error {
	return s.protect(c, action, users, nil)
}

// protectGroups refuses a change to any of groups when one is an administrator group or nested in one.
func (s *server) protectGroups(c echo.Context, action string, groups ...store.Group) error {
	return s.protect(c, action, nil, groups)
}

// userToChange is the visible user the username parameter names (404 when there is none), refused
// as protectUsers does: the start of every request that changes one user.
func (s *server) userToChange(c echo.Context, action string) (store.User, error) {
	u, err := s.lookupUser(c, "username", http.StatusNotFound)
	if err == nil {
		err = s.protectUsers(c, action, u)
	}
	return u, err
}

// groupToChange is userToChange for the group the groupname parameter names.
func (s *server) groupToChange(c echo.Context, action string) (store.Group, error) {
	g, err := s.lookupGroup(c, "groupname", http.StatusNotFound)
	if err == nil {
		err = s.protectGroups(c, action, g)
	}
	return g, err
}

func (s *server) protect(c echo.Context, action string, users []store.User, groups []store.Group) error {
	ctx := c.Request().Context()
	p, err := s.st.ProtectedObjects(ctx)
	if err != nil {
		return err
	}
	kind, name := "", ""
	for _, u := range users {
		if p.Users[u.ID] {
			kind, name = "USER", u.Name
			break
		}
	}
	for _, g := range groups {
		if kind == "" && p.Groups[g.ID] {
			kind, name = "GROUP", g.Name
		}
	}
	if kind == "" {
		return nil
	}
	what := "the console administrator <" + name + ">"
	if kind == "GROUP" {
		what = "the console administrator group <" + name + ">"
	}
	detail := action + " refused: applications may not change " + what
	if err := s.st.Audit(ctx, "FAILURE", "ADMIN_CHANGE_REFUSED", kind, name, detail); err != nil {
		return err
	}
	s.log.Warn("crowd api: change to a console administrator refused", "action", action, "object", name)
	return newError(http.StatusForbidden, ApplicationPermissionDenied,
		"Application may not change "+what+": console administrators are managed in crowdgate's console only", nil)
}

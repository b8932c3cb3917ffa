package api

import (
	"github.com/labstack/echo/v4"
)

// setAdminEntraGroups binds Entra ID groups, by object id, as administrator groups (a route that
// needs a recent sign-in; the store audits the change). The configuration's own list
// (CROWDGATE_ADMIN_ENTRA_GROUPS) is shown beside it and cannot be changed here.
func (s *server) setAdminEntraGroups(c echo.Context) error {
	err := s.st.SetAdminEntraGroups(c.Request().Context(), lines(c.FormValue("object_ids")))
	return s.done(c, err, s.cfg.PathPrefix+"/directories#admins", "Administrator groups saved.")
}

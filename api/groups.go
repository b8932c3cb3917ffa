package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// memberLimit bounds the members a group page lists.
const memberLimit = 500

type groupRow struct {
	Group store.Group
	Dir   store.Directory
}

func (s *server) groups(c echo.Context) error {
	return searchPage(s, c, "Groups", "groups", (*store.View).SearchGroups,
		func(g store.Group, dir store.Directory) groupRow { return groupRow{g, dir} }, "name", "description")
}

type groupData struct {
	Group           store.Group
	Dir             store.Directory
	Editable        bool
	Attrs           []attr
	Members         []store.User
	NestedMembers   []store.User
	Children        []store.Group
	Parents         []store.Group
	InheritedParent []store.Group
	Grants          []store.GroupGrant
	Limit           int
}

func (s *server) group(c echo.Context) error {
	ctx := c.Request().Context()
	g, err := paramRecord(c, s.st.Group)
	if err != nil {
		return err
	}
	dir, err := s.st.Directory(ctx, g.DirectoryID)
	if err != nil {
		return err
	}
	d := groupData{Group: g, Dir: dir, Editable: dir.Kind == store.DirectoryInternal, Limit: memberLimit}
	attrs, err := s.st.GroupAttributes(ctx, g.ID)
	if err != nil {
		return err
	}
	d.Attrs = sortedAttrs(attrs)
	v, err := s.st.DirectoryView(ctx, dir.ID)
	if err != nil {
		return err
	}
	page := store.Page{Max: memberLimit}
	if d.Members, d.NestedMembers, err = directAndInherited(func(nested bool, fn func(store.User) error) error {
		return v.GroupUsers(ctx, g.Name, nested, page, fn)
	}, func(u store.User) int64 { return u.ID }); err != nil {
		return err
	}
	if d.Children, err = store.Groups(func(fn func(store.Group) error) error { return v.ChildGroups(ctx, g.Name, false, page, fn) }); err != nil {
		return err
	}
	if d.Parents, d.InheritedParent, err = directAndInherited(func(nested bool, fn func(store.Group) error) error {
		return v.ParentGroups(ctx, g.Name, nested, page, fn)
	}, func(p store.Group) int64 { return p.ID }); err != nil {
		return err
	}
	if d.Grants, err = s.st.GroupGrants(ctx, g); err != nil {
		return err
	}
	p := s.newPage(c, g.Name, "groups")
	p.Data = d
	return s.render(c, http.StatusOK, "group", p)
}

func (s *server) groupURL(id int64) string { return fmt.Sprintf("%s/groups/%d", s.cfg.PathPrefix, id) }

// editableGroup returns the group of the :id parameter when it lives in an internal directory.
func (s *server) editableGroup(c echo.Context) (store.Group, error) {
	return editable(c, s.st, s.st.Group, func(g store.Group) int64 { return g.DirectoryID }, "group")
}

type newGroupData struct {
	Dirs []store.Directory
	Form map[string]string
}

func (s *server) newGroupPage(c echo.Context) error {
	dirs, err := s.internalDirectories(c.Request().Context())
	if err != nil {
		return err
	}
	p := s.newPage(c, "New group", "groups")
	p.Data = newGroupData{Dirs: dirs, Form: map[string]string{}}
	return s.render(c, http.StatusOK, "group_new", p)
}

func (s *server) createGroup(c echo.Context) error {
	ctx := c.Request().Context()
	dirs, err := s.internalDirectories(ctx)
	if err != nil {
		return err
	}
	form := map[string]string{"directory": c.FormValue("directory"), "name": c.FormValue("name"), "description": c.FormValue("description")}
	dirID, _ := formID(c, "directory")
	internal := false
	for _, d := range dirs {
		internal = internal || d.ID == dirID
	}
	var g store.Group
	if !internal {
		err = fmt.Errorf("choose an internal directory: %w", errForm)
	} else {
		g, err = s.st.CreateGroup(ctx, store.NewGroup{DirectoryID: dirID, Name: strings.TrimSpace(form["name"]),
			Description: strings.TrimSpace(form["description"]), Active: true})
	}
	if err != nil {
		if !isUserFacing(err) {
			return err
		}
		return s.formAgain(c, "New group", "groups", "group_new", newGroupData{Dirs: dirs, Form: form}, message(err))
	}
	s.setFlash(c, "ok", "Group "+g.Name+" created.")
	return c.Redirect(http.StatusSeeOther, s.groupURL(g.ID))
}

func (s *server) updateGroup(c echo.Context) error {
	g, err := s.editableGroup(c)
	if err != nil {
		return s.done(c, err, s.groupURL(g.ID), "")
	}
	desc := strings.TrimSpace(c.FormValue("description"))
	active := checked(c, "active")
	_, err = s.st.UpdateGroup(c.Request().Context(), g.ID, store.GroupChange{Description: &desc, Active: &active})
	return s.done(c, err, s.groupURL(g.ID), "Saved.")
}

// addGroupMember adds a user, or (kind=group) a child group, by name from the group's directory.
func (s *server) addGroupMember(c echo.Context) error {
	ctx := c.Request().Context()
	g, err := s.editableGroup(c)
	if err != nil {
		return s.done(c, err, s.groupURL(g.ID), "")
	}
	name := strings.TrimSpace(c.FormValue("name"))
	if c.FormValue("kind") == "group" {
		child, err := s.st.GroupByName(ctx, g.DirectoryID, name)
		if err == nil {
			err = s.st.AddGroupToGroup(ctx, child.ID, g.ID)
		}
		return s.done(c, err, s.groupURL(g.ID), "Group "+name+" is now nested in "+g.Name+".")
	}
	u, err := s.st.UserByName(ctx, g.DirectoryID, name)
	if err == nil {
		err = s.st.AddUserToGroup(ctx, u.ID, g.ID)
	}
	return s.done(c, err, s.groupURL(g.ID), name+" added.")
}

func (s *server) removeGroupMember(c echo.Context) error {
	ctx := c.Request().Context()
	g, err := s.editableGroup(c)
	if err != nil {
		return s.done(c, err, s.groupURL(g.ID), "")
	}
	if c.FormValue("user") != "" {
		uid, err := formID(c, "user")
		if err != nil {
			return err
		}
		return s.done(c, s.st.RemoveUserFromGroup(ctx, uid, g.ID), s.groupURL(g.ID), "Member removed.")
	}
	cid, err := formID(c, "child")
	if err != nil {
		return err
	}
	return s.done(c, s.st.RemoveGroupFromGroup(ctx, cid, g.ID), s.groupURL(g.ID), "Nested group removed.")
}

package crowdapi

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// writeGroups streams groups, minimal or full as expand asks.
func (s *server) writeGroups(c echo.Context, list func(func(store.Group) error) error) error {
	ex, base, n := expandOf(c), baseOf(c), namerOf(c)
	return writeList(c, "groups", "group", list, func(g store.Group) (groupEntity, error) {
		if !ex.group {
			return minimalGroup(base, n, g.Name), nil
		}
		return s.groupOut(c, g, ex.attributes)
	})
}

// writeUsers streams users, minimal or full as expand asks.
func (s *server) writeUsers(c echo.Context, list func(func(store.User) error) error) error {
	ex, base, n := expandOf(c), baseOf(c), namerOf(c)
	return writeList(c, "users", "user", list, func(u store.User) (userEntity, error) {
		if !ex.user {
			return minimalUser(base, n, u.Name), nil
		}
		return s.userOut(c, u, ex.attributes)
	})
}

// requireMember is nil when list yields a group named name (case-insensitively), else
// MEMBERSHIP_NOT_FOUND of child in parent.
func requireMember(list func(func(store.Group) error) error, name, child, parent string) error {
	err := list(func(g store.Group) error {
		if strings.EqualFold(g.Name, name) {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return nil
	case err != nil:
		return err
	}
	return membershipNotFound(child, parent, nil)
}

// errFound stops a listing at the group requireMember looks for.
var errFound = errors.New("found")

// groupsOf lists the groups u is a direct (or, nested, also an inherited) member of.
func groupsOf(ctx context.Context, v *store.View, u store.User, nested bool, p store.Page) func(func(store.Group) error) error {
	return func(fn func(store.Group) error) error { return v.UserGroups(ctx, u, nested, p, fn) }
}

// memberGroup answers a membership check that found the group named name: the minimal group.
func (s *server) memberGroup(c echo.Context, name string) error {
	g, err := s.groupNamed(c, name, http.StatusNotFound)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, minimalGroup(baseOf(c), namerOf(c), g.Name))
}

// userGroups serves GET /user/group/{direct,nested}: the user's groups, or with groupname a
// membership check (minimal group or 404 MEMBERSHIP_NOT_FOUND).
func (s *server) userGroups(nested bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		u, err := s.lookupUser(c, "username", http.StatusNotFound)
		if err != nil {
			return err
		}
		p, err := pageOf(c)
		if err != nil {
			return err
		}
		v := viewOf(c)
		if gname := c.QueryParam("groupname"); gname != "" {
			if err := requireMember(groupsOf(ctx, v, u, nested, store.All), gname, u.Name, gname); err != nil {
				return err
			}
			return s.memberGroup(c, gname)
		}
		return s.writeGroups(c, groupsOf(ctx, v, u, nested, p))
	}
}

// groupUsers serves GET /group/user/{direct,nested}.
func (s *server) groupUsers(nested bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		g, err := s.lookupGroup(c, "groupname", http.StatusNotFound)
		if err != nil {
			return err
		}
		p, err := pageOf(c)
		if err != nil {
			return err
		}
		v := viewOf(c)
		if uname := c.QueryParam("username"); uname != "" {
			u, err := v.User(ctx, uname)
			if store.IsNotFound(err) {
				return membershipNotFound(uname, g.Name, err)
			}
			if err != nil {
				return err
			}
			if err := requireMember(groupsOf(ctx, v, u, nested, store.All), g.Name, u.Name, g.Name); err != nil {
				return err
			}
			return respond(c, http.StatusOK, minimalUser(baseOf(c), namerOf(c), u.Name))
		}
		return s.writeUsers(c, func(fn func(store.User) error) error { return v.GroupUsers(ctx, g.Name, nested, p, fn) })
	}
}

func (s *server) childGroups(nested bool) echo.HandlerFunc {
	return s.relatedGroups(nested, true, []string{"child-groupname"})
}

// parentGroups accepts child-groupname too: Crowd 2.4 read parent-group/direct's filter from it.
func (s *server) parentGroups(nested bool) echo.HandlerFunc {
	return s.relatedGroups(nested, false, []string{"parent-groupname", "child-groupname"})
}

func (s *server) relatedGroups(nested, children bool, filters []string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		g, err := s.lookupGroup(c, "groupname", http.StatusNotFound)
		if err != nil {
			return err
		}
		p, err := pageOf(c)
		if err != nil {
			return err
		}
		v := viewOf(c)
		list := func(page store.Page) func(func(store.Group) error) error {
			return func(fn func(store.Group) error) error {
				if children {
					return v.ChildGroups(ctx, g.Name, nested, page, fn)
				}
				return v.ParentGroups(ctx, g.Name, nested, page, fn)
			}
		}
		for _, f := range filters {
			other := c.QueryParam(f)
			if other == "" {
				continue
			}
			child, parent := g.Name, other
			if children {
				child, parent = other, g.Name
			}
			if err := requireMember(list(store.All), other, child, parent); err != nil {
				return err
			}
			return s.memberGroup(c, other)
		}
		return s.writeGroups(c, list(p))
	}
}

// groupIn is the group named name in directory dir, where both ends of a membership must live; the
// application must be allowed to change that directory's groups.
func (s *server) groupIn(c echo.Context, dir int64, name string) (store.Group, error) {
	if err := viewOf(c).Permit(dir, store.OpUpdateGroup); err != nil {
		return store.Group{}, storeError(err, InvalidGroup)
	}
	return s.st.GroupByName(c.Request().Context(), dir, name)
}

// addUserMembership adds user u to the group named like g in u's directory.
func (s *server) addUserMembership(c echo.Context, u store.User, g store.Group, location string) error {
	dg, err := s.groupIn(c, u.DirectoryID, g.Name)
	if store.IsNotFound(err) {
		return groupNotFound(http.StatusBadRequest, g.Name, err)
	}
	if err != nil {
		return err
	}
	if err := s.protect(c, "add membership", []store.User{u}, []store.Group{dg}); err != nil {
		return err
	}
	err = s.st.AddUserToGroup(c.Request().Context(), u.ID, dg.ID)
	if errors.Is(err, store.ErrExists) {
		return membershipExists(u.Name, dg.Name, err)
	}
	if err != nil {
		return storeError(err, InvalidGroup)
	}
	return created(c, location)
}

// bodyUser is the visible user a membership request's body names (<user name="u"/>; only the
// name is read); an unknown one is a 400, as the query's entity is a 404.
func (s *server) bodyUser(c echo.Context) (store.User, error) {
	var in userEntity
	if err := bind(c, &in, false); err != nil {
		return store.User{}, err
	}
	return s.userNamed(c, in.Name, http.StatusBadRequest)
}

// bodyGroup is bodyUser for <group name="g"/>.
func (s *server) bodyGroup(c echo.Context) (store.Group, error) {
	var in groupEntity
	if err := bind(c, &in, false); err != nil {
		return store.Group{}, err
	}
	return s.groupNamed(c, in.Name, http.StatusBadRequest)
}

// addUserToGroupByGroup: POST /group/user/direct?groupname=g, body <user name="u"/> (only name is read).
func (s *server) addUserToGroupByGroup(c echo.Context) error {
	g, err := s.lookupGroup(c, "groupname", http.StatusNotFound)
	if err != nil {
		return err
	}
	u, err := s.bodyUser(c)
	if err != nil {
		return err
	}
	return s.addUserMembership(c, u, g, baseOf(c)+"/group/user/direct?groupname="+q(g.Name)+"&username="+q(u.Name))
}

// addUserToGroupByUser: POST /user/group/direct?username=u, body <group name="g"/>.
func (s *server) addUserToGroupByUser(c echo.Context) error {
	u, err := s.lookupUser(c, "username", http.StatusNotFound)
	if err != nil {
		return err
	}
	g, err := s.bodyGroup(c)
	if err != nil {
		return err
	}
	return s.addUserMembership(c, u, g, baseOf(c)+"/user/group/direct?username="+q(u.Name)+"&groupname="+q(g.Name))
}

// membershipRemoved ends a removal: 204, or 404 MEMBERSHIP_NOT_FOUND when there was none to remove.
func membershipRemoved(c echo.Context, err error, child, parent string) error {
	if store.IsNotFound(err) {
		return membershipNotFound(child, parent, err)
	}
	if err != nil {
		return storeError(err, InvalidGroup)
	}
	return noContent(c)
}

// removeUserFromGroup serves DELETE /group/user/direct and /user/group/direct.
func (s *server) removeUserFromGroup(c echo.Context) error {
	g, err := s.lookupGroup(c, "groupname", http.StatusNotFound)
	if err != nil {
		return err
	}
	u, err := s.lookupUser(c, "username", http.StatusNotFound)
	if err != nil {
		return err
	}
	dg, err := s.groupIn(c, u.DirectoryID, g.Name)
	if err == nil {
		err = s.protect(c, "remove membership", []store.User{u}, []store.Group{dg})
	}
	if err == nil {
		err = s.st.RemoveUserFromGroup(c.Request().Context(), u.ID, dg.ID)
	}
	return membershipRemoved(c, err, u.Name, g.Name)
}

// nest puts child into parent (both visible groups) in the parent's directory.
func (s *server) nest(c echo.Context, child, parent store.Group, location string) error {
	dc, err := s.groupIn(c, parent.DirectoryID, child.Name)
	if store.IsNotFound(err) {
		return groupNotFound(http.StatusBadRequest, child.Name, err)
	}
	if err != nil {
		return err
	}
	if err := s.protectGroups(c, "add group membership", dc, parent); err != nil {
		return err
	}
	err = s.st.AddGroupToGroup(c.Request().Context(), dc.ID, parent.ID)
	switch {
	case errors.Is(err, store.ErrExists):
		return membershipExists(dc.Name, parent.Name, err)
	case errors.Is(err, store.ErrNestingDisabled):
		return newError(http.StatusBadRequest, NestedGroupsNotSupported, message(err), err)
	case errors.Is(err, store.ErrInvalid):
		return newError(http.StatusBadRequest, InvalidMembership, message(err), err)
	case err != nil:
		return storeError(err, InvalidGroup)
	}
	return created(c, location)
}

// addChildGroup: POST /group/child-group/direct?groupname=parent, body <group name="child"/>.
func (s *server) addChildGroup(c echo.Context) error {
	p, err := s.lookupGroup(c, "groupname", http.StatusNotFound)
	if err != nil {
		return err
	}
	ch, err := s.bodyGroup(c)
	if err != nil {
		return err
	}
	return s.nest(c, ch, p, baseOf(c)+"/group/child-group/direct?groupname="+q(p.Name)+"&child-groupname="+q(ch.Name))
}

// addParentGroup: POST /group/parent-group/direct?groupname=child, body <group name="parent"/>.
func (s *server) addParentGroup(c echo.Context) error {
	ch, err := s.lookupGroup(c, "groupname", http.StatusNotFound)
	if err != nil {
		return err
	}
	p, err := s.bodyGroup(c)
	if err != nil {
		return err
	}
	return s.nest(c, ch, p, baseOf(c)+"/group/parent-group/direct?groupname="+q(ch.Name)+"&parent-groupname="+q(p.Name))
}

func (s *server) removeChildGroup(c echo.Context) error {
	p, err := s.lookupGroup(c, "groupname", http.StatusNotFound)
	if err != nil {
		return err
	}
	ch, err := s.lookupGroup(c, "child-groupname", http.StatusNotFound)
	if err != nil {
		return err
	}
	dc, err := s.groupIn(c, p.DirectoryID, ch.Name)
	if err == nil {
		err = s.protectGroups(c, "remove group membership", dc, p)
	}
	if err == nil {
		err = s.st.RemoveGroupFromGroup(c.Request().Context(), dc.ID, p.ID)
	}
	return membershipRemoved(c, err, ch.Name, p.Name)
}

// memberships streams GET /group/membership: always XML, every visible group with its direct members.
func (s *server) memberships(c echo.Context) error {
	r := c.Response()
	r.Header().Set("Content-Type", "application/xml")
	r.WriteHeader(http.StatusOK)
	w := bufio.NewWriterSize(r, 64<<10)
	w.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n<memberships>")
	// The status and the document's start go out at once: the client knows the stream has begun
	// while the first groups are read.
	if err := w.Flush(); err != nil {
		return nil
	}
	r.Flush()
	n := namerOf(c)
	count := 0
	err := viewOf(c).Memberships(c.Request().Context(), func(m store.Membership) error {
		w.WriteString(`<membership group="`)
		xml.EscapeText(w, []byte(n.name(m.Group)))
		w.WriteString(`"><users>`)
		for _, u := range m.Users {
			w.WriteString(`<user name="`)
			xml.EscapeText(w, []byte(n.name(u)))
			w.WriteString(`"/>`)
		}
		w.WriteString(`</users><groups>`)
		for _, g := range m.Groups {
			w.WriteString(`<group name="`)
			xml.EscapeText(w, []byte(n.name(g)))
			w.WriteString(`"/>`)
		}
		w.WriteString(`</groups></membership>`)
		if count++; count%256 == 0 {
			return w.Flush()
		}
		return nil
	})
	if err != nil {
		// The status is sent; an unterminated document makes the client fail rather than accept a
		// partial directory.
		s.log.Error("membership stream failed", "err", err)
		return nil
	}
	w.WriteString("</memberships>")
	return w.Flush()
}

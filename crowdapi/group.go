package crowdapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

func (s *server) lookupGroup(c echo.Context, param string, status int) (store.Group, error) {
	name, err := required(c, param)
	if err != nil {
		return store.Group{}, err
	}
	return s.groupNamed(c, name, status)
}

func (s *server) groupNamed(c echo.Context, name string, status int) (store.Group, error) {
	g, err := viewOf(c).Group(c.Request().Context(), name)
	if store.IsNotFound(err) {
		return store.Group{}, groupNotFound(status, name, err)
	}
	return g, err
}

// respondGroup answers 200 with the group (and its attributes if withAttrs).
func (s *server) respondGroup(c echo.Context, g store.Group, withAttrs bool) error {
	out, err := s.groupOut(c, g, withAttrs)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, out)
}

func (s *server) groupOut(c echo.Context, g store.Group, withAttrs bool) (groupEntity, error) {
	var attrs map[string][]string
	if withAttrs {
		var err error
		if attrs, err = s.st.GroupAttributes(c.Request().Context(), g.ID); err != nil {
			return groupEntity{}, err
		}
	}
	return fullGroup(baseOf(c), namerOf(c), g, attrs), nil
}

func (s *server) getGroup(c echo.Context) error {
	g, err := s.lookupGroup(c, "groupname", http.StatusNotFound)
	if err != nil {
		return err
	}
	return s.respondGroup(c, g, expandOf(c).attributes)
}

func (s *server) createGroup(c echo.Context) error {
	ctx := c.Request().Context()
	var in groupEntity
	if err := bind(c, &in, false); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return newError(http.StatusBadRequest, InvalidGroup, "the group needs a name", nil)
	}
	if in.Type != "" && !strings.EqualFold(in.Type, "GROUP") {
		return newError(http.StatusBadRequest, InvalidGroup, "group type "+in.Type+" is not supported; use GROUP", nil)
	}
	v := viewOf(c)
	dir, err := v.DirectoryFor(store.OpCreateGroup)
	if err != nil {
		return storeError(err, InvalidGroup)
	}
	if _, err := v.Group(ctx, in.Name); err == nil {
		return newError(http.StatusBadRequest, InvalidGroup, "Group <"+in.Name+"> already exists", nil)
	}
	g, err := s.st.CreateGroup(ctx, store.NewGroup{DirectoryID: dir, Name: in.Name, Description: deref(in.Description),
		Active: in.Active == nil || bool(*in.Active), Attributes: attributesIn(in.Attributes)})
	if err != nil {
		return storeError(err, InvalidGroup)
	}
	out, err := s.groupOut(c, g, true)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", out.Link.Href)
	return respond(c, http.StatusCreated, out)
}

func (s *server) updateGroup(c echo.Context) error {
	ctx := c.Request().Context()
	g, err := s.groupToChange(c, "update group")
	if err != nil {
		return err
	}
	var in groupEntity
	if err := bind(c, &in, false); err != nil {
		return err
	}
	if !strings.EqualFold(in.Name, g.Name) {
		return newError(http.StatusBadRequest, InvalidGroup, "the group name in the body <"+in.Name+"> does not match <"+g.Name+">", nil)
	}
	if err := viewOf(c).Permit(g.DirectoryID, store.OpUpdateGroup); err != nil {
		return storeError(err, InvalidGroup)
	}
	ch := store.GroupChange{Description: in.Description}
	if in.Active != nil {
		a := bool(*in.Active)
		ch.Active = &a
	}
	g, err = s.st.UpdateGroup(ctx, g.ID, ch)
	if err != nil {
		return storeError(err, InvalidGroup)
	}
	return s.respondGroup(c, g, false)
}

func (s *server) deleteGroup(c echo.Context) error {
	g, err := s.groupToChange(c, "delete group")
	if err != nil {
		return err
	}
	return s.change(c, g.DirectoryID, store.OpDeleteGroup, InvalidGroup, func(ctx context.Context) error {
		return s.st.DeleteGroup(ctx, g.ID)
	})
}

func (s *server) getGroupAttributes(c echo.Context) error {
	g, err := s.lookupGroup(c, "groupname", http.StatusNotFound)
	if err != nil {
		return err
	}
	attrs, err := s.st.GroupAttributes(c.Request().Context(), g.ID)
	if err != nil {
		return err
	}
	name := namerOf(c).name(g.Name)
	return respond(c, http.StatusOK, attributesOf(baseOf(c)+"/group/attribute?groupname="+q(name), attrs))
}

func (s *server) storeGroupAttributes(c echo.Context) error {
	g, err := s.groupToChange(c, "store group attributes")
	if err != nil {
		return err
	}
	var in attributesEntity
	if err := bind(c, &in, false); err != nil {
		return err
	}
	return s.change(c, g.DirectoryID, store.OpUpdateGroupAttribute, InvalidGroup, func(ctx context.Context) error {
		return s.st.StoreGroupAttributes(ctx, g.ID, attributesIn(&in))
	})
}

func (s *server) deleteGroupAttribute(c echo.Context) error {
	g, err := s.groupToChange(c, "delete group attribute")
	if err != nil {
		return err
	}
	attr, err := required(c, "attributename")
	if err != nil {
		return err
	}
	return s.change(c, g.DirectoryID, store.OpUpdateGroupAttribute, InvalidGroup, func(ctx context.Context) error {
		return s.st.DeleteGroupAttribute(ctx, g.ID, attr)
	})
}

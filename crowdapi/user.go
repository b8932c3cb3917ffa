package crowdapi

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// lookupUser finds the visible user named by the username query parameter (404 USER_NOT_FOUND).
func (s *server) lookupUser(c echo.Context, param string, status int) (store.User, error) {
	name, err := required(c, param)
	if err != nil {
		return store.User{}, err
	}
	return s.userNamed(c, name, status)
}

func (s *server) userNamed(c echo.Context, name string, status int) (store.User, error) {
	u, err := viewOf(c).User(c.Request().Context(), name)
	if store.IsNotFound(err) {
		return store.User{}, userNotFound(status, name, err)
	}
	return u, err
}

// userOut renders a full user, with attributes when asked.
// respondUser answers 200 with the user (and its attributes if withAttrs).
func (s *server) respondUser(c echo.Context, u store.User, withAttrs bool) error {
	out, err := s.userOut(c, u, withAttrs)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, out)
}

func (s *server) userOut(c echo.Context, u store.User, withAttrs bool) (userEntity, error) {
	var attrs map[string][]string
	if withAttrs {
		var err error
		if attrs, err = s.userAttributes(c.Request().Context(), u.ID); err != nil {
			return userEntity{}, err
		}
	}
	return fullUser(baseOf(c), namerOf(c), u, attrs), nil
}

// change makes a change in directory dir when the application may do op there, and answers 204;
// invalid is the reason when the store refuses the change as invalid.
func (s *server) change(c echo.Context, dir int64, op string, invalid Reason, do func(context.Context) error) error {
	if err := viewOf(c).Permit(dir, op); err != nil {
		return storeError(err, invalid)
	}
	if err := do(c.Request().Context()); err != nil {
		return storeError(err, invalid)
	}
	return noContent(c)
}

func (s *server) getUser(c echo.Context) error {
	ctx := c.Request().Context()
	var (
		u   store.User
		err error
	)
	if key := c.QueryParam("key"); key != "" && c.QueryParam("username") == "" {
		u, err = viewOf(c).UserByKey(ctx, key)
		switch {
		case errors.Is(err, store.ErrInvalid):
			return illegalArgument("key %q is not <directoryId>:<externalId>", key)
		case store.IsNotFound(err):
			return newError(http.StatusNotFound, UserNotFound, "User with key <"+key+"> does not exist", err)
		}
	} else {
		u, err = s.lookupUser(c, "username", http.StatusNotFound)
	}
	if err != nil {
		return err
	}
	return s.respondUser(c, u, expandOf(c).attributes)
}

func (s *server) createUser(c echo.Context) error {
	ctx := c.Request().Context()
	var in userEntity
	if err := bind(c, &in, false); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return newError(http.StatusBadRequest, InvalidUser, "the user needs a name", nil)
	}
	v := viewOf(c)
	dir, err := v.DirectoryFor(store.OpCreateUser)
	if err != nil {
		return storeError(err, InvalidUser)
	}
	if _, err := v.User(ctx, in.Name); err == nil {
		return newError(http.StatusBadRequest, InvalidUser, "User <"+in.Name+"> already exists", nil)
	}
	nu := store.NewUser{DirectoryID: dir, Name: in.Name, FirstName: deref(in.FirstName), LastName: deref(in.LastName),
		DisplayName: deref(in.DisplayName), Email: deref(in.Email), Active: in.Active == nil || bool(*in.Active),
		Attributes: attributesIn(in.Attributes)}
	if err := refuseCrowdAttributes(nu.Attributes); err != nil {
		return err
	}
	if in.Password != nil && in.Password.Value != nil {
		nu.Password = *in.Password.Value
	} else if in.EncryptedPassword != nil && in.EncryptedPassword.Value != nil {
		nu.Credential = *in.EncryptedPassword.Value
	}
	u, err := s.st.CreateUser(ctx, nu)
	if err != nil {
		if errors.Is(err, store.ErrPasswordPolicy) {
			return newError(http.StatusBadRequest, InvalidCredential, message(err), err)
		}
		return storeError(err, InvalidUser)
	}
	out, err := s.userOut(c, u, true)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", out.Link.Href)
	return respond(c, http.StatusCreated, out)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *server) updateUser(c echo.Context) error {
	u, err := s.userToChange(c, "update user")
	if err != nil {
		return err
	}
	var in userEntity
	if err := bind(c, &in, false); err != nil {
		return err
	}
	if !strings.EqualFold(in.Name, u.Name) {
		return newError(http.StatusBadRequest, InvalidUser, "the user name in the body <"+in.Name+"> does not match <"+u.Name+">", nil)
	}
	ch := store.UserChange{FirstName: in.FirstName, LastName: in.LastName, DisplayName: in.DisplayName, Email: in.Email}
	if in.Active != nil {
		a := bool(*in.Active)
		ch.Active = &a
	}
	return s.change(c, u.DirectoryID, store.OpUpdateUser, InvalidUser, func(ctx context.Context) error {
		_, err := s.st.UpdateUser(ctx, u.ID, ch)
		return err
	})
}

func (s *server) deleteUser(c echo.Context) error {
	u, err := s.userToChange(c, "delete user")
	if err != nil {
		return err
	}
	return s.change(c, u.DirectoryID, store.OpDeleteUser, InvalidUser, func(ctx context.Context) error {
		return s.st.DeleteUser(ctx, u.ID)
	})
}

func (s *server) getUserAttributes(c echo.Context) error {
	u, err := s.lookupUser(c, "username", http.StatusNotFound)
	if err != nil {
		return err
	}
	attrs, err := s.userAttributes(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	name := namerOf(c).name(u.Name)
	return respond(c, http.StatusOK, attributesOf(baseOf(c)+"/user/attribute?username="+q(name), attrs))
}

func (s *server) storeUserAttributes(c echo.Context) error {
	u, err := s.userToChange(c, "store user attributes")
	if err != nil {
		return err
	}
	var in attributesEntity
	if err := bind(c, &in, false); err != nil {
		return err
	}
	attrs := attributesIn(&in)
	if err := refuseCrowdAttributes(attrs); err != nil {
		return err
	}
	return s.change(c, u.DirectoryID, store.OpUpdateUserAttribute, InvalidUser, func(ctx context.Context) error {
		return s.st.StoreUserAttributes(ctx, u.ID, attrs)
	})
}

func (s *server) deleteUserAttribute(c echo.Context) error {
	u, err := s.userToChange(c, "delete user attribute")
	if err != nil {
		return err
	}
	attr, err := required(c, "attributename")
	if err != nil {
		return err
	}
	if err := refuseCrowdAttribute(attr); err != nil {
		return err
	}
	return s.change(c, u.DirectoryID, store.OpUpdateUserAttribute, InvalidUser, func(ctx context.Context) error {
		return s.st.DeleteUserAttribute(ctx, u.ID, attr)
	})
}

func (s *server) setPassword(c echo.Context) error {
	u, err := s.userToChange(c, "set password")
	if err != nil {
		return err
	}
	var in passwordEntity
	if err := bind(c, &in, false); err != nil {
		return err
	}
	if in.Value == nil {
		return newError(http.StatusBadRequest, InvalidCredential, "the password needs a value", nil)
	}
	return s.change(c, u.DirectoryID, store.OpUpdateUser, InvalidCredential, func(ctx context.Context) error {
		return s.st.SetPassword(ctx, u.ID, *in.Value)
	})
}

func (s *server) clearPassword(c echo.Context) error {
	u, err := s.userToChange(c, "clear password")
	if err != nil {
		return err
	}
	return s.change(c, u.DirectoryID, store.OpUpdateUser, InvalidCredential, func(ctx context.Context) error {
		return s.st.ClearPassword(ctx, u.ID)
	})
}

func (s *server) renameUser(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.userToChange(c, "rename user")
	if err != nil {
		return err
	}
	var in renameEntity
	if err := bind(c, &in, false); err != nil {
		return err
	}
	if err := viewOf(c).Permit(u.DirectoryID, store.OpUpdateUser); err != nil {
		return storeError(err, InvalidUser)
	}
	if other, err := viewOf(c).User(ctx, in.NewName); err == nil && other.ID != u.ID {
		return newError(http.StatusBadRequest, InvalidUser, "User <"+in.NewName+"> already exists", nil)
	}
	r, err := s.st.RenameUser(ctx, u.ID, in.NewName)
	if err != nil {
		return storeError(err, InvalidUser)
	}
	return s.respondUser(c, r, true)
}

// mailPassword and mailUsernames answer as Crowd does without a mail server: the request is valid,
// nothing is sent, and the attempt is audited so an operator can follow up.
func (s *server) mailPassword(c echo.Context) error {
	u, err := s.lookupUser(c, "username", http.StatusNotFound)
	if err != nil {
		return err
	}
	if _, err := mail.ParseAddress(u.Email); err != nil {
		return newError(http.StatusBadRequest, InvalidEmail, "User <"+u.Name+"> has no valid e-mail address", err)
	}
	return s.mailNotSent(c, "PASSWORD_RESET_REQUESTED", u.Name)
}

func (s *server) mailUsernames(c echo.Context) error {
	email, err := required(c, "email")
	if err != nil {
		return err
	}
	if _, err := mail.ParseAddress(email); err != nil {
		return newError(http.StatusBadRequest, InvalidEmail, "<"+email+"> is not a valid e-mail address", err)
	}
	return s.mailNotSent(c, "USERNAME_REMINDER_REQUESTED", email)
}

func (s *server) mailNotSent(c echo.Context, action, object string) error {
	if err := s.st.Audit(c.Request().Context(), "SUCCESS", action, "USER", object, "no mail server configured: nothing sent"); err != nil {
		return err
	}
	return noContent(c)
}

func (s *server) expireAllPasswords(c echo.Context) error {
	if c.QueryParam("confirm") != "true" {
		return illegalArgument("confirm=true must be given to expire every password")
	}
	v := viewOf(c)
	var dirs []int64
	for _, d := range v.Directories() {
		if v.Permit(d, store.OpUpdateUser) == nil {
			dirs = append(dirs, d)
		}
	}
	// Administrators keep their passwords: an application must not be able to lock them out.
	p, err := s.st.ProtectedObjects(c.Request().Context())
	if err != nil {
		return err
	}
	except := make([]int64, 0, len(p.Users))
	for id := range p.Users {
		except = append(except, id)
	}
	if err := s.st.ExpireAllPasswords(c.Request().Context(), dirs, except...); err != nil {
		return err
	}
	return noContent(c)
}

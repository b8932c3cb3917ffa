package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// User is an account in one directory. Its Key never changes, even on rename: Jira matches on it.
type User struct {
	ID               int64
	DirectoryID      int64
	ExternalID       string
	Name             string
	LowerName        string
	FirstName        string
	LastName         string
	DisplayName      string
	LowerDisplayName string
	Email            string
	LowerEmail       string
	Active           bool
	PasswordExpired  bool
	LockedUntil      *time.Time
	LastLoginAt      *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// TableName maps User to its table.
func (User) TableName() string { return "users" }

// Key is Crowd's user key, "<directoryId>:<externalId>".
func (u User) Key() string { return strconv.FormatInt(u.DirectoryID, 10) + ":" + u.ExternalID }

// userColumns are the columns read into User; the credential is read only where it is needed.
const userColumns = "id, directory_id, external_id, name, lower_name, first_name, last_name, display_name, " +
	"lower_display_name, email, lower_email, active, password_expired, locked_until, last_login_at, created_at, updated_at"

// NewUser describes a user to create.
type NewUser struct {
	DirectoryID int64
	Name        string
	FirstName   string
	LastName    string
	DisplayName string // computed from first and last name when empty
	Email       string
	Active      bool
	ExternalID  string // Entra object id; a UUID is generated when empty
	Password    string // plain password to hash, or
	Credential  string // an already encoded credential (imports), never both
	Attributes  map[string][]string
}

// UserChange holds the fields to change; nil means unchanged.
type UserChange struct {
	// Name renames the user (as RenameUser does) in the same transaction as the other changes, so
	// a change refused for another field leaves the name as it was.
	Name        *string
	FirstName   *string
	LastName    *string
	DisplayName *string
	Email       *string
	Active      *bool
}

// displayName is Crowd's rule: an empty display name becomes "first last".
func displayName(display, first, last string) string {
	if strings.TrimSpace(display) != "" {
		return display
	}
	return strings.TrimSpace(strings.TrimSpace(first) + " " + strings.TrimSpace(last))
}

func checkUserText(first, last, display, email string) error {
	for _, f := range []struct{ name, v string }{
		{"first name", first}, {"last name", last}, {"display name", display}, {"email", email},
	} {
		if err := checkText(f.name, f.v, MaxNameLen); err != nil {
			return err
		}
	}
	return nil
}

// newUUID returns a random RFC 4122 version 4 UUID, the external id of internal users.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// CreateUser adds a user with its attributes, emitting a CREATED event.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	if err := checkName("user", nu.Name); err != nil {
		return User{}, err
	}
	nu.DisplayName = displayName(nu.DisplayName, nu.FirstName, nu.LastName)
	if err := checkUserText(nu.FirstName, nu.LastName, nu.DisplayName, nu.Email); err != nil {
		return User{}, err
	}
	if nu.Password != "" && nu.Credential != "" {
		return User{}, fmt.Errorf("user %q: give a password or an encoded credential, not both: %w", nu.Name, ErrInvalid)
	}
	if err := checkAttributes(nu.Attributes); err != nil {
		return User{}, err
	}
	cred := nu.Credential
	var pwChanged *time.Time
	if nu.Password != "" {
		d, err := s.Directory(ctx, nu.DirectoryID)
		if err != nil {
			return User{}, err
		}
		if err := checkPolicy(d, nu.Password); err != nil {
			return User{}, err
		}
		if cred, err = s.pw.Hash(ctx, nu.Password); err != nil {
			return User{}, fmt.Errorf("user %q: hash password: %w", nu.Name, err)
		}
	}
	if cred != "" {
		t := s.now()
		pwChanged = &t
	}
	ext := nu.ExternalID
	if ext == "" {
		ext = newUUID()
	}
	now := s.now()
	var u User
	err := s.InTx(ctx, func(tx *Store) error {
		var id int64
		err := tx.q(ctx).Raw("INSERT INTO users (directory_id, external_id, name, lower_name, first_name, last_name, "+
			"display_name, lower_display_name, email, lower_email, active, credential, password_changed_at, created_at, updated_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
			nu.DirectoryID, ext, nu.Name, Lower(nu.Name), nu.FirstName, nu.LastName, nu.DisplayName,
			Lower(nu.DisplayName), nu.Email, Lower(nu.Email), nu.Active, cred, pwChanged, now, now).Scan(&id).Error
		if err != nil {
			return translate(err, "user %q", nu.Name)
		}
		if id == 0 {
			return fmt.Errorf("user %q: insert returned no id", nu.Name)
		}
		if err := tx.insertAttributes(ctx, "user_attributes", "user_id", id, nu.Attributes); err != nil {
			return fmt.Errorf("user %q: %w", nu.Name, err)
		}
		if u, err = tx.User(ctx, id); err != nil {
			return err
		}
		if err := tx.event(ctx, u.DirectoryID, EntityUser, OpCreated, u.ID, u.Name, ""); err != nil {
			return err
		}
		return tx.audit(ctx, "USER_CREATED", "USER", u.Name, "")
	})
	return u, err
}

// User returns a user by id.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.q(ctx).Select(userColumns).Where("id = ?", id).Take(&u).Error
	return u, translate(err, "user %d", id)
}

// UserByName returns the user named name (case-insensitively) in one directory.
func (s *Store) UserByName(ctx context.Context, directoryID int64, name string) (User, error) {
	var u User
	err := s.q(ctx).Select(userColumns).Where("directory_id = ? AND lower_name = ?", directoryID, Lower(name)).Take(&u).Error
	return u, translate(err, "user %q", name)
}

// UserByExternalID returns the user with the given external id in one directory.
func (s *Store) UserByExternalID(ctx context.Context, directoryID int64, externalID string) (User, error) {
	var u User
	err := s.q(ctx).Select(userColumns).Where("directory_id = ? AND external_id = ?", directoryID, externalID).Take(&u).Error
	return u, translate(err, "user with external id %q", externalID)
}

// UserByKey returns the user with Crowd key "<directoryId>:<externalId>".
func (s *Store) UserByKey(ctx context.Context, key string) (User, error) {
	dir, ext, ok := strings.Cut(key, ":")
	id, err := strconv.ParseInt(dir, 10, 64)
	if !ok || err != nil || ext == "" {
		return User{}, fmt.Errorf("user key %q is not <directoryId>:<externalId>: %w", key, ErrInvalid)
	}
	return s.UserByExternalID(ctx, id, ext)
}

// UpdateUser changes a user's details, emitting an UPDATED event when something changed. Setting
// Active to false also ends the user's sessions.
func (s *Store) UpdateUser(ctx context.Context, id int64, ch UserChange) (User, error) {
	var u User
	err := s.InTx(ctx, func(tx *Store) error {
		old, err := lockedRead(ctx, tx, "users", id, tx.User)
		if err != nil {
			return err
		}
		if ch.Name != nil && *ch.Name != old.Name {
			if old, err = tx.RenameUser(ctx, id, *ch.Name); err != nil {
				return err
			}
		}
		u = old
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&u.FirstName, ch.FirstName)
		set(&u.LastName, ch.LastName)
		set(&u.Email, ch.Email)
		if ch.DisplayName != nil || ch.FirstName != nil || ch.LastName != nil {
			d := ""
			if ch.DisplayName != nil {
				d = *ch.DisplayName
			} else if old.DisplayName != displayName("", old.FirstName, old.LastName) {
				d = old.DisplayName // a display name set on purpose survives a change of first or last name
			}
			u.DisplayName = displayName(d, u.FirstName, u.LastName)
		}
		if ch.Active != nil {
			u.Active = *ch.Active
		}
		if err := checkUserText(u.FirstName, u.LastName, u.DisplayName, u.Email); err != nil {
			return err
		}
		if u.FirstName == old.FirstName && u.LastName == old.LastName && u.DisplayName == old.DisplayName &&
			u.Email == old.Email && u.Active == old.Active {
			return nil
		}
		u.UpdatedAt = tx.now()
		err = tx.q(ctx).Exec("UPDATE users SET first_name = ?, last_name = ?, display_name = ?, lower_display_name = ?, "+
			"email = ?, lower_email = ?, active = ?, updated_at = ? WHERE id = ?",
			u.FirstName, u.LastName, u.DisplayName, Lower(u.DisplayName), u.Email, Lower(u.Email), u.Active, u.UpdatedAt, id).Error
		if err != nil {
			return translate(err, "user %q", u.Name)
		}
		u.LowerDisplayName, u.LowerEmail = Lower(u.DisplayName), Lower(u.Email)
		if old.Active && !u.Active {
			if err := tx.deleteUserSessions(ctx, id, ""); err != nil {
				return err
			}
		}
		if err := tx.event(ctx, u.DirectoryID, EntityUser, OpUpdated, u.ID, u.Name, ""); err != nil {
			return err
		}
		// Cached sessions carry the user's details (validations answer with them).
		if err := tx.invalidate(ctx, invDropUser+strconv.FormatInt(id, 10)); err != nil {
			return err
		}
		action := "USER_UPDATED"
		if old.Active != u.Active {
			action = map[bool]string{true: "USER_ACTIVATED", false: "USER_DEACTIVATED"}[u.Active]
		}
		return tx.audit(ctx, action, "USER", u.Name, "")
	})
	return u, err
}

// RenameUser gives a user a new name; the key stays the same.
func (s *Store) RenameUser(ctx context.Context, id int64, newName string) (User, error) {
	if err := checkName("user", newName); err != nil {
		return User{}, err
	}
	var u User
	err := s.InTx(ctx, func(tx *Store) error {
		old, err := lockedRead(ctx, tx, "users", id, tx.User)
		if err != nil {
			return err
		}
		if old.Name == newName {
			u = old
			return nil
		}
		err = tx.q(ctx).Exec("UPDATE users SET name = ?, lower_name = ?, updated_at = ? WHERE id = ?",
			newName, Lower(newName), tx.now(), id).Error
		if err != nil {
			return translate(err, "user %q", newName)
		}
		if u, err = tx.User(ctx, id); err != nil {
			return err
		}
		// Jira applies a rename as an UPDATED user whose key it already knows under the old name.
		if err := tx.event(ctx, u.DirectoryID, EntityUser, OpUpdated, u.ID, u.Name, old.Name); err != nil {
			return err
		}
		if err := tx.invalidate(ctx, invClearSessions); err != nil {
			return err
		}
		return tx.audit(ctx, "USER_RENAMED", "USER", newName, "from "+old.Name)
	})
	return u, err
}

// DeleteUser removes a user with its memberships, attributes and sessions.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		u, err := tx.User(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.deleteUserSessions(ctx, id, ""); err != nil {
			return err
		}
		if err := tx.q(ctx).Exec("DELETE FROM users WHERE id = ?", id).Error; err != nil {
			return translate(err, "user %q", u.Name)
		}
		if err := tx.event(ctx, u.DirectoryID, EntityUser, OpDeleted, u.ID, u.Name, ""); err != nil {
			return err
		}
		return tx.audit(ctx, "USER_DELETED", "USER", u.Name, "")
	})
}

// UserCount counts the users of a directory.
func (s *Store) UserCount(ctx context.Context, directoryID int64) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&User{}).Where("directory_id = ?", directoryID).Count(&n).Error
	return n, translate(err, "count users")
}

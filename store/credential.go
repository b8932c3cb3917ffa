package store

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxPasswordLen bounds passwords so hashing cost cannot be driven up by huge inputs.
const MaxPasswordLen = 1024

// checkPolicy applies a directory's password policy to a new password.
func checkPolicy(d Directory, pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case pw == "":
		return fmt.Errorf("the password must not be empty: %w: %w", ErrPasswordPolicy, ErrInvalid)
	case n > MaxPasswordLen:
		return fmt.Errorf("the password is longer than %d characters: %w: %w", MaxPasswordLen, ErrPasswordPolicy, ErrInvalid)
	case d.MinPasswordLen > 0 && n < d.MinPasswordLen:
		return fmt.Errorf("the password must have at least %d characters: %w: %w", d.MinPasswordLen, ErrPasswordPolicy, ErrInvalid)
	}
	return nil
}

// SetPassword hashes and stores a new password for a user of a writable directory.
func (s *Store) SetPassword(ctx context.Context, userID int64, pw string) error {
	u, err := s.User(ctx, userID)
	if err != nil {
		return err
	}
	d, err := s.Directory(ctx, u.DirectoryID)
	if err != nil {
		return err
	}
	if d.Kind != DirectoryInternal {
		return fmt.Errorf("user %q is in %s directory %q, whose passwords live in Entra ID: %w", u.Name, d.Kind, d.Name, ErrReadOnly)
	}
	if err := checkPolicy(d, pw); err != nil {
		return err
	}
	cred, err := s.pw.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("user %q: hash password: %w", u.Name, err)
	}
	return s.setCredential(ctx, u, cred, "PASSWORD_CHANGED")
}

// SetCredential stores an already encoded credential (imports); the store verifies Crowd's formats.
func (s *Store) SetCredential(ctx context.Context, userID int64, cred string) error {
	u, err := s.User(ctx, userID)
	if err != nil {
		return err
	}
	return s.setCredential(ctx, u, cred, "CREDENTIAL_IMPORTED")
}

// ClearPassword removes a user's password; the user can then sign in only through SAML.
func (s *Store) ClearPassword(ctx context.Context, userID int64) error {
	u, err := s.User(ctx, userID)
	if err != nil {
		return err
	}
	return s.setCredential(ctx, u, "", "PASSWORD_CLEARED")
}

func (s *Store) setCredential(ctx context.Context, u User, cred, action string) error {
	return s.InTx(ctx, func(tx *Store) error {
		now := tx.now()
		err := tx.q(ctx).Exec("UPDATE users SET credential = ?, password_changed_at = ?, password_expired = ?, failed_logins = 0, "+
			"locked_until = NULL, updated_at = ? WHERE id = ?", cred, now, false, now, u.ID).Error
		if err != nil {
			return fmt.Errorf("user %q: %w", u.Name, err)
		}
		// A new (or no) password ends the user's sessions: whoever knew the old one is out.
		if err := tx.deleteUserSessions(ctx, u.ID, keptSession(ctx)); err != nil {
			return err
		}
		return tx.audit(ctx, action, "USER", u.Name, "")
	})
}

// ExpireAllPasswords marks every password of the given internal directories expired: the next
// authentication fails with ErrExpiredCredential until the password is changed. Users whose ids are
// in except keep theirs.
func (s *Store) ExpireAllPasswords(ctx context.Context, dirIDs []int64, except ...int64) error {
	if len(dirIDs) == 0 {
		return nil
	}
	except = append(except, 0) // "NOT IN ()" is not SQL; no user has id 0
	return s.InTx(ctx, func(tx *Store) error {
		err := tx.q(ctx).Exec("UPDATE users SET password_expired = ? WHERE credential <> '' AND directory_id IN "+
			"(SELECT id FROM directories WHERE kind = ? AND id IN ?) AND id NOT IN ?", true, DirectoryInternal, dirIDs, except).Error
		if err != nil {
			return fmt.Errorf("expire passwords: %w", err)
		}
		return tx.audit(ctx, "PASSWORDS_EXPIRED", "DIRECTORY", fmt.Sprint(dirIDs), "")
	})
}

// Authenticate checks a user's password as the view's application: the first mapped directory
// that has the name decides. It returns ErrNotFound (no such user), ErrBadCredential (wrong
// password or locked out), ErrInactive, ErrExpiredCredential or ErrNotAllowed, wrapped. Failed
// attempts count towards the directory's lock-out; a success re-hashes a legacy credential.
func (v *View) Authenticate(ctx context.Context, name, pw string) (User, error) {
	for _, d := range v.dirs {
		// One statement for the user, the credential, the lock-out rule and the groups: a login's
		// database work is paid next to the hash on the same few cores.
		var rows []loginRow
		if err := v.s.q(ctx).Raw(v.s.loginSelect()+" WHERE u.directory_id = ? AND u.lower_name = ?", d, Lower(name)).Scan(&rows).Error; err != nil {
			return User{}, fmt.Errorf("user %q: %w", name, err)
		}
		if len(rows) == 0 {
			continue
		}
		u := rows[0].User
		if err := v.s.checkPassword(ctx, u, pw, rows[0].Cred); err != nil {
			return User{}, err
		}
		groups, err := parseIDs(rows[0].Groups)
		if err != nil {
			return User{}, fmt.Errorf("groups of user %q: %w", u.Name, err)
		}
		if err := v.mayAuthenticate(ctx, u, groups); err != nil {
			_ = v.s.Audit(ctx, "FAILURE", "LOGIN_FAILED", "USER", u.Name, "not allowed into "+v.App.Name)
			return User{}, err
		}
		v.s.recordLogin(u.ID, v.App.ID)
		return u, nil
	}
	_ = v.s.Audit(ctx, "FAILURE", "LOGIN_FAILED", "USER", name, "no such user in "+v.App.Name+"'s directories")
	return User{}, fmt.Errorf("user %q: %w", name, ErrNotFound)
}

// loginCredential is what a password check needs beyond the user.
type loginCredential struct {
	Credential       string
	FailedLogins     int
	LockoutThreshold int
	LockoutSeconds   int
}

// loginRow is a user with its credential and its direct groups' ids (comma-separated).
type loginRow struct {
	User
	Cred   loginCredential `gorm:"embedded"`
	Groups string
}

// loginSelect reads loginRow; the caller adds the WHERE clause.
func (s *Store) loginSelect() string {
	return "SELECT u." + strings.ReplaceAll(userColumns, ", ", ", u.") +
		", u.credential, u.failed_logins, d.lockout_threshold, d.lockout_seconds, " +
		"COALESCE((SELECT " + s.idList("m.group_id") + " FROM user_memberships m WHERE m.user_id = u.id), '') AS groups" +
		" FROM users u JOIN directories d ON d.id = u.directory_id"
}

// CheckPassword verifies pw for u, applying lock-out, activity and expiry rules, and re-hashes a
// legacy credential on success.
func (s *Store) CheckPassword(ctx context.Context, u User, pw string) error {
	var cred loginCredential
	err := s.q(ctx).Raw("SELECT u.credential, u.failed_logins, d.lockout_threshold, d.lockout_seconds FROM users u "+
		"JOIN directories d ON d.id = u.directory_id WHERE u.id = ?", u.ID).Scan(&cred).Error
	if err != nil {
		return fmt.Errorf("user %q: %w", u.Name, err)
	}
	return s.checkPassword(ctx, u, pw, cred)
}

func (s *Store) checkPassword(ctx context.Context, u User, pw string, row loginCredential) error {
	now := s.now()
	if u.LockedUntil != nil && now.Before(*u.LockedUntil) {
		s.auditRefusal(ctx, u, "account locked")
		return fmt.Errorf("user %q is locked out until %s: %w: %w", u.Name, u.LockedUntil.Format("15:04:05 MST"), ErrLocked, ErrBadCredential)
	}
	ok := false
	rehash := false
	var err error
	if row.Credential != "" && len(pw) <= MaxPasswordLen*4 {
		ok, rehash, err = s.pw.Verify(ctx, row.Credential, pw)
		if err != nil {
			s.log.Warn("stored credential cannot be verified", "user", u.Name, "err", err)
			ok = false
		}
	}
	if !ok {
		return s.loginFailed(ctx, u, row.LockoutThreshold, row.LockoutSeconds)
	}
	if !u.Active {
		s.auditRefusal(ctx, u, "account inactive")
		return fmt.Errorf("account with name <%s> is inactive: %w", u.Name, ErrInactive)
	}
	if u.PasswordExpired {
		s.auditRefusal(ctx, u, "password expired")
		return fmt.Errorf("the password of %q has expired: %w", u.Name, ErrExpiredCredential)
	}
	if row.FailedLogins > 0 || u.LockedUntil != nil {
		if err := s.q(ctx).Exec("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", u.ID).Error; err != nil {
			return fmt.Errorf("user %q: %w", u.Name, err)
		}
	}
	if rehash {
		// Upgrading a legacy hash costs more than the login itself (argon2id): it is done only when a
		// hashing slot is free, so under load logins keep the verify ceiling and the upgrade waits
		// for a quieter login.
		if cred, ok, err := s.pw.TryHash(pw); ok {
			// Only if nobody changed it meanwhile.
			err = s.q(ctx).Exec("UPDATE users SET credential = ? WHERE id = ? AND credential = ?", cred, u.ID, row.Credential).Error
			if err != nil {
				s.log.Warn("re-hash after login failed", "user", u.Name, "err", err)
			}
		} else if err != nil {
			s.log.Warn("re-hash after login failed", "user", u.Name, "err", err)
		}
	}
	return nil
}

// auditRefusal records a refused login. The refusal stands whether or not the audit write
// succeeds, but a lost audit entry is logged rather than dropped silently.
func (s *Store) auditRefusal(ctx context.Context, u User, why string) {
	if err := s.Audit(ctx, "FAILURE", "LOGIN_FAILED", "USER", u.Name, why); err != nil {
		s.log.Error("audit of a refused login failed", "user", u.Name, "reason", why, "err", err)
	}
}

func (s *Store) loginFailed(ctx context.Context, u User, threshold, seconds int) error {
	err := s.InTx(ctx, func(tx *Store) error {
		// One atomic increment, so failures checked at the same moment all count; none while a
		// concurrent failure has just locked the account (that would extend the lock-out).
		var counted []int
		err := tx.q(ctx).Raw("UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ? AND (locked_until IS NULL OR locked_until <= ?) "+
			"RETURNING failed_logins", u.ID, tx.now()).Scan(&counted).Error
		if err != nil {
			return err
		}
		if len(counted) == 0 {
			return tx.writeAudit(ctx, "FAILURE", "LOGIN_FAILED", "USER", u.Name, "account locked")
		}
		failed := counted[0]
		if threshold > 0 && failed >= threshold && seconds > 0 {
			until := tx.now().Add(timeSeconds(seconds))
			res := tx.q(ctx).Exec("UPDATE users SET failed_logins = 0, locked_until = ? WHERE id = ? AND failed_logins >= ?", until, u.ID, threshold)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 { // a concurrent failure may have locked it already
				return tx.writeAudit(ctx, "FAILURE", "ACCOUNT_LOCKED", "USER", u.Name, fmt.Sprintf("%d failed logins", failed))
			}
		}
		return tx.writeAudit(ctx, "FAILURE", "LOGIN_FAILED", "USER", u.Name, "wrong password")
	})
	if err != nil {
		return fmt.Errorf("user %q: record failed login: %w", u.Name, err)
	}
	return fmt.Errorf("account with name <%s> failed to authenticate: %w", u.Name, ErrBadCredential)
}

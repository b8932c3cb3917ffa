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
	if err := s.checkPasswordFor(ctx, d, u, pw); err != nil {
		return err
	}
	cred, err := s.pw.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("user %q: hash password: %w", u.Name, err)
	}
	return s.setCredential(ctx, u, cred, "PASSWORD_CHANGED")
}

// SetCredential stores an already encoded credential (imports); the store verifies Crowd's formats.
// An administrator's is refused: the strength of a hashed password cannot be checked.
func (s *Store) SetCredential(ctx context.Context, userID int64, cred string) error {
	u, err := s.User(ctx, userID)
	if err != nil {
		return err
	}
	admin, err := s.IsAdministrator(ctx, u)
	if err != nil {
		return err
	}
	if admin {
		return fmt.Errorf("user %q is an administrator, whose password must be set in crowdgate (at least %d characters, not a common one), not imported as a hash: %w: %w",
			u.Name, AdminMinPasswordLen, ErrPasswordPolicy, ErrInvalid)
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
// password, or ErrThrottled: the sending address failed too often), ErrInactive,
// ErrExpiredCredential or ErrNotAllowed, wrapped. Failures count against the sending address
// (loginguard.go); a success re-hashes a legacy credential.
func (v *View) Authenticate(ctx context.Context, name, pw string) (User, error) {
	// One statement for the user, the credential and the groups: a login's database work is paid
	// next to the hash on the same few cores.
	rows, err := v.s.loginRows(ctx, v.dirs, name)
	if err != nil {
		return User{}, err
	}
	if len(rows) == 0 {
		err := v.s.noSuchUser(ctx, name, pw)
		v.s.auditRefusal(ctx, User{Name: name}, "no such user in "+v.App.Name+"'s directories")
		return User{}, err
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
		v.s.auditRefusal(ctx, u, "not allowed into "+v.App.Name)
		return User{}, err
	}
	v.s.recordLogin(u.ID, v.App.ID)
	return u, nil
}

// AuthenticateLocal checks a user's password in the first of dirs that has the name, for the
// console's and the break-glass page's local sign-in, with Authenticate's errors and rules.
func (s *Store) AuthenticateLocal(ctx context.Context, dirs []int64, name, pw string) (User, error) {
	rows, err := s.loginRows(ctx, dirs, name)
	if err != nil {
		return User{}, err
	}
	if len(rows) == 0 {
		return User{}, s.noSuchUser(ctx, name, pw)
	}
	if err := s.checkPassword(ctx, rows[0].User, pw, rows[0].Cred); err != nil {
		return User{}, err
	}
	return rows[0].User, nil
}

// loginRows reads the user called name in the first of dirs that has one (at most one row).
func (s *Store) loginRows(ctx context.Context, dirs []int64, name string) ([]loginRow, error) {
	if len(dirs) == 0 || name == "" {
		return nil, nil
	}
	var rows []loginRow
	if err := s.q(ctx).Raw(s.loginSelect()+" WHERE u.directory_id IN ? AND u.lower_name = ?", dirs, Lower(name)).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("user %q: %w", name, err)
	}
	for _, d := range dirs {
		for _, r := range rows {
			if r.DirectoryID == d {
				return []loginRow{r}, nil
			}
		}
	}
	return nil, nil
}

// noSuchUser refuses a sign-in as an unknown user after the work of a wrong password.
func (s *Store) noSuchUser(ctx context.Context, name, pw string) error {
	done, err := s.loginAttempt(ctx)
	if err != nil {
		return err
	}
	s.unknownUser(ctx, pw, done)
	return fmt.Errorf("user %q: %w", name, ErrNotFound)
}

// loginCredential is what a password check needs beyond the user.
type loginCredential struct {
	Credential   string
	FailedLogins int
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
		", u.credential, u.failed_logins, " +
		"COALESCE((SELECT " + s.idList("m.group_id") + " FROM user_memberships m WHERE m.user_id = u.id), '') AS groups" +
		" FROM users u"
}

// CheckPassword verifies pw for u, applying the sending address's throttle (loginguard.go),
// activity and expiry rules, and re-hashes a legacy credential on success.
func (s *Store) CheckPassword(ctx context.Context, u User, pw string) error {
	var cred loginCredential
	err := s.q(ctx).Raw("SELECT credential, failed_logins FROM users WHERE id = ?", u.ID).Scan(&cred).Error
	if err != nil {
		return fmt.Errorf("user %q: %w", u.Name, err)
	}
	return s.checkPassword(ctx, u, pw, cred)
}

func (s *Store) checkPassword(ctx context.Context, u User, pw string, row loginCredential) error {
	done, err := s.loginAttempt(ctx)
	if err != nil {
		return fmt.Errorf("user %q: %w", u.Name, err)
	}
	if row.Credential == "" {
		s.unknownUser(ctx, pw, done) // the same work as a wrong password
		return s.loginFailed(ctx, u)
	}
	ok, rehash := false, false
	if len(pw) <= MaxPasswordLen*4 {
		ok, rehash, err = s.pw.Verify(ctx, row.Credential, pw)
		if err != nil {
			s.log.Warn("stored credential cannot be verified", "user", u.Name, "err", err)
			ok = false
		}
	}
	done(ok)
	if !ok {
		return s.loginFailed(ctx, u)
	}
	if !u.Active {
		s.auditRefusal(ctx, u, "account inactive")
		return fmt.Errorf("account with name <%s> is inactive: %w", u.Name, ErrInactive)
	}
	if u.PasswordExpired {
		s.auditRefusal(ctx, u, "password expired")
		return fmt.Errorf("the password of %q has expired: %w", u.Name, ErrExpiredCredential)
	}
	if row.FailedLogins > 0 || u.LockedUntil != nil { // locked_until: set by earlier versions
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

// loginFailed counts a wrong password of u (shown to administrators; it never locks the account:
// loginguard.go) and audits it.
func (s *Store) loginFailed(ctx context.Context, u User) error {
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Exec("UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ?", u.ID).Error; err != nil {
			return err
		}
		return tx.writeAudit(ctx, "FAILURE", "LOGIN_FAILED", "USER", u.Name, "wrong password")
	})
	if err != nil {
		return fmt.Errorf("user %q: record failed login: %w", u.Name, err)
	}
	return fmt.Errorf("account with name <%s> failed to authenticate: %w", u.Name, ErrBadCredential)
}

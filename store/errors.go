package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"gorm.io/gorm"
)

// Sentinel errors. Every error the store returns for an expected outcome wraps one of them, with
// context naming the object, so callers use errors.Is and may show the message as is.
var (
	// ErrNotFound: the named object does not exist (or is not visible to the application).
	ErrNotFound = errors.New("not found")
	// ErrExists: an object with that name (case-insensitively) or identity already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid: the input breaks a rule (empty name, control characters, cycle, bad restriction ...).
	ErrInvalid = errors.New("invalid")
	// ErrPermission: the application may not perform this operation on this directory.
	ErrPermission = errors.New("permission denied")
	// ErrInactive: the user account (or application) is inactive.
	ErrInactive = errors.New("inactive")
	// ErrBadCredential: the password did not match.
	ErrBadCredential = errors.New("invalid credentials")
	// ErrExpiredCredential: the password is expired and must be changed.
	ErrExpiredCredential = errors.New("expired credential")
	// ErrLocked: an account lock-out. The store no longer locks accounts for failed passwords (it
	// slows down and blocks the sending address: ErrThrottled); kept for callers that match it.
	ErrLocked = errors.New("account locked")
	// ErrNotAllowed: the user may not authenticate to the application (not in its allowed groups).
	ErrNotAllowed = errors.New("not allowed to authenticate")
	// ErrReadOnly: the directory is a replica (Entra ID) and cannot be changed through this surface.
	ErrReadOnly = errors.New("read-only directory")
	// ErrPasswordPolicy: a new password breaks the directory's policy (also ErrInvalid).
	ErrPasswordPolicy = errors.New("password policy")
	// ErrNestingDisabled: the directory does not allow groups in groups (also ErrInvalid).
	ErrNestingDisabled = errors.New("nested groups disabled")
	// ErrTokenExpired: an event token is too old, from another database, or the view changed.
	ErrTokenExpired = errors.New("event token expired")
)

// translate maps gorm's dialect-neutral errors onto the store's sentinels, adding context.
func translate(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	ctx := fmt.Sprintf(format, args...)
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%s: %w", ctx, ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey), isUniqueViolation(err):
		return fmt.Errorf("%s: %w", ctx, ErrExists)
	}
	return fmt.Errorf("%s: %w", ctx, err)
}

// isUniqueViolation recognises unique-constraint errors that bypass gorm's translation (raw
// statements such as INSERT ... RETURNING).
func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

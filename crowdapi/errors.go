package crowdapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/crowdgate/crowdgate/store"
)

// Reason is Crowd's error reason enum (docs/crowd-wire.md, "Errors").
type Reason string

// Reasons emitted on the usermanagement API. Only these: the Java client's enum lacks others.
const (
	ApplicationAccessDenied     Reason = "APPLICATION_ACCESS_DENIED"
	ApplicationPermissionDenied Reason = "APPLICATION_PERMISSION_DENIED"
	ExpiredCredential           Reason = "EXPIRED_CREDENTIAL"
	GroupNotFound               Reason = "GROUP_NOT_FOUND"
	IllegalArgument             Reason = "ILLEGAL_ARGUMENT"
	InactiveAccount             Reason = "INACTIVE_ACCOUNT"
	InvalidUserAuthentication   Reason = "INVALID_USER_AUTHENTICATION"
	InvalidCredential           Reason = "INVALID_CREDENTIAL"
	InvalidEmail                Reason = "INVALID_EMAIL"
	InvalidGroup                Reason = "INVALID_GROUP"
	InvalidSSOToken             Reason = "INVALID_SSO_TOKEN"
	InvalidUser                 Reason = "INVALID_USER"
	MembershipNotFound          Reason = "MEMBERSHIP_NOT_FOUND"
	MembershipAlreadyExists     Reason = "MEMBERSHIP_ALREADY_EXISTS"
	NestedGroupsNotSupported    Reason = "NESTED_GROUPS_NOT_SUPPORTED"
	UnsupportedOperation        Reason = "UNSUPPORTED_OPERATION"
	UserNotFound                Reason = "USER_NOT_FOUND"
	OperationFailed             Reason = "OPERATION_FAILED"
	EventTokenExpired           Reason = "EVENT_TOKEN_EXPIRED"
	IncrementalSyncNotAvailable Reason = "INCREMENTAL_SYNC_NOT_AVAILABLE"
	WebhookNotFound             Reason = "WEBHOOK_NOT_FOUND"
	InvalidMembership           Reason = "INVALID_MEMBERSHIP"
)

// Error is an expected failure with its Crowd status and reason. Err is the internal cause: logged,
// never sent.
type Error struct {
	Status  int
	Reason  Reason
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Message, e.Err)
	}
	return string(e.Reason) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func newError(status int, reason Reason, msg string, err error) *Error {
	return &Error{Status: status, Reason: reason, Message: msg, Err: err}
}

func illegalArgument(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, IllegalArgument, fmt.Sprintf(format, args...), nil)
}

// userNotFound uses Crowd's canonical message; status is 404, or 400 when the user is the request body.
func userNotFound(status int, name string, err error) *Error {
	return newError(status, UserNotFound, "User <"+name+"> does not exist", err)
}

func groupNotFound(status int, name string, err error) *Error {
	return newError(status, GroupNotFound, "Group <"+name+"> does not exist", err)
}

func membershipNotFound(child, parent string, err error) *Error {
	return newError(http.StatusNotFound, MembershipNotFound,
		"The child entity <"+child+"> is not a member of the parent <"+parent+">", err)
}

func membershipExists(child, parent string, err error) *Error {
	return newError(http.StatusConflict, MembershipAlreadyExists,
		"Membership already exists from child entity ["+child+"] to parent entity ["+parent+"]", err)
}

// storeError maps store errors that need no resource-specific reason.
func storeError(err error, invalid Reason) error {
	var ce *Error
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, store.ErrPermission), errors.Is(err, store.ErrReadOnly):
		return newError(http.StatusForbidden, ApplicationPermissionDenied, message(err), err)
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrInvalid):
		return newError(http.StatusBadRequest, invalid, message(err), err)
	}
	return err
}

// message turns a store error into the message a client sees: the store's wording names the
// object and the rule, without the sentinel's suffix.
func message(err error) string {
	m := err.Error()
	for _, s := range []error{store.ErrInvalid, store.ErrExists, store.ErrNotFound, store.ErrPermission,
		store.ErrReadOnly, store.ErrInactive, store.ErrBadCredential, store.ErrNotAllowed, store.ErrExpiredCredential,
		store.ErrLocked, store.ErrTokenExpired, store.ErrPasswordPolicy, store.ErrNestingDisabled} {
		m = strings.TrimSuffix(m, ": "+s.Error())
	}
	return m
}

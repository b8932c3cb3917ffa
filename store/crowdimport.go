package store

import (
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/crowdgate/crowdgate/store/password"
)

// This file holds what the Atlassian Crowd importer (package crowdimport) needs beyond the rest of the
// store: the store's own input rules, so a whole backup can be checked before anything is written;
// existence checks that keep a re-run idempotent without provoking unique violations (which abort a
// PostgreSQL transaction); and imported application credentials, kept as Crowd stored them.

// ValidateNewUser reports whether CreateUser would accept nu's name, text fields and attributes. It
// reads nothing, so an importer can check every user before it writes one.
func ValidateNewUser(nu NewUser) error {
	if err := checkName("user", nu.Name); err != nil {
		return err
	}
	if err := checkUserText(nu.FirstName, nu.LastName, displayName(nu.DisplayName, nu.FirstName, nu.LastName), nu.Email); err != nil {
		return err
	}
	if nu.Password != "" && nu.Credential != "" {
		return fmt.Errorf("user %q: give a password or an encoded credential, not both: %w", nu.Name, ErrInvalid)
	}
	return checkAttributes(nu.Attributes)
}

// ValidateNewGroup reports whether CreateGroup would accept ng's name, description and attributes.
func ValidateNewGroup(ng NewGroup) error {
	if err := checkName("group", ng.Name); err != nil {
		return err
	}
	if err := checkText("description", ng.Description, maxDescription); err != nil {
		return err
	}
	return checkAttributes(ng.Attributes)
}

// ValidateName reports whether name is acceptable for a directory, application or group mapping
// (kind names the object in the message).
func ValidateName(kind, name string) error { return checkName(kind, name) }

// ValidateAddress reports whether a is an acceptable remote-address entry: an IP, a CIDR range or a
// host name.
func ValidateAddress(a string) error { return checkAddress(a) }

// HasCredential reports whether the user has a stored password (of any format).
func (s *Store) HasCredential(ctx context.Context, userID int64) (bool, error) {
	var creds []string
	if err := s.q(ctx).Raw("SELECT credential FROM users WHERE id = ?", userID).Scan(&creds).Error; err != nil {
		return false, fmt.Errorf("user %d credential: %w", userID, err)
	}
	if len(creds) == 0 {
		return false, fmt.Errorf("user %d: %w", userID, ErrNotFound)
	}
	return creds[0] != "", nil
}

// UserMembershipExists reports whether the user is a direct member of the group.
func (s *Store) UserMembershipExists(ctx context.Context, userID, groupID int64) (bool, error) {
	var n int64
	err := s.q(ctx).Raw("SELECT COUNT(*) FROM user_memberships WHERE group_id = ? AND user_id = ?", groupID, userID).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("membership of user %d in group %d: %w", userID, groupID, err)
	}
	return n > 0, nil
}

// GroupMembershipExists reports whether child is a direct member (nested group) of parent.
func (s *Store) GroupMembershipExists(ctx context.Context, childID, parentID int64) (bool, error) {
	var n int64
	err := s.q(ctx).Raw("SELECT COUNT(*) FROM group_memberships WHERE parent_id = ? AND child_id = ?", parentID, childID).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("membership of group %d in group %d: %w", childID, parentID, err)
	}
	return n > 0, nil
}

// SetApplicationCredential stores an already encoded application credential (a Crowd import keeps
// the {PKCS5S2} hash Crowd held, so Jira keeps its application password). The value must be a format
// the store verifies; it is checked only for shape, never logged.
func (s *Store) SetApplicationCredential(ctx context.Context, id int64, cred string) error {
	if password.Format(cred) == "" {
		return fmt.Errorf("application credential is not in a format crowdgate verifies: %w", ErrInvalid)
	}
	return s.writeApplicationCredential(ctx, id, cred, "APPLICATION_CREDENTIAL_IMPORTED")
}

// ApplicationCredentialIs reports whether the application's stored credential is exactly cred (an
// encoded value, compared in constant time), so an importer can tell "still the imported hash" from
// "changed since".
func (s *Store) ApplicationCredentialIs(ctx context.Context, id int64, cred string) (bool, error) {
	var creds []string
	if err := s.q(ctx).Raw("SELECT credential FROM applications WHERE id = ?", id).Scan(&creds).Error; err != nil {
		return false, fmt.Errorf("application %d credential: %w", id, err)
	}
	if len(creds) == 0 {
		return false, fmt.Errorf("application %d: %w", id, ErrNotFound)
	}
	return subtle.ConstantTimeCompare([]byte(creds[0]), []byte(cred)) == 1, nil
}

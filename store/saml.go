package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Ways a SAML assertion can name a user (see UsersForAssertion).
const (
	SAMLByObjectID = "objectid" // the Entra object id: external_id of AZURE_AD users
	SAMLByName     = "name"     // the user name (NameID or UPN), case-insensitively
	SAMLByEmail    = "email"    // the e-mail address, case-insensitively
)

// maxAssertionIDLen bounds replay-cache keys; SAML IDs are short (Entra: "_" + GUID).
const maxAssertionIDLen = 512

// RememberAssertion records a consumed SAML assertion (or request) id until notOnOrAfter, in the
// table every instance shares, so a captured response cannot be replayed on any instance. It
// returns ErrExists (wrapped) when the id is already recorded and not yet expired. An id whose
// record has expired may be recorded again: by then the assertion's own validity has ended.
func (s *Store) RememberAssertion(ctx context.Context, id string, notOnOrAfter time.Time) error {
	if id == "" || len(id) > maxAssertionIDLen {
		return fmt.Errorf("saml assertion id of %d bytes: %w", len(id), ErrInvalid)
	}
	now := s.now()
	exp := notOnOrAfter.UTC().Truncate(time.Microsecond)
	if exp.Before(now.Add(time.Minute)) {
		// Keep even an (almost) expired id for a while: a clock a little behind the IdP's must
		// not reopen the window.
		exp = now.Add(time.Minute)
	}
	var n int64
	err := s.InTx(ctx, func(tx *Store) error {
		res := tx.q(ctx).Exec("INSERT INTO saml_assertions (id, expires_at) VALUES (?, ?) "+
			"ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE saml_assertions.expires_at <= ?",
			id, exp, now)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("remember saml assertion: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("saml assertion %q was already used: %w", id, ErrExists)
	}
	return nil
}

// PruneAssertions deletes expired replay-cache entries and reports how many went.
func (s *Store) PruneAssertions(ctx context.Context) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(tx *Store) error {
		res := tx.q(ctx).Exec("DELETE FROM saml_assertions WHERE expires_at <= ?", tx.now())
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("prune saml assertions: %w", err)
	}
	return n, nil
}

// UsersForAssertion returns the users of active directories that an assertion's value names,
// ordered by directory id, at most 10. by is SAMLByObjectID (only AZURE_AD directories: an
// object id means nothing elsewhere), SAMLByName or SAMLByEmail. Names and e-mail addresses
// match AZURE_AD users, and INTERNAL users too when includeInternal is set: by default a
// SAML login can never become a local (break-glass or service) account.
func (s *Store) UsersForAssertion(ctx context.Context, by, value string, includeInternal bool) ([]User, error) {
	if value == "" {
		return nil, nil
	}
	kinds := []string{DirectoryAzureAD}
	if includeInternal && by != SAMLByObjectID {
		kinds = append(kinds, DirectoryInternal)
	}
	var cond string
	var args []any
	switch by {
	case SAMLByObjectID:
		cond, args = "u.external_id IN ?", []any{dedupSorted([]string{value, strings.ToLower(value)})}
	case SAMLByName:
		cond, args = "u.lower_name = ?", []any{Lower(value)}
	case SAMLByEmail:
		cond, args = "u.lower_email = ?", []any{Lower(value)}
	default:
		return nil, fmt.Errorf("saml user lookup by %q: %w", by, ErrInvalid)
	}
	cols := strings.Split(userColumns, ", ")
	for i, c := range cols {
		cols[i] = "u." + c
	}
	var out []User
	err := s.q(ctx).Raw("SELECT "+strings.Join(cols, ", ")+" FROM users u JOIN directories d ON d.id = u.directory_id "+
		"WHERE d.active = ? AND d.kind IN ? AND "+cond+" ORDER BY u.directory_id, u.id LIMIT 10",
		append([]any{true, kinds}, args...)...).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("saml user lookup by %s: %w", by, err)
	}
	return out, nil
}

// UserInGroup reports whether u is a direct or nested member of the group named group
// (case-insensitively) in u's directory.
func (s *Store) UserInGroup(ctx context.Context, u User, group string) (bool, error) {
	names, err := s.userGroupNames(ctx, u.ID, true)
	if err != nil {
		return false, err
	}
	for _, n := range names {
		if Lower(n) == Lower(group) {
			return true, nil
		}
	}
	return false, nil
}

// SAMLStateKey returns the secret that signs SAML sign-in state cookies, created at random on
// first use and kept in the database, so that a login started on one instance can finish on
// another.
func (s *Store) SAMLStateKey(ctx context.Context) ([]byte, error) {
	return s.instanceKey(ctx, "saml_state_key")
}

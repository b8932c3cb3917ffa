package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/crowdgate/crowdgate/internal/totp"
	"github.com/crowdgate/crowdgate/secretbox"
)

// RecoveryCodes is how many recovery codes a confirmed enrolment gets.
const RecoveryCodes = 10

// totpSealName binds a sealed secret to its user: a sealed value copied to another user's row
// does not open.
func totpSealName(userID int64) string { return "user_totp:" + strconv.FormatInt(userID, 10) }

// StartTOTP begins (or restarts) u's enrolment with a new secret, stored encrypted with the
// setting sealer (as the instance keys are), and returns the secret for the authenticator app.
func (s *Store) StartTOTP(ctx context.Context, u User) (string, error) {
	secret := totp.NewSecret()
	if err := s.BeginTOTP(ctx, u, s.sealSetting(totpSealName(u.ID), secret)); err != nil {
		return "", err
	}
	return secret, nil
}

// TOTPSecret returns u's secret, opened, and whether the enrolment is confirmed; ErrNotFound
// when u has none.
func (s *Store) TOTPSecret(ctx context.Context, u User) (secret string, confirmed bool, err error) {
	f, err := s.UserTOTP(ctx, u.ID)
	if err != nil {
		return "", false, err
	}
	secret, err = s.openTOTP(u, f.Secret)
	return secret, f.ConfirmedAt != nil, err
}

func (s *Store) openTOTP(u User, stored string) (string, error) {
	if !secretbox.IsSealed(stored) {
		return stored, nil // stored without a secret key, as client secrets then are
	}
	if s.shared.sealer == nil {
		return "", fmt.Errorf("second factor of %q: encrypted, and no secret key is configured", u.Name)
	}
	plain, err := s.shared.sealer.OpenSetting(totpSealName(u.ID), stored)
	if err != nil {
		return "", fmt.Errorf("second factor of %q: %w", u.Name, err)
	}
	return plain, nil
}

// TOTPEnrolled reports whether u has a confirmed second factor.
func (s *Store) TOTPEnrolled(ctx context.Context, u User) (bool, error) {
	f, err := s.UserTOTP(ctx, u.ID)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil && f.ConfirmedAt != nil, err
}

// ConfirmTOTPCode completes u's pending enrolment with a first valid code and returns the
// recovery codes, to be shown once (only their hashes are kept). A wrong code is ErrBadCredential.
func (s *Store) ConfirmTOTPCode(ctx context.Context, u User, code string) ([]string, error) {
	f, err := s.UserTOTP(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if f.ConfirmedAt != nil {
		return nil, fmt.Errorf("user %q already has a second factor: %w", u.Name, ErrExists)
	}
	secret, err := s.openTOTP(u, f.Secret)
	if err != nil {
		return nil, err
	}
	step, err := totp.Validate(secret, code, s.now(), uint64(f.LastStep))
	if errors.Is(err, totp.ErrInvalid) {
		return nil, fmt.Errorf("the code does not match the new second factor of %q: %w", u.Name, ErrBadCredential)
	} else if err != nil {
		return nil, fmt.Errorf("second factor of %q: %w", u.Name, err)
	}
	codes := make([]string, RecoveryCodes)
	for i := range codes {
		codes[i] = newRecoveryCode()
	}
	if err := s.ConfirmTOTP(ctx, u, int64(step), codes); err != nil {
		return nil, err
	}
	return codes, nil
}

// VerifySecondFactor checks code, a current authenticator code or an unused recovery code, for u,
// who must have a confirmed second factor. A wrong, replayed or used code is ErrBadCredential and
// counts as a failed sign-in of the sending address, like a wrong password: six digits must not be
// guessable at the speed of requests once a password is known.
func (s *Store) VerifySecondFactor(ctx context.Context, u User, code string) error {
	done, err := s.loginAttempt(ctx)
	if err != nil {
		return fmt.Errorf("second factor of %q: %w", u.Name, err)
	}
	err = s.verifySecondFactor(ctx, u, code)
	done(err == nil)
	return err
}

func (s *Store) verifySecondFactor(ctx context.Context, u User, code string) error {
	f, err := s.UserTOTP(ctx, u.ID)
	if IsNotFound(err) || err == nil && f.ConfirmedAt == nil {
		return fmt.Errorf("user %q has no second factor: %w", u.Name, ErrBadCredential)
	} else if err != nil {
		return err
	}
	code = strings.TrimSpace(code)
	if len(strings.Join(strings.Fields(code), "")) != totp.Digits {
		return s.UseRecoveryCode(ctx, u, code)
	}
	secret, err := s.openTOTP(u, f.Secret)
	if err != nil {
		return err
	}
	step, err := totp.Validate(secret, code, s.now(), uint64(f.LastStep))
	if errors.Is(err, totp.ErrInvalid) {
		return fmt.Errorf("wrong or already used code of %q: %w", u.Name, ErrBadCredential)
	} else if err != nil {
		return fmt.Errorf("second factor of %q: %w", u.Name, err)
	}
	return s.UseTOTPStep(ctx, u, int64(step))
}

// LocalAdministratorsWithoutTOTP returns the names of the active internal-directory
// administrators who have no confirmed second factor (the console's banner).
func (s *Store) LocalAdministratorsWithoutTOTP(ctx context.Context) ([]string, error) {
	p, err := s.ProtectedObjects(ctx)
	if err != nil || len(p.Users) == 0 {
		return nil, err
	}
	ids := make([]int64, 0, len(p.Users))
	for id := range p.Users {
		ids = append(ids, id)
	}
	var names []string
	err = s.q(ctx).Raw("SELECT u.name FROM users u JOIN directories d ON d.id = u.directory_id "+
		"WHERE u.id IN ? AND u.active AND d.kind = ? AND d.active AND NOT EXISTS "+
		"(SELECT 1 FROM user_totp t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) ORDER BY u.lower_name",
		ids, DirectoryInternal).Scan(&names).Error
	if err != nil {
		return nil, fmt.Errorf("local administrators without a second factor: %w", err)
	}
	return names, nil
}

var b32Upper = base32.StdEncoding

// newRecoveryCode is 80 random bits as XXXX-XXXX-XXXX-XXXX in base32 (no 0/1/8/9 to misread).
func newRecoveryCode() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)             // never fails (crypto/rand)
	s := b32Upper.EncodeToString(b) // 16 characters, no padding
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

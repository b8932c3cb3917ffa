package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// TOTP is a user's second factor as stored: Secret as the caller sealed it.
type TOTP struct {
	UserID      int64
	Secret      string
	ConfirmedAt *time.Time // nil while enrolment awaits its first code
	LastStep    int64      // the last time step accepted
}

// TableName maps TOTP to its table.
func (TOTP) TableName() string { return "user_totp" }

// BeginTOTP starts (or restarts) the enrolment of u's second factor with a sealed secret. A
// confirmed factor is not replaced: it must be reset first (ResetTOTP), an audited act.
func (s *Store) BeginTOTP(ctx context.Context, u User, sealedSecret string) error {
	return s.InTx(ctx, func(tx *Store) error {
		var confirmed int64
		if err := tx.q(ctx).Raw("SELECT COUNT(*) FROM user_totp WHERE user_id = ? AND confirmed_at IS NOT NULL", u.ID).Scan(&confirmed).Error; err != nil {
			return fmt.Errorf("second factor of %q: %w", u.Name, err)
		}
		if confirmed > 0 {
			return fmt.Errorf("user %q already has a second factor; reset it first: %w", u.Name, ErrExists)
		}
		if err := tx.q(ctx).Exec("DELETE FROM user_totp WHERE user_id = ?", u.ID).Error; err != nil {
			return fmt.Errorf("second factor of %q: %w", u.Name, err)
		}
		if err := tx.q(ctx).Exec("INSERT INTO user_totp (user_id, secret, last_step, created_at) VALUES (?, ?, 0, ?)", u.ID, sealedSecret, tx.now()).Error; err != nil {
			return fmt.Errorf("second factor of %q: %w", u.Name, err)
		}
		return tx.audit(ctx, "TOTP_ENROLMENT_STARTED", "USER", u.Name, "")
	})
}

// UserTOTP returns u's second factor, ErrNotFound when there is none (pending or confirmed).
func (s *Store) UserTOTP(ctx context.Context, userID int64) (TOTP, error) {
	var rows []TOTP
	if err := s.q(ctx).Where("user_id = ?", userID).Limit(1).Find(&rows).Error; err != nil {
		return TOTP{}, fmt.Errorf("second factor of user %d: %w", userID, err)
	}
	if len(rows) == 0 {
		return TOTP{}, fmt.Errorf("second factor of user %d: %w", userID, ErrNotFound)
	}
	return rows[0], nil
}

// ConfirmTOTP completes an enrolment with the step of its first valid code and stores the
// recovery codes (hashed), replacing any earlier ones, in one transaction.
func (s *Store) ConfirmTOTP(ctx context.Context, u User, step int64, recoveryCodes []string) error {
	return s.InTx(ctx, func(tx *Store) error {
		res := tx.q(ctx).Exec("UPDATE user_totp SET confirmed_at = ?, last_step = ? WHERE user_id = ? AND confirmed_at IS NULL AND last_step < ?",
			tx.now(), step, u.ID, step)
		if res.Error != nil {
			return fmt.Errorf("second factor of %q: %w", u.Name, res.Error)
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("user %q has no second factor awaiting confirmation: %w", u.Name, ErrNotFound)
		}
		if err := tx.q(ctx).Exec("DELETE FROM user_recovery_codes WHERE user_id = ?", u.ID).Error; err != nil {
			return fmt.Errorf("recovery codes of %q: %w", u.Name, err)
		}
		for _, c := range recoveryCodes {
			if err := tx.q(ctx).Exec("INSERT INTO user_recovery_codes (user_id, code_hash) VALUES (?, ?)", u.ID, hashRecoveryCode(c)).Error; err != nil {
				return fmt.Errorf("recovery codes of %q: %w", u.Name, err)
			}
		}
		return tx.audit(ctx, "TOTP_ENROLLED", "USER", u.Name, fmt.Sprintf("%d recovery codes", len(recoveryCodes)))
	})
}

// UseTOTPStep records that u signed in with the code of step: refused (ErrBadCredential) when
// that step or a later one was used already, by this instance or another, so a code works once.
func (s *Store) UseTOTPStep(ctx context.Context, u User, step int64) error {
	res := s.q(ctx).Exec("UPDATE user_totp SET last_step = ? WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?", step, u.ID, step)
	if res.Error != nil {
		return fmt.Errorf("second factor of %q: %w", u.Name, res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("the code of %q was already used: %w", u.Name, ErrBadCredential)
	}
	return nil
}

// UseRecoveryCode spends one of u's recovery codes: ErrBadCredential when it is unknown or used.
func (s *Store) UseRecoveryCode(ctx context.Context, u User, code string) error {
	return s.InTx(ctx, func(tx *Store) error {
		res := tx.q(ctx).Exec("UPDATE user_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
			tx.now(), u.ID, hashRecoveryCode(code))
		if res.Error != nil {
			return fmt.Errorf("recovery code of %q: %w", u.Name, res.Error)
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("the recovery code of %q is not valid or was used: %w", u.Name, ErrBadCredential)
		}
		return tx.audit(ctx, "RECOVERY_CODE_USED", "USER", u.Name, "")
	})
}

// ResetTOTP removes u's second factor and recovery codes.
func (s *Store) ResetTOTP(ctx context.Context, u User) error {
	return s.InTx(ctx, func(tx *Store) error {
		for _, table := range []string{"user_recovery_codes", "user_totp"} {
			if err := tx.q(ctx).Exec("DELETE FROM "+table+" WHERE user_id = ?", u.ID).Error; err != nil {
				return fmt.Errorf("second factor of %q: %w", u.Name, err)
			}
		}
		return tx.audit(ctx, "TOTP_RESET", "USER", u.Name, "")
	})
}

// hashRecoveryCode hashes a recovery code ignoring case, spaces and dashes (as typed). The codes
// are random (80 bits), so a fast hash suffices.
func hashRecoveryCode(code string) string {
	norm := strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(code))
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:])
}

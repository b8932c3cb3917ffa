package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/internal/totp"
	"github.com/crowdgate/crowdgate/store"
)

// testTOTP: enrol with a first code, sign in with a code, a wrong code, the same code again (also
// through a second handle, as another instance would), and a recovery code used twice.
func testTOTP(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	ada := addUser(t, s, f.dir.ID, "ada")
	secret := totp.NewSecret()
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	if err := s.BeginTOTP(ctx, ada, "sealed:"+secret); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserTOTP(ctx, ada.ID)
	if err != nil || got.Secret != "sealed:"+secret || got.ConfirmedAt != nil {
		t.Fatalf("pending factor: %+v, %v", got, err)
	}
	wantErr(t, s.UseTOTPStep(ctx, ada, 1), store.ErrBadCredential) // not confirmed yet

	// Enrolment: the first code confirms it.
	code, _ := totp.Code(secret, now)
	step, err := totp.Validate(secret, code, now, uint64(got.LastStep))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmTOTP(ctx, ada, int64(step), []string{"ABCD-EFGH-IJ", "KLMN-OPQR-ST"}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.BeginTOTP(ctx, ada, "sealed:other"), store.ErrExists)

	// The enrolment code cannot sign in again; the next step's code can, once.
	later := now.Add(totp.Period)
	got, _ = s.UserTOTP(ctx, ada.ID)
	if _, err := totp.Validate(secret, code, now, uint64(got.LastStep)); err == nil {
		t.Error("the enrolment code was accepted again")
	}
	next, _ := totp.Code(secret, later)
	step2, err := totp.Validate(secret, next, later, uint64(got.LastStep))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseTOTPStep(ctx, ada, int64(step2)); err != nil {
		t.Fatalf("first use of a code: %v", err)
	}
	// Replayed: two sign-ins that both validated the same code against the old last step (two
	// instances at once): the store lets one through.
	wantErr(t, s.UseTOTPStep(ctx, ada, int64(step2)), store.ErrBadCredential)
	wantErr(t, s.UseTOTPStep(ctx, ada, int64(step)), store.ErrBadCredential)
	// A wrong code does not validate.
	if _, err := totp.Validate(secret, "000000", later.Add(totp.Period), uint64(step2)); err == nil && next != "000000" {
		t.Error("a wrong code validated")
	}

	// Recovery codes: each once, typed loosely.
	if err := s.UseRecoveryCode(ctx, ada, "abcd efgh ij"); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	wantErr(t, s.UseRecoveryCode(ctx, ada, "ABCD-EFGH-IJ"), store.ErrBadCredential)
	wantErr(t, s.UseRecoveryCode(ctx, ada, "ZZZZ-ZZZZ-ZZ"), store.ErrBadCredential)

	// Reset, then a new enrolment.
	if err := s.ResetTOTP(ctx, ada); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.UseRecoveryCode(ctx, ada, "KLMN-OPQR-ST"), store.ErrBadCredential)
	_, err = s.UserTOTP(ctx, ada.ID)
	wantErr(t, err, store.ErrNotFound)
	if err := s.BeginTOTP(ctx, ada, "sealed:new"); err != nil {
		t.Errorf("enrolment after a reset: %v", err)
	}
}

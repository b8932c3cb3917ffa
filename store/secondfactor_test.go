package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/internal/totp"
	"github.com/crowdgate/crowdgate/secretbox"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestSecondFactor: the secret is stored sealed and bound to its user; enrolment needs a right
// first code and yields recovery codes; sign-in takes a code once, refuses a wrong or replayed one
// and a used recovery code; the banner lists exactly the local administrators not enrolled.
func TestSecondFactor(t *testing.T) {
	st := storetest.New(t)
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
	sealWithNewKey(t, st)
	f := setup(t, st)
	admins := addGroup(t, st, f.dir.ID, "crowdgate-admins")
	if err := st.BindAdminGroup(ctx, admins.ID); err != nil {
		t.Fatal(err)
	}
	ada := addUser(t, st, f.dir.ID, "ada", admins.ID)
	bob := addUser(t, st, f.dir.ID, "bob", admins.ID)
	addUser(t, st, f.dir.ID, "carol") // not an administrator

	if got := storetest.Must(st.LocalAdministratorsWithoutTOTP(ctx)); !slices.Equal(got, []string{"ada", "bob"}) {
		t.Fatalf("not enrolled: %v, want [ada bob]", got)
	}
	secret, err := st.StartTOTP(ctx, ada)
	if err != nil {
		t.Fatal(err)
	}
	if row := storetest.Must(st.UserTOTP(ctx, ada.ID)); !secretbox.IsSealed(row.Secret) {
		t.Fatalf("the secret is stored in plain text: %q", row.Secret)
	} else {
		// Copied to another user's row, it does not open.
		if err := st.BeginTOTP(ctx, bob, row.Secret); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.TOTPSecret(ctx, bob); err == nil {
			t.Fatal("ada's sealed secret opened as bob's")
		}
	}
	if got, confirmed, err := st.TOTPSecret(ctx, ada); err != nil || got != secret || confirmed {
		t.Fatalf("pending secret: %q %v %v", got, confirmed, err)
	}
	wantErr(t, st.VerifySecondFactor(ctx, ada, storetest.Must(totp.Code(secret, time.Now()))), store.ErrBadCredential) // not confirmed

	wrong := "000000"
	if c, _ := totp.Code(secret, time.Now()); c == wrong {
		wrong = "111111"
	}
	_, err = st.ConfirmTOTPCode(ctx, ada, wrong)
	wantErr(t, err, store.ErrBadCredential)
	now := time.Now()
	codes, err := st.ConfirmTOTPCode(ctx, ada, storetest.Must(totp.Code(secret, now)))
	if err != nil || len(codes) != store.RecoveryCodes {
		t.Fatalf("confirm: %v, %d codes", err, len(codes))
	}
	if ok := storetest.Must(st.TOTPEnrolled(ctx, ada)); !ok {
		t.Fatal("ada not enrolled after confirmation")
	}
	if got := storetest.Must(st.LocalAdministratorsWithoutTOTP(ctx)); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("not enrolled after ada's enrolment: %v, want [bob]", got)
	}

	// The enrolment code is spent; the next step's code works once.
	wantErr(t, st.VerifySecondFactor(ctx, ada, storetest.Must(totp.Code(secret, now))), store.ErrBadCredential)
	next := storetest.Must(totp.Code(secret, now.Add(totp.Period)))
	if err := st.VerifySecondFactor(ctx, ada, next); err != nil {
		t.Fatalf("next code: %v", err)
	}
	wantErr(t, st.VerifySecondFactor(ctx, ada, next), store.ErrBadCredential)
	wantErr(t, st.VerifySecondFactor(ctx, ada, wrong), store.ErrBadCredential)

	// A recovery code, as typed (lower case, no dashes), works once.
	typed := strings.ToLower(strings.ReplaceAll(codes[3], "-", ""))
	if err := st.VerifySecondFactor(ctx, ada, typed); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	wantErr(t, st.VerifySecondFactor(ctx, ada, codes[3]), store.ErrBadCredential)
	wantErr(t, st.VerifySecondFactor(ctx, bob, codes[4]), store.ErrBadCredential) // ada's, not bob's
	if err := st.VerifySecondFactor(ctx, ada, codes[4]); err != nil {
		t.Fatalf("another recovery code: %v", err)
	}
}

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

package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
)

func TestCheckAdministratorPassword(t *testing.T) {
	for _, tc := range []struct{ pw, want string }{
		{"short-password", "at least 16 characters (this one has 14)"},
		{"passwordpassword", "common password"},
		{"Password12345678!", "common password"},
		{"!!P@ssw0rd2026!!!", "common password"},
		{"Administrator2026!", "common password"},
		{"p@ssw0rd-p@ssw0rd", "common password"},
		{"1234567890123456", "common password"},
		{"qwertyuiopasdfghjkl", "common password"},
		{"Correct Horse Battery Staple", "common password"},
		{"abcdabcdabcdabcdabcd", "repeats a short sequence"},
		{"zzzzzzzzzzzzzzzzzz", "repeats a short sequence"},
		{"ada-lovelace-engine-1843", "must not contain the user name"},
		{"violet tractor lantern 42", ""},
		{"Kx9#mQ2$vL7&pW4!", ""},
	} {
		err := store.CheckAdministratorPassword("Lovelace", tc.pw)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q refused: %v", tc.pw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v, want %q", tc.pw, err, tc.want)
		case err != nil && (!errors.Is(err, store.ErrPasswordPolicy) || !errors.Is(err, store.ErrInvalid)):
			t.Errorf("%q: %v does not wrap ErrPasswordPolicy and ErrInvalid", tc.pw, err)
		}
	}
}

// testAdminPasswordPolicy: every store path that sets the password of an administrator (by the
// configured rule) applies the administrators' policy; others get the internal directory's
// default minimum of 12 characters.
func testAdminPasswordPolicy(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	if f.dir.MinPasswordLen != store.DefaultMinPasswordLen {
		t.Errorf("internal directory minimum %d, want %d", f.dir.MinPasswordLen, store.DefaultMinPasswordLen)
	}
	admins := addGroup(t, s, f.dir.ID, "admins")
	if err := s.BindAdminGroup(store.WithActor(ctx, store.Actor{Kind: store.ActorSystem, Name: "test"}), admins.ID); err != nil {
		t.Fatal(err)
	}
	ada := addUser(t, s, f.dir.ID, "ada", admins.ID)
	bob := addUser(t, s, f.dir.ID, "bob")
	wantErr(t, s.SetPassword(ctx, bob.ID, "eleven-char"), store.ErrPasswordPolicy)
	if err := s.SetPassword(ctx, bob.ID, "twelve-chars"); err != nil {
		t.Errorf("a 12-character password for a user: %v", err)
	}
	err := s.SetPassword(ctx, ada.ID, "twelve-chars")
	if !errors.Is(err, store.ErrPasswordPolicy) || !strings.Contains(err.Error(), "an administrator's password must have at least 16 characters") {
		t.Errorf("a 12-character password for an administrator: %v", err)
	}
	err = s.SetPassword(ctx, ada.ID, "Welcome2026!!!!!!")
	if !errors.Is(err, store.ErrPasswordPolicy) || !strings.Contains(err.Error(), "common password") {
		t.Errorf("a common password for an administrator: %v", err)
	}
	if err := s.SetPassword(ctx, ada.ID, "violet tractor lantern 42"); err != nil {
		t.Errorf("a strong password for an administrator: %v", err)
	}
	err = s.SetCredential(ctx, ada.ID, "{PKCS5S2}c4xaeTQM0lUieMS3V5voiexyX9XhqC2dBd5ecVy60IPksHChwoTAVYFrhsgoq8/p")
	if !errors.Is(err, store.ErrPasswordPolicy) || !strings.Contains(err.Error(), "not imported as a hash") {
		t.Errorf("an imported hash for an administrator: %v", err)
	}
	if err := s.SetCredential(ctx, bob.ID, "{PKCS5S2}c4xaeTQM0lUieMS3V5voiexyX9XhqC2dBd5ecVy60IPksHChwoTAVYFrhsgoq8/p"); err != nil {
		t.Errorf("an imported hash for a user: %v", err)
	}
	if _, err := view(t, s, f.app).Authenticate(ctx, "ada", "violet tractor lantern 42"); err != nil {
		t.Errorf("the administrator's new password: %v", err)
	}
}

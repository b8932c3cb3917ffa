package password

import "testing"

// BenchmarkVerifyPKCS5S2 is the cost of checking an imported Crowd user,
// the bulk of logins right after a migration.
func BenchmarkVerifyPKCS5S2(b *testing.B) {
	const stored = "{PKCS5S2}c4xaeTQM0lUieMS3V5voiexyX9XhqC2dBd5ecVy60IPksHChwoTAVYFrhsgoq8/p"
	for b.Loop() {
		if ok, _, err := Verify(stored, "admin"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkHashArgon2id is the cost of hashing with DefaultParams, paid on
// every password change and once per upgraded legacy user.
func BenchmarkHashArgon2id(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyArgon2id is the steady-state login cost once users are
// upgraded.
func BenchmarkVerifyArgon2id(b *testing.B) {
	stored, err := Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := Verify(stored, "correct horse battery staple"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

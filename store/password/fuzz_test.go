package password

import (
	"encoding/base64"
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// FuzzVerify feeds arbitrary stored values and passwords to Verify. It must
// never panic, and its results must be self-consistent.
func FuzzVerify(f *testing.F) {
	for _, ka := range knownAnswers {
		f.Add(ka.stored, ka.plain)
	}
	f.Add("", "")
	f.Add("{PLAINTEXT}", "x")
	f.Add("{SSHA}ZQK3Yvtvl6wtIRoISgMGPkcWU7Nfq5U=", "test")
	f.Add("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe", "U*U")
	f.Add("$argon2id$v=19$m=16,t=2,p=1$bVI1aE1SaTV6SGQ3bzdXdw$", "123456")
	f.Add("{PKCS5S2}", "admin")

	f.Fuzz(func(t *testing.T, stored, plain string) {
		if slowToHash(stored) {
			return
		}
		format := Format(stored)
		ok, rehash, err := Verify(stored, plain)
		switch {
		case err != nil && (ok || rehash):
			t.Fatalf("Verify = %v, %v, %v: an error must come with false, false", ok, rehash, err)
		case err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownFormat):
			t.Fatalf("Verify error %v wraps neither sentinel", err)
		case rehash && !ok:
			t.Fatal("rehash without a successful check")
		case ok && (stored == "" || plain == ""):
			t.Fatal("empty stored value or password verified")
		case ok && format == "":
			t.Fatal("verified against an unknown format")
		case stored != "" && (format == "") != errors.Is(err, ErrUnknownFormat):
			t.Fatalf("Format = %q but Verify error = %v", format, err)
		case ok && format == FormatArgon2id && !rehash:
			if p, _, _, _ := parseArgon2id(stored); p != DefaultParams() {
				t.Fatal("no rehash for argon2id with non-default parameters")
			}
		}
	})
}

// slowToHash reports whether stored is well-formed enough that Verify would
// spend milliseconds or more hashing: a valid {PKCS5S2} payload (10,000
// PBKDF2 rounds), bcrypt above cost 4, argon2id above 64 KiB or 2 passes
// (the bounds allow up to 1 GiB and 20, by design). The fuzzer skips those:
// parsing, where a panic could hide, has already happened by then, the
// hashing itself is covered by the known-answer tests, and at milliseconds
// per input the fuzzer's minimisation step would stall a 20-second run.
func slowToHash(stored string) bool {
	format, payload := detect(stored)
	switch format {
	case FormatPKCS5S2:
		raw, err := base64.StdEncoding.DecodeString(payload)
		return err == nil && len(raw) == pkcs5s2SaltLen+pkcs5s2KeyLen
	case FormatBcrypt:
		cost, err := bcrypt.Cost([]byte(stored))
		return err == nil && cost > 4
	case FormatArgon2id:
		p, _, _, err := parseArgon2id(stored)
		return err == nil && (p.Memory > 64 || p.Time > 2)
	}
	return false
}

package totp

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"strings"
	"testing"
	"time"
)

// hashes by RFC 6238 name: the RFC's vectors also cover SHA-256 and SHA-512.
var hashes = map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}

// TestRFC6238Vectors: the test vectors of RFC 6238, Appendix B (8 digits, three hashes).
func TestRFC6238Vectors(t *testing.T) {
	seeds := map[string]string{
		"SHA1":   "12345678901234567890",
		"SHA256": "12345678901234567890123456789012",
		"SHA512": "1234567890123456789012345678901234567890123456789012345678901234",
	}
	for _, v := range []struct {
		unix int64
		want map[string]string
	}{
		{59, map[string]string{"SHA1": "94287082", "SHA256": "46119246", "SHA512": "90693936"}},
		{1111111109, map[string]string{"SHA1": "07081804", "SHA256": "68084774", "SHA512": "25091201"}},
		{1111111111, map[string]string{"SHA1": "14050471", "SHA256": "67062674", "SHA512": "99943326"}},
		{1234567890, map[string]string{"SHA1": "89005924", "SHA256": "91819424", "SHA512": "93441116"}},
		{2000000000, map[string]string{"SHA1": "69279037", "SHA256": "90698825", "SHA512": "38618901"}},
		{20000000000, map[string]string{"SHA1": "65353130", "SHA256": "77737706", "SHA512": "47863826"}},
	} {
		for alg, want := range v.want {
			if got := hotp(hashes[alg], []byte(seeds[alg]), Step(time.Unix(v.unix, 0)), 8); got != want {
				t.Errorf("%s at %d: %s, want %s", alg, v.unix, got, want)
			}
		}
	}
	// The same through the public API, 6 digits: the last six of the SHA1 vector.
	secret := b32.EncodeToString([]byte(seeds["SHA1"]))
	if got, err := Code(strings.ToLower(secret), time.Unix(59, 0)); err != nil || got != "287082" {
		t.Errorf("Code = %s, %v; want 287082", got, err)
	}
}

func TestValidate(t *testing.T) {
	secret := NewSecret()
	now := time.Date(2026, 12, 6, 21, 0, 10, 0, time.UTC)
	code, _ := Code(secret, now)
	step, err := Validate(secret, code, now, 0)
	if err != nil || step != Step(now) {
		t.Fatalf("Validate = %d, %v", step, err)
	}
	// Replayed: the step is used.
	if _, err := Validate(secret, code, now, step); !errors.Is(err, ErrInvalid) {
		t.Errorf("replayed code: %v", err)
	}
	// One step of drift either way is accepted, two are not.
	prev, _ := Code(secret, now.Add(-Period))
	if _, err := Validate(secret, prev, now, 0); err != nil {
		t.Errorf("previous step: %v", err)
	}
	old, _ := Code(secret, now.Add(-2*Period))
	if _, err := Validate(secret, old, now, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("two steps old: %v", err)
	}
	// An earlier step than the last used one is refused too.
	if _, err := Validate(secret, prev, now, step); !errors.Is(err, ErrInvalid) {
		t.Errorf("an earlier step after a later one: %v", err)
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, err := Validate(secret, bad, now, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("code %q: %v", bad, err)
		}
	}
	if u := URI("crowdgate", "ada", secret); !strings.HasPrefix(u, "otpauth://totp/crowdgate:ada?") || !strings.Contains(u, "secret="+secret) {
		t.Errorf("URI %s", u)
	}
}

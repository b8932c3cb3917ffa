package password

import (
	"errors"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cheap are parameters small enough for tests; Verify treats them as
// not current, which the rehash tests rely on.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashDefault(t *testing.T) {
	stored, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(stored) {
		t.Fatalf("Hash = %q, not a PHC string with the default parameters", stored)
	}
	ok, rehash, err := Verify(stored, "correct horse battery staple")
	if !ok || rehash || err != nil {
		t.Errorf("Verify(own hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	ok, rehash, err = Verify(stored, "correct horse battery stapler")
	if ok || rehash || err != nil {
		t.Errorf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}
}

func TestHashWithRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		params Params
	}{
		{"cheap", cheap},
		{"two lanes", Params{Memory: 64, Time: 2, Threads: 2, SaltLen: 8, KeyLen: 16}},
		{"long key and salt", Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 64, KeyLen: 128}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stored, err := HashWith("pässword", tc.params)
			if err != nil {
				t.Fatal(err)
			}
			p, salt, key, err := parseArgon2id(stored)
			if err != nil {
				t.Fatalf("parseArgon2id(%q): %v", stored, err)
			}
			if diff := cmp.Diff(tc.params, p); diff != "" {
				t.Errorf("params read back differ (-want +got):\n%s", diff)
			}
			if len(salt) != int(tc.params.SaltLen) || len(key) != int(tc.params.KeyLen) {
				t.Errorf("salt/key lengths = %d/%d", len(salt), len(key))
			}
			// Not DefaultParams, so a successful check asks for a rehash.
			ok, rehash, err := Verify(stored, "pässword")
			if !ok || !rehash || err != nil {
				t.Errorf("Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			if ok, _, _ := Verify(stored, "password"); ok {
				t.Error("Verify accepted a different password")
			}
		})
	}
}

func TestHashSaltsDiffer(t *testing.T) {
	a, err := HashWith("same", cheap)
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashWith("same", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("two hashes of the same password are identical: %q", a)
	}
}

func TestHashWithRejects(t *testing.T) {
	tests := []struct {
		name   string
		plain  string
		params Params
	}{
		{"zero params", "pw", Params{}},
		{"memory below 8 KiB per lane", "pw", Params{Memory: 15, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}},
		{"memory above 1 GiB", "pw", Params{Memory: 1<<20 + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"too many passes", "pw", Params{Memory: 64, Time: 21, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"too many lanes", "pw", Params{Memory: 1024, Time: 1, Threads: 17, SaltLen: 16, KeyLen: 32}},
		{"short salt", "pw", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 7, KeyLen: 32}},
		{"short key", "pw", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 15}},
		{"long key", "pw", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 129}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := HashWith(tc.plain, tc.params); err == nil {
				t.Errorf("HashWith = %q, nil; want an error", got)
			}
		})
	}
	if _, err := Hash(""); !errors.Is(err, ErrEmptyPassword) {
		t.Errorf("Hash(\"\") error = %v, want ErrEmptyPassword", err)
	}
}

func TestRehash(t *testing.T) {
	def := DefaultParams()
	current, err := HashWith("pw", def)
	if err != nil {
		t.Fatal(err)
	}
	// Any parameter that differs from DefaultParams makes a successful
	// check ask for a rehash.
	variants := map[string]Params{
		"more memory":  {Memory: def.Memory + 8, Time: def.Time, Threads: def.Threads, SaltLen: def.SaltLen, KeyLen: def.KeyLen},
		"fewer passes": {Memory: def.Memory, Time: 1, Threads: def.Threads, SaltLen: def.SaltLen, KeyLen: def.KeyLen},
		"shorter salt": {Memory: def.Memory, Time: def.Time, Threads: def.Threads, SaltLen: 8, KeyLen: def.KeyLen},
		"shorter key":  {Memory: def.Memory, Time: def.Time, Threads: def.Threads, SaltLen: def.SaltLen, KeyLen: 16},
	}
	for name, p := range variants {
		t.Run(name, func(t *testing.T) {
			stored, err := HashWith("pw", p)
			if err != nil {
				t.Fatal(err)
			}
			if ok, rehash, err := Verify(stored, "pw"); !ok || !rehash || err != nil {
				t.Errorf("Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
		})
	}
	if ok, rehash, err := Verify(current, "pw"); !ok || rehash || err != nil {
		t.Errorf("Verify(current) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	// A wrong password never asks for a rehash, even for a legacy format.
	if _, rehash, _ := Verify("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "nope"); rehash {
		t.Error("rehash requested for a failed check")
	}
}

func TestDefaultParamsIsACopy(t *testing.T) {
	p := DefaultParams()
	p.Memory = 1
	if DefaultParams().Memory == 1 {
		t.Error("changing a returned Params changed DefaultParams")
	}
}

func TestParseArgon2idKnown(t *testing.T) {
	// zitadel/passwap's reference-CLI vector: salt is "randomsaltishard".
	p, salt, _, err := parseArgon2id("$argon2id$v=19$m=4096,t=3,p=1$cmFuZG9tc2FsdGlzaGFyZA$DYojYpnUWSMmTtrkVXyaNWVGxLmGe1n8VJBPDdFkbjU")
	if err != nil {
		t.Fatal(err)
	}
	want := Params{Memory: 4096, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("params (-want +got):\n%s", diff)
	}
	if got := string(salt); got != "randomsaltishard" {
		t.Errorf("salt = %q", got)
	}
}

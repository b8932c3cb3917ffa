package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2id is the scheme for every password crowdgate hashes itself. Values
// are PHC strings, the format of the reference implementation, libsodium
// and most libraries, so they stay portable:
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<b64 salt>$<b64 key>
//
// with unpadded standard base64.

const argon2idPrefix = "$argon2id$"

// Bounds on parameters, checked both when hashing and when reading a stored
// value: a stored value chooses its own cost, so without limits one hostile
// row could demand gigabytes or minutes per check. The maxima still admit
// libsodium's "sensitive" preset (1 GiB).
const (
	maxArgonMemory  = 1 << 20 // KiB, i.e. 1 GiB
	maxArgonTime    = 20
	maxArgonThreads = 16
	minArgonSalt    = 8 // the Argon2 specification's minimum
	maxArgonSalt    = 64
	minArgonKey     = 16
	maxArgonKey     = 128
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // memory in KiB
	Time    uint32 // number of passes
	Threads uint8  // lanes; also the parallelism Go uses
	SaltLen uint32 // random salt length in bytes
	KeyLen  uint32 // derived key length in bytes
}

// DefaultParams returns the parameters Hash uses and Verify treats as
// current: 19 MiB, 2 passes, 1 lane (OWASP's minimum argon2id
// configuration), 16-byte salt, 32-byte key. It is a function rather than a
// variable so no caller can change what "current" means for the whole
// process; tests that want cheap hashes use HashWith.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// validate checks p against the bounds above.
func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxArgonTime:
		return fmt.Errorf("t=%d outside [1, %d]", p.Time, maxArgonTime)
	case p.Threads < 1 || p.Threads > maxArgonThreads:
		return fmt.Errorf("p=%d outside [1, %d]", p.Threads, maxArgonThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgonMemory:
		// The specification requires at least 8 KiB per lane; x/crypto would
		// silently raise a smaller value and compute a different key.
		return fmt.Errorf("m=%d outside [%d, %d]", p.Memory, 8*uint32(p.Threads), maxArgonMemory)
	case p.SaltLen < minArgonSalt || p.SaltLen > maxArgonSalt:
		return fmt.Errorf("salt length %d outside [%d, %d]", p.SaltLen, minArgonSalt, maxArgonSalt)
	case p.KeyLen < minArgonKey || p.KeyLen > maxArgonKey:
		return fmt.Errorf("key length %d outside [%d, %d]", p.KeyLen, minArgonKey, maxArgonKey)
	}
	return nil
}

// HashWith hashes plain with argon2id and the given parameters. Production
// code uses Hash; HashWith exists so tests can use cheap parameters, and
// for a deliberate parameter change (Verify will then ask to rehash values
// that do not match DefaultParams).
func HashWith(plain string, p Params) (string, error) {
	if plain == "" {
		return "", ErrEmptyPassword
	}
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("password: argon2id params: %s", err)
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt) // never fails: crypto/rand aborts the program instead
	key := argon2.IDKey([]byte(plain), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argon2idPrefix, argon2.Version,
		p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key)), nil
}

// verifyArgon2id checks plain against a PHC argon2id string. current is
// true when the value uses exactly DefaultParams.
func verifyArgon2id(stored, plain string) (ok, current bool, err error) {
	p, salt, want, err := parseArgon2id(stored)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(plain), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, p == DefaultParams(), nil
}

// parseArgon2id splits a PHC argon2id string and bounds its parameters.
// Only version 19 (0x13) is accepted: it is the only one x/crypto computes,
// and the version field is mandatory in every encoder that writes v=19.
func parseArgon2id(stored string) (p Params, salt, key []byte, err error) {
	bad := func(reason string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, malformed(FormatArgon2id, reason)
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	parts := strings.Split(stored, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("want 5 '$'-separated fields")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return bad("want parameters m, t, p")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		s, found := strings.CutPrefix(kv[i], name)
		if !found {
			return bad("want parameters m, t, p in that order")
		}
		// ParseUint accepts no sign and no spaces; bitSize 32 rejects huge
		// values before the bounds check below.
		v, perr := strconv.ParseUint(s, 10, 32)
		if perr != nil {
			return bad("parameter " + name + " is not a number")
		}
		vals[i] = v
	}
	if vals[2] > maxArgonThreads {
		return bad("p above maximum")
	}
	// Length checks before decoding keep a huge field from being decoded.
	if len(parts[4]) > base64.RawStdEncoding.EncodedLen(maxArgonSalt) {
		return bad("salt too long")
	}
	if len(parts[5]) > base64.RawStdEncoding.EncodedLen(maxArgonKey) {
		return bad("key too long")
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return bad("invalid base64 salt")
	}
	if key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil {
		return bad("invalid base64 key")
	}
	p = Params{
		Memory:  uint32(vals[0]),
		Time:    uint32(vals[1]),
		Threads: uint8(vals[2]),
		SaltLen: uint32(len(salt)),
		KeyLen:  uint32(len(key)),
	}
	if verr := p.validate(); verr != nil {
		return bad(verr.Error())
	}
	return p, salt, key, nil
}

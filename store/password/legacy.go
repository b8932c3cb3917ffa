package password

import (
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/bcrypt"
)

// Formats crowdgate only verifies, never writes: everything Crowd (or an
// LDAP directory behind it) may have stored for an imported user.

const (
	// Crowd's "atlassian-security" encoder: PBKDF2-HMAC-SHA1 with a 16-byte
	// salt, 10,000 iterations and a 32-byte key, stored as
	// "{PKCS5S2}" + base64(salt || key).
	pkcs5s2SaltLen = 16
	pkcs5s2KeyLen  = 32
	pkcs5s2Iter    = 10000

	// base64 of a 64-byte SHA-512 digest is 88 characters ending in "==".
	atlassianSHA1Len = 88

	// Salt bounds for {SSHA}-style values. Four bytes is the smallest salt
	// OpenLDAP's slappasswd writes and passlib accepts; anything shorter is
	// treated as corruption rather than a weaker hash. The upper bound only
	// keeps a hostile value from being arbitrarily long.
	minDigestSalt = 4
	maxDigestSalt = 64

	// bcrypt values are always 60 characters; costs above 16 (about four
	// seconds each on current hardware) are refused so that one stored
	// value cannot pin a worker for minutes (x/crypto allows up to 31).
	bcryptLen     = 60
	maxBcryptCost = 16
)

func malformed(format, reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, format, reason)
}

// decodeStd decodes padded standard base64, the encoding Crowd (commons-codec)
// and OpenLDAP both write. The error never quotes the stored value.
func decodeStd(format, s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, malformed(format, "invalid base64")
	}
	return b, nil
}

func verifyPKCS5S2(payload, plain string) (bool, error) {
	raw, err := decodeStd(FormatPKCS5S2, payload)
	if err != nil {
		return false, err
	}
	if len(raw) != pkcs5s2SaltLen+pkcs5s2KeyLen {
		return false, malformed(FormatPKCS5S2, fmt.Sprintf("decoded length %d, want %d", len(raw), pkcs5s2SaltLen+pkcs5s2KeyLen))
	}
	salt, want := raw[:pkcs5s2SaltLen], raw[pkcs5s2SaltLen:]
	// Atlassian's encoder feeds the password to PBKDF2 as UTF-8, which is
	// what a Go string holds.
	got, err := pbkdf2.Key(sha1.New, plain, salt, pkcs5s2Iter, pkcs5s2KeyLen)
	if err != nil {
		// Only possible when the runtime refuses SHA-1 (FIPS 140-only mode).
		return false, fmt.Errorf("password: %s: %w", FormatPKCS5S2, err)
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// verifyAtlassianSHA1 checks Crowd's legacy "atlassian-sha1" value (from
// OSUser): base64(SHA-512(password)), unsalted, despite the name. Crowd
// converted the password with the JVM's platform encoding; we use UTF-8,
// which matches every ASCII password and any Crowd that ran with a UTF-8
// default charset.
func verifyAtlassianSHA1(payload, plain string) (bool, error) {
	want, err := decodeStd(FormatAtlassianSHA1, payload)
	if err != nil {
		return false, err
	}
	if len(want) != sha512.Size {
		return false, malformed(FormatAtlassianSHA1, "decoded length is not 64")
	}
	got := sha512.Sum512([]byte(plain))
	return subtle.ConstantTimeCompare(got[:], want) == 1, nil
}

// verifyDigest checks the RFC 2307 / OpenLDAP family: "{SHA}" etc. are
// base64(H(password)); the salted "{SSHA}" etc. are base64(H(password ||
// salt) || salt) with the salt length implied by the decoded length.
func verifyDigest(format, payload, plain string) (bool, error) {
	var newHash func() hash.Hash
	salted := false
	switch format {
	case FormatMD5:
		newHash = md5.New
	case FormatSHA:
		newHash = sha1.New
	case FormatSHA256:
		newHash = sha256.New
	case FormatSHA512:
		newHash = sha512.New
	case FormatSSHA:
		newHash, salted = sha1.New, true
	case FormatSSHA256:
		newHash, salted = sha256.New, true
	case FormatSSHA512:
		newHash, salted = sha512.New, true
	default:
		return false, ErrUnknownFormat
	}
	raw, err := decodeStd(format, payload)
	if err != nil {
		return false, err
	}
	h := newHash()
	size := h.Size()
	var salt []byte
	if salted {
		n := len(raw) - size
		if n < minDigestSalt || n > maxDigestSalt {
			return false, malformed(format, fmt.Sprintf("salt length %d outside [%d, %d]", n, minDigestSalt, maxDigestSalt))
		}
		salt = raw[size:]
	} else if len(raw) != size {
		return false, malformed(format, fmt.Sprintf("decoded length %d, want %d", len(raw), size))
	}
	h.Write([]byte(plain))
	h.Write(salt)
	return subtle.ConstantTimeCompare(h.Sum(nil), raw[:size]) == 1, nil
}

func verifyBcrypt(stored, plain string) (bool, error) {
	if len(stored) != bcryptLen {
		return false, malformed(FormatBcrypt, fmt.Sprintf("length %d, want %d", len(stored), bcryptLen))
	}
	cost, err := bcrypt.Cost([]byte(stored))
	if err != nil {
		return false, malformed(FormatBcrypt, "invalid cost")
	}
	if cost > maxBcryptCost {
		return false, malformed(FormatBcrypt, fmt.Sprintf("cost %d above %d", cost, maxBcryptCost))
	}
	// bcrypt only reads the first 72 bytes of the password, like every other
	// implementation, so long passwords hashed elsewhere still verify.
	switch err := bcrypt.CompareHashAndPassword([]byte(stored), []byte(plain)); {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, malformed(FormatBcrypt, "undecodable salt or hash")
	}
}

// verifyPlaintext compares an explicitly marked {PLAINTEXT} credential.
// Both sides are hashed first so the comparison time does not reveal the
// stored length. An empty stored password never matches.
func verifyPlaintext(payload, plain string) bool {
	if payload == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(payload)), sha256.Sum256([]byte(plain))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

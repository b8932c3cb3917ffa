package password

import (
	"errors"
	"strings"
)

// Errors of this package, to be matched with errors.Is. For Verify, a wrong
// password is not an error: it is ok=false with a nil error, so callers can
// tell "bad credential in the database" (worth logging) from "user typed the
// wrong password".
var (
	// ErrMalformed means the stored value claims a known format but cannot
	// be decoded (bad base64, wrong length, out-of-bounds parameters, ...).
	ErrMalformed = errors.New("password: malformed stored credential")
	// ErrUnknownFormat means the stored value matches no supported format.
	ErrUnknownFormat = errors.New("password: unknown stored credential format")
	// ErrEmptyPassword is returned by Hash for an empty password: Verify
	// never accepts one, so hashing it would only store a dead credential.
	ErrEmptyPassword = errors.New("password: empty password")
)

// Format names reported by Format. They match the names Crowd uses for its
// encoders where Crowd has one, so import reports read familiarly.
const (
	FormatPKCS5S2       = "PKCS5S2"        // {PKCS5S2}: Crowd "atlassian-security"
	FormatAtlassianSHA1 = "ATLASSIAN-SHA1" // bare base64 SHA-512: Crowd "atlassian-sha1"
	FormatSSHA          = "SSHA"
	FormatSSHA256       = "SSHA256"
	FormatSSHA512       = "SSHA512"
	FormatSHA           = "SHA"
	FormatSHA256        = "SHA256"
	FormatSHA512        = "SHA512"
	FormatMD5           = "MD5"
	FormatBcrypt        = "BCRYPT"
	FormatArgon2id      = "ARGON2ID"
	FormatPlaintext     = "PLAINTEXT"
)

// braceFormats are the "{NAME}payload" formats. The name is matched
// case-insensitively (ASCII only) because LDAP tools and Crowd exports
// disagree on case.
var braceFormats = []string{
	FormatPKCS5S2, FormatSSHA, FormatSSHA256, FormatSSHA512,
	FormatSHA, FormatSHA256, FormatSHA512, FormatMD5, FormatPlaintext,
}

// Format returns the name of the scheme stored appears to use (one of the
// Format* constants), or "" if it matches none. It looks only at the shape
// of the value, so a detected format may still turn out malformed in Verify.
func Format(stored string) string {
	f, _ := detect(stored)
	return f
}

// detect returns the format of stored and the part of it the format's
// verifier needs (the payload after a {NAME} marker, else the whole value).
func detect(stored string) (format, payload string) {
	switch {
	case strings.HasPrefix(stored, "{"):
		end := strings.IndexByte(stored, '}')
		if end < 0 {
			return "", ""
		}
		name := stored[1:end]
		for _, f := range braceFormats {
			if equalFoldASCII(name, f) {
				return f, stored[end+1:]
			}
		}
		return "", ""
	case strings.HasPrefix(stored, argon2idPrefix):
		return FormatArgon2id, stored
	case strings.HasPrefix(stored, "$2a$"),
		strings.HasPrefix(stored, "$2b$"),
		strings.HasPrefix(stored, "$2y$"):
		return FormatBcrypt, stored
	case len(stored) == atlassianSHA1Len && strings.HasSuffix(stored, "=="):
		// Crowd stores atlassian-sha1 values without a marker; the shape
		// (base64 of exactly 64 bytes) is the only clue. Plaintext is never
		// guessed this way: it needs its explicit {PLAINTEXT} marker.
		return FormatAtlassianSHA1, stored
	}
	return "", ""
}

// Verify reports whether plain is the password stored describes.
//
// rehash is true when ok and stored is not argon2id with DefaultParams, so
// the caller should store Hash(plain) in its place. err is non-nil only
// when stored is malformed (ErrMalformed) or of an unknown format
// (ErrUnknownFormat); a wrong password is ok=false, err=nil. An empty
// stored credential (or "{PLAINTEXT}" with nothing after it) never
// verifies and is not an error, because users without a local password
// (SSO-only, synced) legitimately have one. An empty plain password never
// verifies either, whatever is stored: an empty password is never a
// credential, and refusing it early costs no hashing.
//
// Comparisons are constant-time in the secret data.
func Verify(stored, plain string) (ok, rehash bool, err error) {
	if stored == "" {
		return false, false, nil
	}
	format, payload := detect(stored)
	if format == "" {
		return false, false, ErrUnknownFormat
	}
	if plain == "" {
		return false, false, nil
	}
	switch format {
	case FormatPKCS5S2:
		ok, err = verifyPKCS5S2(payload, plain)
	case FormatAtlassianSHA1:
		ok, err = verifyAtlassianSHA1(payload, plain)
	case FormatSSHA, FormatSSHA256, FormatSSHA512, FormatSHA, FormatSHA256, FormatSHA512, FormatMD5:
		ok, err = verifyDigest(format, payload, plain)
	case FormatBcrypt:
		ok, err = verifyBcrypt(payload, plain)
	case FormatPlaintext:
		ok = verifyPlaintext(payload, plain)
	case FormatArgon2id:
		var current bool
		ok, current, err = verifyArgon2id(payload, plain)
		return ok, ok && !current, err
	}
	if err != nil {
		return false, false, err
	}
	return ok, ok, nil
}

// Hash hashes plain with argon2id and DefaultParams, returning a PHC string
// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>") that Verify accepts with
// rehash=false.
func Hash(plain string) (string, error) {
	return HashWith(plain, DefaultParams())
}

// equalFoldASCII is strings.EqualFold restricted to ASCII, so that e.g. the
// Kelvin sign or long s cannot spell a scheme name.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'a' <= ca && ca <= 'z' {
			ca -= 'a' - 'A'
		}
		if 'a' <= cb && cb <= 'z' {
			cb -= 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

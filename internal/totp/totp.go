// Package totp implements time-based one-time passwords (RFC 6238, HOTP of RFC 4226 over 30-second
// steps), the second factor of local administrators: 6 digits, HMAC-SHA1, as every authenticator
// app accepts. It keeps no state: the caller stores the last accepted step so a code is used once.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"time"
)

const (
	// Period is the length of a step.
	Period = 30 * time.Second
	// Digits is the length of a code.
	Digits = 6
	// Skew is how many steps before and after the current one are accepted (clock drift, typing time).
	Skew = 1
	// SecretSize is the size of a new secret in bytes (RFC 4226 recommends at least 160 bits).
	SecretSize = 20
)

// ErrInvalid: the code is malformed, wrong, or was already used.
var ErrInvalid = errors.New("the code is not valid")

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a random secret, base32 without padding as authenticator apps take it.
func NewSecret() string {
	b := make([]byte, SecretSize)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b32.EncodeToString(b)
}

// decode accepts the base32 secret with or without padding, spaces and lower case.
func decode(secret string) ([]byte, error) {
	s := strings.ToUpper(strings.Join(strings.Fields(secret), ""))
	key, err := b32.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("totp: the secret is not base32")
	}
	return key, nil
}

// hotp is RFC 4226's HOTP value of key at counter, with the given hash, as digits decimal digits.
func hotp(h func() hash.Hash, key []byte, counter uint64, digits int) string {
	mac := hmac.New(h, key)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// Step is the RFC 6238 time step of t.
func Step(t time.Time) uint64 { return uint64(t.Unix()) / uint64(Period/time.Second) }

// Code returns the code of secret at t (for tests and enrolment checks).
func Code(secret string, t time.Time) (string, error) {
	key, err := decode(secret)
	if err != nil {
		return "", err
	}
	return hotp(sha1.New, key, Step(t), Digits), nil
}

// Validate checks code against secret at now, within Skew steps, refusing steps up to and
// including lastStep (already used). It returns the step matched, for the caller to store as the
// new lastStep: each code is accepted once.
func Validate(secret, code string, now time.Time, lastStep uint64) (uint64, error) {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != Digits {
		return 0, ErrInvalid
	}
	key, err := decode(secret)
	if err != nil {
		return 0, err
	}
	cur := Step(now)
	var match uint64
	found := 0
	for d := -Skew; d <= Skew; d++ {
		s := cur + uint64(d)
		if d < 0 && cur < uint64(-d) {
			continue
		}
		// Compare every candidate, in constant time, whatever matched before.
		if subtle.ConstantTimeCompare([]byte(hotp(sha1.New, key, s, Digits)), []byte(code)) == 1 && found == 0 {
			match, found = s, 1
		}
	}
	if found == 0 || match <= lastStep {
		return 0, ErrInvalid
	}
	return match, nil
}

// URI is the otpauth:// URI an authenticator app reads from a QR code.
func URI(issuer, account, secret string) string {
	label := url.PathEscape(issuer + ":" + account)
	q := url.Values{"secret": {secret}, "issuer": {issuer}, "algorithm": {"SHA1"}, "digits": {fmt.Sprint(Digits)},
		"period": {fmt.Sprint(int(Period / time.Second))}}
	return "otpauth://totp/" + label + "?" + q.Encode()
}

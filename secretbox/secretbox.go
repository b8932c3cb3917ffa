// Package secretbox encrypts the secrets crowdgate keeps in its database (Entra ID client secrets)
// with AES-256-GCM under a key from configuration. A sealed value is self-describing,
// "enc:v1:<key id>:<base64(nonce|ciphertext)>", so a key ring of the current and previous keys
// opens values sealed before a rotation and tells which ones still need sealing again.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// prefix starts every sealed value; the version names the format and algorithm.
const prefix = "enc:v1:"

var (
	// ErrUnknownKey means the value was sealed with a key that is not in the ring.
	ErrUnknownKey = errors.New("sealed with a key that is not configured")
	// ErrDecrypt means the key is known but the value does not authenticate: corrupted, or moved
	// to another object than the one it was sealed for.
	ErrDecrypt = errors.New("does not decrypt with the configured key")
	// ErrFormat means the value starts like a sealed one but is malformed.
	ErrFormat = errors.New("is not a well-formed sealed value")
)

// Box seals with its current key and opens with any of its keys. It is safe for concurrent use.
type Box struct {
	current string // id of the current key
	aeads   map[string]cipher.AEAD
}

// New returns a Box sealing with current and opening with current and previous (older keys kept
// for a rotation until every value has been sealed again).
func New(current []byte, previous ...[]byte) (*Box, error) {
	b := &Box{aeads: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{current}, previous...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secretbox: key %d has %d bytes, want %d", i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		id := KeyID(k)
		if i == 0 {
			b.current = id
		}
		if _, dup := b.aeads[id]; !dup {
			b.aeads[id] = aead
		}
	}
	return b, nil
}

// KeyID names a key in sealed values without revealing it: a truncated HMAC of a fixed label.
func KeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("crowdgate secretbox key id"))
	return hex.EncodeToString(m.Sum(nil)[:6])
}

// CurrentKeyID is the id of the key Seal uses.
func (b *Box) CurrentKeyID() string { return b.current }

// Seal encrypts plaintext for the object named by aad (e.g. "directory 7 client_secret"): the value
// opens only with the same aad, so it cannot be copied to another object.
func (b *Box) Seal(plaintext, aad string) (string, error) {
	aead := b.aeads[b.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secretbox: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return prefix + b.current + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value Seal returned for the same aad.
func (b *Box) Open(sealed, aad string) (string, error) {
	id, data, err := split(sealed)
	if err != nil {
		return "", err
	}
	aead, ok := b.aeads[id]
	if !ok {
		return "", fmt.Errorf("secret %w (key id %s)", ErrUnknownKey, id)
	}
	if len(data) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("secret %w: too short", ErrFormat)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, data[:n], data[n:], []byte(aad))
	if err != nil {
		return "", fmt.Errorf("secret %w (key id %s)", ErrDecrypt, id)
	}
	return string(plain), nil
}

// NeedsSeal reports whether a stored value should be sealed (again): it is plaintext, or sealed
// with another key than the current one.
func (b *Box) NeedsSeal(stored string) bool {
	id, _, err := split(stored)
	return err != nil || id != b.current
}

// IsSealed reports whether s has the form of a sealed value (whatever its key).
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

func split(sealed string) (id string, data []byte, err error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", nil, fmt.Errorf("secret %w: no %q prefix", ErrFormat, prefix)
	}
	id, enc, ok := strings.Cut(rest, ":")
	if !ok || id == "" {
		return "", nil, fmt.Errorf("secret %w: no key id", ErrFormat)
	}
	data, err = base64.RawStdEncoding.DecodeString(enc)
	if err != nil {
		return "", nil, fmt.Errorf("secret %w: %v", ErrFormat, err)
	}
	return id, data, nil
}

// ParseKey decodes a key written as base64 (standard or URL alphabet, padded or not), as
// `openssl rand -base64 32` prints it.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("the key has %d bytes, want %d (generate one with: openssl rand -base64 32)", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, errors.New("the key is not base64 (generate one with: openssl rand -base64 32)")
}

// EncodeKey is the base64 form ParseKey reads.
func EncodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

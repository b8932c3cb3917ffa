package crowdimport

import (
	"crypto/des"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate/store/password"
)

// How an imported user's credential is carried over (report keys).
const (
	credNone      = "none"           // no password in Crowd (or an LDAP-backed directory)
	credDESNoKey  = "DES, no key"    // DES-encrypted and no key given: imported without a password
	credDES       = "DES, decrypted" // decrypted with the operator's key and re-hashed with argon2id
	credPlainCrow = "PLAINTEXT"      // Crowd's "plaintext" encoder: stored as {PLAINTEXT}, re-hashed at next sign-in
)

// credPlan is what will be stored for one user.
type credPlan struct {
	kind   string // a password.Format* name, or one of the cred* kinds above
	stored string // the encoded credential to store; "" for none (and for DES, hashed at import)
	plain  string // DES only: the decrypted password, hashed when the user is written
}

// errUnknownCredential says a credential matches no format crowdgate verifies.
var errUnknownCredential = errors.New("unknown password hash format")

// planCredential decides what to store for a user of a directory whose Crowd encoder is encoder.
// internal is false for LDAP-backed directories, whose credentials live elsewhere. The credential
// value itself never appears in an error.
func planCredential(cred, encoder string, internal bool, desKey []byte) (credPlan, error) {
	// Crowd writes a placeholder "X" for users created without a password (PasswordCredential.NONE).
	if cred == "" || cred == "X" || !internal {
		return credPlan{kind: credNone}, nil
	}
	switch encoder {
	case "plaintext":
		// Crowd stored the password itself: mark it so the store compares it, then re-hashes it.
		return credPlan{kind: credPlainCrow, stored: "{PLAINTEXT}" + cred}, nil
	case "des":
		if password.Format(cred) != "" {
			break // written by another encoder before the directory switched to DES
		}
		if len(desKey) == 0 {
			return credPlan{kind: credDESNoKey}, nil
		}
		plain, err := decryptDES(cred, desKey)
		if err != nil {
			return credPlan{}, err
		}
		return credPlan{kind: credDES, plain: plain}, nil
	}
	f := password.Format(cred)
	if f == "" {
		return credPlan{}, fmt.Errorf("%w (%s)", errUnknownCredential, describeCredential(cred))
	}
	return credPlan{kind: f, stored: cred}, nil
}

// describeCredential says what a credential looks like without revealing it.
func describeCredential(cred string) string {
	if strings.HasPrefix(cred, "{") {
		if end := strings.IndexByte(cred, '}'); end > 0 && end < 32 {
			return fmt.Sprintf("scheme %q", cred[:end+1])
		}
	}
	if strings.HasPrefix(cred, "$") {
		if end := strings.IndexByte(cred[1:], '$'); end > 0 && end < 16 {
			return fmt.Sprintf("scheme %q", cred[:end+2])
		}
	}
	return fmt.Sprintf("an unmarked value of %d characters", len(cred))
}

// decryptDES reverses Crowd's DESPasswordEncoder: base64(DES/ECB/PKCS5Padding(UTF-8 password)).
func decryptDES(cred string, key []byte) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil || len(raw) == 0 || len(raw)%des.BlockSize != 0 {
		return "", fmt.Errorf("not a DES-encrypted credential (not base64 of whole 8-byte blocks)")
	}
	block, err := des.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("DES key: %w", err)
	}
	out := make([]byte, len(raw))
	for i := 0; i < len(raw); i += des.BlockSize {
		block.Decrypt(out[i:i+des.BlockSize], raw[i:i+des.BlockSize])
	}
	pad := int(out[len(out)-1])
	if pad < 1 || pad > des.BlockSize || pad > len(out) {
		return "", fmt.Errorf("cannot decrypt the DES credential: wrong key?")
	}
	for _, b := range out[len(out)-pad:] {
		if int(b) != pad {
			return "", fmt.Errorf("cannot decrypt the DES credential: wrong key?")
		}
	}
	plain := out[:len(out)-pad]
	if len(plain) == 0 || !utf8.Valid(plain) {
		return "", fmt.Errorf("cannot decrypt the DES credential: wrong key?")
	}
	return string(plain), nil
}

package secretbox

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ReadKeyFile reads a key file: one base64 key, surrounding white space ignored.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateKeyFile reads the key file at path, or creates it with a new random key, readable by
// the owner only (mode 0600), when there is none. created reports which happened. Two processes
// racing to create it end up with the same key: the loser of the link reads the winner's file.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	k, err := ReadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create key file directory: %w", err)
	}
	k = make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, false, fmt.Errorf("generate key: %w", err)
	}
	// Written to a temporary file and linked into place, so a reader never sees a partial key.
	f, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return nil, false, fmt.Errorf("create key file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.WriteString(EncodeKey(k) + "\n")
	if werr == nil {
		werr = f.Chmod(0o600)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, false, fmt.Errorf("write key file %s: %w", path, werr)
	}
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		k, err := ReadKeyFile(path)
		return k, false, err
	} else if err != nil {
		return nil, false, fmt.Errorf("create key file: %w", err)
	}
	return k, true, nil
}

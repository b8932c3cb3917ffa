package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// ConsoleCSRFKey returns the secret that binds the console's CSRF tokens to sessions, created at
// random on first use and kept in the database, so that every instance accepts the same tokens.
func (s *Store) ConsoleCSRFKey(ctx context.Context) ([]byte, error) {
	return s.instanceKey(ctx, "console_csrf_key")
}

// instanceKey returns the 32-byte instance-wide secret named name from settings, creating it at
// random on first use.
func (s *Store) instanceKey(ctx context.Context, name string) ([]byte, error) {
	v, err := s.Setting(ctx, name)
	if IsNotFound(err) {
		b := make([]byte, 32)
		rand.Read(b)
		// DO NOTHING: when two instances race, both then read the one value that won.
		err = s.InTx(ctx, func(tx *Store) error {
			return tx.q(ctx).Exec("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
				name, hex.EncodeToString(b)).Error
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		v, err = s.Setting(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("%s: stored value is not 32 hex-encoded bytes: %w", name, ErrInvalid)
	}
	return key, nil
}

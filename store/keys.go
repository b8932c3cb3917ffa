package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/crowdgate/crowdgate/secretbox"
)

// SettingSealer encrypts the secrets the store keeps in settings (cmd/crowdgate's key ring): name
// binds a sealed value to its setting.
type SettingSealer interface {
	SealSetting(name, plain string) (string, error)
	OpenSetting(name, sealed string) (string, error)
}

// SetSettingSealer makes the instance keys (SAML state, console CSRF) be stored encrypted; a key
// still stored in plain text is encrypted when next read. Call it before serving.
func (s *Store) SetSettingSealer(sealer SettingSealer) { s.shared.sealer = sealer }

// ConsoleCSRFKey returns the secret that binds the console's CSRF tokens to sessions, created at
// random on first use and kept in the database, so that every instance accepts the same tokens.
func (s *Store) ConsoleCSRFKey(ctx context.Context) ([]byte, error) {
	return s.instanceKey(ctx, "console_csrf_key")
}

// instanceKey returns the 32-byte instance-wide secret named name from settings, creating it at
// random on first use. With a sealer it is stored encrypted, like the other secrets; a plain value
// (stored before, or without a key) is encrypted in place at the first read that can; one sealed
// with a key no longer configured is replaced.
func (s *Store) instanceKey(ctx context.Context, name string) ([]byte, error) {
	return s.instanceKeyOnce(ctx, name, false)
}

func (s *Store) instanceKeyOnce(ctx context.Context, name string, retried bool) ([]byte, error) {
	v, err := s.Setting(ctx, name)
	if IsNotFound(err) {
		b := make([]byte, 32)
		rand.Read(b)
		stored := s.sealSetting(name, hex.EncodeToString(b))
		// DO NOTHING: when two instances race, both then read the one value that won.
		err = s.InTx(ctx, func(tx *Store) error {
			return tx.q(ctx).Exec("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
				name, stored).Error
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		v, err = s.Setting(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	plain := v
	if secretbox.IsSealed(v) {
		oerr := fmt.Errorf("no secret key is configured")
		if s.shared.sealer != nil {
			plain, oerr = s.shared.sealer.OpenSetting(name, v)
		}
		if oerr != nil {
			if retried {
				return nil, fmt.Errorf("%s: %w", name, oerr)
			}
			// The key it was sealed with is gone. These keys only protect short-lived state (open
			// forms, sign-ins under way): a new one costs those, not the service.
			s.log.Warn("store: instance key does not decrypt with the configured secret keys: replaced by a new one",
				"setting", name, "err", oerr)
			b := make([]byte, 32)
			rand.Read(b)
			fresh := s.sealSetting(name, hex.EncodeToString(b))
			err := s.InTx(ctx, func(tx *Store) error {
				return tx.q(ctx).Exec("UPDATE settings SET value = ? WHERE name = ? AND value = ?", fresh, name, v).Error
			})
			if err != nil {
				return nil, fmt.Errorf("%s: replace: %w", name, err)
			}
			return s.instanceKeyOnce(ctx, name, true)
		}
	} else if sealed := s.sealSetting(name, v); sealed != v {
		// Only if still the plain value: another instance may have sealed it meanwhile.
		err := s.InTx(ctx, func(tx *Store) error {
			return tx.q(ctx).Exec("UPDATE settings SET value = ? WHERE name = ? AND value = ?", sealed, name, v).Error
		})
		if err != nil {
			return nil, fmt.Errorf("%s: encrypt: %w", name, err)
		}
	}
	key, err := hex.DecodeString(plain)
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("%s: stored value is not 32 hex-encoded bytes: %w", name, ErrInvalid)
	}
	return key, nil
}

// sealSetting is plain encrypted, or plain itself without a sealer or a key (PostgreSQL without
// CROWDGATE_SECRET_KEY): the key stays usable, as the client secrets do.
func (s *Store) sealSetting(name, plain string) string {
	if s.shared.sealer == nil {
		return plain
	}
	sealed, err := s.shared.sealer.SealSetting(name, plain)
	if err != nil {
		s.log.Info("store: instance key kept unencrypted until a secret key exists", "setting", name, "reason", err)
		return plain
	}
	return sealed
}

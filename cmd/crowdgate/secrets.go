package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/secretbox"
	"github.com/crowdgate/crowdgate/store"
)

// sealedKeys are the keys of an AZURE_AD directory's Config JSON whose values are stored sealed.
var sealedKeys = []string{graphsync.KeyClientSecret, graphsync.KeyCertificate, graphsync.KeyCertificatePassword}

// errNoSecretKey is what saving a secret meets when no key can be had: PostgreSQL without
// CROWDGATE_SECRET_KEY or _FILE. Generating a key there would leave it on one host only, while
// every instance sharing the database needs it.
var errNoSecretKey = errors.New("no key to encrypt secrets is configured: set CROWDGATE_SECRET_KEY (32 random bytes in base64, from `openssl rand -base64 32`) or CROWDGATE_SECRET_KEY_FILE on every crowdgate instance and restart it")

// secretKeys is the key ring for the secrets crowdgate stores, loaded from the configuration when
// first needed: with SQLite and no key configured, the first need generates a key file beside the
// database (the zero-setup default). It is safe for concurrent use.
type secretKeys struct {
	cfg      config.SecretConfig
	autoPath string // the generated key file beside a SQLite database; "" with PostgreSQL
	log      *slog.Logger

	mu  sync.Mutex
	box *secretbox.Box
}

func newSecretKeys(cfg config.Config, log *slog.Logger) *secretKeys {
	k := &secretKeys{cfg: cfg.Secrets, log: log}
	if cfg.Store.Dialect() == "sqlite" {
		k.autoPath = store.SQLitePath(cfg.Store.URL) + ".key"
	}
	return k
}

// configured reports whether a key is set explicitly (rather than generated).
func (k *secretKeys) configured() bool { return k.cfg.Key != "" || k.cfg.KeyFile != "" }

// load returns the key ring; create allows generating the SQLite key file.
func (k *secretKeys) load(create bool) (*secretbox.Box, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.box != nil {
		return k.box, nil
	}
	var cur []byte
	var prev [][]byte
	var err error
	switch {
	case k.cfg.Key != "":
		if cur, err = secretbox.ParseKey(k.cfg.Key); err != nil {
			return nil, fmt.Errorf("CROWDGATE_SECRET_KEY: %w", err)
		}
	case k.cfg.KeyFile != "":
		if cur, err = secretbox.ReadKeyFile(k.cfg.KeyFile); err != nil {
			return nil, fmt.Errorf("CROWDGATE_SECRET_KEY_FILE: %w", err)
		}
	case k.autoPath == "":
		return nil, errNoSecretKey
	case create:
		var created bool
		if cur, created, err = secretbox.LoadOrCreateKeyFile(k.autoPath); err != nil {
			return nil, fmt.Errorf("secret key file beside the database (or set CROWDGATE_SECRET_KEY): %w", err)
		}
		if created {
			k.log.Warn("generated the key that encrypts stored secrets: back it up with the database, or set CROWDGATE_SECRET_KEY_FILE to keep it elsewhere",
				"file", k.autoPath)
		}
	default:
		if cur, err = secretbox.ReadKeyFile(k.autoPath); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (no key file %s either)", errNoSecretKey, k.autoPath)
		} else if err != nil {
			return nil, err
		}
		k.log.Info("using the generated secret key", "file", k.autoPath)
	}
	for i, s := range k.cfg.PreviousKeys {
		p, err := secretbox.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("CROWDGATE_SECRET_PREVIOUS_KEYS key %d: %w", i+1, err)
		}
		prev = append(prev, p)
	}
	// A key set after running on a generated one: the generated key still opens older secrets,
	// which the start-up pass then encrypts again with the configured key.
	if k.autoPath != "" && k.configured() {
		if auto, err := secretbox.ReadKeyFile(k.autoPath); err == nil {
			prev = append(prev, auto)
		}
	}
	if k.box, err = secretbox.New(cur, prev...); err != nil {
		return nil, err
	}
	return k.box, nil
}

// secretAAD binds a sealed value to its directory and key, so a value copied to another directory's
// row, or to another key, does not decrypt.
func secretAAD(dirID int64, key string) string {
	return fmt.Sprintf("crowdgate directory %d %s", dirID, key)
}

// SealSecret encrypts a directory's secret value (key: graphsync.KeyClientSecret, KeyCertificate or
// KeyCertificatePassword) for storage (api.SecretSealer).
func (k *secretKeys) SealSecret(_ context.Context, dirID int64, key, secret string) (string, error) {
	box, err := k.load(true)
	if err != nil {
		return "", err
	}
	return box.Seal(secret, secretAAD(dirID, key))
}

// openSecret returns a stored secret value in clear ("" stays ""). A plaintext value (stored
// before encryption existed, and not yet encrypted for want of a key) is returned as it is.
func (k *secretKeys) openSecret(dirID int64, key, stored string) (string, error) {
	if !secretbox.IsSealed(stored) {
		return stored, nil
	}
	what := strings.ReplaceAll(key, "_", " ")
	box, err := k.load(false)
	if err != nil {
		return "", fmt.Errorf("the %s is stored encrypted but cannot be decrypted: %w", what, err)
	}
	plain, err := box.Open(stored, secretAAD(dirID, key))
	if err != nil {
		return "", fmt.Errorf("the %s cannot be decrypted (%w): set CROWDGATE_SECRET_KEY or CROWDGATE_SECRET_KEY_FILE to the key it was saved with "+
			"(after a rotation, list the old key in CROWDGATE_SECRET_PREVIOUS_KEYS), or enter the %s again in the console", what, err, what)
	}
	return plain, nil
}

// storedSecrets reads the sealed keys' values from a directory's settings (pointers into s, which
// the caller may change and Encode).
func storedSecrets(s *graphsync.Settings) map[string]*string {
	return map[string]*string{graphsync.KeyClientSecret: &s.ClientSecret, graphsync.KeyCertificate: &s.Certificate,
		graphsync.KeyCertificatePassword: &s.CertificatePassword}
}

// sealStored encrypts, in one transaction, every Entra ID client secret stored in plain text or
// under a previous key, with the current key; each is audited. Without a key (PostgreSQL with no
// key configured) it leaves them and warns.
func (k *secretKeys) sealStored(ctx context.Context, st *store.Store) error {
	ctx = store.WithActor(ctx, store.Actor{Kind: store.ActorSystem, Name: "secret-key"})
	ds, err := st.Directories(ctx)
	if err != nil {
		return fmt.Errorf("reading directories to encrypt their secrets: %w", err)
	}
	var plain []string
	need := false
	for _, d := range ds {
		set, err := graphsync.ParseSettings(d.Config)
		if d.Kind != store.DirectoryAzureAD || err != nil {
			continue
		}
		for _, v := range storedSecrets(&set) {
			switch {
			case *v == "":
			case !secretbox.IsSealed(*v):
				plain = append(plain, d.Name)
				need = true
			case k.configured() || len(k.cfg.PreviousKeys) > 0:
				need = true // perhaps under a previous key: NeedsSeal below decides
			}
		}
	}
	plain = slices.Compact(plain)
	if !need {
		return nil
	}
	box, err := k.load(len(plain) > 0)
	if errors.Is(err, errNoSecretKey) {
		if len(plain) > 0 {
			k.log.Warn("Entra ID client secrets are stored in plain text: "+errNoSecretKey.Error(), "directories", plain)
		}
		return nil
	}
	if err != nil {
		return err
	}
	n := 0
	err = st.InTx(ctx, func(tx *store.Store) error {
		n = 0
		for _, d := range ds {
			if d.Kind != store.DirectoryAzureAD {
				continue
			}
			d, err := tx.Directory(ctx, d.ID) // as of this transaction
			if err != nil {
				return err
			}
			set, err := graphsync.ParseSettings(d.Config)
			if err != nil {
				continue
			}
			changed := false
			for _, key := range sealedKeys {
				v := storedSecrets(&set)[key]
				if *v == "" || !box.NeedsSeal(*v) {
					continue
				}
				plain, was := *v, "plain text"
				if secretbox.IsSealed(plain) {
					was = "a previous key"
					if plain, err = box.Open(plain, secretAAD(d.ID, key)); err != nil {
						// Left as it is: the directory's sync reports the error, naming the setting.
						k.log.Error("a stored secret does not decrypt with the configured keys", "directory", d.Name, "key", key, "err", err)
						continue
					}
				}
				if *v, err = box.Seal(plain, secretAAD(d.ID, key)); err != nil {
					return err
				}
				if err := tx.Audit(ctx, "SUCCESS", "DIRECTORY_SECRET_ENCRYPTED", "DIRECTORY", d.Name,
					map[string]any{"key_id": box.CurrentKeyID(), "was": was, "setting": key}); err != nil {
					return err
				}
				changed = true
			}
			if !changed {
				continue
			}
			if d.Config, err = set.Encode(); err != nil {
				return err
			}
			if _, err := tx.UpdateDirectory(ctx, d); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("encrypting stored client secrets: %w", err)
	}
	if n > 0 {
		k.log.Info("encrypted stored client secrets with the current key", "directories", n, "key_id", box.CurrentKeyID())
	}
	return nil
}

// settingAAD binds a sealed instance key to its setting.
func settingAAD(name string) string { return "crowdgate setting " + name }

// SealSetting encrypts an instance key the store keeps in settings (store.SettingSealer). It does
// not generate the SQLite key file: until a client secret needs one, the keys stay in plain text
// and are encrypted at the first start that has a key.
func (k *secretKeys) SealSetting(name, plain string) (string, error) {
	box, err := k.load(false)
	if err != nil {
		return "", err
	}
	return box.Seal(plain, settingAAD(name))
}

// OpenSetting decrypts an instance key sealed by SealSetting.
func (k *secretKeys) OpenSetting(name, sealed string) (string, error) {
	box, err := k.load(false)
	if err != nil {
		return "", fmt.Errorf("the setting is stored encrypted but cannot be decrypted: %w", err)
	}
	return box.Open(sealed, settingAAD(name))
}

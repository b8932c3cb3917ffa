package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// AuthenticateApplication checks an application's name and password. The verdict for one
// (application, credential, password) triple is cached in memory, because the Java client sends its
// password with every request and hashing it each time would cost more than the request itself.
// ErrNotFound and ErrBadCredential both mean 401 to a Crowd client; ErrInactive means 403.
func (s *Store) AuthenticateApplication(ctx context.Context, name, pw string) (Application, error) {
	return s.AuthenticateApplicationWith(ctx, name, pw, AppAuthGate{})
}

// AppAuthGate lets the caller of AuthenticateApplicationWith refuse before a password costs
// anything; a hook's error is returned as it is.
type AppAuthGate struct {
	// Allow runs once the application is found, before its password is looked at: a caller's
	// remote-address check, so that a refused address learns nothing about the password.
	Allow func(Application) error
	// Hash runs before a password is hashed (one not verified recently, or any password for an
	// unknown name): throttling, which a correct cached password never meets.
	Hash func() error
}

// AuthenticateApplicationWith is AuthenticateApplication with gate's hooks. An unknown name costs
// the same hash as a known one, so timing does not tell which names exist.
func (s *Store) AuthenticateApplicationWith(ctx context.Context, name, pw string, gate AppAuthGate) (Application, error) {
	ent, err := s.shared.apps.get(ctx, s, name)
	if errors.Is(err, ErrNotFound) {
		if gate.Hash != nil {
			if gerr := gate.Hash(); gerr != nil {
				return Application{}, gerr
			}
		}
		dummy, derr := s.dummyCredential(ctx)
		if derr != nil {
			return Application{}, derr
		}
		if _, _, derr := s.pw.Verify(ctx, dummy, pw); derr != nil {
			return Application{}, fmt.Errorf("application %q: %w", name, derr)
		}
		return Application{}, err
	}
	if err != nil {
		return Application{}, err
	}
	if gate.Allow != nil {
		if err := gate.Allow(ent.app); err != nil {
			return Application{}, err
		}
	}
	fp := sha256.Sum256([]byte(pw))
	if !ent.verified(fp) {
		// Identical credentials checked at the same time share one check: a burst of an
		// application's first requests (Jira starting) costs one hash and one throttle attempt,
		// not one each, and cannot throttle itself.
		_, err, _ := s.shared.apps.checks.Do(ent.app.LowerName+"\x00"+string(fp[:]), func() (any, error) {
			if ent.verified(fp) {
				return nil, nil
			}
			if gate.Hash != nil {
				if err := gate.Hash(); err != nil {
					return nil, err
				}
			}
			ok, _, err := s.pw.Verify(ctx, ent.credential, pw)
			if err != nil {
				return nil, fmt.Errorf("application %q: %w", name, err)
			}
			if !ok {
				return nil, fmt.Errorf("application %q: %w", name, ErrBadCredential)
			}
			ent.remember(fp)
			return nil, nil
		})
		if err != nil {
			return Application{}, err
		}
	}
	return ent.app, nil
}

// dummyCredential is a credential in the current scheme (the kind new applications and users get),
// for checking the passwords of unknown application and user names at the same cost; made once per
// process.
func (s *Store) dummyCredential(ctx context.Context) (string, error) {
	d := s.shared.apps
	d.dummyMu.Lock()
	defer d.dummyMu.Unlock()
	if d.dummy == "" {
		h, err := s.pw.Hash(ctx, newToken())
		if err != nil {
			return "", fmt.Errorf("dummy application credential: %w", err)
		}
		d.dummy = h
	}
	return d.dummy, nil
}

// appAuthCache keeps recently used applications and verified password fingerprints. Every change
// of an application drops its entry here and on the other instances (invForgetApp), so the TTL only
// bounds staleness should an invalidation be missed; concurrent misses share one load.
type appAuthCache struct {
	mu    sync.Mutex
	ttl   time.Duration
	m     map[string]*appEntry
	gen   uint64 // bumped by every invalidation: a load that raced one is not kept
	loads singleflight.Group
	// checks shares a password check among concurrent identical credentials (by name and SHA-256).
	checks singleflight.Group

	dummyMu sync.Mutex
	dummy   string // see dummyCredential
}

type appEntry struct {
	app        Application
	credential string
	loaded     time.Time
	mu         sync.Mutex
	ok         [][32]byte
}

func newAppAuthCache() *appAuthCache {
	return &appAuthCache{ttl: cacheLifetime, m: map[string]*appEntry{}}
}

func (c *appAuthCache) get(ctx context.Context, s *Store, name string) (*appEntry, error) {
	key := Lower(name)
	c.mu.Lock()
	e := c.m[key]
	c.mu.Unlock()
	if e != nil && time.Since(e.loaded) < c.ttl {
		return e, nil
	}
	v, err, _ := c.loads.Do(key, func() (any, error) {
		// Shared by every waiting request: one client giving up must not fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return c.load(ctx, s, name, key, e)
	})
	if err != nil {
		return nil, err
	}
	return v.(*appEntry), nil
}

func (c *appAuthCache) load(ctx context.Context, s *Store, name, key string, old *appEntry) (*appEntry, error) {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	var row appRow
	if err := s.q(ctx).Where("lower_name = ?", key).Take(&row).Error; err != nil {
		return nil, translate(err, "application %q", name)
	}
	app, err := s.loadApp(ctx, row)
	if err != nil {
		return nil, err
	}
	n := &appEntry{app: app, credential: row.Credential, loaded: time.Now()}
	if old != nil && old.credential == row.Credential {
		old.mu.Lock()
		n.ok = old.ok // same credential: earlier verdicts still hold
		old.mu.Unlock()
	}
	c.mu.Lock()
	if c.gen == gen {
		c.m[key] = n
	}
	c.mu.Unlock()
	return n, nil
}

func (c *appAuthCache) clear() {
	c.mu.Lock()
	c.gen++
	c.m = map[string]*appEntry{}
	c.mu.Unlock()
}

func (c *appAuthCache) forget(lowerName string) {
	c.mu.Lock()
	c.gen++
	delete(c.m, lowerName)
	c.mu.Unlock()
}

func (e *appEntry) verified(fp [32]byte) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range e.ok {
		if subtle.ConstantTimeCompare(k[:], fp[:]) == 1 {
			return true
		}
	}
	return false
}

func (e *appEntry) remember(fp [32]byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.ok) >= 4 { // a rotation overlap needs two; more is noise or an attack
		e.ok = e.ok[1:]
	}
	e.ok = append(e.ok, fp)
}

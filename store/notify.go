package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifyChannel carries cache invalidations between instances sharing one PostgreSQL database.
const notifyChannel = "crowdgate_cache"

// Invalidation messages.
const (
	invClearSessions = "clear" // forget every cached session verdict
	invDropToken     = "drop:" // + token hash: forget one session
	invForgetApp     = "app:"  // + lower-cased application name: reload it
	invDropUser      = "user:" // + user id: forget that user's sessions (its details changed)
)

// invalidate drops cached state once the transaction commits, here and, through PostgreSQL
// NOTIFY (delivered only on commit), on every other instance.
func (s *Store) invalidate(ctx context.Context, msgs ...string) error {
	s.afterCommit(func() {
		for _, m := range msgs {
			s.shared.applyInvalidation(m)
		}
	})
	if s.dialect != "postgres" {
		return nil
	}
	for _, m := range msgs {
		if err := s.q(ctx).Exec("SELECT pg_notify(?, ?)", notifyChannel, m).Error; err != nil {
			return fmt.Errorf("notify %s: %w", notifyChannel, err)
		}
	}
	return nil
}

func (sh *shared) applyInvalidation(m string) {
	switch {
	case m == invClearSessions:
		sh.sessions.clear()
		sh.views.clear()
	case strings.HasPrefix(m, invDropToken):
		if k, ok := keyFromHex(strings.TrimPrefix(m, invDropToken)); ok {
			sh.sessions.drop(k)
		} else {
			sh.sessions.clear()
		}
	case strings.HasPrefix(m, invDropUser):
		if id, err := strconv.ParseInt(strings.TrimPrefix(m, invDropUser), 10, 64); err == nil {
			sh.sessions.dropUser(id)
		} else {
			sh.sessions.clear()
		}
	case strings.HasPrefix(m, invForgetApp):
		sh.apps.forget(strings.TrimPrefix(m, invForgetApp))
		sh.views.clear()
	}
}

// Listen applies other instances' invalidations until ctx ends (PostgreSQL only; it returns at
// once on SQLite, which has one instance). A lost connection is re-established; since
// invalidations may have been missed meanwhile, every cache is cleared on reconnect.
func (s *Store) Listen(ctx context.Context) error {
	if s.dialect != "postgres" {
		return nil
	}
	for {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("cache invalidation listener lost its connection; reconnecting", "err", err)
		s.shared.sessions.clear()
		s.shared.apps.clear()
		s.shared.views.clear()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.shared.url)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Anything that happened before LISTEN took effect is covered by this clear.
	s.shared.sessions.clear()
	s.shared.apps.clear()
	s.shared.views.clear()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		s.shared.applyInvalidation(n.Payload)
	}
}

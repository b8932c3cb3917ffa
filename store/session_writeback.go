package store

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// The write-back of sessions' sliding expiry: what the session cache's access log (sessionaccess.go)
// says is due goes to the database in short transactions.

// FlushSessionAccess writes every in-memory last-access time to the database in a few
// statements (at shutdown; FlushDueSessionAccess is the periodic write).
func (s *Store) FlushSessionAccess(ctx context.Context) (int, error) {
	return s.flushAccess(ctx, s.shared.sessions.takeAccess())
}

// FlushDueSessionAccess writes the last-access times that matter to the other instances: a
// session's sliding expiry is written about once a minute while it is in use (see accessStep), and
// always well before the expiry the database holds. It runs every second.
func (s *Store) FlushDueSessionAccess(ctx context.Context) (int, error) {
	return s.flushAccess(ctx, s.shared.sessions.takeDueAccess(s.now()))
}

func (s *Store) flushAccess(ctx context.Context, pending map[tokenKey]access) (int, error) {
	if len(pending) == 0 {
		return 0, nil
	}
	// A transaction writes at most accessTxStatements statements (the rows are independent), so the
	// database never holds a long one while requests wait for a core; a flush a second under load
	// is then one commit.
	written := make(map[tokenKey]access, len(pending))
	var err error
	for group := range slices.Chunk(s.accessBatches(pending), accessTxStatements) {
		err = s.InTx(ctx, func(tx *Store) error {
			for _, keys := range group {
				if err := tx.writeAccess(ctx, keys, pending); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			break
		}
		for _, keys := range group {
			for _, k := range keys {
				written[k] = pending[k]
			}
		}
	}
	s.shared.sessions.written(written)
	if err != nil {
		for k := range written {
			delete(pending, k)
		}
		s.shared.sessions.restoreAccess(pending) // try again next time
		return len(written), fmt.Errorf("flush session access: %w", err)
	}
	return len(written), nil
}

// accessBatches splits a write-back into statements of at most accessChunk sessions. PostgreSQL
// writes each row's own values in one statement (writeAccess), in token order, so concurrent
// flushes of two instances lock rows in the same order; SQLite needs one statement per second of
// access and idle timeout.
func (s *Store) accessBatches(pending map[tokenKey]access) [][]tokenKey {
	var groups [][]tokenKey
	if s.dialect == "postgres" {
		keys := slices.Collect(maps.Keys(pending))
		slices.SortFunc(keys, func(a, b tokenKey) int { return bytes.Compare(a[:], b[:]) })
		groups = [][]tokenKey{keys}
	} else {
		type bucket struct {
			at   int64
			idle int32
		}
		buckets := map[bucket][]tokenKey{}
		for k, a := range pending {
			b := bucket{a.time().Truncate(time.Second).UnixNano(), a.idle}
			buckets[b] = append(buckets[b], k)
		}
		groups = slices.Collect(maps.Values(buckets))
	}
	var out [][]tokenKey
	for _, g := range groups {
		out = slices.AppendSeq(out, slices.Chunk(g, accessChunk))
	}
	return out
}

// writeAccess writes the last access of these sessions, to the second, and the expiry it gives,
// unless the database holds a later one (another instance wrote it). Neither column is indexed, so
// on PostgreSQL the update is HOT: no index is touched and the new row version stays on its page
// (the table keeps free room for that; migration 00060).
func (s *Store) writeAccess(ctx context.Context, keys []tokenKey, pending map[tokenKey]access) error {
	hashes := make([]string, len(keys))
	ats, exps := make([]time.Time, len(keys)), make([]time.Time, len(keys))
	for i, k := range keys {
		a := pending[k]
		hashes[i], ats[i] = k.hex(), a.time().Truncate(time.Second)
		exps[i] = ats[i].Add(time.Duration(a.idle) * time.Second)
	}
	if s.dialect == "postgres" {
		// Straight to the driver: gorm would expand the slices into lists; pgx sends them as arrays.
		_, err := s.syncExec(ctx, "UPDATE sessions AS s SET last_access_at = v.at, expires_at = v.exp "+
			"FROM unnest(?::text[], ?::timestamptz[], ?::timestamptz[]) AS v(h, at, exp) "+
			"WHERE s.token_hash = v.h AND s.last_access_at < v.at", hashes, ats, exps)
		return err
	}
	// One bucket (accessBatches): every row has the same access and expiry.
	return s.q(ctx).Exec("UPDATE sessions SET last_access_at = ?, expires_at = ? WHERE token_hash IN ? AND last_access_at < ?",
		ats[0], exps[0], hashes, ats[0]).Error
}

// accessChunk is how many sessions one write-back statement updates; a transaction holds up to
// accessTxStatements of them (2,000 sessions on PostgreSQL).
const (
	accessChunk        = 500
	accessTxStatements = 4
)

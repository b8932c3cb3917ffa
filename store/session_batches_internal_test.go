package store

import (
	"bytes"
	"testing"
	"time"
)

// TestAccessBatches: a write-back is split into statements of at most accessChunk sessions, every
// session exactly once; on PostgreSQL in token order whatever the mix of access times and timeouts
// (one statement carries each row's own values); on SQLite one access second and timeout per
// statement.
func TestAccessBatches(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	pending := map[tokenKey]access{}
	for i := range 1201 {
		at := base.Add(time.Duration(i%7)*time.Second + time.Duration(i)*time.Millisecond)
		pending[keyOf(string(rune(0x100+i)))] = access{at: at.UnixNano(), idle: int32(600 * (1 + i%3))}
	}
	for _, dialect := range []string{"postgres", "sqlite"} {
		batches := (&Store{dialect: dialect}).accessBatches(pending)
		seen := map[tokenKey]bool{}
		var prev []byte
		for _, b := range batches {
			if len(b) == 0 || len(b) > accessChunk {
				t.Errorf("%s: batch of %d sessions", dialect, len(b))
			}
			for _, k := range b {
				if seen[k] {
					t.Errorf("%s: session %x in two batches", dialect, k[:4])
				}
				seen[k] = true
				if dialect == "postgres" && prev != nil && bytes.Compare(prev, k[:]) >= 0 {
					t.Errorf("%s: tokens out of order", dialect)
				}
				prev = bytes.Clone(k[:])
				if dialect == "sqlite" {
					a, f := pending[k], pending[b[0]]
					if a.idle != f.idle || a.time().Truncate(time.Second) != f.time().Truncate(time.Second) {
						t.Errorf("%s: one statement mixes accesses %v/%d and %v/%d", dialect, a.time(), a.idle, f.time(), f.idle)
					}
				}
			}
		}
		if len(seen) != len(pending) {
			t.Errorf("%s: %d of %d sessions in the batches", dialect, len(seen), len(pending))
		}
		if dialect == "postgres" && len(batches) != 3 {
			t.Errorf("postgres: %d statements for 1201 sessions; want 3", len(batches))
		}
	}
}

package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event entities and operations, as Crowd's /event names them.
const (
	EntityUser            = "USER"
	EntityGroup           = "GROUP"
	EntityUserMembership  = "USER_MEMBERSHIP"
	EntityGroupMembership = "GROUP_MEMBERSHIP"

	OpCreated = "CREATED"
	OpUpdated = "UPDATED"
	OpDeleted = "DELETED"

	// EntityDirectory/OpBulkChange stands for more changes to a directory than one transaction
	// records one by one (see syncBulkEvents): a token older than it is expired.
	EntityDirectory = "DIRECTORY"
	OpBulkChange    = "BULK_CHANGE"
)

// MaxEventsPerRead is how many events one incremental read may return; beyond it a full sync is
// cheaper for the client, so the token is reported expired.
const MaxEventsPerRead = 20000

// Event is one change to users, groups or memberships. For memberships Name is the child (user or
// group) and OtherName the parent group; for a renamed user OtherName is the old name.
type Event struct {
	ID          int64
	CreatedAt   time.Time
	DirectoryID int64
	Entity      string
	Operation   string
	EntityID    int64
	Name        string
	OtherName   string
}

// TableName maps Event to its table.
func (Event) TableName() string { return "events" }

// eventLockKey serialises event writers on PostgreSQL so event ids are assigned in commit order
// and a reader never skips an event that commits later with a smaller id.
const eventLockKey = 0x63726f7764 // "crowd"

// event appends one event in the current transaction.
func (s *Store) event(ctx context.Context, dirID int64, entity, op string, entityID int64, name, other string) error {
	if s.tx == nil {
		return fmt.Errorf("event %s %s %q: written outside a transaction", entity, op, name)
	}
	if s.dialect == "postgres" && !s.tx.eventLocked {
		if err := s.q(ctx).Exec("SELECT pg_advisory_xact_lock(?)", eventLockKey).Error; err != nil {
			return fmt.Errorf("event lock: %w", err)
		}
		s.tx.eventLocked = true
	}
	e := Event{CreatedAt: s.now(), DirectoryID: dirID, Entity: entity, Operation: op, EntityID: entityID, Name: name, OtherName: other}
	if err := s.q(ctx).Create(&e).Error; err != nil {
		return fmt.Errorf("event %s %s %q: %w", entity, op, name, err)
	}
	return nil
}

// EventToken is a position in the event stream of one database, for one application configuration.
type EventToken struct {
	DatabaseID    string
	ConfigVersion int64
	Position      int64
}

// String encodes the token as Crowd clients carry it: opaque text.
func (t EventToken) String() string {
	return t.DatabaseID + "." + strconv.FormatInt(t.ConfigVersion, 10) + "." + strconv.FormatInt(t.Position, 10)
}

// ParseEventToken decodes a token; malformed tokens are ErrTokenExpired, as Crowd answers them.
func ParseEventToken(s string) (EventToken, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return EventToken{}, fmt.Errorf("event token %q is malformed: %w", s, ErrTokenExpired)
	}
	v, err1 := strconv.ParseInt(parts[1], 10, 64)
	p, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || p < 0 {
		return EventToken{}, fmt.Errorf("event token %q is malformed: %w", s, ErrTokenExpired)
	}
	return EventToken{DatabaseID: parts[0], ConfigVersion: v, Position: p}, nil
}

// lastEventID is the newest committed event position.
func (s *Store) lastEventID(ctx context.Context) (int64, error) {
	var id *int64
	if err := s.q(ctx).Raw("SELECT MAX(id) FROM events").Scan(&id).Error; err != nil {
		return 0, fmt.Errorf("events: %w", err)
	}
	if id == nil {
		// No events yet (or all pruned): the pruning mark is the position.
		return s.prunedThrough(ctx)
	}
	return *id, nil
}

func (s *Store) prunedThrough(ctx context.Context) (int64, error) {
	v, err := s.Setting(ctx, "events_pruned_through")
	if err != nil {
		return 0, nil //nolint:nilerr // no pruning yet
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n, nil
}

// EventsSince returns the events of the given directories after token, and the new token. It fails
// with ErrTokenExpired when the token is from another database or configuration, older than the
// retention, or too many events happened since.
func (s *Store) EventsSince(ctx context.Context, token EventToken, configVersion int64, dirIDs []int64) ([]Event, EventToken, error) {
	if token.DatabaseID != s.shared.dbID || token.ConfigVersion != configVersion {
		return nil, EventToken{}, fmt.Errorf("event token is from another database or application configuration: %w", ErrTokenExpired)
	}
	pruned, err := s.prunedThrough(ctx)
	if err != nil {
		return nil, EventToken{}, err
	}
	last, err := s.lastEventID(ctx)
	if err != nil {
		return nil, EventToken{}, err
	}
	if token.Position < pruned || token.Position > last {
		return nil, EventToken{}, fmt.Errorf("event token is older than the event retention: %w", ErrTokenExpired)
	}
	var evs []Event
	if len(dirIDs) > 0 {
		err = s.q(ctx).Where("id > ? AND id <= ? AND directory_id IN ?", token.Position, last, dirIDs).
			Order("id").Limit(MaxEventsPerRead + 1).Find(&evs).Error
		if err != nil {
			return nil, EventToken{}, fmt.Errorf("events: %w", err)
		}
	}
	if len(evs) > MaxEventsPerRead {
		return nil, EventToken{}, fmt.Errorf("more than %d events since the token: %w", MaxEventsPerRead, ErrTokenExpired)
	}
	for _, ev := range evs {
		if ev.Operation == OpBulkChange {
			return nil, EventToken{}, fmt.Errorf("a directory changed in bulk since the token (event %d): %w", ev.ID, ErrTokenExpired)
		}
	}
	return evs, EventToken{DatabaseID: s.shared.dbID, ConfigVersion: configVersion, Position: last}, nil
}

// CurrentEventToken returns the token for "now" under an application configuration version.
func (s *Store) CurrentEventToken(ctx context.Context, configVersion int64) (EventToken, error) {
	last, err := s.lastEventID(ctx)
	if err != nil {
		return EventToken{}, err
	}
	return EventToken{DatabaseID: s.shared.dbID, ConfigVersion: configVersion, Position: last}, nil
}

// PruneEvents deletes events older than the retention and remembers where it cut, so older tokens
// are refused instead of silently missing changes.
func (s *Store) PruneEvents(ctx context.Context) (int64, error) {
	cut := s.now().Add(-s.shared.retain)
	var n int64
	err := s.InTx(ctx, func(tx *Store) error {
		var maxID *int64
		if err := tx.q(ctx).Raw("SELECT MAX(id) FROM events WHERE created_at < ?", cut).Scan(&maxID).Error; err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		if maxID == nil {
			return nil
		}
		res := tx.q(ctx).Exec("DELETE FROM events WHERE id <= ?", *maxID)
		if res.Error != nil {
			return fmt.Errorf("prune events: %w", res.Error)
		}
		n = res.RowsAffected
		return tx.q(ctx).Exec("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
			"events_pruned_through", strconv.FormatInt(*maxID, 10)).Error
	})
	return n, err
}

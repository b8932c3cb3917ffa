package store

import (
	"context"
	"fmt"
	"time"
)

// DefaultInactiveDays is how long a licensed user may go without signing in to an application
// before the seat counts as inactive, unless the report is asked for another span.
const DefaultInactiveDays = 90

// Seat is a licensed user of an application (Access says through which group, for a group
// mapping) with the user's last sign-in to that application.
type Seat struct {
	Access
	LastSignIn *time.Time // nil: never signed in to this application (since crowdgate records it)
	Inactive   bool       // no sign-in within the report's span, or never
}

// SeatReport is an application's seats against its licence limit.
type SeatReport struct {
	Application  Application
	InactiveDays int
	Seats        []Seat // in access report order: mapping order, then user name
	Inactive     int
}

// Seats lists the seats of an application: the active users who may authenticate to it (every
// user of an all-users mapping, or the members of its allowed groups, nested included), each with
// the last sign-in to the application this instance knows (the database's, or a later unflushed one
// of its own). A seat is inactive when that sign-in is inactiveDays old or older, or missing.
// An inactive application has no seats. Nothing here removes a seat: that stays the admin's act.
func (s *Store) Seats(ctx context.Context, app Application, inactiveDays int) (SeatReport, error) {
	if inactiveDays <= 0 {
		return SeatReport{}, fmt.Errorf("inactivity of %d days: %w", inactiveDays, ErrInvalid)
	}
	rep := SeatReport{Application: app, InactiveDays: inactiveDays, Seats: []Seat{}}
	if !app.Active {
		return rep, nil
	}
	var rows []struct {
		UserID int64
		LastAt time.Time
	}
	if err := s.q(ctx).Raw("SELECT user_id, last_at FROM user_app_logins WHERE application_id = ?", app.ID).Scan(&rows).Error; err != nil {
		return SeatReport{}, fmt.Errorf("sign-ins to %q: %w", app.Name, err)
	}
	last := make(map[int64]time.Time, len(rows))
	for _, r := range rows {
		last[r.UserID] = r.LastAt
	}
	pending := s.shared.logins.pendingFor(app.ID)
	v, err := s.View(ctx, app)
	if err != nil {
		return SeatReport{}, err
	}
	cutoff := s.now().Add(-time.Duration(inactiveDays) * 24 * time.Hour)
	err = v.report(ctx, func(a Access) error {
		seat := Seat{Access: a}
		if at := laterOf(last[a.UserID], pending[a.UserID]); !at.IsZero() {
			seat.LastSignIn = &at
		}
		seat.Inactive = seat.LastSignIn == nil || !seat.LastSignIn.After(cutoff)
		if seat.Inactive {
			rep.Inactive++
		}
		rep.Seats = append(rep.Seats, seat)
		return nil
	})
	if err != nil {
		return SeatReport{}, fmt.Errorf("seats of %q: %w", app.Name, err)
	}
	return rep, nil
}

// HeldThrough is the group through which a seat is held: the user's own (direct) group, which
// is what an admin changes to free the seat; empty for an all-users mapping.
func (a Access) HeldThrough() string {
	if len(a.Via) > 0 {
		return a.Via[0]
	}
	return a.Group
}

package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// This file is the store side of the Entra ID synchroniser (graphsync): sync state and run history,
// the cross-instance sync lock, and set-based replication of users, groups and memberships into an
// AZURE_AD directory (ApplySync, in sync_apply.go).
//
// The replica is keyed on external ids (Entra object ids): a rename in Entra ID is a rename here (same
// row, same key), never a delete and a create. Only real changes are written and emit events; an
// unchanged object costs a read and nothing else. The audit log gets no entry per object: the
// synchroniser audits each run (Audit with actor kind ActorSync).

// Kinds of synchronised objects.
const (
	SyncKindUser  = "USER"
	SyncKindGroup = "GROUP"
)

// Reasons an Entra object is listed outside the replica's live set (see SyncOutside).
const (
	OutsideGuest   = "GUEST"   // a guest user while guests are excluded
	OutsideFilter  = "FILTER"  // outside the group filter
	OutsideRemoved = "REMOVED" // removed in Entra ID, kept deactivated in the replica (users; soft-deleted groups)
	OutsideClash   = "CLASH"   // its name is held, and so are the suffixed names it was offered (see ApplySync)
	OutsideInvalid = "INVALID" // its mapped name or fields break the directory's rules
	OutsideType    = "TYPE"    // a group of a type not replicated (not security-enabled, or Microsoft 365)
)

// Sync modes and run statuses recorded in sync_runs.
const (
	SyncModeFull  = "FULL"
	SyncModeDelta = "DELTA"

	SyncRunning   = "RUNNING"
	SyncSucceeded = "SUCCESS"
	SyncFailed    = "FAILED"
	SyncAborted   = "ABORTED" // found RUNNING by the next run: its process died
	SyncHeld      = "HELD"    // stopped by the mass-change guard before writing (see ReleaseHeldSync)
)

// SyncUser is a user as the synchroniser wants it in the replica, keyed by ExternalID.
type SyncUser struct {
	ExternalID  string `json:"id"`
	Name        string `json:"name"`
	FirstName   string `json:"first,omitempty"`
	LastName    string `json:"last,omitempty"`
	DisplayName string `json:"display,omitempty"`
	Email       string `json:"email,omitempty"`
	Active      bool   `json:"active"`
}

// Normalize applies the store's rule for an empty display name ("first last"), so a SyncUser compares
// equal to what the replica holds for it.
func (u SyncUser) Normalize() SyncUser {
	u.DisplayName = displayName(u.DisplayName, u.FirstName, u.LastName)
	return u
}

// Validate reports whether the (normalized) user can be stored: a valid name and text fields.
func (u SyncUser) Validate() error {
	if u.ExternalID == "" {
		return fmt.Errorf("user %q has no external id: %w", u.Name, ErrInvalid)
	}
	if err := checkName("user", u.Name); err != nil {
		return err
	}
	return checkUserText(u.FirstName, u.LastName, u.DisplayName, u.Email)
}

// SyncGroup is a group as the synchroniser wants it in the replica, keyed by ExternalID. Replicated
// groups are always active.
type SyncGroup struct {
	ExternalID  string
	Name        string
	Description string
}

// Validate reports whether the group can be stored.
func (g SyncGroup) Validate() error {
	if g.ExternalID == "" {
		return fmt.Errorf("group %q has no external id: %w", g.Name, ErrInvalid)
	}
	if err := checkName("group", g.Name); err != nil {
		return err
	}
	return checkText("description", g.Description, maxDescription)
}

// SyncOutside records an Entra object that is deliberately not live in the replica. A replica row
// listed here (a deactivated user) is not live: it yields its name to any live object that wants it.
type SyncOutside struct {
	ExternalID string
	Kind       string    // SyncKindUser or SyncKindGroup
	Reason     string    // OutsideGuest, OutsideFilter, OutsideRemoved, OutsideClash, OutsideInvalid
	Name       string    // the name it wants (CLASH, INVALID); informational otherwise
	User       *SyncUser // FILTER users: the mapped user, so it can enter the replica without a full round
}

// SyncMembers is the complete set of direct members of one replicated group, by external ids.
type SyncMembers struct {
	GroupExternalID string
	Users           []string
	Groups          []string
}

// SyncMemberChange adds (or, with Removed, removes) one direct membership, by external ids.
type SyncMemberChange struct {
	GroupExternalID  string
	MemberExternalID string
	Group            bool // the member is a group (nesting), not a user
	Removed          bool
}

// SyncCounts counts the changes a sync made. Unchanged objects are not counted.
type SyncCounts struct {
	UsersAdded         int
	UsersUpdated       int
	UsersRemoved       int // deleted or deactivated
	GroupsAdded        int
	GroupsUpdated      int
	GroupsRemoved      int
	MembershipsAdded   int
	MembershipsRemoved int
	NameClashes        int // objects placed under a suffixed name for the first time (not a change: not in Total)
}

// Add adds o to c.
func (c *SyncCounts) Add(o SyncCounts) {
	c.UsersAdded += o.UsersAdded
	c.UsersUpdated += o.UsersUpdated
	c.UsersRemoved += o.UsersRemoved
	c.GroupsAdded += o.GroupsAdded
	c.GroupsUpdated += o.GroupsUpdated
	c.GroupsRemoved += o.GroupsRemoved
	c.MembershipsAdded += o.MembershipsAdded
	c.MembershipsRemoved += o.MembershipsRemoved
	c.NameClashes += o.NameClashes
}

// Total is the number of changes counted.
func (c SyncCounts) Total() int {
	return c.UsersAdded + c.UsersUpdated + c.UsersRemoved + c.GroupsAdded + c.GroupsUpdated + c.GroupsRemoved +
		c.MembershipsAdded + c.MembershipsRemoved
}

// SyncSkip is an object ApplySync did not make live, and why.
type SyncSkip struct {
	Kind       string // SyncKindUser or SyncKindGroup
	ExternalID string
	Name       string
	Reason     string // OutsideClash or OutsideInvalid
	Detail     string
}

func (k SyncSkip) String() string {
	return fmt.Sprintf("%s %s (%q) not replicated: %s", strings.ToLower(k.Kind), k.ExternalID, k.Name, k.Detail)
}

// SyncState is the synchroniser's persistent state for one directory.
type SyncState struct {
	DirectoryID     int64
	UsersDeltaLink  string // where the next users round starts: a delta link, or a next link mid-round
	GroupsDeltaLink string
	LastFullAt      *time.Time // end of the last complete full round
	LastSuccessAt   *time.Time
	LastError       string
	ConfigHash      string // fingerprint of the mapping the replica was built with
	// ReleaseRun is the HELD run an administrator released (ReleaseHeldSync), and ReleaseUsers and
	// ReleaseGroups the removals approved with it: the next round may remove up to that many.
	ReleaseRun    int64
	ReleaseUsers  int
	ReleaseGroups int
	// FullReason, when set, is why the next round must be a full one (see ApplySync); a complete full
	// round clears it.
	FullReason string
	UpdatedAt  time.Time
}

// TableName maps SyncState to its table.
func (SyncState) TableName() string { return "sync_state" }

// SyncRun is one recorded sync run.
type SyncRun struct {
	ID          int64
	DirectoryID int64
	Mode        string // SyncModeFull or SyncModeDelta
	Status      string // SyncRunning, SyncSucceeded, SyncFailed, SyncAborted
	Instance    string
	StartedAt   time.Time
	FinishedAt  *time.Time
	SyncCounts  `gorm:"embedded"`
	Errors      string
}

// TableName maps SyncRun to its table.
func (SyncRun) TableName() string { return "sync_runs" }

// Duration is how long the run took (so far, while it runs).
func (r SyncRun) Duration() time.Duration {
	if r.FinishedAt == nil {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// SyncState returns the sync state of a directory, ErrNotFound before its first run.
func (s *Store) SyncState(ctx context.Context, dirID int64) (SyncState, error) {
	var st SyncState
	err := s.q(ctx).Where("directory_id = ?", dirID).Take(&st).Error
	return st, translate(err, "sync state of directory %d", dirID)
}

// SaveSyncState writes a directory's sync state (insert or replace). Inside InTx it commits with the
// changes it describes.
func (s *Store) SaveSyncState(ctx context.Context, st SyncState) error {
	st.UpdatedAt = s.now()
	err := s.q(ctx).Exec("INSERT INTO sync_state (directory_id, users_delta_link, groups_delta_link, last_full_at, "+
		"last_success_at, last_error, config_hash, release_run, release_users, release_groups, full_reason, updated_at) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "+
		"ON CONFLICT (directory_id) DO UPDATE SET users_delta_link = excluded.users_delta_link, "+
		"groups_delta_link = excluded.groups_delta_link, last_full_at = excluded.last_full_at, "+
		"last_success_at = excluded.last_success_at, last_error = excluded.last_error, "+
		"config_hash = excluded.config_hash, release_run = excluded.release_run, release_users = excluded.release_users, "+
		"release_groups = excluded.release_groups, full_reason = excluded.full_reason, updated_at = excluded.updated_at",
		st.DirectoryID, st.UsersDeltaLink, st.GroupsDeltaLink, syncUTC(st.LastFullAt), syncUTC(st.LastSuccessAt),
		st.LastError, st.ConfigHash, st.ReleaseRun, st.ReleaseUsers, st.ReleaseGroups, st.FullReason, st.UpdatedAt).Error
	return translate(err, "sync state of directory %d", st.DirectoryID)
}

func syncUTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// SyncRunStale is how long a RUNNING run may go without a heartbeat (HeartbeatSyncRun) before the
// next run marks it ABORTED.
const SyncRunStale = 2 * time.Minute

// StartSyncRun records the start of a run. Runs of the directory still marked RUNNING whose last
// heartbeat (or start) is older than SyncRunStale are marked ABORTED: their process died. A run that
// still beats is left alone: it may have lost the sync lock (its connection dropped) and be alive,
// its writes fenced (SyncFence), and then it records its own end. A caller that knows a run's
// process is gone (same host, no such process) marks it with AbortSyncRun first.
func (s *Store) StartSyncRun(ctx context.Context, dirID int64, mode, instance string) (SyncRun, error) {
	run := SyncRun{DirectoryID: dirID, Mode: mode, Status: SyncRunning, Instance: instance, StartedAt: s.now()}
	err := s.InTx(ctx, func(tx *Store) error {
		err := tx.q(ctx).Exec("UPDATE sync_runs SET status = ?, finished_at = ?, errors = ? WHERE directory_id = ? AND status = ? "+
			"AND COALESCE(heartbeat_at, started_at) < ?",
			SyncAborted, run.StartedAt, "the run ended without finishing (process stopped)", dirID, SyncRunning,
			run.StartedAt.Add(-SyncRunStale)).Error
		if err != nil {
			return fmt.Errorf("sync runs: %w", err)
		}
		return translate(tx.q(ctx).Create(&run).Error, "sync run")
	})
	return run, err
}

// AbortSyncRun marks a RUNNING run ABORTED (its process is known to be gone, see StartSyncRun).
func (s *Store) AbortSyncRun(ctx context.Context, runID int64, why string) error {
	err := s.q(ctx).Exec("UPDATE sync_runs SET status = ?, finished_at = ?, errors = ? WHERE id = ? AND status = ?",
		SyncAborted, s.now(), why, runID, SyncRunning).Error
	return translate(err, "sync run %d", runID)
}

// HeartbeatSyncRun records that a RUNNING run is alive (see StartSyncRun).
func (s *Store) HeartbeatSyncRun(ctx context.Context, runID int64) error {
	err := s.q(ctx).Exec("UPDATE sync_runs SET heartbeat_at = ? WHERE id = ? AND status = ?", s.now(), runID, SyncRunning).Error
	return translate(err, "sync run %d", runID)
}

// FinishSyncRun records the outcome of a run: its mode, status, counts and errors; FinishedAt is set
// to now when nil.
func (s *Store) FinishSyncRun(ctx context.Context, run SyncRun) error {
	if run.FinishedAt == nil {
		t := s.now()
		run.FinishedAt = &t
	}
	c := run.SyncCounts
	err := s.q(ctx).Exec("UPDATE sync_runs SET mode = ?, status = ?, finished_at = ?, users_added = ?, users_updated = ?, "+
		"users_removed = ?, groups_added = ?, groups_updated = ?, groups_removed = ?, memberships_added = ?, "+
		"memberships_removed = ?, name_clashes = ?, errors = ? WHERE id = ?",
		run.Mode, run.Status, syncUTC(run.FinishedAt), c.UsersAdded, c.UsersUpdated, c.UsersRemoved, c.GroupsAdded,
		c.GroupsUpdated, c.GroupsRemoved, c.MembershipsAdded, c.MembershipsRemoved, c.NameClashes, run.Errors, run.ID).Error
	return translate(err, "sync run %d", run.ID)
}

// SyncFinish is what the end of a sync run records.
type SyncFinish struct {
	Run       SyncRun
	State     SyncState
	Directory string // the directory's name, the audit entry's object
	Details   any    // the audit entry's details
	// Fence, when not 0, is the run's fencing token: once another run took the sync lock, only the
	// run's own record is written (FAILED, ErrSyncFenced), not the directory's sync state.
	Fence int64
}

// FinishSync records the end of a run in one transaction: the run, the directory's sync state and
// the SYNC_FINISHED (or, for a failed run, SYNC_FAILED) audit entry. Whoever sees the run finished
// therefore also sees its state and its audit entry.
func (s *Store) FinishSync(ctx context.Context, f SyncFinish) error {
	outcome, action := "SUCCESS", "SYNC_FINISHED"
	switch f.Run.Status {
	case SyncFailed:
		outcome, action = "FAILURE", "SYNC_FAILED"
	case SyncHeld:
		outcome, action = "FAILURE", "SYNC_HELD"
	}
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.checkFence(ctx, f.Run.DirectoryID, f.Fence); errors.Is(err, ErrSyncFenced) {
			f.Run.Status, f.Run.Errors = SyncFailed, err.Error()+"\n"+f.Run.Errors
			outcome, action = "FAILURE", "SYNC_FAILED"
		} else if err != nil {
			return err
		} else if err := tx.SaveSyncState(ctx, f.State); err != nil {
			return err
		}
		if err := tx.FinishSyncRun(ctx, f.Run); err != nil {
			return err
		}
		return tx.Audit(ctx, outcome, action, "DIRECTORY", f.Directory, f.Details)
	})
}

// SyncRuns returns the latest runs of a directory, newest first (limit <= 0: 50).
func (s *Store) SyncRuns(ctx context.Context, dirID int64, limit int) ([]SyncRun, error) {
	if limit <= 0 {
		limit = 50
	}
	var runs []SyncRun
	err := s.q(ctx).Where("directory_id = ?", dirID).Order("id DESC").Limit(limit).Find(&runs).Error
	return runs, translate(err, "sync runs of directory %d", dirID)
}

// syncLockClass is the first key of the PostgreSQL advisory lock that serialises sync runs of one
// directory across instances (the second key is the directory id). Two-key advisory locks live apart
// from the one-key event lock.
const syncLockClass = 0x63677379 // "cgsy"

// sqliteSyncLocks serialises sync runs within the process for SQLite, which one process owns. Keyed by
// database identity and directory, so two Stores opened on the same file share the lock.
var sqliteSyncLocks sync.Map // syncLockKey → *sync.Mutex

type syncLockKey struct {
	db  string
	dir int64
}

// TryLockSync takes the lock that allows one sync run per directory at a time across all instances,
// without waiting: ok is false when another run holds it. On PostgreSQL it is a session advisory lock
// held on a dedicated connection until unlock (or until that connection dies); on SQLite an
// in-process mutex. unlock may be called more than once.
func (s *Store) TryLockSync(ctx context.Context, dirID int64) (unlock func(), ok bool, err error) {
	if s.dialect != "postgres" {
		v, _ := sqliteSyncLocks.LoadOrStore(syncLockKey{s.shared.dbID, dirID}, &sync.Mutex{})
		mu := v.(*sync.Mutex)
		if !mu.TryLock() {
			return nil, false, nil
		}
		return sync.OnceFunc(mu.Unlock), true, nil
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, false, fmt.Errorf("sync lock: %w", err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("sync lock: %w", err)
	}
	key := int32(dirID ^ dirID>>32)
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1, $2)", int32(syncLockClass), key).Scan(&got); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("sync lock: %w", err)
	}
	if !got {
		conn.Close()
		return nil, false, nil
	}
	return sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var released bool
		err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1, $2)", int32(syncLockClass), key).Scan(&released)
		if err != nil || !released {
			// Never hand a connection that may still hold the lock back to the pool: discard it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}), true, nil
}

// SyncReplicaUser is a replicated user with its row id.
type SyncReplicaUser struct {
	ID int64
	SyncUser
}

// SyncReplicaGroup is a replicated group with its row id.
type SyncReplicaGroup struct {
	ID int64
	SyncGroup
	Inactive bool // deactivated: soft-deleted in Entra ID (see SyncBatch.DeactivateGroups)
}

// SyncSnapshot is the whole replica of one directory as the synchroniser compares it: users and
// groups (live or not), direct memberships by row ids, and the outside records.
type SyncSnapshot struct {
	Users            []SyncReplicaUser
	Groups           []SyncReplicaGroup
	UserMemberships  [][2]int64 // group id, user id
	GroupMemberships [][2]int64 // parent id, child id
	Outside          []SyncOutside
}

// SyncReplicaSize counts the users and groups of an AZURE_AD directory's replica, as SyncSnapshot
// lists them, without reading them: what the mass-change guard's thresholds scale with.
func (s *Store) SyncReplicaSize(ctx context.Context, dirID int64) (users, groups int, err error) {
	err = s.q(ctx).Raw("SELECT (SELECT COUNT(*) FROM users WHERE directory_id = ?), (SELECT COUNT(*) FROM groups WHERE directory_id = ?)",
		dirID, dirID).Row().Scan(&users, &groups)
	if err != nil {
		return 0, 0, fmt.Errorf("replica size: %w", err)
	}
	return users, groups, nil
}

// SyncSnapshot reads the replica of a directory. At 100,000 users and 1,000,000 memberships it holds
// a few tens of megabytes.
func (s *Store) SyncSnapshot(ctx context.Context, dirID int64) (SyncSnapshot, error) {
	var snap SyncSnapshot
	err := s.syncScan(ctx, "SELECT id, external_id, name, first_name, last_name, display_name, email, active FROM users "+
		"WHERE directory_id = ?", []any{dirID}, func(scan func(...any) error) error {
		var u SyncReplicaUser
		if err := scan(&u.ID, &u.ExternalID, &u.Name, &u.FirstName, &u.LastName, &u.DisplayName, &u.Email, &u.Active); err != nil {
			return err
		}
		snap.Users = append(snap.Users, u)
		return nil
	})
	if err != nil {
		return SyncSnapshot{}, fmt.Errorf("sync snapshot users: %w", err)
	}
	err = s.syncScan(ctx, "SELECT id, external_id, name, description, active FROM groups WHERE directory_id = ?", []any{dirID},
		func(scan func(...any) error) error {
			var g SyncReplicaGroup
			var active bool
			if err := scan(&g.ID, &g.ExternalID, &g.Name, &g.Description, &active); err != nil {
				return err
			}
			g.Inactive = !active
			snap.Groups = append(snap.Groups, g)
			return nil
		})
	if err != nil {
		return SyncSnapshot{}, fmt.Errorf("sync snapshot groups: %w", err)
	}
	pairs := func(q string) ([][2]int64, error) {
		var out [][2]int64
		err := s.syncScan(ctx, q, []any{dirID}, func(scan func(...any) error) error {
			var p [2]int64
			if err := scan(&p[0], &p[1]); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
		return out, err
	}
	if snap.UserMemberships, err = pairs("SELECT m.group_id, m.user_id FROM user_memberships m JOIN groups g ON g.id = m.group_id WHERE g.directory_id = ?"); err != nil {
		return SyncSnapshot{}, fmt.Errorf("sync snapshot memberships: %w", err)
	}
	if snap.GroupMemberships, err = pairs("SELECT m.parent_id, m.child_id FROM group_memberships m JOIN groups g ON g.id = m.parent_id WHERE g.directory_id = ?"); err != nil {
		return SyncSnapshot{}, fmt.Errorf("sync snapshot memberships: %w", err)
	}
	if snap.Outside, err = s.syncOutsideRecords(ctx, dirID, nil); err != nil {
		return SyncSnapshot{}, err
	}
	return snap, nil
}

// syncOutsideRecords reads the outside records of a directory: all of them (exts nil) or those of exts.
func (s *Store) syncOutsideRecords(ctx context.Context, dirID int64, exts []string) ([]SyncOutside, error) {
	q, args := "SELECT external_id, kind, reason, lower_name, data FROM sync_outside WHERE directory_id = ?", []any{dirID}
	if exts != nil {
		cond, arg := s.syncInTexts("external_id", exts)
		q, args = q+" AND "+cond, append(args, arg)
	}
	var out []SyncOutside
	err := s.syncScan(ctx, q, args, func(scan func(...any) error) error {
		var o SyncOutside
		var data string
		if err := scan(&o.ExternalID, &o.Kind, &o.Reason, &o.Name, &data); err != nil {
			return err
		}
		if data != "" {
			var u SyncUser
			if err := json.Unmarshal([]byte(data), &u); err != nil {
				return fmt.Errorf("outside record %s: %w", o.ExternalID, err)
			}
			o.User = &u
		}
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sync outside records: %w", err)
	}
	return out, nil
}

// SyncObject is what the replica knows of one external id (see SyncLookup).
type SyncObject struct {
	ExternalID string
	Kind       string       // SyncKindUser or SyncKindGroup
	ID         int64        // replica row id; 0 when there is no row
	User       SyncUser     // the row, for users
	Group      SyncGroup    // the row, for groups
	Outside    *SyncOutside // the outside record, if any
}

// InReplica reports whether the replica has a row for the object (live or not).
func (o SyncObject) InReplica() bool { return o.ID != 0 }

// Live reports whether the object is in the replica and not listed outside it.
func (o SyncObject) Live() bool { return o.ID != 0 && o.Outside == nil }

// SyncLookup returns what the replica knows of each of exts (users, groups and outside records);
// unknown ids are absent from the map.
func (s *Store) SyncLookup(ctx context.Context, dirID int64, exts []string) (map[string]SyncObject, error) {
	out := make(map[string]SyncObject, len(exts))
	if len(exts) == 0 {
		return out, nil
	}
	exts = slices.Compact(slices.Sorted(slices.Values(exts)))
	cond, arg := s.syncInTexts("external_id", exts)
	err := s.syncScan(ctx, "SELECT id, external_id, name, first_name, last_name, display_name, email, active FROM users "+
		"WHERE directory_id = ? AND "+cond, []any{dirID, arg}, func(scan func(...any) error) error {
		var o SyncObject
		u := &o.User
		if err := scan(&o.ID, &u.ExternalID, &u.Name, &u.FirstName, &u.LastName, &u.DisplayName, &u.Email, &u.Active); err != nil {
			return err
		}
		o.ExternalID, o.Kind = u.ExternalID, SyncKindUser
		out[o.ExternalID] = o
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sync lookup users: %w", err)
	}
	err = s.syncScan(ctx, "SELECT id, external_id, name, description FROM groups WHERE directory_id = ? AND "+cond,
		[]any{dirID, arg}, func(scan func(...any) error) error {
			var o SyncObject
			g := &o.Group
			if err := scan(&o.ID, &g.ExternalID, &g.Name, &g.Description); err != nil {
				return err
			}
			o.ExternalID, o.Kind = g.ExternalID, SyncKindGroup
			out[o.ExternalID] = o
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("sync lookup groups: %w", err)
	}
	recs, err := s.syncOutsideRecords(ctx, dirID, exts)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		o := out[r.ExternalID]
		o.ExternalID = r.ExternalID
		if o.Kind == "" {
			o.Kind = r.Kind
		}
		o.Outside = &r
		out[r.ExternalID] = o
	}
	return out, nil
}

package store

import (
	"context"
	"fmt"
	"time"
)

// SyncHealth is what monitoring needs to know of one active Entra ID directory's synchronisation.
type SyncHealth struct {
	Directory   string
	Config      string    // the directory's settings (JSON), for the schedule
	LastSuccess time.Time // zero when no run has succeeded
	LastStatus  string    // the latest run's status ("" when none has run)
	// NameClashes are the objects synced under another name than the one they asked for (docs/sync-names.md).
	NameClashes int
	// Pending memberships wait for their member to arrive (replication lag); PendingSince is when the
	// oldest began waiting (zero when none waits).
	Pending      int
	PendingSince time.Time
}

// SyncHealth reports every active Entra ID directory's last successful synchronisation and the
// status of its latest run.
func (s *Store) SyncHealth(ctx context.Context) ([]SyncHealth, error) {
	var rows []struct {
		Name          string
		Config        string
		LastSuccessAt *time.Time
		LastStatus    *string
		NameClashes   int
		Pending       int
		PendingSince  *time.Time
	}
	err := s.q(ctx).Raw("SELECT d.name, d.config, st.last_success_at, "+
		"(SELECT r.status FROM sync_runs r WHERE r.directory_id = d.id ORDER BY r.id DESC LIMIT 1) AS last_status, "+
		"(SELECT COUNT(*) FROM sync_name_clashes c WHERE c.directory_id = d.id) AS name_clashes, "+
		"(SELECT COUNT(*) FROM sync_pending p WHERE p.directory_id = d.id) AS pending, "+
		"(SELECT MIN(p.since) FROM sync_pending p WHERE p.directory_id = d.id) AS pending_since "+
		"FROM directories d LEFT JOIN sync_state st ON st.directory_id = d.id "+
		"WHERE d.kind = ? AND d.active = ? ORDER BY d.id", DirectoryAzureAD, true).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("sync health: %w", err)
	}
	out := make([]SyncHealth, 0, len(rows))
	for _, r := range rows {
		h := SyncHealth{Directory: r.Name, Config: r.Config, NameClashes: r.NameClashes, Pending: r.Pending}
		if r.PendingSince != nil {
			h.PendingSince = *r.PendingSince
		}
		if r.LastSuccessAt != nil {
			h.LastSuccess = *r.LastSuccessAt
		}
		if r.LastStatus != nil {
			h.LastStatus = *r.LastStatus
		}
		out = append(out, h)
	}
	return out, nil
}

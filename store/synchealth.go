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
}

// SyncHealth reports every active Entra ID directory's last successful synchronisation and the
// status of its latest run.
func (s *Store) SyncHealth(ctx context.Context) ([]SyncHealth, error) {
	var rows []struct {
		Name          string
		Config        string
		LastSuccessAt *time.Time
		LastStatus    *string
	}
	err := s.q(ctx).Raw("SELECT d.name, d.config, st.last_success_at, "+
		"(SELECT r.status FROM sync_runs r WHERE r.directory_id = d.id ORDER BY r.id DESC LIMIT 1) AS last_status "+
		"FROM directories d LEFT JOIN sync_state st ON st.directory_id = d.id "+
		"WHERE d.kind = ? AND d.active = ? ORDER BY d.id", DirectoryAzureAD, true).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("sync health: %w", err)
	}
	out := make([]SyncHealth, 0, len(rows))
	for _, r := range rows {
		h := SyncHealth{Directory: r.Name, Config: r.Config}
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

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
)

// settingAdminEntraGroups holds the Entra object ids bound as administrator groups in the console,
// as a JSON array, next to those of the configuration (Config.AdminEntraGroups).
const settingAdminEntraGroups = "admin_entra_groups"

// objectIDRE is an Entra object id: a GUID.
var objectIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// AdminEntraGroups returns the Entra object ids bound as administrator groups: those of the
// configuration (CROWDGATE_ADMIN_ENTRA_GROUPS), which the console cannot change, and those bound in
// the console.
func (s *Store) AdminEntraGroups(ctx context.Context) (configured, bound []string, err error) {
	bound, err = s.boundEntraObjectIDs(ctx)
	return slices.Clone(s.shared.adminEntraGroups), bound, err
}

// SetAdminEntraGroups replaces the Entra object ids bound in the console, audited. Every entry must
// be a GUID; nothing is saved otherwise.
func (s *Store) SetAdminEntraGroups(ctx context.Context, ids []string) error {
	ids = normaliseObjectIDs(ids)
	for _, id := range ids {
		if !objectIDRE.MatchString(id) {
			return fmt.Errorf("%q is not an Entra object id (a GUID such as 5a5a5a5a-0000-4000-8000-00000000ad01): %w", CapName(id), ErrInvalid)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return s.InTx(ctx, func(tx *Store) error {
		old, err := tx.boundEntraObjectIDs(ctx)
		if err != nil {
			return err
		}
		if slices.Equal(old, ids) {
			return nil
		}
		b, _ := json.Marshal(ids)
		if err := tx.q(ctx).Exec("INSERT INTO settings (name, value) VALUES (?, ?) "+
			"ON CONFLICT (name) DO UPDATE SET value = excluded.value", settingAdminEntraGroups, string(b)).Error; err != nil {
			return fmt.Errorf("bind Entra admin groups: %w", err)
		}
		d, _ := json.Marshal(map[string][]string{"before": old, "after": ids})
		return tx.audit(ctx, "ADMIN_ENTRA_GROUPS_CHANGED", "SETTING", settingAdminEntraGroups, string(d))
	})
}

func (s *Store) boundEntraObjectIDs(ctx context.Context) ([]string, error) {
	ids, err := jsonListSetting[string](ctx, s, settingAdminEntraGroups, "object ids")
	return normaliseObjectIDs(ids), err
}

// adminEntraObjectIDs is every Entra object id bound as an administrator group, lower-cased.
func (s *Store) adminEntraObjectIDs(ctx context.Context) ([]string, error) {
	bound, err := s.boundEntraObjectIDs(ctx)
	if err != nil {
		return nil, err
	}
	out := append(slices.Clone(s.shared.adminEntraGroups), bound...)
	slices.Sort(out)
	return slices.Compact(out), nil
}

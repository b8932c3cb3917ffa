package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Directory operations an application may be granted per mapping (Crowd's OperationType).
const (
	OpCreateUser           = "CREATE_USER"
	OpUpdateUser           = "UPDATE_USER"
	OpUpdateUserAttribute  = "UPDATE_USER_ATTRIBUTE"
	OpDeleteUser           = "DELETE_USER"
	OpCreateGroup          = "CREATE_GROUP"
	OpUpdateGroup          = "UPDATE_GROUP"
	OpUpdateGroupAttribute = "UPDATE_GROUP_ATTRIBUTE"
	OpDeleteGroup          = "DELETE_GROUP"
)

// AllOperations is every directory operation, what Crowd grants a new mapping by default.
var AllOperations = []string{OpCreateUser, OpUpdateUser, OpUpdateUserAttribute, OpDeleteUser,
	OpCreateGroup, OpUpdateGroup, OpUpdateGroupAttribute, OpDeleteGroup}

// Application kinds, for the console's configuration snippets.
const (
	AppJira       = "JIRA"
	AppConfluence = "CONFLUENCE"
	AppGeneric    = "GENERIC"
)

// Application is a Crowd REST client such as Jira or Confluence.
type Application struct {
	ID              int64
	Name            string
	LowerName       string
	Description     string
	Kind            string
	Active          bool
	LowerCaseOutput bool // every user and group name in responses lower-cased
	FilterByAccess  bool // the application sees only users allowed to authenticate (licence control)
	LicenceLimit    int  // 0 means no limit; the console warns near it
	BaseURLs        []string
	ConfigVersion   int64 // bumped on every change of mappings; event tokens carry it
	CreatedAt       time.Time
	UpdatedAt       time.Time

	RemoteAddresses []string  // IPs, CIDRs or host names allowed to call; empty means any
	Mappings        []Mapping // in order: the earliest directory wins a name clash
}

// Mapping gives an application access to one directory.
type Mapping struct {
	DirectoryID int64
	AllowAll    bool     // every user of the directory may authenticate
	Groups      []string // otherwise: nested members of these groups may (lower-cased names)
	Operations  []string // directory operations the application may perform
}

// Allows reports whether the mapping grants op.
func (m Mapping) Allows(op string) bool { return slices.Contains(m.Operations, op) }

type appRow struct {
	ID              int64
	Name            string
	LowerName       string
	Description     string
	Kind            string
	Credential      string
	Active          bool
	LowerCaseOutput bool
	FilterByAccess  bool
	LicenceLimit    int
	BaseURLs        string `gorm:"column:base_urls"`
	ConfigVersion   int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (appRow) TableName() string { return "applications" }

// NewApplication describes an application to create.
type NewApplication struct {
	Name            string
	Description     string
	Kind            string
	Password        string
	Active          bool
	LowerCaseOutput bool
	FilterByAccess  bool
	LicenceLimit    int
	BaseURLs        []string
	RemoteAddresses []string
	Mappings        []Mapping
}

func checkApp(a NewApplication) error {
	if err := checkName("application", a.Name); err != nil {
		return err
	}
	if len(a.Password) < 8 {
		return fmt.Errorf("application %q: the password must have at least 8 characters: %w", a.Name, ErrInvalid)
	}
	switch a.Kind {
	case AppJira, AppConfluence, AppGeneric:
	default:
		return fmt.Errorf("application kind %q is not JIRA, CONFLUENCE or GENERIC: %w", a.Kind, ErrInvalid)
	}
	if a.LicenceLimit < 0 {
		return fmt.Errorf("licence limit must not be negative: %w", ErrInvalid)
	}
	return checkAppSettings(a.RemoteAddresses, a.Mappings, a.BaseURLs)
}

func checkAppSettings(addrs []string, ms []Mapping, urls []string) error {
	for _, a := range addrs {
		if err := checkAddress(a); err != nil {
			return err
		}
	}
	seen := map[int64]bool{}
	for _, m := range ms {
		if seen[m.DirectoryID] {
			return fmt.Errorf("directory %d is mapped twice: %w", m.DirectoryID, ErrInvalid)
		}
		seen[m.DirectoryID] = true
		for _, op := range m.Operations {
			if !slices.Contains(AllOperations, op) {
				return fmt.Errorf("unknown operation %q (want one of %s): %w", op, strings.Join(AllOperations, ", "), ErrInvalid)
			}
		}
		for _, g := range m.Groups {
			if err := checkName("group", g); err != nil {
				return err
			}
		}
	}
	for _, u := range urls {
		if err := checkBaseURL(u); err != nil {
			return err
		}
	}
	return nil
}

// CreateApplication adds an application with its credential, addresses and mappings.
func (s *Store) CreateApplication(ctx context.Context, na NewApplication) (Application, error) {
	if na.Kind == "" {
		na.Kind = AppGeneric
	}
	if err := checkApp(na); err != nil {
		return Application{}, err
	}
	cred, err := s.pw.Hash(ctx, na.Password)
	if err != nil {
		return Application{}, fmt.Errorf("application %q: %w", na.Name, err)
	}
	now := s.now()
	row := appRow{Name: na.Name, LowerName: Lower(na.Name), Description: na.Description, Kind: na.Kind,
		Credential: cred, Active: na.Active, LowerCaseOutput: na.LowerCaseOutput, FilterByAccess: na.FilterByAccess,
		LicenceLimit: na.LicenceLimit, BaseURLs: strings.Join(na.BaseURLs, "\n"), ConfigVersion: 1, CreatedAt: now, UpdatedAt: now}
	var app Application
	err = s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Create(&row).Error; err != nil {
			return translate(err, "application %q", na.Name)
		}
		if err := tx.writeAppSettings(ctx, row.ID, na.RemoteAddresses, na.Mappings); err != nil {
			return err
		}
		if app, err = tx.Application(ctx, row.ID); err != nil {
			return err
		}
		return tx.audit(ctx, "APPLICATION_CREATED", "APPLICATION", na.Name, "")
	})
	return app, err
}

func (s *Store) writeAppSettings(ctx context.Context, appID int64, addrs []string, ms []Mapping) error {
	for _, q := range []string{"DELETE FROM application_addresses WHERE application_id = ?",
		"DELETE FROM application_directories WHERE application_id = ?"} {
		if err := s.q(ctx).Exec(q, appID).Error; err != nil {
			return fmt.Errorf("application settings: %w", err)
		}
	}
	for _, a := range dedupSorted(addrs) {
		if err := s.q(ctx).Exec("INSERT INTO application_addresses (application_id, address) VALUES (?, ?)", appID, a).Error; err != nil {
			return fmt.Errorf("remote address %q: %w", a, err)
		}
	}
	for i, m := range ms {
		if _, err := s.Directory(ctx, m.DirectoryID); err != nil {
			return err
		}
		err := s.q(ctx).Exec("INSERT INTO application_directories (application_id, directory_id, position, allow_all, permissions) VALUES (?, ?, ?, ?, ?)",
			appID, m.DirectoryID, i, m.AllowAll, strings.Join(m.Operations, ",")).Error
		if err != nil {
			return fmt.Errorf("directory mapping %d: %w", m.DirectoryID, err)
		}
		groups := make([]string, len(m.Groups))
		for j, g := range m.Groups {
			groups[j] = Lower(g)
		}
		for _, g := range dedupSorted(groups) {
			err := s.q(ctx).Exec("INSERT INTO application_groups (application_id, directory_id, group_lower_name) VALUES (?, ?, ?)",
				appID, m.DirectoryID, g).Error
			if err != nil {
				return fmt.Errorf("allowed group %q: %w", g, err)
			}
		}
	}
	return nil
}

// Application returns an application by id with its addresses and mappings.
func (s *Store) Application(ctx context.Context, id int64) (Application, error) {
	var row appRow
	if err := s.q(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return Application{}, translate(err, "application %d", id)
	}
	return s.loadApp(ctx, row)
}

// ApplicationByName returns an application by name, case-insensitively.
func (s *Store) ApplicationByName(ctx context.Context, name string) (Application, error) {
	var row appRow
	if err := s.q(ctx).Where("lower_name = ?", Lower(name)).Take(&row).Error; err != nil {
		return Application{}, translate(err, "application %q", name)
	}
	return s.loadApp(ctx, row)
}

// Applications lists every application by name.
func (s *Store) Applications(ctx context.Context) ([]Application, error) {
	var rows []appRow
	if err := s.q(ctx).Order("lower_name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("applications: %w", err)
	}
	return s.loadApps(ctx, rows)
}

func (s *Store) loadApp(ctx context.Context, r appRow) (Application, error) {
	apps, err := s.loadApps(ctx, []appRow{r})
	if err != nil {
		return Application{}, err
	}
	return apps[0], nil
}

// loadApps completes application rows with their addresses, mappings and allowed groups: three
// queries whatever the number of applications.
func (s *Store) loadApps(ctx context.Context, rows []appRow) ([]Application, error) {
	if len(rows) == 0 {
		return []Application{}, nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var addrs []struct {
		ApplicationID int64
		Address       string
	}
	if err := s.q(ctx).Raw("SELECT application_id, address FROM application_addresses WHERE application_id IN ? ORDER BY application_id, address", ids).
		Scan(&addrs).Error; err != nil {
		return nil, fmt.Errorf("application addresses: %w", err)
	}
	var ms []struct {
		ApplicationID int64
		DirectoryID   int64
		AllowAll      bool
		Permissions   string
	}
	if err := s.q(ctx).Raw("SELECT application_id, directory_id, allow_all, permissions FROM application_directories WHERE application_id IN ? ORDER BY application_id, position", ids).
		Scan(&ms).Error; err != nil {
		return nil, fmt.Errorf("application mappings: %w", err)
	}
	var gs []struct {
		ApplicationID  int64
		DirectoryID    int64
		GroupLowerName string
	}
	if err := s.q(ctx).Raw("SELECT application_id, directory_id, group_lower_name FROM application_groups WHERE application_id IN ? ORDER BY application_id, group_lower_name", ids).
		Scan(&gs).Error; err != nil {
		return nil, fmt.Errorf("application groups: %w", err)
	}
	out := make([]Application, len(rows))
	byID := make(map[int64]*Application, len(rows))
	for i, r := range rows {
		a := Application{ID: r.ID, Name: r.Name, LowerName: r.LowerName, Description: r.Description, Kind: r.Kind,
			Active: r.Active, LowerCaseOutput: r.LowerCaseOutput, FilterByAccess: r.FilterByAccess,
			LicenceLimit: r.LicenceLimit, ConfigVersion: r.ConfigVersion, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
		if r.BaseURLs != "" {
			a.BaseURLs = strings.Split(r.BaseURLs, "\n")
		}
		out[i] = a
		byID[r.ID] = &out[i]
	}
	for _, ad := range addrs {
		a := byID[ad.ApplicationID]
		a.RemoteAddresses = append(a.RemoteAddresses, ad.Address)
	}
	type key struct{ app, dir int64 }
	groups := map[key][]string{}
	for _, g := range gs {
		k := key{g.ApplicationID, g.DirectoryID}
		groups[k] = append(groups[k], g.GroupLowerName)
	}
	for _, m := range ms {
		mp := Mapping{DirectoryID: m.DirectoryID, AllowAll: m.AllowAll, Groups: groups[key{m.ApplicationID, m.DirectoryID}]}
		if m.Permissions != "" {
			mp.Operations = strings.Split(m.Permissions, ",")
		}
		a := byID[m.ApplicationID]
		a.Mappings = append(a.Mappings, mp)
	}
	return out, nil
}

// ApplicationChange holds the settings to change; nil means unchanged.
type ApplicationChange struct {
	Description     *string
	Kind            *string
	Active          *bool
	LowerCaseOutput *bool
	FilterByAccess  *bool
	LicenceLimit    *int
	BaseURLs        *[]string
	RemoteAddresses *[]string
	Mappings        *[]Mapping
}

// UpdateApplication changes an application's settings; a change of mappings or filtering expires
// the event tokens issued under the old configuration.
func (s *Store) UpdateApplication(ctx context.Context, id int64, ch ApplicationChange) (Application, error) {
	var app Application
	err := s.InTx(ctx, func(tx *Store) error {
		old, err := tx.Application(ctx, id)
		if err != nil {
			return err
		}
		n := old
		if ch.Description != nil {
			n.Description = *ch.Description
		}
		if ch.Kind != nil {
			n.Kind = *ch.Kind
		}
		if ch.Active != nil {
			n.Active = *ch.Active
		}
		if ch.LowerCaseOutput != nil {
			n.LowerCaseOutput = *ch.LowerCaseOutput
		}
		if ch.FilterByAccess != nil {
			n.FilterByAccess = *ch.FilterByAccess
		}
		if ch.LicenceLimit != nil {
			n.LicenceLimit = *ch.LicenceLimit
		}
		if ch.BaseURLs != nil {
			n.BaseURLs = *ch.BaseURLs
		}
		if ch.RemoteAddresses != nil {
			n.RemoteAddresses = *ch.RemoteAddresses
		}
		if ch.Mappings != nil {
			n.Mappings = *ch.Mappings
		}
		if err := checkApp(NewApplication{Name: n.Name, Password: "unchanged", Kind: n.Kind, LicenceLimit: n.LicenceLimit,
			BaseURLs: n.BaseURLs, RemoteAddresses: n.RemoteAddresses, Mappings: n.Mappings}); err != nil {
			return err
		}
		version := old.ConfigVersion
		if ch.Mappings != nil || n.FilterByAccess != old.FilterByAccess || n.LowerCaseOutput != old.LowerCaseOutput {
			version++
		}
		err = tx.q(ctx).Exec("UPDATE applications SET description = ?, kind = ?, active = ?, lower_case_output = ?, filter_by_access = ?, "+
			"licence_limit = ?, base_urls = ?, config_version = ?, updated_at = ? WHERE id = ?",
			n.Description, n.Kind, n.Active, n.LowerCaseOutput, n.FilterByAccess, n.LicenceLimit,
			strings.Join(n.BaseURLs, "\n"), version, tx.now(), id).Error
		if err != nil {
			return translate(err, "application %q", n.Name)
		}
		if err := tx.writeAppSettings(ctx, id, n.RemoteAddresses, n.Mappings); err != nil {
			return err
		}
		if app, err = tx.Application(ctx, id); err != nil {
			return err
		}
		if err := tx.invalidate(ctx, invForgetApp+old.LowerName, invClearSessions); err != nil {
			return err
		}
		return tx.audit(ctx, "APPLICATION_UPDATED", "APPLICATION", n.Name, "")
	})
	return app, err
}

// SetApplicationPassword replaces an application's credential.
func (s *Store) SetApplicationPassword(ctx context.Context, id int64, pw string) error {
	if len(pw) < 8 {
		return fmt.Errorf("the application password must have at least 8 characters: %w", ErrInvalid)
	}
	cred, err := s.pw.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("application password: %w", err)
	}
	return s.writeApplicationCredential(ctx, id, cred, "APPLICATION_CREDENTIAL_CHANGED")
}

// writeApplicationCredential stores an encoded credential and makes every instance forget the
// verdicts it cached for the old one, in the transaction that audits the change as action.
func (s *Store) writeApplicationCredential(ctx context.Context, id int64, cred, action string) error {
	return s.InTx(ctx, func(tx *Store) error {
		a, err := tx.Application(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.q(ctx).Exec("UPDATE applications SET credential = ?, updated_at = ? WHERE id = ?", cred, tx.now(), id).Error; err != nil {
			return fmt.Errorf("application %q: %w", a.Name, err)
		}
		if err := tx.invalidate(ctx, invForgetApp+a.LowerName); err != nil {
			return err
		}
		return tx.audit(ctx, action, "APPLICATION", a.Name, "")
	})
}

// DeleteApplication removes an application and its sessions.
func (s *Store) DeleteApplication(ctx context.Context, id int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		a, err := tx.Application(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.q(ctx).Exec("DELETE FROM applications WHERE id = ?", id).Error; err != nil {
			return fmt.Errorf("application %q: %w", a.Name, err)
		}
		if err := tx.invalidate(ctx, invForgetApp+a.LowerName, invClearSessions); err != nil {
			return err
		}
		return tx.audit(ctx, "APPLICATION_DELETED", "APPLICATION", a.Name, "")
	})
}

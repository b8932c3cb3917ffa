package store

import (
	"context"
	"fmt"
	"time"
)

// Directory kinds.
const (
	DirectoryInternal = "INTERNAL" // local accounts, writable
	DirectoryAzureAD  = "AZURE_AD" // replica of an Entra ID tenant, written only by the synchroniser
)

// Directory is a source of users and groups.
type Directory struct {
	ID               int64
	Name             string
	LowerName        string
	Kind             string
	Description      string
	Active           bool
	NestedGroups     bool
	Config           string // JSON owned by the surface that uses it (graphsync for AZURE_AD)
	LockoutThreshold int    // failed logins before a lock-out; 0 disables
	LockoutSeconds   int    // how long a lock-out lasts
	MinPasswordLen   int    // password policy for new passwords; 0 means no rule
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// TableName maps Directory to its table.
func (Directory) TableName() string { return "directories" }

// CreateDirectory adds a directory.
func (s *Store) CreateDirectory(ctx context.Context, d Directory) (Directory, error) {
	if err := checkName("directory", d.Name); err != nil {
		return Directory{}, err
	}
	if d.Kind != DirectoryInternal && d.Kind != DirectoryAzureAD {
		return Directory{}, fmt.Errorf("directory kind %q is not %s or %s: %w", d.Kind, DirectoryInternal, DirectoryAzureAD, ErrInvalid)
	}
	if d.Config == "" {
		d.Config = "{}"
	}
	if d.Kind == DirectoryInternal && d.MinPasswordLen == 0 {
		d.MinPasswordLen = DefaultMinPasswordLen
	}
	d.ID = 0
	d.LowerName = Lower(d.Name)
	d.CreatedAt, d.UpdatedAt = s.now(), s.now()
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Create(&d).Error; err != nil {
			return translate(err, "directory %q", d.Name)
		}
		return tx.audit(ctx, "DIRECTORY_CREATED", "DIRECTORY", d.Name, d.Kind)
	})
	return d, err
}

// UpdateDirectory saves a directory's settings (not its kind).
func (s *Store) UpdateDirectory(ctx context.Context, d Directory) (Directory, error) {
	if err := checkName("directory", d.Name); err != nil {
		return Directory{}, err
	}
	err := s.InTx(ctx, func(tx *Store) error {
		old, err := tx.Directory(ctx, d.ID)
		if err != nil {
			return err
		}
		d.Kind, d.CreatedAt, d.LowerName, d.UpdatedAt = old.Kind, old.CreatedAt, Lower(d.Name), tx.now()
		if d.Config == "" {
			d.Config = "{}"
		}
		if err := tx.q(ctx).Save(&d).Error; err != nil {
			return translate(err, "directory %q", d.Name)
		}
		if err := tx.invalidate(ctx, invClearSessions); err != nil {
			return err
		}
		return tx.audit(ctx, "DIRECTORY_UPDATED", "DIRECTORY", d.Name, "")
	})
	return d, err
}

// Directory returns one directory by id.
func (s *Store) Directory(ctx context.Context, id int64) (Directory, error) {
	return byID[Directory](ctx, s, "directory", id)
}

// DirectoryByName returns one directory by name, case-insensitively.
func (s *Store) DirectoryByName(ctx context.Context, name string) (Directory, error) {
	var d Directory
	err := s.q(ctx).Where("lower_name = ?", Lower(name)).Take(&d).Error
	return d, translate(err, "directory %q", name)
}

// Directories lists every directory by id.
func (s *Store) Directories(ctx context.Context) ([]Directory, error) {
	var ds []Directory
	err := s.q(ctx).Order("id").Find(&ds).Error
	return ds, translate(err, "directories")
}

// EnsureInternalDirectory returns the first INTERNAL directory, creating "Internal" when there is none.
func (s *Store) EnsureInternalDirectory(ctx context.Context) (Directory, error) {
	var ds []Directory
	if err := s.q(ctx).Where("kind = ?", DirectoryInternal).Order("id").Limit(1).Find(&ds).Error; err != nil {
		return Directory{}, fmt.Errorf("internal directory: %w", err)
	}
	if len(ds) == 1 {
		return ds[0], nil
	}
	return s.CreateDirectory(ctx, Directory{
		Name: "Internal", Kind: DirectoryInternal, Description: "Local accounts (service and break-glass users)",
		Active: true, NestedGroups: true, LockoutThreshold: 5, LockoutSeconds: 300,
	})
}

package store

import "fmt"

// Permit reports whether the view's application may perform op in directory dirID: the mapping
// grants the operation and the directory is writable (Entra ID replicas are not).
func (v *View) Permit(dirID int64, op string) error {
	m, ok := v.mappings[dirID]
	if !ok {
		return fmt.Errorf("directory %d is not mapped to application %q: %w", dirID, v.App.Name, ErrPermission)
	}
	if v.kinds[dirID] != DirectoryInternal {
		return fmt.Errorf("directory %d is a read-only %s replica: %w", dirID, v.kinds[dirID], ErrPermission)
	}
	if !m.Allows(op) {
		return fmt.Errorf("application %q may not %s in directory %d: %w", v.App.Name, op, dirID, ErrPermission)
	}
	return nil
}

// DirectoryFor returns the first mapped directory where the application may perform op (where
// Crowd creates new users and groups).
func (v *View) DirectoryFor(op string) (int64, error) {
	for _, d := range v.dirs {
		if v.Permit(d, op) == nil {
			return d, nil
		}
	}
	return 0, fmt.Errorf("no directory of application %q permits %s: %w", v.App.Name, op, ErrPermission)
}

package store_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/store"
)

// TestModelColumnsExist: every column the store's model structs read exists in the migrated schema
// of each dialect, so a column added to a struct but to only one dialect's migrations fails here
// rather than in production.
func TestModelColumnsExist(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *store.Store) {
		missing, checked, err := s.MissingModelColumnsForTest()
		if err != nil {
			t.Fatal(err)
		}
		if checked < 50 {
			t.Fatalf("only %d model columns checked: the model list is incomplete", checked)
		}
		for _, c := range missing {
			t.Errorf("column %s is read by the store but missing from the %s schema", c, s.Dialect())
		}
	})
}

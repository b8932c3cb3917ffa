package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
)

// DumpTables are the tables a rejected request must leave as they were (R4): everything but the
// audit log, which records the refusal.
var DumpTables = []string{
	"directories", "users", "user_attributes", "groups", "group_attributes", "user_memberships", "group_memberships",
	"applications", "application_directories", "application_groups", "application_addresses", "settings",
	"sessions", "events", "webhooks", "sync_state", "sync_runs", "sync_outside",
}

// Dump renders the rows of the tables, in primary-key order, as text to compare before and after
// a request. ignore names columns ("users.failed_logins") or whole tables ("sessions") to leave
// out: state a refused request may rightly change, such as a failed-login counter.
func Dump(t testing.TB, s *store.Store, ignore ...string) string {
	t.Helper()
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, table := range DumpTables {
		if slices.Contains(ignore, table) {
			continue
		}
		rows, err := db.Query("SELECT * FROM " + table + " ORDER BY 1")
		if err != nil {
			t.Fatalf("storetest: dump %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "== %s\n", table)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, c := range cols {
				if slices.Contains(ignore, table+"."+c) {
					continue
				}
				v := vals[i]
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%s=%v ", c, v)
			}
			b.WriteString("\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}

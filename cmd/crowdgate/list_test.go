package main

import (
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
)

// TestListsTwoDirectories: `user list` and `group list` without --directory print each directory's
// own rows under its name. They once printed the first directory's rows for every directory (the
// listing's views, of unsaved applications, were shared by the view cache) and left the second
// directory's users out.
func TestListsTwoDirectories(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := dbEnv(t, dialect)
		mustRun(t, e, "", "user", "add", "ivan", "--no-password")
		mustRun(t, e, "", "group", "add", "internal-team")
		st := openStore(t, e)
		if _, err := st.CreateDirectory(t.Context(), store.Directory{Name: "Second", Kind: store.DirectoryInternal, Active: true}); err != nil {
			t.Fatal(err)
		}
		mustRun(t, e, "", "user", "add", "erin", "--no-password", "--directory", "Second")
		mustRun(t, e, "", "group", "add", "second-team", "--directory", "Second")
		st.Close()

		rows := func(out string) map[string]string { // name -> directory
			m := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
				f := strings.Fields(line)
				if len(f) < 2 {
					t.Fatalf("short row %q in:\n%s", line, out)
				}
				if d, ok := m[f[1]]; ok {
					t.Errorf("%s listed twice (under %s and %s):\n%s", f[1], d, f[0], out)
				}
				m[f[1]] = f[0]
			}
			return m
		}
		users := rows(mustRun(t, e, "", "user", "list").stdout)
		if users["ivan"] != "Internal" || users["erin"] != "Second" {
			t.Errorf("user list: ivan under %q, erin under %q; want Internal and Second", users["ivan"], users["erin"])
		}
		groups := rows(mustRun(t, e, "", "group", "list").stdout)
		if groups["internal-team"] != "Internal" || groups["second-team"] != "Second" {
			t.Errorf("group list: internal-team under %q, second-team under %q; want Internal and Second", groups["internal-team"], groups["second-team"])
		}
	})
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/crowdgate/crowdgate/store"
)

// hotQueries are the statements the P1 and P4/P5 paths send (as gorm renders them for PostgreSQL),
// with arguments from the dataset. $DIR is the internal directory id, $USER a user id, and so on.
func (e *env) hotQueries() []struct{ name, sql string } {
	tok := store.HashToken(e.tokens[0])
	user := fmt.Sprint(e.spec.SessionUser(0) + 1)
	userCols := "id, directory_id, external_id, name, lower_name, first_name, last_name, display_name, lower_display_name, email, lower_email, active, password_expired, locked_until, last_login_at, created_at, updated_at"
	return []struct{ name, sql string }{
		{"View: directories of the application (each view-cache reload, 1/s)", `SELECT * FROM "directories" WHERE id IN (1)`},
		{"ValidateSession: session by token hash", `SELECT * FROM "sessions" WHERE token_hash = '` + tok + `' LIMIT 1`},
		{"ValidateSession: user by id", `SELECT ` + userCols + ` FROM "users" WHERE id = ` + user + ` LIMIT 1`},
		{"MayAuthenticate: direct groups of the user", `SELECT group_id FROM user_memberships WHERE user_id = ` + user},
		{"MayAuthenticate: one level of parents (closure)", `SELECT parent_id FROM group_memberships WHERE child_id IN (SELECT group_id FROM user_memberships WHERE user_id = ` + user + `)`},
		{"MayAuthenticate: names of the groups", `SELECT name FROM groups WHERE id IN (SELECT group_id FROM user_memberships WHERE user_id = ` + user + `)`},
		{"Memberships: user members, sorted (P4)", `SELECT g.lower_name, u.name FROM user_memberships m JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id ` +
			`WHERE g.directory_id IN (1) AND 1=1 AND 1=1 ORDER BY g.lower_name, u.lower_name`},
		{"Memberships: child groups, sorted (P4)", `SELECT p.lower_name, c.name FROM group_memberships m JOIN groups p ON p.id = m.parent_id ` +
			`JOIN groups c ON c.id = m.child_id WHERE p.directory_id IN (1) ORDER BY p.lower_name, c.lower_name`},
		{"Memberships: groups (P4)", `SELECT e.* FROM groups e WHERE e.directory_id IN (1) AND 1=1 AND (1=1) ORDER BY e.lower_name LIMIT 4611686018427387904 OFFSET 0`},
		{"Search: all users (P5)", `SELECT e.` + strings.ReplaceAll(userCols, ", ", ", e.") + ` FROM users e WHERE e.directory_id IN (1) AND 1=1 AND 1=1 AND (1=1) ORDER BY e.lower_name LIMIT 4611686018427387904 OFFSET 0`},
		{"Event token: newest event", `SELECT MAX(id) FROM events`},
	}
}

// explain runs EXPLAIN (ANALYZE, BUFFERS) of the hot queries on PostgreSQL and saves the plans.
func (e *env) explain(ctx context.Context) error {
	if !e.o.explain || e.pg == nil {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# EXPLAIN (ANALYZE, BUFFERS) of the hot queries, %s, dataset %s\n\n", e.dr.Dialect, e.spec.Name())
	for _, q := range e.hotQueries() {
		plan, err := explain(ctx, e.dbURL, q.sql)
		if err != nil {
			return fmt.Errorf("%s: %w", q.name, err)
		}
		fmt.Fprintf(&b, "## %s\n\n```sql\n%s\n```\n\n```\n%s```\n\n", q.name, q.sql, plan)
		e.dr.Explain = append(e.dr.Explain, explainLine{Name: q.name, Summary: lastLine(plan)})
	}
	path := filepath.Join(e.rep.dir(e.o), "explain-"+e.dr.Dialect+".md")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	fmt.Println("EXPLAIN ANALYZE of", len(e.hotQueries()), "hot queries written to", path)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func lastLine(plan string) string {
	lines := strings.Split(strings.TrimSpace(plan), "\n")
	var parts []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "Execution Time") || strings.HasPrefix(l, "Planning Time") {
			parts = append(parts, l)
		}
	}
	first := strings.TrimSpace(lines[0])
	if i := strings.Index(first, "  (cost"); i > 0 {
		first = first[:i]
	}
	return first + "; " + strings.Join(parts, ", ")
}

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
	sessCols := "s.*, u." + strings.ReplaceAll(userCols, ", ", ", u.") // store also aliases them (u_*): same plan
	groups := "COALESCE((SELECT string_agg(m.group_id::text, ',') FROM user_memberships m WHERE m.user_id = s.user_id), '') AS groups"
	chunk := "(SELECT id FROM groups WHERE directory_id = 1 ORDER BY lower_name LIMIT 200)" // the first chunk of 200 groups
	return []struct{ name, sql string }{
		{"View: directories of the application (each view-cache reload)", `SELECT * FROM "directories" WHERE id IN (1)`},
		{"ValidateSession on a miss: session, user and direct groups in one read", `SELECT ` + sessCols + `, ` + groups +
			` FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = '` + tok + `' AND s.kind = 'SSO'`},
		{"WarmSessions: one page of 5,000 live sessions with users and groups", `SELECT ` + sessCols + `, ` + groups +
			` FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.kind = 'SSO' AND s.expires_at > now() AND s.id > 0 ORDER BY s.id LIMIT 5000`},
		{"MayAuthenticate outside validation: direct groups of the user", `SELECT group_id FROM user_memberships WHERE user_id = ` + user},
		{"Memberships: groups in name order (P4)", `SELECT e.* FROM groups e WHERE e.directory_id IN (1) AND 1=1 AND (1=1) ORDER BY e.lower_name LIMIT 4611686018427387904 OFFSET 0`},
		{"Memberships: user members of a chunk of 200 groups (P4)", `SELECT m.group_id, u.name FROM user_memberships m JOIN users u ON u.id = m.user_id ` +
			`WHERE m.group_id IN ` + chunk + ` AND 1=1 AND 1=1 ORDER BY m.group_id, u.lower_name`},
		{"Memberships: child groups of a chunk of 200 groups (P4)", `SELECT m.parent_id, c.name FROM group_memberships m JOIN groups c ON c.id = m.child_id ` +
			`WHERE m.parent_id IN ` + chunk + ` ORDER BY m.parent_id, c.lower_name`},
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

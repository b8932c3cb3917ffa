package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Set-based statements for the synchroniser's bulk writes. They bypass gorm (which would expand every
// slice argument into one bind variable per element) and run on the connection or transaction the
// Store is bound to:
//   - PostgreSQL receives whole columns as arrays (text[], bigint[], boolean[]) and reads them with
//     unnest: one bind variable per column, whatever the number of rows;
//   - SQLite receives the rows as one JSON array of arrays and reads them with jsonb_each: one bind
//     variable per statement, so SQLite's limit of 32766 variables is never reached.
// Statements are written with ? placeholders; syncRebind turns them into $n for PostgreSQL.

// syncBulkChunk bounds the rows one statement carries, so statements stay of a reasonable size.
const syncBulkChunk = 5000

// syncRebind turns ? placeholders into PostgreSQL's $1, $2, … (the statements here hold no ? literals).
func (s *Store) syncRebind(q string) string {
	if s.dialect != "postgres" {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// syncExec runs one statement on the Store's connection or transaction and returns the rows affected.
func (s *Store) syncExec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.db.Statement.ConnPool.ExecContext(ctx, s.syncRebind(q), args...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// syncQuery runs a query on the Store's connection or transaction.
func (s *Store) syncQuery(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.db.Statement.ConnPool.QueryContext(ctx, s.syncRebind(q), args...)
}

// syncScan runs q and calls fn for every row with a scanner for it.
func (s *Store) syncScan(ctx context.Context, q string, args []any, fn func(scan func(dest ...any) error) error) error {
	rows, err := s.syncQuery(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// syncInTexts returns the condition "col is one of vals" and its one argument.
func (s *Store) syncInTexts(col string, vals []string) (string, any) {
	if s.dialect == "postgres" {
		if vals == nil {
			vals = []string{}
		}
		return col + " = ANY(?::text[])", vals
	}
	return col + " IN (SELECT value FROM jsonb_each(?))", syncJSON(vals)
}

// syncInInts is syncInTexts for integer columns.
func (s *Store) syncInInts(col string, vals []int64) (string, any) {
	if s.dialect == "postgres" {
		if vals == nil {
			vals = []int64{}
		}
		return col + " = ANY(?::bigint[])", vals
	}
	return col + " IN (SELECT value FROM jsonb_each(?))", syncJSON(vals)
}

// syncJSON encodes v as JSON for SQLite's jsonb_each; the values here always encode.
func syncJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: encode syncBulk rows: %v", err))
	}
	return string(b)
}

// syncCol is one column of a set-based statement: its PostgreSQL array type and its values.
type syncCol struct {
	pgType string // "text", "bigint" or "boolean"
	values any    // []string, []int64 or []bool, all columns of one statement the same length
}

func syncTexts(v []string) syncCol { return syncCol{"text", v} }
func syncInts(v []int64) syncCol   { return syncCol{"bigint", v} }
func syncBools(v []bool) syncCol   { return syncCol{"boolean", v} }

func (c syncCol) len() int {
	switch v := c.values.(type) {
	case []string:
		return len(v)
	case []int64:
		return len(v)
	case []bool:
		return len(v)
	}
	return 0
}

func (c syncCol) slice(i, j int) syncCol {
	switch v := c.values.(type) {
	case []string:
		return syncCol{c.pgType, v[i:j]}
	case []int64:
		return syncCol{c.pgType, v[i:j]}
	case []bool:
		return syncCol{c.pgType, v[i:j]}
	}
	return c
}

func (c syncCol) at(i int) any {
	switch v := c.values.(type) {
	case []string:
		return v[i]
	case []int64:
		return v[i]
	case []bool:
		return v[i]
	}
	return nil
}

// syncRowSource returns the FROM item that yields the rows of cols as a relation t(names…) with an
// ordinal column ord, and its argument list; names are the column aliases.
func (s *Store) syncRowSource(cols []syncCol, names []string) (string, []any) {
	if s.dialect == "postgres" {
		parts := make([]string, len(cols))
		args := make([]any, len(cols))
		for i, c := range cols {
			parts[i] = "?::" + c.pgType + "[]"
			args[i] = c.values
		}
		return "unnest(" + strings.Join(parts, ", ") + ") WITH ORDINALITY AS t(" + strings.Join(names, ", ") + ", ord)", args
	}
	n := 0
	if len(cols) > 0 {
		n = cols[0].len()
	}
	rows := make([][]any, n)
	for i := range n {
		row := make([]any, len(cols))
		for j, c := range cols {
			row[j] = c.at(i)
		}
		rows[i] = row
	}
	sel := make([]string, len(names))
	for i, name := range names {
		sel[i] = "value ->> " + strconv.Itoa(i) + " AS " + name
	}
	// jsonb_each parses the text once; each value is then a JSONB blob that ->> reads directly.
	return "(SELECT " + strings.Join(sel, ", ") + ", key AS ord FROM jsonb_each(?)) AS t", []any{syncJSON(rows)}
}

// syncBulk runs build for consecutive chunks of at most syncBulkChunk rows of cols. build gets the
// FROM item for the chunk (see syncRowSource) and its arguments, and returns the statement and all
// its arguments in order.
func (s *Store) syncBulk(ctx context.Context, cols []syncCol, names []string,
	build func(from string, fromArgs []any) (string, []any)) (int64, error) {
	if len(cols) == 0 || cols[0].len() == 0 {
		return 0, nil
	}
	var total int64
	n := cols[0].len()
	for i := 0; i < n; i += syncBulkChunk {
		j := min(i+syncBulkChunk, n)
		part := make([]syncCol, len(cols))
		for k, c := range cols {
			part[k] = c.slice(i, j)
		}
		from, fargs := s.syncRowSource(part, names)
		q, args := build(from, fargs)
		m, err := s.syncExec(ctx, q, args...)
		if err != nil {
			return total, err
		}
		total += m
	}
	return total, nil
}

// syncBulkQuery is syncBulk for statements with RETURNING: fn sees every returned row.
func (s *Store) syncBulkQuery(ctx context.Context, cols []syncCol, names []string,
	build func(from string, fromArgs []any) (string, []any), fn func(scan func(dest ...any) error) error) error {
	if len(cols) == 0 || cols[0].len() == 0 {
		return nil
	}
	n := cols[0].len()
	for i := 0; i < n; i += syncBulkChunk {
		j := min(i+syncBulkChunk, n)
		part := make([]syncCol, len(cols))
		for k, c := range cols {
			part[k] = c.slice(i, j)
		}
		from, fargs := s.syncRowSource(part, names)
		q, args := build(from, fargs)
		if err := s.syncScan(ctx, q, args, fn); err != nil {
			return err
		}
	}
	return nil
}

// syncWriteEvents appends events in the current transaction, in order, in a few set-based statements.
// On PostgreSQL it first takes the same transaction-level lock as event(), so event ids are
// assigned in commit order; callers write their data first and events last to hold it briefly.
func (s *Store) syncWriteEvents(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	if s.tx == nil {
		return fmt.Errorf("events: written outside a transaction")
	}
	if s.dialect == "postgres" && !s.tx.eventLocked {
		if _, err := s.syncExec(ctx, "SELECT pg_advisory_xact_lock(?)", int64(eventLockKey)); err != nil {
			return fmt.Errorf("event lock: %w", err)
		}
		s.tx.eventLocked = true
	}
	// Consecutive events of one directory, entity and operation go in one statement with those as
	// scalars (less to ship and to extract per row); statements run in event order.
	at := s.now()
	for i := 0; i < len(evs); {
		j := i + 1
		for j < len(evs) && evs[j].DirectoryID == evs[i].DirectoryID && evs[j].Entity == evs[i].Entity && evs[j].Operation == evs[i].Operation {
			j++
		}
		run := evs[i:j]
		name, other := make([]string, len(run)), make([]string, len(run))
		ids := make([]int64, len(run))
		for k, e := range run {
			ids[k], name[k], other[k] = e.EntityID, e.Name, e.OtherName
		}
		e0 := run[0]
		_, err := s.syncBulk(ctx, []syncCol{syncInts(ids), syncTexts(name), syncTexts(other)},
			[]string{"eid", "n", "o"}, func(from string, fargs []any) (string, []any) {
				return "INSERT INTO events (created_at, directory_id, entity, operation, entity_id, name, other_name) " +
					"SELECT ?, ?, ?, ?, eid, n, o FROM " + from + " ORDER BY ord", append([]any{at, e0.DirectoryID, e0.Entity, e0.Operation}, fargs...)
			})
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		i = j
	}
	return nil
}

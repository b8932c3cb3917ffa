package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgAdmin creates and drops the benchmark database and reads its statistics, over a connection to
// the admin database (never to the benchmark database, so it adds no commits there).
type pgAdmin struct {
	conn   *pgx.Conn
	dbName string
	dbURL  string
}

func newPGAdmin(ctx context.Context, adminURL string) (*pgAdmin, error) {
	u, err := url.Parse(adminURL)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		return nil, fmt.Errorf("-postgres must be a postgres:// URL: %v", err)
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact(adminURL), err)
	}
	name := fmt.Sprintf("crowdgate_bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("create database: %w", err)
	}
	u.Path = "/" + name
	return &pgAdmin{conn: conn, dbName: name, dbURL: u.String()}, nil
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

// drop removes the benchmark database.
func (p *pgAdmin) drop(ctx context.Context) error {
	defer p.conn.Close(ctx)
	_, err := p.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+p.dbName+" WITH (FORCE)")
	return err
}

// dbStats are the benchmark database's counters from pg_stat_database.
type dbStats struct {
	Commits, Rollbacks                 int64
	TupInserted, TupUpdated, TupDelete int64
	Backends                           int
	BlksRead, BlksHit                  int64
}

func (p *pgAdmin) stats(ctx context.Context) (dbStats, error) {
	var s dbStats
	err := p.conn.QueryRow(ctx, "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, numbackends, blks_read, blks_hit "+
		"FROM pg_stat_database WHERE datname = $1", p.dbName).Scan(&s.Commits, &s.Rollbacks, &s.TupInserted, &s.TupUpdated, &s.TupDelete,
		&s.Backends, &s.BlksRead, &s.BlksHit)
	return s, err
}

// settledStats reads the counters once every backend of the benchmark database has exited (after
// the server closed its idle connections): a PostgreSQL backend flushes its pending statistics when it
// exits, whereas an idle one may hold them for up to 10 s. It waits at most 5 s.
func (p *pgAdmin) settledStats(ctx context.Context, c *child) (dbStats, error) {
	if err := c.closeIdle(); err != nil {
		return dbStats{}, err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		// The invalidation listener keeps its own connection (LISTEN); it commits nothing.
		err := p.conn.QueryRow(ctx, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND query NOT ILIKE 'listen %'", p.dbName).Scan(&n)
		if err != nil {
			return dbStats{}, err
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// pg_stat_database is read from a snapshot per transaction; a fresh statement sees the flush.
	p.conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()")
	return p.stats(ctx)
}

// forcedCheckpoints is the cluster's count of requested checkpoints: other clients' CREATE or DROP
// DATABASE (test suites) force them, and each one stalls I/O for every database of the cluster.
func (p *pgAdmin) forcedCheckpoints(ctx context.Context) int64 {
	var n int64
	p.conn.QueryRow(ctx, "SELECT checkpoints_req FROM pg_stat_bgwriter").Scan(&n)
	return n
}

// explain runs EXPLAIN (ANALYZE, BUFFERS) of a query in the benchmark database.
func explain(ctx context.Context, dbURL, query string, args ...any) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		b.WriteString(line + "\n")
	}
	return b.String(), rows.Err()
}

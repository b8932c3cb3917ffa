package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/crowdgate/crowdgate/migrations"
	"github.com/crowdgate/crowdgate/store/password"
)

// DefaultSQLitePath is where the embedded database lives when nothing is configured.
const DefaultSQLitePath = "data/crowdgate.db"

// DefaultSessionCacheTTL is how long a session held in memory is reused at most.
const DefaultSessionCacheTTL = 10 * time.Minute

// Config selects and tunes the database.
type Config struct {
	// URL is a postgres:// (or postgresql://) URL, or a SQLite file path. Empty means DefaultSQLitePath.
	URL string
	// PasswordWorkers bounds concurrent password hashing; 0 means one per CPU.
	PasswordWorkers int
	// SessionCacheTTL bounds how long a session held in memory is reused before it is read again;
	// 0 means DefaultSessionCacheTTL. Changes made through any instance invalidate it at once
	// (LISTEN/NOTIFY on PostgreSQL; a lost listener connection clears everything), so this only
	// bounds staleness should an invalidation ever be missed. WarmSessions reloads all at half of it.
	SessionCacheTTL time.Duration
	// EventRetention is how long events are kept for incremental sync; 0 means 7 days.
	EventRetention time.Duration
	// SessionTimeout is the SSO idle timeout and the cap on requested durations; 0 means 30 minutes.
	SessionTimeout time.Duration
	// RequireConsistentIP turns on Crowd's "require consistent client IP address" session check. Off by
	// default: sessions are created at crowdgate's sign-in, and the address Jira later reports is often
	// its proxy's.
	RequireConsistentIP bool
	// AdminEntraGroups are the object ids of Entra ID groups whose (nested) members administer
	// crowdgate, besides the internal administrator group bound by id (see Administrator).
	AdminEntraGroups []string
	// SkipMigrations opens the database without applying migrations (crowdgate migrate status/down).
	SkipMigrations bool
}

// Dialect reports "postgres" or "sqlite" for the configured URL.
func (c Config) Dialect() string {
	if strings.HasPrefix(c.URL, "postgres://") || strings.HasPrefix(c.URL, "postgresql://") {
		return "postgres"
	}
	return "sqlite"
}

// Store is the directory. It is safe for concurrent use; InTx hands callbacks a Store bound to one
// transaction, with the same methods.
type Store struct {
	db      *gorm.DB
	dialect string
	log     *slog.Logger
	now     func() time.Time
	pw      *password.Pool
	shared  *shared
	tx      *txState // nil outside a transaction
}

// shared is the per-process state every transaction-bound copy of a Store points at.
type shared struct {
	writeMu  sync.Mutex // SQLite has one writer: serialise our own writers instead of retrying on SQLITE_BUSY
	sessions *sessionCache
	retain   time.Duration
	dbID     string
	apps     *appAuthCache
	views    *viewCache
	counters counters
	logins   *loginLog // sign-ins not yet written (lastauth.go)
	fails    failLog
	sealer   SettingSealer // see SetSettingSealer
	guard    *addressGuard // failed sign-ins per sending address (loginguard.go)

	url            string
	sessionTimeout time.Duration
	requireSameIP  bool

	adminEntraGroups []string // Config.AdminEntraGroups, lower-cased
}

// txState tracks per-transaction facts.
type txState struct {
	eventLocked bool // the PostgreSQL event-order lock is held
	afterCommit []func()
}

// slowStatement is the duration from which a statement is logged as slow.
const slowStatement = 500 * time.Millisecond

// Open connects to the database, applies pending migrations and returns the Store.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dialect := cfg.Dialect()
	gcfg := &gorm.Config{
		TranslateError: true,
		Logger: newSQLLogger(gormlogger.NewSlogLogger(log, gormlogger.Config{
			SlowThreshold:             slowStatement,
			IgnoreRecordNotFoundError: true,
			LogLevel:                  gormlogger.Warn,
		}), slowStatement),
		NowFunc: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	var (
		db  *gorm.DB
		err error
	)
	switch dialect {
	case "postgres":
		var pcfg *pgx.ConnConfig
		if pcfg, err = pgx.ParseConfig(cfg.URL); err == nil {
			// Times come back in UTC, whatever the server's or the process's zone.
			conn := stdlib.OpenDB(*pcfg, stdlib.OptionAfterConnect(func(_ context.Context, c *pgx.Conn) error {
				c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
					Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
				return nil
			}))
			db, err = gorm.Open(postgres.New(postgres.Config{Conn: conn}), gcfg)
		}
	default:
		var dsn string
		dsn, err = sqliteDSN(cfg.URL)
		if err == nil {
			db, err = gorm.Open(sqlite.Open(dsn), gcfg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if dialect == "sqlite" {
		// WAL lets readers run beside the one writer; enough connections that a few streaming reads
		// (a bulk membership document holds two) do not block everyone else.
		sqlDB.SetMaxOpenConns(8)
	} else {
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(16)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("store: connect %s: %w", dialect, err)
	}
	if !cfg.SkipMigrations {
		if err := migrations.Up(ctx, sqlDB, dialect, log); err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	ttl := cfg.SessionCacheTTL
	if ttl <= 0 {
		ttl = DefaultSessionCacheTTL
	}
	retain := cfg.EventRetention
	if retain <= 0 {
		retain = 7 * 24 * time.Hour
	}
	s := &Store{
		db:      db,
		dialect: dialect,
		log:     log,
		now:     func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		pw:      password.NewPool(cfg.PasswordWorkers),
		shared: &shared{
			sessions: newSessionCache(ttl),
			retain:   retain,
			apps:     newAppAuthCache(),
			views:    newViewCache(),
			logins:   newLoginLog(),
			guard:    newAddressGuard(),

			url:            cfg.URL,
			sessionTimeout: cfg.SessionTimeout,
			requireSameIP:  cfg.RequireConsistentIP,

			adminEntraGroups: normaliseObjectIDs(cfg.AdminEntraGroups),
		},
	}
	s.shared.fails.root = s
	if !cfg.SkipMigrations {
		if s.shared.dbID, err = s.databaseID(ctx); err != nil {
			sqlDB.Close()
			return nil, err
		}
	}
	return s, nil
}

// SQLitePath is the file a SQLite database URL names (empty: DefaultSQLitePath), as Open reads it.
func SQLitePath(url string) string {
	if url == "" {
		url = DefaultSQLitePath
	}
	url = strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "file:")
	path, _, _ := strings.Cut(url, "?")
	return path
}

// sqliteDSN builds the DSN for a SQLite file, creating its directory.
func sqliteDSN(url string) (string, error) {
	path := SQLitePath(url)
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("create %s: %w", dir, err)
		}
	}
	// cache_size: 8 MiB of pages per connection instead of SQLite's 2 MiB (64 MiB for the pool).
	return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-8192)&_txlock=immediate", nil
}

// Close closes the database.
func (s *Store) Close() error {
	// Aggregated sign-in failures not yet written go now, not never.
	if err := s.shared.fails.stop(context.Background()); err != nil {
		s.log.Error("store: write aggregated sign-in failures", "err", err)
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Dialect reports "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// DB returns the underlying database handle for operational use (migrations, health checks).
func (s *Store) DB() (*sql.DB, error) { return s.db.DB() }

// ConsistentIPRequired reports whether sessions must be validated from the address they were created at.
func (s *Store) ConsistentIPRequired() bool { return s.shared.requireSameIP }

// SetClock replaces the clock; tests use it to move time.
func (s *Store) SetClock(now func() time.Time) {
	s.now = func() time.Time { return now().UTC().Truncate(time.Microsecond) }
}

// Now is the store's current time (UTC, microseconds), the one every timestamp it writes uses.
func (s *Store) Now() time.Time { return s.now() }

// Ping checks the database answers; used by /readyz.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// InTx runs fn in one transaction: everything fn writes through tx commits together or not at all.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	if s.dialect == "sqlite" {
		s.shared.writeMu.Lock()
		defer s.shared.writeMu.Unlock()
	}
	st := &txState{}
	err := s.db.WithContext(ctx).Transaction(func(gtx *gorm.DB) error {
		tx := *s
		tx.db = gtx
		tx.tx = st
		return fn(&tx)
	})
	if err != nil {
		return err
	}
	for _, f := range st.afterCommit {
		f()
	}
	return nil
}

// lock takes a row lock for the rest of the transaction, so concurrent read-modify-write changes of
// one user or group apply one after the other (SQLite already has a single writer).
func (s *Store) lock(ctx context.Context, table string, id int64) error {
	if s.dialect != "postgres" || s.tx == nil {
		return nil
	}
	var got []int64
	if err := s.q(ctx).Raw("SELECT id FROM "+table+" WHERE id = ? FOR UPDATE", id).Scan(&got).Error; err != nil {
		return fmt.Errorf("lock %s %d: %w", table, id, err)
	}
	return nil
}

// lockedRead locks a row (as lock does) and reads it through read, in the transaction tx.
func lockedRead[T any](ctx context.Context, tx *Store, table string, id int64, read func(context.Context, int64) (T, error)) (T, error) {
	if err := tx.lock(ctx, table, id); err != nil {
		var zero T
		return zero, err
	}
	return read(ctx, id)
}

// afterCommit runs f once the surrounding transaction commits (at once outside a transaction).
func (s *Store) afterCommit(f func()) {
	if s.tx == nil {
		f()
		return
	}
	s.tx.afterCommit = append(s.tx.afterCommit, f)
}

// q returns the gorm handle bound to ctx.
func (s *Store) q(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// databaseID returns the random identity of this database, created on first use; event tokens
// carry it so a token from another database is refused.
func (s *Store) databaseID(ctx context.Context) (string, error) {
	if v, err := s.Setting(ctx, "database_id"); err == nil {
		return v, nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	b := make([]byte, 8)
	rand.Read(b)
	id := hex.EncodeToString(b)
	err := s.q(ctx).Exec("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
		"database_id", id).Error
	if err != nil {
		return "", fmt.Errorf("store: database id: %w", err)
	}
	return s.Setting(ctx, "database_id")
}

// Setting returns one instance-wide setting.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v []string
	if err := s.q(ctx).Raw("SELECT value FROM settings WHERE name = ?", name).Scan(&v).Error; err != nil {
		return "", fmt.Errorf("setting %q: %w", name, err)
	}
	if len(v) == 0 {
		return "", fmt.Errorf("setting %q: %w", name, ErrNotFound)
	}
	return v[0], nil
}

// SetSetting stores one instance-wide setting, audited.
func (s *Store) SetSetting(ctx context.Context, name, value string) error {
	return s.InTx(ctx, func(tx *Store) error {
		err := tx.q(ctx).Exec("INSERT INTO settings (name, value) VALUES (?, ?) "+
			"ON CONFLICT (name) DO UPDATE SET value = excluded.value", name, value).Error
		if err != nil {
			return fmt.Errorf("setting %q: %w", name, err)
		}
		return tx.audit(ctx, "SETTING_CHANGED", "SETTING", name, "")
	})
}

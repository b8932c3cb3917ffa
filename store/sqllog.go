package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// sqlLogger reports failed and slow statements, without their values: they can be password
// hashes, tokens' hashes and personal data. gorm's own slog logger renders every statement
// with its values (a regular expression over the SQL) before it decides whether to log it; on the
// session flush, whose statements carry a thousand hashes, that was a tenth of the server's
// allocations. This one renders only what it logs.
type sqlLogger struct {
	gormlogger.Interface
	slow time.Duration
}

func newSQLLogger(l gormlogger.Interface, slow time.Duration) sqlLogger {
	return sqlLogger{Interface: l, slow: slow}
}

func (l sqlLogger) LogMode(level gormlogger.LogLevel) gormlogger.Interface {
	return sqlLogger{Interface: l.Interface.LogMode(level), slow: l.slow}
}

func (l sqlLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	failed := err != nil && !errors.Is(err, gorm.ErrRecordNotFound)
	if failed || time.Since(begin) > l.slow {
		l.Interface.Trace(ctx, begin, fc, err)
	}
}

// ParamsFilter drops a statement's values before gorm renders it for the log: the SQL keeps its
// placeholders.
func (l sqlLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

// Raw(...).Scan renders its statement through gorm's trace recorder before our Trace sees it; its
// package-level filter is the only way to keep the values out of that rendering too.
func init() {
	gormlogger.RecorderParamsFilter = func(_ context.Context, sql string, _ ...any) (string, []any) { return sql, nil }
}

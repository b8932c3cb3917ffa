package store

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// TestSQLLoggerRendersOnlyWhatItLogs: a fast, successful statement is not rendered; a failed one
// and a slow one are logged with their SQL; a missing row is not a failure.
func TestSQLLoggerRendersOnlyWhatItLogs(t *testing.T) {
	var out bytes.Buffer
	inner := gormlogger.NewSlogLogger(slog.New(slog.NewTextHandler(&out, nil)), gormlogger.Config{
		SlowThreshold: time.Second, IgnoreRecordNotFoundError: true, LogLevel: gormlogger.Warn})
	l := newSQLLogger(inner, time.Second)
	rendered := 0
	stmt := func(sql string) func() (string, int64) {
		return func() (string, int64) { rendered++; return sql, 1 }
	}
	ctx := context.Background()
	l.Trace(ctx, time.Now(), stmt("SELECT fast"), nil)
	l.Trace(ctx, time.Now(), stmt("SELECT missing"), gorm.ErrRecordNotFound)
	if rendered != 0 || out.Len() != 0 {
		t.Fatalf("rendered %d statements, logged %q", rendered, out.String())
	}
	l.Trace(ctx, time.Now(), stmt("SELECT broken"), errors.New("syntax error"))
	l.Trace(ctx, time.Now().Add(-2*time.Second), stmt("SELECT slow"), nil)
	if rendered != 2 || !strings.Contains(out.String(), "SELECT broken") || !strings.Contains(out.String(), "syntax error") ||
		!strings.Contains(out.String(), "SELECT slow") {
		t.Fatalf("rendered %d, logged %q", rendered, out.String())
	}
	if _, ok := l.LogMode(gormlogger.Info).(sqlLogger); !ok {
		t.Error("LogMode lost the wrapper")
	}
}

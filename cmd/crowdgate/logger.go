package main

import (
	"io"
	"log/slog"

	"github.com/crowdgate/crowdgate/internal/config"
)

// newLogger returns the process logger: text for people, JSON for log collectors. It is passed to
// every constructor; crowdgate never sets slog's default logger.
func newLogger(cfg config.LogConfig, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

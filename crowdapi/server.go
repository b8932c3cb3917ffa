package crowdapi

import (
	"log/slog"
	"net/http"

	"github.com/crowdgate/crowdgate/store"
)

// New returns the Crowd REST handler for paths under cfg.Prefix().
func New(cfg Config, st *store.Store, log *slog.Logger) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return http.NotFoundHandler(), nil // replaced by the real router in this package
}

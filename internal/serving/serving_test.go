package serving

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestJobLoopSurvivesFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := make(chan struct{}, 10)
	j := Job{Name: "failing", Every: time.Millisecond, AtStart: true, Run: func(context.Context) (int64, error) {
		calls <- struct{}{}
		return 0, errors.New("database down")
	}}
	done := make(chan error, 1)
	go func() { done <- j.Loop(ctx, slog.New(slog.DiscardHandler)) }()
	for range 3 { // it keeps running after failures
		<-calls
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("loop returned %v on cancellation, want nil", err)
	}
}

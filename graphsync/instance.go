package graphsync

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/crowdgate/crowdgate/store"
)

// abortDead marks ABORTED the directory's RUNNING runs of a process on this host that no longer
// exists (instance "host:pid", the default Config.Instance): killed, they will never record their
// end. Runs of other hosts, or of a live process, are left to the store's heartbeat rule
// (store.StartSyncRun), so a live run is never marked ABORTED.
func (s *Syncer) abortDead(ctx context.Context) error {
	runs, err := s.st.SyncRuns(ctx, s.dir, 20)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	for _, r := range runs {
		if r.Status != store.SyncRunning || !processGone(host, r.Instance) {
			continue
		}
		if err := s.st.AbortSyncRun(ctx, r.ID, "the run ended without finishing (process "+r.Instance+" stopped)"); err != nil {
			return err
		}
	}
	return nil
}

// processGone reports whether instance ("host:pid") names a process of this host that is gone.
func processGone(host, instance string) bool {
	h, p, ok := strings.Cut(instance, ":")
	pid, err := strconv.Atoi(p)
	if !ok || err != nil || h != host || pid <= 0 || pid == os.Getpid() {
		return false
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	return errors.Is(proc.Signal(syscall.Signal(0)), os.ErrProcessDone)
}

package crowdimport_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/crowdimport"
	"github.com/crowdgate/crowdgate/crowdimport/backuptest"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestScale imports a generated backup of 100,000 users (CROWDGATE_SCALE_USERS to change) and
// reports duration and peak heap; it runs only with CROWDGATE_SCALE=1 and never with -short:
//
//	CROWDGATE_SCALE=1 go test -run TestScale -v -timeout 60m ./crowdimport/
//
// Memory must stay bounded by the names held (a few tens of MB for 100,000 users), not by the
// size of the file.
func TestScale(t *testing.T) {
	if testing.Short() || os.Getenv("CROWDGATE_SCALE") != "1" {
		t.Skip("set CROWDGATE_SCALE=1 (and no -short) to import 100,000 users")
	}
	users := 100000
	if v := os.Getenv("CROWDGATE_SCALE_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		users = n
	}
	path := filepath.Join(t.TempDir(), "crowd-backup.xml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	sum, err := backuptest.Generate(f, backuptest.Config{Users: users, Seed: 42})
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	t.Logf("generated %d users, %d groups, %d user and %d group memberships: %.1f MB in %s",
		sum.Users, sum.Groups, sum.UserMemberships, sum.GroupMemberships, float64(fi.Size())/(1<<20), time.Since(started).Round(time.Millisecond))

	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			st := storetest.Open(t, d)
			ctx := context.Background()
			var progress *bufio.Writer
			if testing.Verbose() {
				progress = bufio.NewWriter(os.Stderr)
			}
			opts := crowdimport.Options{}
			var finish func()
			if progress != nil {
				var update func(crowdimport.Progress)
				update, finish = crowdimport.ProgressBar(flushWriter{progress})
				opts.Progress = update
			}
			runtime.GC()
			peak := sampleHeap()
			started := time.Now()
			rep, err := crowdimport.BackupFile(ctx, path, st, opts)
			took := time.Since(started)
			heap := peak()
			if finish != nil {
				finish()
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Users.Created != users || rep.UserMemberships.Created != sum.UserMemberships {
				t.Fatalf("report:\n%s", rep)
			}
			t.Logf("%s: imported %d users, %d groups, %d memberships in %s (%.0f users/s); peak heap %.1f MB",
				d, rep.Users.Created, rep.Groups.Created, rep.UserMemberships.Created+rep.GroupMemberships.Created,
				took.Round(time.Millisecond), float64(users)/took.Seconds(), float64(heap)/(1<<20))
			if limit := uint64(256 << 20); heap > limit {
				t.Errorf("peak heap %d MB exceeds %d MB: memory is not bounded", heap>>20, limit>>20)
			}
			// Spot-check a few users of every format sign in.
			v := directoryView(t, st, backuptest.InternalDir)
			for i := users - len(backuptest.Formats); i < users; i++ {
				if _, err := v.Authenticate(ctx, backuptest.UserName(i), backuptest.Password(i)); err != nil &&
					!(errors.Is(err, store.ErrInactive) && !backuptest.Active(i)) {
					t.Errorf("user %d (%s): %v", i, backuptest.Format(i), err)
				}
			}
			started = time.Now()
			again, err := crowdimport.BackupFile(ctx, path, st, crowdimport.Options{DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: dry run of the same backup over the imported directory: %d changes in %s",
				d, again.Changes(), time.Since(started).Round(time.Millisecond))
		})
	}
}

type flushWriter struct{ w *bufio.Writer }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}

// sampleHeap samples the live heap every 20ms until the returned function is called, which
// reports the highest HeapAlloc seen.
func sampleHeap() func() uint64 {
	var (
		mu   sync.Mutex
		peak uint64
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	read := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		peak = max(peak, m.HeapAlloc)
		mu.Unlock()
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				read()
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		read()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

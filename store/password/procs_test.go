package password

import (
	"runtime"
	"testing"
)

func TestReserveProcs(t *testing.T) {
	defer runtime.SetDefaultGOMAXPROCS()
	runtime.SetDefaultGOMAXPROCS()
	base := runtime.GOMAXPROCS(0)
	for range 2 { // idempotent: a second server in the same process does not add more
		if got := ReserveProcs(0, false); got != base {
			t.Errorf("default workers = %d, want one per CPU (%d)", got, base)
		}
		if got := runtime.GOMAXPROCS(0); got != 2*base {
			t.Errorf("GOMAXPROCS = %d, want %d (CPUs + hashing slots)", got, 2*base)
		}
	}
	if got := ReserveProcs(3, false); got != 3 || runtime.GOMAXPROCS(0) != base+3 {
		t.Errorf("3 workers: %d, GOMAXPROCS %d; want 3, %d", got, runtime.GOMAXPROCS(0), base+3)
	}
	runtime.GOMAXPROCS(1)
	if got := ReserveProcs(0, true); got != 1 || runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("explicit GOMAXPROCS=1: %d workers, GOMAXPROCS %d; want 1, 1", got, runtime.GOMAXPROCS(0))
	}
}

package password

import "runtime"

// ReserveProcs gives password hashing processors of its own and returns the hashing pool's size
// (workers, or one per CPU when workers <= 0). With one P per core, a burst of logins (each hash
// is 4–30 ms of CPU) holds every P and requests wait whole hashes for one; with a P more per
// hashing slot, the kernel shares the cores between hashing and requests instead, so session
// validations stay fast while logins use every core. With explicit (GOMAXPROCS set by the
// operator) it changes nothing. Calling it again is harmless: it starts from the runtime's default.
func ReserveProcs(workers int, explicit bool) int {
	if explicit {
		if workers <= 0 {
			workers = runtime.GOMAXPROCS(0)
		}
		return workers
	}
	runtime.SetDefaultGOMAXPROCS() // the CPU (or cgroup) count, whatever an earlier call set
	base := runtime.GOMAXPROCS(0)
	if workers <= 0 {
		workers = base
	}
	runtime.GOMAXPROCS(base + workers)
	return workers
}

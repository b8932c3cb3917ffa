package graphsync

import "testing"

// TestMassLimit: the default threshold is max(20, min(500, 10 % of the replica)); a set threshold
// replaces it.
func TestMassLimit(t *testing.T) {
	for n, want := range map[int]int{0: 20, 150: 20, 999: 99, 5000: 500, 100_000: 500} {
		if got := (Config{}).massLimit(n); got != want {
			t.Errorf("massLimit(%d) = %d, want %d", n, got, want)
		}
	}
	if got := (Config{MassChangeThreshold: 7}).massLimit(100_000); got != 7 {
		t.Errorf("set threshold: %d", got)
	}
}

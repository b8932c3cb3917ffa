//go:build race

package instances_test

// raceEnabled builds the crowdgate binary with the race detector too: its packages are then already
// in the build cache from the rest of the race-enabled test run, and races in the server surface.
const raceEnabled = true

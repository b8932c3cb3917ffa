//go:build race

package fakegraph_test

const raceEnabled = true

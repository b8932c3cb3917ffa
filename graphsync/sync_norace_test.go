//go:build !race

package graphsync_test

const raceEnabled = false

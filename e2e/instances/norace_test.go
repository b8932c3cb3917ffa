//go:build !race

package instances_test

const raceEnabled = false

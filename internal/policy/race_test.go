//go:build race

package policy_test

// raceDetector reports a build with -race, under which sync.Pool drops
// what it is given at random: allocation counts say nothing there.
const raceDetector = true

//go:build race

package api_test

// raceDetector: the tests run under the race detector, several times
// slower.
const raceDetector = true

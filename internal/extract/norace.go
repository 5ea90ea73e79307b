//go:build !race

package extract

// raceEnabled reports a race-detector build (see race.go).
const raceEnabled = false

//go:build !race

package extract

// pdfRaceEnabled reports a race-detector build (see pdf_race.go).
const pdfRaceEnabled = false

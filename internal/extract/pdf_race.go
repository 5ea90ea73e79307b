//go:build race

package extract

// pdfRaceEnabled reports a race-detector build. Its runtime maps terabytes of shadow
// memory, so a cap on the address space (RLIMIT_AS) would kill the child at start; such
// builds rely on the parent's resident-memory watchdog alone.
const pdfRaceEnabled = true

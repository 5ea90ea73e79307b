//go:build race

package extract

// raceEnabled reports a race-detector build. Its runtime maps terabytes of shadow memory,
// so a cap on the address space (RLIMIT_AS) would kill a child at start; such builds rely
// on the parent's resident-memory watchdog alone.
const raceEnabled = true

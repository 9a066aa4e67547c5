//go:build race

package migrate_test

// raceEnabled: the race detector slows the embedded SQLite store (pure Go)
// some twenty times, so the tests build smaller installations under it.
const raceEnabled = true

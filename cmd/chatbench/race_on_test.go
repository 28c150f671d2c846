//go:build race

package main

// raceEnabled: the race detector slows everything several times over, so
// timed tests scale their load down.
const raceEnabled = true

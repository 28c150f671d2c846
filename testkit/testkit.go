// Package testkit is the one home of the chat's test support, below every
// test it serves: this package holds what every kit and test shares (unique
// room names, waiting on a condition, the rule for a missing dependency);
// redistest and firestoretest start the real stores on loopback; brokertest
// is the conformance kit of realtime.Broker; chattest is a browser-less
// user of a served chat. Nothing here imports a package that tests import
// it for, except the interfaces a kit exists to check.
package testkit

import (
	"context"
	"crypto/rand"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Room returns a room name no other test uses, even on a Redis that other
// tests and packages share.
func Room() string { return "room-" + strings.ToLower(rand.Text()[:10]) }

// WaitFor polls cond until it holds, failing the test, with what it waited
// for, when ctx ends first. It polls on a ticker: server state that a test
// watches has nothing to wait on.
func WaitFor(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// Require marks the test as needing what ("redis", "cluster", "firestore",
// "chromium", ...); it skips or, when CHAT_TEST_REQUIRE (set by .ci/run)
// names it, fails with reason.
func Require(t testing.TB, what, reason string) {
	t.Helper()
	if slices.Contains(strings.Split(os.Getenv("CHAT_TEST_REQUIRE"), ","), what) {
		t.Fatalf("%s is required (CHAT_TEST_REQUIRE=%s) but %s", what, os.Getenv("CHAT_TEST_REQUIRE"), reason)
	}
	t.Skipf("skipping: %s is not available: %s", what, reason)
}

// HostileStrings are inputs that have broken parsers of names, rooms,
// text and forms elsewhere: empty, control and bidirectional characters,
// markup, bytes that are not UTF-8, decomposed letters, and values just
// past each limit. Fuzz targets seed their corpus with them.
func HostileStrings() []string {
	return []string{
		"", " ", "\t\n", "ann", "Ann Lee", "<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`,
		"nul\x00", "bell\x07", "line\r\nbreak", "esc\x1b[31m", "\u202Eevil", "\u2066iso\u2069", "\u200F",
		"\xff\xfe", "caf\u00e9", "e\u0301", "../../etc/passwd", "%2e%2e", "room-1_a", "ROOM",
		strings.Repeat("x", 33), strings.Repeat("é", 32), strings.Repeat("y", 2001), strings.Repeat("🙂", 2000),
		strings.Repeat("z", 65), "\u00a0ann\u00a0", "a\u0000b",
	}
}

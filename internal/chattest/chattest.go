// Package chattest is the kit the chat's tests share: unique room names,
// polling until a condition holds, a browser-less user with a cookie jar,
// the room's WebSocket read frame by frame, and the page's list of messages
// rebuilt from those frames. It speaks to a served chat over the wire only
// and imports neither handlers nor the hub, so that every package's tests
// can use it, handlers' internal tests included, without an import cycle.
package chattest

import (
	"context"
	"crypto/rand"
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

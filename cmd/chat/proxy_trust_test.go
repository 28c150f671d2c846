package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// maxSocketsPerIP is the per-address socket cap (docs/SPEC.md).
const maxSocketsPerIP = 100

// dialForwarded opens u's socket in room with X-Forwarded-For set to xff.
func dialForwarded(t *testing.T, u *chattest.User, room, xff string) *chattest.Socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := u.Header()
	h.Set("X-Forwarded-For", xff)
	conn, resp, err := websocket.Dial(ctx, u.SocketURL(room), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial %s as %s: %v (%v)", room, xff, err, resp)
	}
	return chattest.NewSocket(t, conn)
}

// admitted fails the test unless s was let into the room: its first frame
// is the history.
func admitted(t *testing.T, s *chattest.Socket, what string) {
	t.Helper()
	if f := s.Next(); !chattest.IsHistory(f) {
		t.Fatalf("%s: first frame %.200q, want the history", what, f)
	}
}

// capped fails the test unless s was refused for the per-address cap.
func capped(t *testing.T, s *chattest.Socket, what string) {
	t.Helper()
	if f := s.Next(); !strings.Contains(f, "Too many connections") {
		t.Fatalf("%s: first frame %.200q, want the too-many-connections notice", what, f)
	}
	if code := s.CloseStatus(); code != websocket.StatusTryAgainLater {
		t.Fatalf("%s: closed with %v, want 1013", what, code)
	}
}

// fillCap opens the cap's worth of sockets from one client, each claiming
// another address in X-Forwarded-For, all admitted.
func fillCap(t *testing.T, u *chattest.User, room string) {
	t.Helper()
	for i := range maxSocketsPerIP {
		admitted(t, dialForwarded(t, u, room, fmt.Sprintf("198.51.100.%d", i+1)), fmt.Sprintf("socket %d", i+1))
	}
}

// Without a proxy in front, X-Forwarded-For is anyone's to write: one client
// making up a new address for every socket still hits the cap.
func TestTrustProxyOffMadeUpForwardedForHitsTheCap(t *testing.T) {
	inst := startInstance(t, sharedEnv("")) // TRUST_PROXY unset, no K_SERVICE: off
	room := testkit.Room()
	u := chattest.NewUser(t, inst.URL)
	u.SignIn("Ann", room)
	fillCap(t, u, room)
	capped(t, dialForwarded(t, u, room, "203.0.113.77"), fmt.Sprintf("socket %d", maxSocketsPerIP+1))
}

// Behind a proxy (TRUST_PROXY=1), the forwarded address is the client's:
// distinct addresses count apart, and one address is still capped.
func TestTrustProxyOnForwardedAddressesCountApart(t *testing.T) {
	env := sharedEnv("")
	env["TRUST_PROXY"] = "1"
	inst := startInstance(t, env)
	room := testkit.Room()
	u := chattest.NewUser(t, inst.URL)
	u.SignIn("Ann", room)
	fillCap(t, u, room)
	admitted(t, dialForwarded(t, u, room, "203.0.113.77"), fmt.Sprintf("socket %d, from another address", maxSocketsPerIP+1))

	// One forwarded address, from behind the same proxy, is capped.
	for i := range maxSocketsPerIP - 1 {
		admitted(t, dialForwarded(t, u, room, "203.0.113.77"), fmt.Sprintf("socket %d from 203.0.113.77", i+2))
	}
	capped(t, dialForwarded(t, u, room, "203.0.113.77"), fmt.Sprintf("socket %d from 203.0.113.77", maxSocketsPerIP+1))
}

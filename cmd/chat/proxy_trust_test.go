package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// maxSocketsPerIP is the per-address socket cap (docs/SPEC.md).
const maxSocketsPerIP = 100

// dialForwarded opens u's socket in room with X-Forwarded-For set to xff.
func (u *user) dialForwarded(room, xff string) *socket {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base, _ := url.Parse(u.base)
	h := http.Header{"Origin": {u.base}, "X-Forwarded-For": {xff}}
	for _, c := range u.client.Jar.Cookies(base) {
		h.Add("Cookie", c.String())
	}
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(u.base, "http")+"/rooms/"+room+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		u.t.Fatalf("dial %s as %s: %v (%v)", room, xff, err, resp)
	}
	return newSocket(u.t, conn)
}

// admitted fails the test unless s was let into the room: its first frame
// is the history.
func (s *socket) admitted(what string) {
	s.t.Helper()
	if f := s.next(); !historyFrame.MatchString(f) {
		s.t.Fatalf("%s: first frame %.200q, want the history", what, f)
	}
}

// capped fails the test unless s was refused for the per-address cap.
func (s *socket) capped(what string) {
	s.t.Helper()
	if f := s.next(); !strings.Contains(f, "Too many connections") {
		s.t.Fatalf("%s: first frame %.200q, want the too-many-connections notice", what, f)
	}
	if code := s.closeStatus(); code != websocket.StatusTryAgainLater {
		s.t.Fatalf("%s: closed with %v, want 1013", what, code)
	}
}

// fillCap opens the cap's worth of sockets from one client, each claiming
// another address in X-Forwarded-For, all admitted.
func fillCap(u *user, room string) {
	u.t.Helper()
	for i := range maxSocketsPerIP {
		u.dialForwarded(room, fmt.Sprintf("198.51.100.%d", i+1)).admitted(fmt.Sprintf("socket %d", i+1))
	}
}

// Without a proxy in front, X-Forwarded-For is anyone's to write: one client
// making up a new address for every socket still hits the cap.
func TestTrustProxyOffMadeUpForwardedForHitsTheCap(t *testing.T) {
	inst := startInstance(t, sharedEnv("")) // TRUST_PROXY unset, no K_SERVICE: off
	room := uniqueRoom()
	u := newUser(t, inst.URL)
	u.signIn("Ann", room)
	fillCap(u, room)
	u.dialForwarded(room, "203.0.113.77").capped(fmt.Sprintf("socket %d", maxSocketsPerIP+1))
}

// Behind a proxy (TRUST_PROXY=1), the forwarded address is the client's:
// distinct addresses count apart, and one address is still capped.
func TestTrustProxyOnForwardedAddressesCountApart(t *testing.T) {
	env := sharedEnv("")
	env["TRUST_PROXY"] = "1"
	inst := startInstance(t, env)
	room := uniqueRoom()
	u := newUser(t, inst.URL)
	u.signIn("Ann", room)
	fillCap(u, room)
	u.dialForwarded(room, "203.0.113.77").admitted(fmt.Sprintf("socket %d, from another address", maxSocketsPerIP+1))

	// One forwarded address, from behind the same proxy, is capped.
	for i := range maxSocketsPerIP - 1 {
		u.dialForwarded(room, "203.0.113.77").admitted(fmt.Sprintf("socket %d from 203.0.113.77", i+2))
	}
	u.dialForwarded(room, "203.0.113.77").capped(fmt.Sprintf("socket %d from 203.0.113.77", maxSocketsPerIP+1))
}

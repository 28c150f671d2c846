package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// One session with 20 sockets in a room does not multiply its typing
// signals: the limit is per session and room, and a name's signal is
// published at most once every 1.5 s from an instance. Each socket sends
// two typing frames, then a message; by the time the watcher has all 20
// messages, every typing signal published before them has reached it
// (one room's events arrive in publish order): one, at most two, not 40.
func TestTypingIsLimitedPerSessionAndName(t *testing.T) {
	inst := startInstance(t, burst(sharedEnv("")))
	room := testkit.Room()
	_, watcher := chattest.JoinAs(t, inst.URL, "Watcher", room)
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)
	sockets := make([]*chattest.Socket, 20)
	for i := range sockets {
		sockets[i] = ann.Dial(room)
	}
	for i, s := range sockets {
		s.SendRaw([]byte(`{"typing":true}`))
		s.SendRaw([]byte(`{"typing":true}`))
		s.Send(fmt.Sprint("from socket ", i), fmt.Sprint("n", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	relayed, messages := 0, 0
	for messages < len(sockets) {
		f, err := watcher.Read(ctx)
		if err != nil {
			t.Fatalf("%d of %d messages reached the watcher: %v", messages, len(sockets), err)
		}
		relayed += strings.Count(f, `data-signal="typing" data-name="Ann"`)
		messages += strings.Count(f, `<li id="msg-`)
	}
	if relayed < 1 || relayed > 2 {
		t.Errorf("40 typing frames from one session's 20 sockets: %d relayed, want 1 or 2", relayed)
	}
}

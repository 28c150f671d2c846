package realtime_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/brokertest"
)

// A change reaches every page in the room on every instance, in place and
// not numbered; every instance, those with nobody in the room too, hears
// which room changed (for its cached pages); a removal reaches the room's
// pages and the instance that holds the removed session's sockets.
func TestHubRelaysChangesAndRemovals(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		b1 := f.Make(t, 100)
		b2 := b1
		if f.Shared {
			b2 = f.Make(t, 100)
		}
		var mu sync.Mutex
		var changed []string
		var removed []string
		hooks := []realtime.HubOption{realtime.WithPresenceTiming(fastPresence),
			realtime.WithChanged(func(room string) { mu.Lock(); changed = append(changed, room); mu.Unlock() }),
			realtime.WithRemoved(func(room, session string) { mu.Lock(); removed = append(removed, room+"/"+session); mu.Unlock() })}
		// h2 has the page and the hooks; h1, another instance when the
		// broker is shared, sends and changes.
		h2, stop2 := realtime.StartHub(b2, &countingRenderer{}, hooks...)
		t.Cleanup(stop2)
		h1 := h2
		if f.Shared {
			var stop1 func()
			h1, stop1 = realtime.StartHub(b1, &countingRenderer{}, realtime.WithPresenceTiming(fastPresence))
			t.Cleanup(stop1)
		}
		room, quiet, warm := testkit.Room(), testkit.Room(), testkit.Room()
		// The hubs follow the instance-wide channel from a moment after
		// they start: changes are made until h2 hears one.
		wm, err := h1.Send(ctx, warm, realtime.Message{Name: "ann", Text: "warm", Author: "sess-ann"}, "")
		if err != nil {
			t.Fatal(err)
		}
		testkit.WaitFor(t, ctx, "h2 to follow the instance-wide channel", func() bool {
			if _, _, err := h1.Change(ctx, warm, realtime.Change{Seq: wm.Seq, Author: "sess-ann", Text: "warm again"}, ""); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(changed, warm)
		})
		bob, err := h2.Join(ctx, room, brokertest.User("bob"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer bob.Leave()
		recvUntil(t, ctx, bob, "h")
		m, err := h1.Send(ctx, room, realtime.Message{Name: "ann", Text: "helo", Author: "sess-ann"}, "")
		if err != nil {
			t.Fatal(err)
		}
		recvUntil(t, ctx, bob, fmt.Sprintf("m%d:helo", m.Seq))
		if _, _, err := h1.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-ann", Text: " hello\r\n"}, ""); !errors.Is(err, realtime.ErrInvalidText) {
			t.Fatalf("an edit's text not in its parsed form: %v, want ErrInvalidText", err)
		}
		if _, _, err := h1.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-ann", Text: "hello"}, ""); err != nil {
			t.Fatal(err)
		}
		recvUntil(t, ctx, bob, fmt.Sprintf("c%d:hello:", m.Seq))
		// The quiet room has nobody on h2, and h2 still hears of it.
		qm, err := h1.Send(ctx, quiet, realtime.Message{Name: "ann", Text: "x", Author: "sess-ann"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := h1.Change(ctx, quiet, realtime.Change{Seq: qm.Seq, Author: "sess-ann", Delete: true}, ""); err != nil {
			t.Fatal(err)
		}
		testkit.WaitFor(t, ctx, "the other instance to hear that the quiet room changed", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(changed, quiet)
		})
		if err := h1.Remove(ctx, room, "session-bob", "bob", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		recvUntil(t, ctx, bob, "r:bob")
		mu.Lock()
		defer mu.Unlock()
		if len(removed) != 1 || removed[0] != room+"/session-bob" {
			t.Fatalf("removals heard: %v", removed)
		}
	})
}

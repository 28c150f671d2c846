package realtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/redisbroker"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/redistest"
)

// When the broker's subscription is cut, sign-outs announced meanwhile are
// lost: the hub says so (a sign-out of ""), so that whatever trusted a
// session not signed out reads it again.
func TestHubSaysSignOutsMayBeLost(t *testing.T) {
	addr := redistest.Start(t).Addr // its own: the test cuts every subscriber
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	b := redisbroker.New(rdb, 100)
	defer b.Close()
	told := make(chan string, 16)
	h, stop := realtime.StartHub(b, &countingRenderer{}, realtime.WithSignedOut(func(s string) { told <- s }))
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A sign-out heard: the hub is subscribed.
	for {
		if err := h.SignOut(ctx, "sess-1"); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-told:
			if s != "sess-1" {
				t.Fatalf("told %q, want sess-1", s)
			}
		case <-time.After(200 * time.Millisecond):
			continue // not subscribed yet: announce again
		case <-ctx.Done():
			t.Fatal("no sign-out heard")
		}
		break
	}
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, ctx, `the hub saying sign-outs may be lost ("")`, func() bool {
		select {
		case s := <-told:
			return s == ""
		default:
			return false
		}
	})
}

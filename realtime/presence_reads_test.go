package realtime_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/redisbroker"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/brokertest"
	"github.com/chatrun/chat/testkit/redistest"
)

// countedHubs starts a Redis of the test's own, as the test counts its
// commands, and returns a client of it and a way to start hubs on it (each
// with a broker of its own, on timing), stopped when the test ends.
func countedHubs(t *testing.T) (*redis.Client, func(realtime.PresenceTiming) *realtime.Hub) {
	addr := redistest.Start(t).Addr
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb, func(timing realtime.PresenceTiming) *realtime.Hub {
		c := redis.NewClient(&redis.Options{Addr: addr})
		b := redisbroker.New(c, 100)
		h, stop := realtime.StartHub(b, &countingRenderer{}, realtime.WithPresenceTiming(timing))
		t.Cleanup(func() {
			stop()
			b.Close()
			c.Close()
		})
		return h
	}
}

// While no entry of a room's list may have lapsed, its presence beats do
// not read the list again: joins and leaves are announced. One read per
// TTL less a beat, not one a beat; a join elsewhere is still seen at once.
func TestHubBeatsReadMembersWhenTheyMayLapse(t *testing.T) {
	ctx := brokertest.Context(t)
	rdb, startHub := countedHubs(t)
	h := startHub(fastPresence)
	room := testkit.Room()
	ann, err := h.Join(ctx, room, brokertest.User("ann"), realtime.NewTestConn())
	if err != nil {
		t.Fatal(err)
	}
	defer ann.Leave()
	testkit.WaitFor(t, ctx, "ann listed", func() bool { return recvList(t, ctx, ann) == "l:ann" })

	const beats = 20
	before, start := redistest.Calls(t, rdb, "zrangebyscore"), time.Now()
	testkit.WaitFor(t, ctx, "twenty beats to pass", func() bool { return time.Since(start) >= beats*fastPresence.Beat })
	if n := redistest.Calls(t, rdb, "zrangebyscore") - before; n > beats/2 {
		t.Errorf("%d reads of the members in %d beats, want at most one per %v (the TTL less a beat)", n, beats, fastPresence.TTL-fastPresence.Beat)
	}

	// A join on another instance is announced and read at once.
	h2 := startHub(fastPresence)
	bob, err := h2.Join(ctx, room, brokertest.User("bob"), realtime.NewTestConn())
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave()
	testkit.WaitFor(t, ctx, "bob listed on ann's instance", func() bool { return recvList(t, ctx, ann) == "l:ann,bob" })
}

// The directory counts a room with sockets here from the member list its
// pages show, reading nothing of it; a room without is read.
func TestDirectoryCountsRoomsHereWithoutReading(t *testing.T) {
	ctx := brokertest.Context(t)
	rdb, startHub := countedHubs(t)
	// No beat within the test: the only reads of presence sets are the
	// joins' and the directory's.
	slowBeats := realtime.PresenceTiming{LeaveGrace: 300 * time.Millisecond, Beat: time.Minute, TTL: 3 * time.Minute, Batch: 50 * time.Millisecond}
	h1, h2 := startHub(slowBeats), startHub(slowBeats)
	here, there := testkit.Room(), testkit.Room()
	var first *realtime.Socket
	for _, name := range []string{"ann", "bob", "cat"} {
		s, err := h1.Join(ctx, here, brokertest.User(name), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Leave()
		if first == nil {
			first = s
		}
	}
	s, err := h2.Join(ctx, there, brokertest.User("dan"), realtime.NewTestConn())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Leave()
	testkit.WaitFor(t, ctx, "all three listed", func() bool { return recvList(t, ctx, first) == "l:ann,bob,cat" })
	// directory reads it afresh (the last read is kept 2 s).
	directory := func() map[string]int {
		start := time.Now()
		testkit.WaitFor(t, ctx, "the last read of the directory to go stale", func() bool { return time.Since(start) > 2100*time.Millisecond })
		rooms, err := h1.Directory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, r := range rooms {
			out[r.Room] = r.Members
		}
		return out
	}
	directory()
	before := redistest.Calls(t, rdb, "zrangebyscore")
	if got := directory(); got[here] != 3 || got[there] != 1 {
		t.Fatalf("directory counts %v, want 3 in %s and 1 in %s", got, here, there)
	}
	if n := redistest.Calls(t, rdb, "zrangebyscore") - before; n != 1 {
		t.Errorf("a read of the directory read %d presence sets, want 1 (the room with no socket here)", n)
	}
}

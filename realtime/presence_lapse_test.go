package realtime_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/redisbroker"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/brokertest"
	"github.com/chatrun/chat/testkit/redistest"
)

// membersReads is how many times Redis has read a presence set so far.
func membersReads(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_zrangebyscore:calls="); ok {
			n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
			return n
		}
	}
	return 0
}

// While no entry of a room's list may have lapsed, its presence beats do
// not read the list again: joins and leaves are announced. One read per
// TTL less a beat, not one a beat; a join elsewhere is still seen at once.
func TestHubBeatsReadMembersWhenTheyMayLapse(t *testing.T) {
	addr := redistest.Start(t).Addr // its own: the test counts commands
	ctx := brokertest.Context(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	newBroker := func() *redisbroker.Broker {
		c := redis.NewClient(&redis.Options{Addr: addr})
		b := redisbroker.New(c, 100)
		t.Cleanup(func() {
			b.Close()
			c.Close()
		})
		return b
	}
	h := newHub(t, newBroker(), &countingRenderer{})
	room := testkit.Room()
	ann, err := h.Join(ctx, room, brokertest.User("ann"), realtime.NewTestConn())
	if err != nil {
		t.Fatal(err)
	}
	defer ann.Leave()
	testkit.WaitFor(t, ctx, "ann listed", func() bool { return recvList(t, ctx, ann) == "l:ann" })

	const beats = 20
	before, start := membersReads(t, rdb), time.Now()
	testkit.WaitFor(t, ctx, "twenty beats to pass", func() bool { return time.Since(start) >= beats*fastPresence.Beat })
	if n := membersReads(t, rdb) - before; n > beats/2 {
		t.Errorf("%d reads of the members in %d beats, want at most one per %v (the TTL less a beat)", n, beats, fastPresence.TTL-fastPresence.Beat)
	}

	// A join on another instance is announced and read at once.
	h2 := newHub(t, newBroker(), &countingRenderer{})
	bob, err := h2.Join(ctx, room, brokertest.User("bob"), realtime.NewTestConn())
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave()
	testkit.WaitFor(t, ctx, "bob listed on ann's instance", func() bool { return recvList(t, ctx, ann) == "l:ann,bob" })
}
